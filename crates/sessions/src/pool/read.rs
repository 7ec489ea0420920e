//! Reading the pool: one session, the list, the counts; and saving every session.

use std::sync::atomic::Ordering;

use creative_feedback_core::{Mode, Trajectory};

use super::{mode_index, Pool};
use crate::id::validate_id;
use crate::report::{PoolStats, SessionInfo, SessionList, SessionSummary};
use crate::shard::lock;
use crate::Error;

impl Pool {
    /// A session's metrics and exploration in progress; a session in the store is read
    /// without being made resident.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`]; [`Error::Unknown`] when there is no such session;
    /// [`Error::Store`] / [`Error::Corrupt`] when its saved snapshot cannot be read.
    pub fn get(&self, id: &str) -> Result<SessionInfo, Error> {
        validate_id(id)?;
        if let Some(slot) = self.lookup(id) {
            let slot = lock(&slot);
            if let Some(t) = &slot.t {
                return Ok(SessionInfo::new(
                    id,
                    true,
                    slot.last_update_ms,
                    t,
                    &lock(&self.learning),
                ));
            }
        }
        match self.load(id)? {
            Some(t) => Ok(SessionInfo::new(id, false, None, &t, &lock(&self.learning))),
            None => Err(Error::Unknown { id: id.to_owned() }),
        }
    }

    /// Runs `f` on a resident session's trajectory (e.g. to read its history); `None` if it
    /// is not resident.
    pub fn with_session<R>(&self, id: &str, f: impl FnOnce(&Trajectory) -> R) -> Option<R> {
        let slot = self.lookup(id)?;
        let slot = lock(&slot);
        slot.t.as_ref().map(f)
    }

    /// Whether the session is in memory.
    #[must_use]
    pub fn is_resident(&self, id: &str) -> bool {
        self.lookup(id).is_some_and(|slot| lock(&slot).t.is_some())
    }

    /// The ids of the resident sessions other than the primary one, in no particular order.
    #[must_use]
    pub fn resident_ids(&self) -> Vec<std::sync::Arc<str>> {
        self.slots(|id, _| *id != *self.settings.primary)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// Resident sessions, most recently updated first (then by id), `limit` of them from
    /// `offset`.
    #[must_use]
    pub fn list(&self, limit: usize, offset: usize) -> SessionList {
        let slots = self.slots(|_, _| true);
        let mut sessions: Vec<SessionSummary> = slots
            .into_iter()
            .filter_map(|(id, slot)| {
                let slot = lock(&slot);
                let t = slot.t.as_ref()?;
                Some(SessionSummary {
                    id: id.to_string(),
                    steps: t.steps(),
                    mode: t.mode(),
                    last_update_ms: slot.last_update_ms,
                    cumulative_gain: t.cumulative_gain(),
                    explorations: t.counters().ended(),
                    exploring: t.current_exploration().map(|e| e.profile.to_string()),
                })
            })
            .collect();
        let total = sessions.len();
        sessions.sort_unstable_by(|a, b| {
            b.last_update_ms
                .cmp(&a.last_update_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        let sessions = sessions.into_iter().skip(offset).take(limit).collect();
        SessionList {
            total,
            offset,
            sessions,
        }
    }

    /// Saves every resident session to the store (at shutdown); how many were saved.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] for the first session that could not be saved (the others are still
    /// tried).
    pub fn save_all(&self) -> Result<usize, Error> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let slots = self.slots(|_, _| true);
        let (mut saved, mut first_error) = (0, None);
        for (id, slot) in slots {
            if *id == *self.settings.primary {
                continue; // persisted with the learning, as a whole loop
            }
            let mut slot = lock(&slot);
            let Some(t) = slot.t.as_ref() else {
                continue;
            };
            match store.save(&id, &t.snapshot()) {
                Ok(()) => {
                    saved += 1;
                    slot.since_snapshot = 0;
                }
                Err(e) => {
                    self.note(Err(e.clone()));
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(saved), Err)
    }

    /// Records a store write's result; whether it succeeded.
    pub(super) fn note(&self, result: Result<(), Error>) -> bool {
        let mut failing = lock(&self.store_failing);
        match result {
            Ok(()) => {
                *failing = None;
                true
            }
            Err(e) => {
                self.tallies.store_errors.fetch_add(1, Ordering::Relaxed);
                *failing = Some(e.to_string());
                false
            }
        }
    }

    /// Why the store's last write failed, while writes keep failing.
    #[must_use]
    pub fn store_failing(&self) -> Option<String> {
        lock(&self.store_failing).clone()
    }

    /// Counts for metrics: sessions by mode, created, reloaded, evicted and so on.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let l = lock(&self.learning);
        PoolStats {
            resident: self.resident.load(Ordering::Relaxed),
            max_sessions: self.settings.max_sessions,
            by_mode: Mode::ALL
                .iter()
                .map(|m| {
                    (
                        m.as_str(),
                        self.modes[mode_index(*m)].load(Ordering::Relaxed),
                    )
                })
                .collect(),
            tallies: {
                let mut counts = self.tallies.read();
                for cell in &*self.shards {
                    counts.updates += cell.updates.load(Ordering::Relaxed);
                    counts.rejected += cell.rejected.load(Ordering::Relaxed);
                }
                counts
            },
            model_samples: l.model().samples_seen(),
            model_trained: l.model().is_trained(),
            learned_arms: l.learned_selector().map(|s| s.arms()),
        }
    }
}
