//! Sidecars that learn as one fleet through Redis (the `redis` feature).
//!
//! Three things live in Redis, under one key prefix:
//!
//! - `{prefix}:lessons`, a stream capped with `MAXLEN ~`: every ended exploration of every
//!   sidecar, appended by the sidecar that saw it. Every sidecar reads it from its last id
//!   and learns each lesson in the stream's order, its own included, so two sidecars that
//!   have read up to the same id hold the same learning, bit for bit.
//! - `{prefix}:session:{id}` and `{prefix}:lease:{id}`: each session's last snapshot (with a
//!   TTL) and the lease of the sidecar driving it (`SET NX PX`, renewed while the session is
//!   in its memory). Any sidecar can resume any session whose lease is free.
//! - `{prefix}:checkpoint`: the shared learning at a stream id, so a new sidecar starts warm.
//!
//! Nothing on the update path waits on Redis: lessons and snapshots wait in bounded buffers
//! that background tasks write, and a session already in memory is served from memory. Only
//! a session's first update on a sidecar claims it (one round trip); while Redis is
//! unreachable that is refused with 503 rather than risk two sidecars driving one session.
//! See `docs/fleet.md`.

mod hooks;
mod link;
mod store;
mod tasks;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use creative_feedback_core::{LearningSnapshot, Lesson, TrajectorySnapshot};
use serde::{Deserialize, Serialize};

pub(crate) use hooks::{routes, warm};
pub(crate) use link::Link;
pub(crate) use store::RedisStore;
pub(crate) use tasks::start;

/// Settings of a fleet. `FleetConfig::new(url)` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The Redis server, e.g. `redis://127.0.0.1:6379/0`.
    pub url: String,
    /// Prefix of every key (default `crefl`): sidecars with the same prefix form one fleet.
    pub prefix: String,
    /// This sidecar's name in the stream and on its leases (default `sidecar-<pid>`); unique
    /// in the fleet.
    pub sidecar: String,
    /// The lesson stream keeps about this many entries (`XADD … MAXLEN ~`, default 100,000).
    pub stream_max_len: u64,
    /// Lessons waiting to be appended while Redis is unreachable (default 10,000); when full
    /// the oldest is dropped, and counted.
    pub buffer: usize,
    /// Session snapshots waiting to be written (default 100,000); when full, a session is
    /// kept in memory until there is room.
    pub pending_snapshots: usize,
    /// How long a lease lasts without renewal (default 15 s): after a sidecar dies, its
    /// sessions can be taken over this much later.
    pub lease: Duration,
    /// How long a session's snapshot stays in Redis after its last write (default 7 days).
    pub session_ttl: Duration,
    /// The shared learning is checkpointed every this many lessons learned (default 1,000).
    pub checkpoint_every: u64,
    /// Longest a session's first update waits for Redis to claim it (default 500 ms).
    pub claim_timeout: Duration,
}

impl FleetConfig {
    /// The defaults for a Redis URL.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "crefl".to_owned(),
            sidecar: format!("sidecar-{}", std::process::id()),
            stream_max_len: 100_000,
            buffer: 10_000,
            pending_snapshots: 100_000,
            lease: Duration::from_secs(15),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            checkpoint_every: 1000,
            claim_timeout: Duration::from_millis(500),
        }
    }

    fn check(&self) -> Result<(), crate::Error> {
        let invalid = |key: &'static str, reason: &str| {
            Err(crate::Error::Fleet(format!(
                "invalid fleet setting `{key}`: {reason}"
            )))
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
        };
        if !name_ok(&self.prefix) {
            return invalid("prefix", "1-128 characters of A-Za-z0-9_-.:@");
        }
        if !name_ok(&self.sidecar) {
            return invalid("sidecar", "1-128 characters of A-Za-z0-9_-.:@");
        }
        if self.stream_max_len < 100 {
            return invalid("stream_max_len", "must be at least 100");
        }
        if self.buffer == 0 || self.pending_snapshots == 0 {
            return invalid("buffer", "the buffers must hold at least one entry");
        }
        if self.lease < Duration::from_millis(100) {
            return invalid("lease", "must be at least 100 ms");
        }
        if self.session_ttl < self.lease {
            return invalid("session_ttl", "must be at least the lease");
        }
        if self.checkpoint_every == 0 {
            return invalid("checkpoint_every", "must be at least 1");
        }
        if self.claim_timeout.is_zero() {
            return invalid("claim_timeout", "must be positive");
        }
        Ok(())
    }

    fn key(&self, kind: &str) -> String {
        format!("{}:{kind}", self.prefix)
    }

    fn session_key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }
}

/// The shared learning at a stream id, as the checkpoint key holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    /// The last stream id the learning has learned.
    id: String,
    /// The learning.
    learning: LearningSnapshot,
    /// The last lesson number learned from each sidecar (see [`Fleet::send`]).
    #[serde(default)]
    last: BTreeMap<String, u64>,
}

/// A lesson waiting to be appended to the stream.
pub(crate) struct Outgoing {
    /// Its number: increasing along this sidecar's lessons.
    pub(crate) seq: u64,
    /// When the exploration ended (wall clock, ms).
    pub(crate) at_ms: u64,
    pub(crate) lesson: String,
}

/// Counters of `GET /v1/fleet` and `/metrics`.
#[derive(Default)]
struct Counters {
    produced: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    learned: AtomicU64,
    duplicates: AtomicU64,
    unreadable: AtomicU64,
    claims: AtomicU64,
    conflicts: AtomicU64,
    unavailable: AtomicU64,
    leases_lost: AtomicU64,
    snapshots_written: AtomicU64,
    checkpoints: AtomicU64,
    errors: AtomicU64,
}

/// Propagation delays of the last lessons from other sidecars (ms), for quantiles.
struct Delays {
    ring: Vec<u64>,
    next: usize,
}

const KEPT_DELAYS: usize = 4096;

impl Delays {
    fn push(&mut self, ms: u64) {
        if self.ring.len() < KEPT_DELAYS {
            self.ring.push(ms);
        } else {
            self.ring[self.next] = ms;
        }
        self.next = (self.next + 1) % KEPT_DELAYS;
    }

    fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
        let last = sorted.len().checked_sub(1)?;
        // Nearest rank: small samples give an observed delay, never an interpolated one.
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, last + 1) - 1;
        sorted.get(rank).copied()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A sidecar's membership of a fleet: its Redis link, its buffers and counters. Made with
/// [`Fleet::connect`] and handed to the service with `ServiceConfig::fleet`.
///
/// ```no_run
/// use creative_feedback_core::Config;
/// use creative_feedback_server::{Fleet, FleetConfig, Service, ServiceConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut fleet = FleetConfig::new("redis://127.0.0.1:6379/0");
/// fleet.sidecar = "a".to_owned(); // unique in the fleet
/// let mut settings = ServiceConfig::new(Config::default());
/// settings.fleet = Some(Fleet::connect(fleet).await?);
/// let service = Service::start(settings)?;
/// // Route each session to one sidecar; GET /v1/fleet says how the fleet is doing.
/// assert!(service.fleet_status().is_some());
/// # Ok(())
/// # }
/// ```
pub struct Fleet {
    cfg: FleetConfig,
    /// The link of the request path (claims) and of start and shutdown.
    link: Link,
    /// The background tasks' own link, driven on their own thread, so that a sidecar busy
    /// with requests neither delays the stream nor times out its own commands.
    bg: Link,
    outbox: Mutex<VecDeque<Outgoing>>,
    wake: tokio::sync::Notify,
    store: Arc<RedisStore>,
    /// Sessions this sidecar holds (or held) a lease on and has not released.
    leased: Mutex<HashSet<Arc<str>>>,
    /// The checkpoint read at connect time, until the service takes it.
    checkpoint: Mutex<Option<Checkpoint>>,
    /// The last stream id learned, and the last lesson number learned from each sidecar.
    read_id: Mutex<String>,
    last: Mutex<BTreeMap<String, u64>>,
    /// The next lesson number: it starts from the clock (in microseconds) so that a sidecar
    /// restarted under the same name numbers its lessons above its previous life's. Taken
    /// under the buffer's lock, so the numbers follow the buffer's order.
    next_seq: AtomicU64,
    delays: Mutex<Delays>,
    counters: Counters,
    /// Set by [`Fleet::close`]: every snapshot written releases its lease.
    closing: std::sync::atomic::AtomicBool,
    /// Set once closed: the tasks end.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be claimed for this sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// Another sidecar drives it (HTTP 409).
    Held {
        /// That sidecar.
        holder: String,
        /// How long its lease still runs.
        remaining_ms: u64,
    },
    /// Redis cannot be asked now (HTTP 503).
    Unavailable(String),
}

impl Fleet {
    /// Joins the fleet: checks the settings and reads the checkpoint of the shared learning
    /// (waiting at most `claim_timeout` times four). Redis being unreachable is not an error:
    /// the sidecar then starts cold and degraded, and links up when Redis answers.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Fleet`] for an invalid setting or URL, or a checkpoint that is there
    /// but unreadable (the sidecar would otherwise diverge from the fleet).
    pub async fn connect(cfg: FleetConfig) -> Result<Arc<Self>, crate::Error> {
        cfg.check()?;
        let down = Arc::new(Mutex::new(None));
        let link = Link::new(&cfg, Duration::from_secs(2), Arc::clone(&down))?;
        let bg = Link::new(&cfg, Duration::from_secs(10), down)?;
        let checkpoint = match link.get(&cfg.key("checkpoint"), cfg.claim_timeout * 4).await {
            Ok(Some(text)) => Some(serde_json::from_str::<Checkpoint>(&text).map_err(|e| {
                crate::Error::Fleet(format!(
                    "the fleet's checkpoint {} cannot be read ({e}); delete it to start the fleet's learning from the stream",
                    cfg.key("checkpoint")
                ))
            })?),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(target: "creative_feedback", reason = %why, "Redis unreachable at start: starting cold and degraded");
                None
            }
        };
        let read_id = checkpoint
            .as_ref()
            .map_or_else(|| "0-0".to_owned(), |c| c.id.clone());
        let last = checkpoint
            .as_ref()
            .map(|c| c.last.clone())
            .unwrap_or_default();
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Ok(Arc::new(Self {
            store: Arc::new(RedisStore::new(
                cfg.pending_snapshots,
                crate::PRIMARY_SESSION,
            )),
            link,
            bg,
            outbox: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            leased: Mutex::new(HashSet::new()),
            checkpoint: Mutex::new(checkpoint),
            read_id: Mutex::new(read_id),
            last: Mutex::new(last),
            next_seq: AtomicU64::new(now_us),
            delays: Mutex::new(Delays {
                ring: Vec::new(),
                next: 0,
            }),
            counters: Counters::default(),
            closing: std::sync::atomic::AtomicBool::new(false),
            closed: std::sync::atomic::AtomicBool::new(false),
            cfg,
        }))
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &FleetConfig {
        &self.cfg
    }

    /// The checkpoint read at connect time (once).
    pub(crate) fn take_checkpoint(&self) -> Option<LearningSnapshot> {
        lock(&self.checkpoint).take().map(|c| c.learning)
    }

    pub(crate) fn store(&self) -> Arc<RedisStore> {
        Arc::clone(&self.store)
    }

    /// Queues a lesson for the stream; never waits. When the buffer is full the oldest
    /// waiting lesson is dropped, and counted.
    ///
    /// Each lesson is numbered, in the order it is queued: an append that timed out but went
    /// through is appended again on retry, and every sidecar skips the second copy alike.
    pub(crate) fn send(&self, lesson: &Lesson, at_ms: u64) {
        let Ok(text) = serde_json::to_string(lesson) else {
            self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.counters.produced.fetch_add(1, Ordering::Relaxed);
        {
            let mut outbox = lock(&self.outbox);
            if outbox.len() >= self.cfg.buffer {
                outbox.pop_front();
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            outbox.push_back(Outgoing {
                seq: self.next_seq.fetch_add(1, Ordering::Relaxed) + 1,
                at_ms,
                lesson: text,
            });
        }
        self.wake.notify_one();
    }

    /// Claims a session not in this sidecar's memory: takes (or renews) its lease and
    /// fetches its snapshot for the pool to resume from. One round trip.
    pub(crate) async fn claim(&self, id: &str) -> Result<(), ClaimError> {
        if let Some(why) = self.link.down() {
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            return Err(ClaimError::Unavailable(why));
        }
        let lease = self.cfg.session_key("lease", id);
        let snapshot = self.cfg.session_key("session", id);
        let claimed = self
            .link
            .claim(&lease, &snapshot, &self.cfg, self.cfg.claim_timeout)
            .await;
        match claimed {
            Ok(link::Claimed::Ours(text)) => {
                self.counters.claims.fetch_add(1, Ordering::Relaxed);
                lock(&self.leased).insert(Arc::from(id));
                let snapshot =
                    text.map(|t| TrajectorySnapshot::from_json(&t).map_err(|e| e.to_string()));
                self.store.fetched(id, snapshot);
                Ok(())
            }
            Ok(link::Claimed::Theirs {
                holder,
                remaining_ms,
            }) => {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                Err(ClaimError::Held {
                    holder,
                    remaining_ms,
                })
            }
            Err(why) => {
                self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
                Err(ClaimError::Unavailable(why))
            }
        }
    }

    /// Why the fleet is degraded (Redis unreachable), with what waits and what was dropped.
    pub(crate) fn degraded(&self) -> Option<String> {
        let why = self.link.down()?;
        Some(format!(
            "Redis unreachable ({why}); serving sessions in memory, {} outcomes waiting, {} dropped",
            lock(&self.outbox).len(),
            self.counters.dropped.load(Ordering::Relaxed)
        ))
    }

    /// The status of `GET /v1/fleet`; `learning_digest` is filled in by the caller.
    pub(crate) fn status(&self) -> FleetStatus {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut delays = lock(&self.delays).ring.clone();
        delays.sort_unstable();
        FleetStatus {
            sidecar: self.cfg.sidecar.clone(),
            prefix: self.cfg.prefix.clone(),
            connected: self.link.down().is_none(),
            reason: self.link.down(),
            read_id: lock(&self.read_id).clone(),
            lessons: LessonCounts {
                produced: get(&c.produced),
                published: get(&c.published),
                waiting: lock(&self.outbox).len() as u64,
                dropped: get(&c.dropped),
                learned: get(&c.learned),
                duplicates: get(&c.duplicates),
                unreadable: get(&c.unreadable),
            },
            sessions: SessionCounts {
                leased: lock(&self.leased).len() as u64,
                claims: get(&c.claims),
                conflicts: get(&c.conflicts),
                unavailable: get(&c.unavailable),
                leases_lost: get(&c.leases_lost),
                snapshots_written: get(&c.snapshots_written),
                snapshots_waiting: self.store.waiting() as u64,
            },
            checkpoints: get(&c.checkpoints),
            errors: get(&c.errors),
            propagation_ms: Propagation {
                samples: delays.len() as u64,
                p50: Delays::quantile(&delays, 0.5),
                p99: Delays::quantile(&delays, 0.99),
                max: delays.last().copied(),
            },
            learning_digest: String::new(),
        }
    }
}

/// `GET /v1/fleet`: this sidecar's view of the fleet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetStatus {
    /// This sidecar's name.
    pub sidecar: String,
    /// The fleet's key prefix.
    pub prefix: String,
    /// Whether Redis answered the last command.
    pub connected: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The last stream id learned: two sidecars with the same one hold the same learning.
    pub read_id: String,
    /// The lesson stream.
    pub lessons: LessonCounts,
    /// Sessions, leases and snapshots.
    pub sessions: SessionCounts,
    /// Checkpoints of the shared learning written by this sidecar.
    pub checkpoints: u64,
    /// Failed Redis commands (each is retried).
    pub errors: u64,
    /// Delay from an exploration's end on another sidecar to this one learning it.
    pub propagation_ms: Propagation,
    /// A digest of the shared learning (FNV-1a of its snapshot), equal on sidecars that hold
    /// the same learning.
    pub learning_digest: String,
}

/// Lessons this sidecar produced, published and learned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LessonCounts {
    /// Ended explorations of this sidecar's sessions.
    pub produced: u64,
    /// Appended to the stream.
    pub published: u64,
    /// Waiting to be appended.
    pub waiting: u64,
    /// Dropped from the full buffer while Redis was unreachable.
    pub dropped: u64,
    /// Learned from the stream (every sidecar's, this one's included).
    pub learned: u64,
    /// Second copies skipped (an append that timed out but went through, then retried).
    pub duplicates: u64,
    /// Stream entries that could not be read as lessons (skipped by every sidecar alike).
    pub unreadable: u64,
}

/// Sessions claimed, refused and saved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionCounts {
    /// Sessions this sidecar holds a lease on.
    pub leased: u64,
    /// Sessions claimed by a first update here.
    pub claims: u64,
    /// Updates refused because another sidecar holds the session's lease (409).
    pub conflicts: u64,
    /// Updates refused because Redis could not be asked (503).
    pub unavailable: u64,
    /// Sessions dropped from memory because another sidecar had taken them over.
    pub leases_lost: u64,
    /// Session snapshots written to Redis.
    pub snapshots_written: u64,
    /// Session snapshots waiting to be written.
    pub snapshots_waiting: u64,
}

/// Quantiles of the propagation delay over the last 4,096 lessons from other sidecars.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Propagation {
    /// Lessons measured.
    pub samples: u64,
    /// Median, ms.
    pub p50: Option<u64>,
    /// 99th percentile, ms.
    pub p99: Option<u64>,
    /// Largest, ms.
    pub max: Option<u64>,
}

/// FNV-1a of a learning's JSON: equal learnings give equal digests.
pub(crate) fn digest(learning: &LearningSnapshot) -> String {
    let text = learning.to_json().unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_observed_delays() {
        assert_eq!(Delays::quantile(&[], 0.5), None);
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(Delays::quantile(&sorted, 0.5), Some(50));
        assert_eq!(Delays::quantile(&sorted, 0.99), Some(99));
        assert_eq!(Delays::quantile(&[7], 0.99), Some(7));
        let mut d = Delays {
            ring: Vec::new(),
            next: 0,
        };
        for ms in 0..(KEPT_DELAYS as u64 + 10) {
            d.push(ms);
        }
        assert_eq!(d.ring.len(), KEPT_DELAYS);
        assert!(!d.ring.contains(&9) && d.ring.contains(&10));
    }

    #[test]
    fn settings_that_cannot_work_are_refused_by_name() {
        let ok = FleetConfig::new("redis://127.0.0.1:6379/0");
        assert!(ok.check().is_ok());
        for (cfg, key) in [
            (
                FleetConfig {
                    prefix: String::new(),
                    ..ok.clone()
                },
                "prefix",
            ),
            (
                FleetConfig {
                    sidecar: "a b".into(),
                    ..ok.clone()
                },
                "sidecar",
            ),
            (
                FleetConfig {
                    stream_max_len: 10,
                    ..ok.clone()
                },
                "stream_max_len",
            ),
            (
                FleetConfig {
                    buffer: 0,
                    ..ok.clone()
                },
                "buffer",
            ),
            (
                FleetConfig {
                    lease: Duration::from_millis(10),
                    ..ok.clone()
                },
                "lease",
            ),
            (
                FleetConfig {
                    session_ttl: Duration::from_millis(200),
                    ..ok.clone()
                },
                "session_ttl",
            ),
            (
                FleetConfig {
                    checkpoint_every: 0,
                    ..ok.clone()
                },
                "checkpoint_every",
            ),
            (
                FleetConfig {
                    claim_timeout: Duration::ZERO,
                    ..ok.clone()
                },
                "claim_timeout",
            ),
        ] {
            let e = cfg.check().unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{e}");
        }
    }

    #[test]
    fn equal_learnings_have_equal_digests_and_different_ones_do_not() {
        let snapshot = |min_samples| {
            let mut config = creative_feedback_core::Config::default();
            config.quality.min_samples = min_samples;
            creative_feedback_core::CreativeLoop::new(config.clone())
                .unwrap()
                .into_parts()
                .1
                .snapshot(&config)
        };
        assert_eq!(digest(&snapshot(20)), digest(&snapshot(20)));
        assert_ne!(digest(&snapshot(20)), digest(&snapshot(21)));
        assert_eq!(digest(&snapshot(20)).len(), 16);
    }
}
