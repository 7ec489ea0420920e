//! The pool's session store in a fleet: snapshots are written to Redis behind the pool's
//! back (a background task drains them), and a session's snapshot fetched by its claim is
//! handed to the pool when it loads the session. The pool never waits on Redis.

use std::collections::HashMap;
use std::sync::Mutex;

use creative_feedback_core::TrajectorySnapshot;
use creative_feedback_sessions::{Error, SessionStore};

use super::lock;

/// A write waiting for Redis: a snapshot, or the session's removal.
#[derive(Clone)]
pub(crate) enum Pending {
    Save(String),
    Remove,
}

pub(crate) struct RedisStore {
    /// The newest write of each session not yet in Redis, with a version so that a write
    /// replaced while it was being sent is not forgotten.
    waiting: Mutex<HashMap<String, (u64, Pending)>>,
    /// Snapshots fetched by claims, until the pool loads them (an error: unreadable).
    fetched: Mutex<HashMap<String, Result<TrajectorySnapshot, String>>>,
    capacity: usize,
    /// The primary session is each sidecar's own, persisted with its state folder.
    primary: &'static str,
    version: std::sync::atomic::AtomicU64,
    pub(crate) wake: tokio::sync::Notify,
}

impl RedisStore {
    pub(crate) fn new(capacity: usize, primary: &'static str) -> Self {
        Self {
            primary,
            waiting: Mutex::new(HashMap::new()),
            fetched: Mutex::new(HashMap::new()),
            capacity,
            version: std::sync::atomic::AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Hands a claimed session's snapshot (or its absence) to the next load.
    pub(crate) fn fetched(&self, id: &str, snapshot: Option<Result<TrajectorySnapshot, String>>) {
        let mut fetched = lock(&self.fetched);
        match snapshot {
            Some(s) => {
                fetched.insert(id.to_owned(), s);
            }
            None => {
                fetched.remove(id);
            }
        }
    }

    /// Writes waiting for Redis.
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.waiting).len()
    }

    /// Whether a write of the session waits.
    pub(crate) fn is_waiting(&self, id: &str) -> bool {
        lock(&self.waiting).contains_key(id)
    }

    /// Up to `n` waiting writes, to send.
    pub(crate) fn batch(&self, n: usize) -> Vec<(String, u64, Pending)> {
        lock(&self.waiting)
            .iter()
            .take(n)
            .map(|(id, (v, p))| (id.clone(), *v, p.clone()))
            .collect()
    }

    /// A write reached Redis (or was refused for good): forgets it unless a newer one came.
    pub(crate) fn done(&self, id: &str, version: u64) {
        let mut waiting = lock(&self.waiting);
        if waiting.get(id).is_some_and(|(v, _)| *v == version) {
            waiting.remove(id);
        }
    }

    /// Forgets every waiting write of a session another sidecar has taken over.
    pub(crate) fn forget(&self, id: &str) {
        lock(&self.waiting).remove(id);
        lock(&self.fetched).remove(id);
    }

    fn queue(&self, id: &str, pending: Pending) -> Result<(), Error> {
        let version = self
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut waiting = lock(&self.waiting);
            if waiting.len() >= self.capacity && !waiting.contains_key(id) {
                return Err(Error::Store {
                    id: id.to_owned(),
                    message: format!(
                        "{} session snapshots are waiting for Redis; the session stays in memory until they are written",
                        waiting.len()
                    ),
                });
            }
            waiting.insert(id.to_owned(), (version, pending));
        }
        self.wake.notify_one();
        Ok(())
    }
}

impl SessionStore for RedisStore {
    fn load(&self, id: &str) -> Result<Option<TrajectorySnapshot>, Error> {
        let waiting = lock(&self.waiting).get(id).map(|(_, p)| p.clone());
        let corrupt = |reason: String| Error::Corrupt {
            id: id.to_owned(),
            reason,
        };
        match waiting {
            // This sidecar's own newest write is newer than anything in Redis.
            Some(Pending::Save(json)) => TrajectorySnapshot::from_json(&json)
                .map(Some)
                .map_err(|e| corrupt(e.to_string())),
            Some(Pending::Remove) => Ok(None),
            None => match lock(&self.fetched).remove(id) {
                Some(Ok(s)) => Ok(Some(s)),
                Some(Err(reason)) => Err(corrupt(reason)),
                None => Ok(None),
            },
        }
    }

    fn save(&self, id: &str, snapshot: &TrajectorySnapshot) -> Result<(), Error> {
        if id == self.primary {
            return Ok(());
        }
        let json = snapshot.to_json().map_err(|e| Error::Store {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
        self.queue(id, Pending::Save(json))
    }

    fn remove(&self, id: &str) -> Result<bool, Error> {
        let known = lock(&self.fetched).remove(id).is_some()
            || matches!(lock(&self.waiting).get(id), Some((_, Pending::Save(_))));
        self.queue(id, Pending::Remove)?;
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use creative_feedback_core::{Config, Trajectory};

    use super::*;

    fn snapshot(steps: u64) -> TrajectorySnapshot {
        let config = Config::default();
        let mut t = Trajectory::new(&config, 1);
        let learning = std::sync::Mutex::new(
            creative_feedback_core::CreativeLoop::new(config.clone())
                .unwrap()
                .into_parts()
                .1,
        );
        for _ in 0..steps {
            t.update(
                &config,
                &learning,
                &creative_feedback_core::State::new(0.5, 0.6),
            )
            .unwrap();
        }
        t.snapshot()
    }

    #[test]
    fn the_newest_waiting_write_wins_over_a_fetched_snapshot() {
        let store = RedisStore::new(10, "default");
        store.fetched("s", Some(Ok(snapshot(1))));
        store.save("s", &snapshot(3)).unwrap();
        assert_eq!(store.load("s").unwrap().unwrap().steps(), 3);
        assert_eq!(store.waiting(), 1);
        // Written: the write is forgotten, unless a newer one replaced it meanwhile.
        let (id, version, _) = store.batch(10).remove(0);
        store.save("s", &snapshot(4)).unwrap();
        store.done(&id, version);
        assert!(store.is_waiting("s"));
        let (_, version, _) = store.batch(10).remove(0);
        store.done("s", version);
        assert!(!store.is_waiting("s"));
    }

    #[test]
    fn a_fetched_snapshot_is_handed_over_once() {
        let store = RedisStore::new(10, "default");
        store.fetched("s", Some(Ok(snapshot(2))));
        assert_eq!(store.load("s").unwrap().unwrap().steps(), 2);
        assert!(store.load("s").unwrap().is_none());
        store.fetched("bad", Some(Err("not JSON".to_owned())));
        assert!(matches!(store.load("bad"), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn a_removed_session_loads_as_new_and_its_removal_waits_to_be_written() {
        let store = RedisStore::new(10, "default");
        store.save("s", &snapshot(1)).unwrap();
        assert!(store.remove("s").unwrap());
        assert!(store.load("s").unwrap().is_none());
        assert!(matches!(store.batch(1)[0].2, Pending::Remove));
        assert!(!store.remove("never").unwrap());
    }

    #[test]
    fn a_full_buffer_refuses_new_sessions_and_the_primary_is_never_queued() {
        let store = RedisStore::new(1, "default");
        store.save("a", &snapshot(1)).unwrap();
        // The same session replaces its waiting write; another is refused, and says why.
        store.save("a", &snapshot(2)).unwrap();
        let refused = store.save("b", &snapshot(1)).unwrap_err();
        assert!(
            refused.to_string().contains("waiting for Redis"),
            "{refused}"
        );
        store.save("default", &snapshot(1)).unwrap();
        assert_eq!(store.waiting(), 1);
        store.forget("a");
        assert_eq!(store.waiting(), 0);
    }
}
