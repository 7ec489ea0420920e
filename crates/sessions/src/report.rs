//! What the pool reports: a session's detail, the list of sessions, and pool-wide counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use creative_feedback_core::{ArmStatus, ExplorationRecord, Learning, Metrics, Mode, Trajectory};
use serde::Serialize;

/// One session in [`Pool::list`](crate::Pool::list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    /// Its id.
    pub id: String,
    /// Accepted steps.
    pub steps: u64,
    /// The current mode.
    pub mode: Mode,
    /// When it was last updated (the `now_ms` of that update); `None` before its first
    /// update since it became resident.
    pub last_update_ms: Option<u64>,
    /// Sum of the gains of its ended explorations.
    pub cumulative_gain: f64,
    /// Its ended explorations.
    pub explorations: u64,
    /// The profile of its exploration in progress.
    pub exploring: Option<String>,
}

/// A page of [`Pool::list`](crate::Pool::list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionList {
    /// Resident sessions in all.
    pub total: usize,
    /// Where this page starts.
    pub offset: usize,
    /// This page, most recently updated first.
    pub sessions: Vec<SessionSummary>,
}

/// One session in detail ([`Pool::get`](crate::Pool::get)).
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Its id.
    pub id: String,
    /// Whether it is in memory (otherwise it was read from the store).
    pub resident: bool,
    /// When it was last updated while resident.
    pub last_update_ms: Option<u64>,
    /// Its metrics (the quality model and the learned arms are the shared ones), with the
    /// exploration in progress.
    pub metrics: Metrics,
    /// Its most recent ended explorations, oldest first (at most `session_history`).
    pub history: Vec<ExplorationRecord>,
}

impl SessionInfo {
    pub(crate) fn new(
        id: &str,
        resident: bool,
        last_update_ms: Option<u64>,
        t: &Trajectory,
        learning: &Learning,
    ) -> Self {
        Self {
            id: id.to_owned(),
            resident,
            last_update_ms,
            metrics: t.metrics(learning),
            history: t.history().cloned().collect(),
        }
    }
}

/// Pool-wide counters, each only growing.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    pub(crate) created: AtomicU64,
    pub(crate) reloaded: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) store_errors: AtomicU64,
}

impl Tallies {
    pub(crate) fn read(&self) -> Counts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            created: get(&self.created),
            reloaded: get(&self.reloaded),
            evicted: get(&self.evicted),
            expired: get(&self.expired),
            removed: get(&self.removed),
            refused: get(&self.refused),
            // Counted per shard, so that updates never write a line shared by all.
            updates: 0,
            rejected: 0,
            store_errors: get(&self.store_errors),
        }
    }
}

/// Pool-wide counts since the pool was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Sessions created new.
    pub created: u64,
    /// Sessions loaded back from the store.
    pub reloaded: u64,
    /// Sessions evicted to make room (least recently used first).
    pub evicted: u64,
    /// Sessions evicted after `idle_ttl` without an update.
    pub expired: u64,
    /// Sessions removed on request.
    pub removed: u64,
    /// New sessions refused because the pool was full and nothing could be evicted.
    pub refused: u64,
    /// Accepted updates, all sessions.
    pub updates: u64,
    /// Rejected updates (invalid states), all sessions.
    pub rejected: u64,
    /// Failed writes to the store.
    pub store_errors: u64,
}

/// The pool's state for metrics and dashboards: no per-session detail.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStats {
    /// Sessions in memory.
    pub resident: usize,
    /// The most sessions in memory at once.
    pub max_sessions: usize,
    /// Resident sessions per mode (`stable`, `exploring`, `recovering`, `emergency`).
    pub by_mode: BTreeMap<&'static str, usize>,
    /// Counters since start.
    #[serde(flatten)]
    pub tallies: Counts,
    /// Samples the shared quality model has learned from.
    pub model_samples: u64,
    /// Whether the shared model is trained.
    pub model_trained: bool,
    /// The shared learned selector's arms, when there is one.
    pub learned_arms: Option<Vec<ArmStatus>>,
}
