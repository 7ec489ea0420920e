//! What the service says of itself: the health check (`/health/creativity`), readiness
//! (`/readyz`) and the Prometheus exposition (`/metrics`).

use std::sync::PoisonError;

use serde::Serialize;

use crate::persist::PersistStatus;
use crate::service::{Service, PRIMARY_SESSION};

/// The health check's answer (the guide's `/health/creativity`).
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `healthy` or `degraded`.
    pub status: &'static str,
    /// Why degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The current mode.
    pub mode: &'static str,
    /// Cumulative gain.
    pub cumulative_gain: f64,
    /// Ended explorations.
    pub exploration_count: u64,
    /// Whether the quality model is trained.
    pub quality_model_trained: bool,
    /// The last ended exploration.
    pub last_exploration: Option<LastExploration>,
    /// Accepted steps.
    pub steps: u64,
}

/// The last exploration in the health report.
#[derive(Debug, Clone, Serialize)]
pub struct LastExploration {
    /// Its profile.
    pub profile: String,
    /// Its gain.
    pub gain: f64,
    /// Its planned duration.
    pub duration: u32,
    /// How it ended.
    pub outcome: &'static str,
}

impl Service {
    /// The Prometheus exposition.
    #[must_use]
    pub fn prometheus(&self) -> String {
        self.exporter.record_stream_stats(&self.stats.stats());
        if let Some(status) = self.persistence() {
            self.exporter.set_counter(
                "persist_errors_total",
                "Failed writes of the snapshot or the history to the state folder.",
                status.errors(),
            );
        }
        if let Some(experiment) = &self.experiment {
            self.exporter
                .with_recorder(|| experiment.emit_metrics(self.exporter.prefix()));
        }
        crate::sessions::record_pool_metrics(&self.pool, &self.exporter);
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            fleet.record_metrics(&self.exporter);
        }
        let mut text = self.exporter.render();
        crate::process::build_info(self.exporter.prefix(), &mut text);
        crate::process::process_metrics(&mut text);
        text
    }

    /// Whether the service should get traffic (`/readyz`): `Err` with the reason while it is
    /// shutting down or its state folder cannot be written.
    ///
    /// # Errors
    ///
    /// The reason it is not ready.
    pub fn ready(&self) -> Result<(), String> {
        if self
            .dispatcher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
        {
            return Err("shutting down".to_owned());
        }
        match self.persist_failing() {
            Some(why) => Err(format!("persistence failing: {why}")),
            None => Ok(()),
        }
    }

    /// Why the state folder's writes fail, the snapshot's and history's or the sessions'.
    fn persist_failing(&self) -> Option<String> {
        self.persistence()
            .and_then(PersistStatus::failing)
            .or_else(|| self.pool.store_failing())
    }

    /// The health report.
    #[must_use]
    pub fn health(&self) -> HealthReport {
        let (health, last) = self
            .pool
            .with_session(PRIMARY_SESSION, |t| {
                (t.health(self.pool.config()), t.history().last().cloned())
            })
            .unwrap_or_else(|| (creative_feedback_core::Health::healthy(), None));
        let health = match &*self
            .dispatcher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some(d) => d.with_sinks(health),
            None => health,
        };
        let m = self.primary_metrics();
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut failing = self
            .persist_failing()
            .map(|why| format!("persistence failing: {why}"));
        #[cfg(feature = "redis")]
        if let Some(why) = self.fleet.as_ref().and_then(|f| f.degraded()) {
            failing.get_or_insert(format!("fleet: {why}"));
        }
        let (status, reason) = match (health.status, failing) {
            (_, Some(why)) => ("degraded", Some(why)),
            (creative_feedback_core::HealthStatus::Healthy, None) => ("healthy", None),
            (creative_feedback_core::HealthStatus::Degraded, None) => {
                ("degraded", health.reason.map(|r| r.to_string()))
            }
        };
        HealthReport {
            status,
            reason,
            mode: m.mode.as_str(),
            cumulative_gain: m.cumulative_gain,
            exploration_count: m.counters.ended(),
            quality_model_trained: m.quality.trained,
            last_exploration: last.map(|r| LastExploration {
                profile: r.profile.name().to_string(),
                gain: r.creative_gain,
                duration: r.duration,
                outcome: r.outcome.as_str(),
            }),
            steps: m.steps,
        }
    }
}
