//! The service's sessions: stepping one by id, reading, listing and removing them, the sweep
//! that evicts idle ones, and their pool-wide Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use creative_feedback_core::Decision;
use creative_feedback_sessions::{Pool, SessionInfo, SessionList};
use creative_feedback_stream::{Clock, PrometheusExporter};

use crate::live::WatchGuard;
use crate::service::{read_body, Service, UpdateError};

impl Service {
    /// One step of the session `id` (created from the config on its first update, reloaded
    /// from the state folder if it was evicted).
    ///
    /// # Errors
    ///
    /// [`UpdateError::Session`] for an invalid id, a full pool, an unreadable saved session,
    /// or an invalid state (naming the session and every offending field);
    /// [`UpdateError::Unreadable`] for a body that is not a JSON object.
    pub fn update_session(&self, id: &str, body: &[u8]) -> Result<Decision, UpdateError> {
        // The pool checks the id; an invalid one and an unreadable body are both 400s.
        let read = read_body(body)?;
        Ok(self.step(id, &read)?)
    }

    /// A session's metrics and exploration in progress.
    ///
    /// # Errors
    ///
    /// [`creative_feedback_sessions::Error::Unknown`] when there is no such session (in memory
    /// or in the state folder), and as [`Pool::get`].
    pub fn session(&self, id: &str) -> Result<SessionInfo, creative_feedback_sessions::Error> {
        self.pool.get(id)
    }

    /// Forgets a session, in memory and in the state folder; whether it existed.
    ///
    /// # Errors
    ///
    /// As [`Pool::remove`] (the session `default` cannot be removed).
    pub fn remove_session(&self, id: &str) -> Result<bool, creative_feedback_sessions::Error> {
        self.pool.remove(id)
    }

    /// Resident sessions, most recently updated first.
    #[must_use]
    pub fn sessions(&self, limit: usize, offset: usize) -> SessionList {
        self.pool.list(limit, offset)
    }

    /// The pool of sessions.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A subscriber to the stream that also gets the step samples of session `id` while the
    /// guard lives.
    pub(crate) fn watch(&self, id: &str) -> WatchGuard {
        self.watchers.watch(id)
    }
}

/// Evicts idle sessions every so often, while the service lives.
pub(crate) fn start_sweeper(service: &Arc<Service>) {
    let Some(ttl) = service.settings().idle_ttl else {
        return;
    };
    let every = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let weak = Arc::downgrade(service);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else {
                return;
            };
            let now = creative_feedback_stream::SystemClock.now_ms();
            // Saving evicted sessions touches the disk: keep it off the runtime's threads.
            let evicted = tokio::task::spawn_blocking(move || service.pool.evict_idle(now))
                .await
                .unwrap_or(0);
            if evicted > 0 {
                tracing::debug!(target: "creative_feedback", evicted, "idle sessions evicted");
            }
        }
    });
}

/// Pool-wide metrics: no per-session label, so the number of series does not grow with the
/// number of sessions.
pub(crate) fn record_pool_metrics(pool: &Pool, exporter: &PrometheusExporter) {
    let stats = pool.stats();
    exporter.set_gauge(
        "sessions",
        "Sessions in memory, by mode.",
        &[("mode", "all")],
        stats.resident as f64,
    );
    for (mode, n) in &stats.by_mode {
        exporter.set_gauge(
            "sessions",
            "Sessions in memory, by mode.",
            &[("mode", mode)],
            *n as f64,
        );
    }
    exporter.set_gauge(
        "sessions_max",
        "The most sessions held in memory at once (--max-sessions).",
        &[],
        stats.max_sessions as f64,
    );
    let t = stats.tallies;
    for (suffix, help, value) in [
        (
            "sessions_created_total",
            "Sessions created by their first update.",
            t.created,
        ),
        (
            "sessions_reloaded_total",
            "Evicted sessions loaded back on their next update.",
            t.reloaded,
        ),
        (
            "sessions_evicted_total",
            "Sessions evicted to make room (least recently used first).",
            t.evicted,
        ),
        (
            "sessions_expired_total",
            "Sessions evicted after --idle-ttl without an update.",
            t.expired,
        ),
        (
            "sessions_removed_total",
            "Sessions removed with DELETE /v1/sessions/{id}.",
            t.removed,
        ),
        (
            "sessions_refused_total",
            "New sessions refused (503): the pool was full and nothing could be evicted.",
            t.refused,
        ),
        (
            "session_updates_total",
            "Accepted updates, all sessions.",
            t.updates,
        ),
        (
            "session_rejected_total",
            "Rejected updates (invalid states), all sessions.",
            t.rejected,
        ),
        (
            "session_store_errors_total",
            "Failed writes of session snapshots to the state folder.",
            t.store_errors,
        ),
    ] {
        exporter.set_counter(suffix, help, value);
    }
    exporter.set_gauge(
        "shared_model_samples",
        "Samples the shared quality model has learned from, all sessions.",
        &[],
        stats.model_samples as f64,
    );
    exporter.set_gauge(
        "shared_model_trained",
        "1 when the shared quality model is trained.",
        &[],
        f64::from(u8::from(stats.model_trained)),
    );
}
