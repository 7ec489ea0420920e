//! A seeded synthetic host for the creative feedback loop.
//!
//! The host has novelty that drifts on its own and rises with injected entropy, aesthetic
//! quality that improves with entropy the current context tolerates (more so with the profile
//! that suits it) and falls with entropy beyond that tolerance, and volatility and `lambda_max`
//! that rise with entropy, so an over-eager loop causes emergencies. Hidden contexts switch now
//! and then; the truth is exported through [`Host::truth`] for tests, never read by the loop.
//! The equations are in `docs/simulator.md`. Same seed, same run, bit for bit.
//!
//! # Example
//!
//! ```
//! use creative_feedback_core::{Config, CreativeLoop};
//! use creative_feedback_sim::{run, Host, HostConfig, RunOptions};
//!
//! let mut feedback = CreativeLoop::new(Config::default())?;
//! let mut host = Host::new(HostConfig::seeded(7))?;
//! let out = run(&mut feedback, &mut host, 5_000, RunOptions::default(), |_| {});
//! assert_eq!(out.summary.steps, 5_000);
//! assert!(out.summary.explorations > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | `Serialize` for summaries, traces and host settings |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

mod compare;
mod fleet;
mod host;
mod oracle;
mod run;
mod scenario;

pub use compare::{compare, mean_ci95, Comparison, Policy, PolicyResult};
pub use fleet::Fleet;
pub use host::{default_contexts, Context, ContextProbe, Dynamics, Host, HostConfig, HostTruth};
pub use oracle::{FixedSelector, OracleSelector, OracleTable, ORACLE_PROFILES};
pub use run::{
    recorded_states, run, run_with_events, ModeShare, ProfileStats, RunOptions, RunOutput,
    RunSummary, TracePoint, LOW_VALUE_GAIN,
};
pub use scenario::{domain_contexts, Scenario, DOMAIN_ATTRIBUTE};

/// Errors of the simulator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host's settings cannot work.
    #[error("invalid simulated host: {0}")]
    InvalidHost(String),
    /// The loop could not be built from the given config.
    #[error(transparent)]
    Loop(#[from] creative_feedback_core::Error),
    /// The state given to a fleet's sidecar is invalid; nothing changed.
    #[error(transparent)]
    Rejected(#[from] creative_feedback_core::Rejected),
    /// A fleet has no sidecar with this index.
    #[error("no sidecar {index}: the fleet has {len} (0 to {})", len.saturating_sub(1))]
    NoSidecar {
        /// The index asked for.
        index: usize,
        /// How many sidecars there are.
        len: usize,
    },
    /// A comparison needs at least two seeds for a confidence interval.
    #[error("a comparison needs at least 2 seeds, got {0}")]
    TooFewSeeds(usize),
}
