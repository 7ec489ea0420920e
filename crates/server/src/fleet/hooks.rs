//! Where the fleet meets the service: a warm start from the checkpoint, claiming a session
//! before a route touches it, `GET /v1/fleet`, and the fleet's Prometheus metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use creative_feedback_core::LoopBuilder;
use creative_feedback_stream::PrometheusExporter;

use super::{digest, lock, ClaimError, Fleet, FleetStatus};
use crate::routes::ApiError;
use crate::service::{Service, PRIMARY_SESSION};

/// Starts from the fleet's checkpoint when there is one: the learning is the fleet's, the
/// primary session's trajectory (from the state folder) stays this sidecar's.
pub(crate) fn warm(fleet: &Fleet, builder: LoopBuilder) -> Result<LoopBuilder, crate::Error> {
    let Some(learning) = fleet.take_checkpoint() else {
        return Ok(builder);
    };
    builder.shared_learning(learning).map_err(|e| {
        crate::Error::Fleet(format!(
            "the fleet's checkpoint ({}) cannot be used: {e}",
            fleet.cfg.key("checkpoint")
        ))
    })
}

impl Service {
    /// This sidecar's view of its fleet; `None` when it learns alone.
    #[must_use]
    pub fn fleet_status(&self) -> Option<FleetStatus> {
        let fleet = self.fleet.as_ref()?;
        let mut status = fleet.status();
        status.learning_digest = digest(&self.pool.learning_snapshot());
        Some(status)
    }

    /// Makes sure this sidecar may drive the session before a route touches it: a session
    /// in memory is ours already; any other is claimed from Redis (its lease, its snapshot).
    pub(crate) async fn claim(&self, id: &str) -> Result<(), Response> {
        let Some(fleet) = &self.fleet else {
            return Ok(());
        };
        if id == PRIMARY_SESSION
            || creative_feedback_sessions::validate_id(id).is_err()
            || self.pool.is_resident(id)
        {
            // The primary session is each sidecar's own; the pool answers an invalid id.
            return Ok(());
        }
        fleet.claim(id).await.map_err(|e| claim_error(id, e))?;
        if self.pool.is_resident(id) {
            // A concurrent request made it resident first: nothing will load this copy.
            fleet.store().fetched(id, None);
        }
        Ok(())
    }
}

fn claim_error(id: &str, e: ClaimError) -> Response {
    let (status, message, retry_s) = match e {
        ClaimError::Held {
            holder,
            remaining_ms,
        } => (
            StatusCode::CONFLICT,
            format!(
                "session {id:?} is driven by sidecar {holder:?} (its lease runs {remaining_ms} ms more): send the session's updates to that sidecar (route by session id), or retry once the lease has expired"
            ),
            remaining_ms.div_ceil(1000).max(1),
        ),
        ClaimError::Unavailable(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "session {id:?} is not in this sidecar's memory and Redis cannot be asked for it ({why}); retry when Redis is back"
            ),
            1,
        ),
    };
    let mut response = ApiError::new(status, message).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_s.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

async fn status(State(service): State<Arc<Service>>) -> Response {
    match service.fleet_status() {
        Some(status) => Json(status).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "this sidecar learns alone: start it with --redis URL to join a fleet",
        )
        .into_response(),
    }
}

/// `GET /v1/fleet`.
pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/v1/fleet", get(status))
}

impl Fleet {
    /// The fleet's series in `/metrics` (no label per session or per sidecar).
    pub(crate) fn record_metrics(&self, exporter: &PrometheusExporter) {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for (suffix, help, value) in [
            ("fleet_lessons_produced_total", "Ended explorations of this sidecar's sessions, to be appended to the fleet's stream.", get(&c.produced)),
            ("fleet_lessons_published_total", "Lessons appended to the fleet's stream.", get(&c.published)),
            ("fleet_lessons_dropped_total", "Lessons dropped from the full buffer while Redis was unreachable.", get(&c.dropped)),
            ("fleet_lessons_learned_total", "Lessons learned from the fleet's stream, every sidecar's.", get(&c.learned)),
            ("fleet_lessons_unreadable_total", "Stream entries skipped because they are not lessons.", get(&c.unreadable)),
            ("fleet_claims_total", "Sessions claimed from Redis by their first update on this sidecar.", get(&c.claims)),
            ("fleet_lease_conflicts_total", "Updates refused (409): another sidecar holds the session's lease.", get(&c.conflicts)),
            ("fleet_claims_unavailable_total", "Updates refused (503): the session was not in memory and Redis could not be asked.", get(&c.unavailable)),
            ("fleet_leases_lost_total", "Sessions dropped from memory because another sidecar took them over.", get(&c.leases_lost)),
            ("fleet_session_snapshots_written_total", "Session snapshots written to Redis.", get(&c.snapshots_written)),
            ("fleet_checkpoints_total", "Checkpoints of the shared learning written by this sidecar.", get(&c.checkpoints)),
            ("fleet_redis_errors_total", "Failed Redis commands (each is retried).", get(&c.errors)),
        ] {
            exporter.set_counter(suffix, help, value);
        }
        exporter.set_gauge(
            "fleet_connected",
            "1 while Redis answers; 0 while the sidecar serves from memory alone.",
            &[],
            if self.link.down().is_none() { 1.0 } else { 0.0 },
        );
        exporter.set_gauge(
            "fleet_lessons_waiting",
            "Lessons waiting to be appended to the fleet's stream.",
            &[],
            lock(&self.outbox).len() as f64,
        );
        exporter.set_gauge(
            "fleet_session_snapshots_waiting",
            "Session snapshots waiting to be written to Redis.",
            &[],
            self.store.waiting() as f64,
        );
        exporter.set_gauge(
            "fleet_sessions_leased",
            "Sessions this sidecar holds a lease on.",
            &[],
            lock(&self.leased).len() as f64,
        );
    }
}
