//! The creative feedback loop as an HTTP sidecar.
//!
//! Most hosts that want the loop are not written in Rust. [`Service`] runs one loop behind a
//! JSON API with everything the guide's §4, §5 and §7 show — Prometheus metrics, alerts, a health
//! check — plus a live WebSocket stream and a dashboard page served from the binary. [`router`]
//! gives an axum `Router` you can mount in your own app; `crefl serve` runs it standalone.
//!
//! With a state folder, the loop's snapshot is written atomically every `snapshot_every` steps
//! and at shutdown, and ended explorations are appended to `history.jsonl` (the format
//! `crefl pretrain` reads); on start the snapshot is restored, so learning survives restarts. A
//! corrupted snapshot is refused with a clear error, never silently replaced.
//!
//! With the `redis` feature, sidecars on one Redis server learn as one fleet (`Fleet`; see
//! `docs/fleet.md`): every ended exploration is learned by every sidecar from one stream, in
//! its order, and sessions are kept in Redis under leases.
//!
//! # Example
//!
//! ```
//! use creative_feedback_core::Config;
//! use creative_feedback_core::Action;
//! use creative_feedback_server::{router, Service, ServiceConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Service::start(ServiceConfig::new(Config::default()))?;
//! let app = router(service.clone()); // serve with axum::serve, or nest in your app
//! let decision = service.update(br#"{"novelty": 0.9, "aesthetic_score": 0.6}"#)?;
//! assert_eq!(decision.action, Action::InjectEntropy);
//! service.shutdown(std::time::Duration::from_secs(1)).await;
//! # drop(app);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "redis")]
mod fleet;
mod health;
mod live;
mod persist;
mod process;
mod report;
mod routes;
mod serve;
mod service;
mod session_routes;
mod sessions;

use std::path::{Path, PathBuf};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use fleet::{Fleet, FleetConfig, FleetStatus, LessonCounts, Propagation, SessionCounts};
pub use health::{HealthReport, LastExploration};
pub use live::StepSample;
pub use persist::{HistoryCheck, Loaded, PersistStatus, StateDir, LAYOUT_VERSION};
pub use report::{QualityReport, Report};
pub use routes::router;
pub use serve::{serve, ServeOptions, Served};
pub use service::{MetricsReport, Saved, Service, ServiceConfig, UpdateError, PRIMARY_SESSION};

/// Errors of the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Snapshot files exist but none can be resumed from; the service refuses to start
    /// rather than lose what was learned.
    #[error(
        "no snapshot in the state folder can be resumed from ({}); restore a good snapshot.json, or start with --fresh to move these aside and begin a new loop",
        files.iter().map(|(p, why)| format!("{}: {why}", p.display())).collect::<Vec<_>>().join("; ")
    )]
    CorruptSnapshot {
        /// Each snapshot file and why it cannot be used.
        files: Vec<(PathBuf, String)>,
    },
    /// A snapshot file reads but cannot be resumed from (a profile not registered, a
    /// configuration or state this version refuses).
    #[error(
        "the snapshot {} cannot be resumed from: {reason}; fix or replace it (snapshot.prev.json is the one before), or start with --fresh to move it aside",
        path.display()
    )]
    UnusableSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Why the loop refused it.
        reason: String,
    },
    /// The state folder was written by a newer version (its `layout.json` names a layout this
    /// version does not read).
    #[error(
        "{}: unknown state folder layout ({found}); this version reads layouts up to {}: use the version that wrote it, or another --state-dir",
        path.display(), persist::LAYOUT_VERSION
    )]
    Layout {
        /// The layout file.
        path: PathBuf,
        /// What it holds.
        found: String,
    },
    /// The session pool's settings are invalid.
    #[error(transparent)]
    Sessions(#[from] creative_feedback_sessions::Error),
    /// A snapshot could not be encoded.
    #[error("cannot encode the snapshot: {0}")]
    Snapshot(String),
    /// The fleet's settings are invalid, or its checkpoint unreadable.
    #[error("{0}")]
    Fleet(String),
    /// A filesystem operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// The system's message.
        message: String,
    },
    /// The loop could not be built.
    #[error(transparent)]
    Loop(#[from] creative_feedback_core::Error),
    /// The rollout or experiment settings are invalid.
    #[error(transparent)]
    Rollout(#[from] creative_feedback_rollout::Error),
    /// The streaming setup failed.
    #[error(transparent)]
    Stream(#[from] creative_feedback_stream::Error),
}

impl Error {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
