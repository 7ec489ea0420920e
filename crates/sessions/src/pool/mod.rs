//! The pool: sessions keyed by id in shards, one shared learning, eviction to a store.

mod evict;
mod read;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use creative_feedback_core::{
    Config, CreativeLoop, Decision, Event, ExplorationRecord, Learning, LearningSnapshot, Lesson,
    Mode, ReadState, Rejected, Snapshot, State, Trajectory,
};

use crate::id::{id_hash, session_seed, validate_id};
use crate::report::Tallies;
use crate::shard::{lock, Entry, Padded, Shard, ShardCell, Slot, SlotRef};
use crate::store::SessionStore;
use crate::Error;

/// Settings of a [`Pool`]. `PoolConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most sessions held in memory at once (default 100,000). When full, a new session
    /// evicts the least recently used one that can be evicted, or is refused.
    pub max_sessions: usize,
    /// A session not updated for this long is evicted by [`Pool::evict_idle`] (default one
    /// hour; `None` keeps sessions until room is needed). Without a store, eviction drops the
    /// session, so only sessions idle this long may be dropped to make room.
    pub idle_ttl_ms: Option<u64>,
    /// Each session is saved to the store every this many of its own accepted steps (default
    /// 1000; 0 saves only on eviction and [`Pool::save_all`]). A crash loses at most this many
    /// steps of each session.
    pub snapshot_every: u64,
    /// Ended explorations kept per session (default 10): most of an idle session's memory.
    pub session_history: u32,
    /// The primary session: it decides with the config's own seed, keeps `history_capacity`
    /// explorations, and is never evicted (default `"default"`).
    pub primary: String,
    /// Number of shards of the session map (default 64): updates of sessions in different
    /// shards never wait for each other.
    pub shards: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_sessions: 100_000,
            idle_ttl_ms: Some(3_600_000),
            snapshot_every: 1000,
            session_history: 10,
            primary: "default".to_owned(),
            shards: 64,
        }
    }
}

impl PoolConfig {
    fn check(&self) -> Result<(), Error> {
        let invalid = |key: &'static str, reason: &str| {
            Err(Error::InvalidSetting {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.max_sessions == 0 {
            return invalid("max_sessions", "must be at least 1");
        }
        if self.session_history == 0 {
            return invalid("session_history", "must be at least 1");
        }
        if !(1..=4096).contains(&self.shards) {
            return invalid("shards", "must be between 1 and 4096");
        }
        if self.idle_ttl_ms == Some(0) {
            return invalid(
                "idle_ttl",
                "must be positive, or absent to keep idle sessions",
            );
        }
        validate_id(&self.primary)
    }
}

/// What one update of a session gave.
#[derive(Debug, Clone)]
pub struct Stepped {
    /// The decision.
    pub decision: Decision,
    /// The session's events of this step, oldest first.
    pub events: Vec<Event>,
    /// The record of the exploration that ended this step, if one did.
    pub ended: Option<ExplorationRecord>,
    /// The session's accepted steps after this one.
    pub steps: u64,
    /// Whether this update loaded the session from the store.
    pub reloaded: bool,
}

/// How many times an update looks a session up again after losing it to an eviction.
const LOOKUPS: usize = 4;
/// How many evictions a new session may try before it is refused.
const EVICTIONS: usize = 8;
/// Candidates for eviction taken from the oldest end of each shard.
const CANDIDATES_PER_SHARD: usize = 2;

/// Many sessions of the loop, one shared learning.
///
/// Each session has its own trajectory (mode, exploration in progress, recovery, counters,
/// generator), created on its first update from the pool's config; all of them decide with,
/// and teach, one [`Learning`]: one quality model and one selector that learn from every
/// session's ended explorations, in the order the updates reach them (the same order gives
/// the same results, bit for bit).
///
/// Updates of different sessions run in parallel: the map is sharded, each session has its
/// own lock, and the shared learning is locked only while an exploration starts or ends.
/// Times are arguments (`now_ms`, milliseconds on any monotonic scale), so tests are exact.
pub struct Pool {
    config: Config,
    learning: Mutex<Learning>,
    shards: Box<[Padded<ShardCell>]>,
    settings: PoolConfig,
    store: Option<Arc<dyn SessionStore>>,
    resident: Padded<AtomicUsize>,
    modes: Padded<[AtomicUsize; 4]>,
    tallies: Tallies,
    store_failing: Mutex<Option<String>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.settings)
            .field("resident", &self.resident.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn mode_index(mode: Mode) -> usize {
    Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0)
}

impl Pool {
    /// A pool whose sessions decide with `feedback`'s config and share its learning (model,
    /// selectors, predictor); `feedback`'s own trajectory becomes the primary session. Build
    /// `feedback` as a single loop (custom profiles, selector, a pre-trained model, or a
    /// snapshot to resume from). `store` keeps evicted sessions; without one, eviction drops
    /// them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] naming a setting that cannot work.
    pub fn new(
        feedback: CreativeLoop,
        settings: PoolConfig,
        store: Option<Arc<dyn SessionStore>>,
    ) -> Result<Self, Error> {
        settings.check()?;
        let (config, learning, primary) = feedback.into_parts();
        let pool = Self {
            config,
            learning: Mutex::new(learning),
            shards: (0..settings.shards).map(|_| Padded::default()).collect(),
            settings,
            store,
            resident: Padded::default(),
            modes: Default::default(),
            tallies: Tallies::default(),
            store_failing: Mutex::new(None),
        };
        let id = pool.settings.primary.clone();
        pool.resident.fetch_add(1, Ordering::Relaxed);
        pool.insert(&mut lock(&pool.cell(&id).shard), &id, primary, 0);
        Ok(pool)
    }

    /// The config every session decides with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &PoolConfig {
        &self.settings
    }

    /// Reads the shared learning (its lock is held while `f` runs: keep it short).
    pub fn with_learning<R>(&self, f: impl FnOnce(&Learning) -> R) -> R {
        f(&lock(&self.learning))
    }

    /// A copy of the shared learning, to persist.
    #[must_use]
    pub fn learning_snapshot(&self) -> LearningSnapshot {
        lock(&self.learning).snapshot(&self.config)
    }

    /// A resident session as a whole loop's snapshot: the config, the shared learning and
    /// its trajectory (how the primary session is persisted). `None` if it is not resident.
    #[must_use]
    pub fn loop_snapshot(&self, id: &str) -> Option<Snapshot> {
        let slot = self.lookup(id)?;
        let slot = lock(&slot);
        let t = slot.t.as_ref()?;
        Some(Snapshot::from_parts(&self.config, &lock(&self.learning), t))
    }

    fn cell(&self, id: &str) -> &ShardCell {
        let i = (id_hash(id) % self.shards.len() as u64) as usize;
        &self.shards[i]
    }

    /// The resident sessions that `keep` keeps, each shard locked in turn.
    fn slots(&self, mut keep: impl FnMut(&str, &Entry) -> bool) -> Vec<(Arc<str>, SlotRef)> {
        let mut slots = Vec::new();
        for cell in &*self.shards {
            let shard = lock(&cell.shard);
            slots.extend(
                shard
                    .map
                    .iter()
                    .filter(|(id, e)| keep(id, e))
                    .map(|(id, e)| (Arc::clone(id), Arc::clone(&e.slot))),
            );
        }
        slots
    }

    fn lookup(&self, id: &str) -> Option<SlotRef> {
        lock(&self.cell(id).shard)
            .map
            .get(id)
            .map(|e| Arc::clone(&e.slot))
    }

    fn insert(&self, shard: &mut Shard, id: &str, mut t: Trajectory, now_ms: u64) -> SlotRef {
        if id != self.settings.primary {
            t.set_history_capacity(self.settings.session_history);
        }
        self.modes[mode_index(t.mode())].fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Mutex::new(Slot {
            t: Some(t),
            since_snapshot: 0,
            last_update_ms: None,
            last_use_ms: now_ms,
        }));
        shard.insert(Arc::from(id), Arc::clone(&slot), now_ms);
        slot
    }

    /// One step of the session `id`, created from the config (or reloaded from the store) on
    /// first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`]; [`Error::Rejected`] for an invalid state (that session did not
    /// advance, no other changed); [`Error::Full`] when a new session finds no room;
    /// [`Error::Store`] / [`Error::Corrupt`] when its saved snapshot cannot be read.
    pub fn update(&self, id: &str, read: &ReadState, now_ms: u64) -> Result<Stepped, Error> {
        self.step(
            id,
            now_ms,
            |t| t.update_read(&self.config, &self.learning, read),
            |stepped, _| stepped,
        )
    }

    /// [`update`](Self::update), then `then` with what the step gave and the session's
    /// trajectory, still under the session's lock: what `then` does for one session (stream
    /// its events, log its outcome) happens in the order of its steps. `then` must not call
    /// this pool for the same session (its lock is held).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update); `then` does not run then.
    pub fn update_with<R>(
        &self,
        id: &str,
        read: &ReadState,
        now_ms: u64,
        then: impl FnOnce(Stepped, &Trajectory) -> R,
    ) -> Result<R, Error> {
        self.step(
            id,
            now_ms,
            |t| t.update_read(&self.config, &self.learning, read),
            then,
        )
    }

    /// [`update`](Self::update) for a pool that learns through a shared log (a fleet): an
    /// exploration ending here does not teach the pool's learning; its [`Lesson`] is pushed
    /// onto `lessons`, for every pool of the fleet to [`learn`](Self::learn) in the log's
    /// order.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn update_deferred(
        &self,
        id: &str,
        read: &ReadState,
        now_ms: u64,
        lessons: &mut Vec<Lesson>,
    ) -> Result<Stepped, Error> {
        self.step(
            id,
            now_ms,
            |t| t.update_read_deferred(&self.config, &self.learning, read, lessons),
            |stepped, _| stepped,
        )
    }

    /// [`update_deferred`](Self::update_deferred), then `then` under the session's lock, as
    /// [`update_with`](Self::update_with).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update); `then` does not run then.
    pub fn update_deferred_with<R>(
        &self,
        id: &str,
        read: &ReadState,
        now_ms: u64,
        lessons: &mut Vec<Lesson>,
        then: impl FnOnce(Stepped, &Trajectory) -> R,
    ) -> Result<R, Error> {
        self.step(
            id,
            now_ms,
            |t| t.update_read_deferred(&self.config, &self.learning, read, lessons),
            then,
        )
    }

    /// Learns a lesson from the shared log (see [`update_deferred`](Self::update_deferred));
    /// how many parts of it failed.
    pub fn learn(&self, lesson: &Lesson) -> u64 {
        lock(&self.learning).learn(lesson)
    }

    /// [`update`](Self::update) with a state built in code.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn update_state(&self, id: &str, state: &State, now_ms: u64) -> Result<Stepped, Error> {
        self.step(
            id,
            now_ms,
            |t| t.update(&self.config, &self.learning, state),
            |stepped, _| stepped,
        )
    }

    fn step<R>(
        &self,
        id: &str,
        now_ms: u64,
        mut run: impl FnMut(&mut Trajectory) -> Result<Decision, Rejected>,
        then: impl FnOnce(Stepped, &Trajectory) -> R,
    ) -> Result<R, Error> {
        validate_id(id)?;
        let cell = self.cell(id);
        for _ in 0..LOOKUPS {
            let (slot, reloaded) = self.resident(id, cell, now_ms)?;
            let mut guard = lock(&slot);
            let s = &mut *guard;
            let Some(t) = s.t.as_mut() else {
                continue; // evicted between the lookup and the lock: look it up again
            };
            let before = t.mode();
            let decision = match run(t) {
                Ok(d) => d,
                Err(rejected) => {
                    cell.rejected.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Rejected {
                        id: id.to_owned(),
                        rejected,
                    });
                }
            };
            cell.updates.fetch_add(1, Ordering::Relaxed);
            if t.mode() != before {
                self.modes[mode_index(before)].fetch_sub(1, Ordering::Relaxed);
                self.modes[mode_index(t.mode())].fetch_add(1, Ordering::Relaxed);
            }
            s.last_update_ms = Some(now_ms);
            s.last_use_ms = s.last_use_ms.max(now_ms);
            let ended = decision
                .outcome
                .is_some()
                .then(|| t.history().last().cloned())
                .flatten();
            let stepped = Stepped {
                events: t.take_events(),
                steps: t.steps(),
                decision,
                ended,
                reloaded,
            };
            s.since_snapshot += 1;
            if self.settings.snapshot_every > 0 && s.since_snapshot >= self.settings.snapshot_every
            {
                if let Some(store) = &self.store {
                    if self.note(store.save(id, &t.snapshot())) {
                        s.since_snapshot = 0;
                    }
                }
            }
            return Ok(then(stepped, t));
        }
        Err(Error::Full {
            max_sessions: self.settings.max_sessions,
        })
    }

    /// The session's slot, made resident if needed; whether it was loaded from the store.
    fn resident(&self, id: &str, cell: &ShardCell, now_ms: u64) -> Result<(SlotRef, bool), Error> {
        if let Some(slot) = lock(&cell.shard).touch(id, now_ms) {
            return Ok((slot, false));
        }
        self.reserve(now_ms)?;
        let mut shard = lock(&cell.shard);
        if let Some(slot) = shard.touch(id, now_ms) {
            self.resident.fetch_sub(1, Ordering::Relaxed);
            return Ok((slot, false));
        }
        // Loading under the shard's lock keeps two threads from loading one session twice.
        let loaded = match self.load(id) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.resident.fetch_sub(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let reloaded = loaded.is_some();
        let t = match loaded {
            Some(t) => {
                self.tallies.reloaded.fetch_add(1, Ordering::Relaxed);
                t
            }
            None => {
                self.tallies.created.fetch_add(1, Ordering::Relaxed);
                let seed = session_seed(self.config.seed, id, &self.settings.primary);
                Trajectory::new(&self.config, seed)
            }
        };
        Ok((self.insert(&mut shard, id, t, now_ms), reloaded))
    }

    /// The session's trajectory from the store, if it is there.
    fn load(&self, id: &str) -> Result<Option<Trajectory>, Error> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let Some(snapshot) = store.load(id)? else {
            return Ok(None);
        };
        let t =
            Trajectory::restore(snapshot, &self.config, &lock(&self.learning)).map_err(|e| {
                Error::Corrupt {
                    id: id.to_owned(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Some(t))
    }
}
