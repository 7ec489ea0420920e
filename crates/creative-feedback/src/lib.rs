//! An adaptive controller for generative systems: when to explore, how hard, in what shape,
//! and which explorations pay off.
//!
//! This is the facade of the `creative-feedback` workspace. The loop itself lives in
//! [`creative-feedback-core`](creative_feedback_core) and is re-exported at the root; the other
//! crates are re-exported as modules, the optional ones behind features, so one dependency
//! brings what you enable.
//!
//! # Example
//!
//! ```
//! use creative_feedback::{Action, Config, CreativeLoop, State};
//!
//! let mut feedback = CreativeLoop::new(Config::default())?;
//! let decision = feedback.update(&State::new(0.15, 0.6))?; // stagnation
//! if decision.action == Action::InjectEntropy {
//!     // apply decision.entropy_factor to the host's sampling, scale its dynamics by
//!     // decision.lambda_factor …
//! }
//! assert_eq!(decision.exploration.map(|e| e.profile.to_string()), Some("pulse".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | serde support and JSON snapshots for every data type |
//! | `ndarray` | no | batches as arrays: `CreativeLoop::update_many`, `CreativeLoop::pretrain_arrays` |
//! | `rollout` | no | the [`rollout`] module: sticky bucketing, gradual rollout, A/B tests |
//! | `sim` | no | the [`sim`] module: a seeded synthetic host |
//! | `sessions` | no | the [`sessions`] module: many sessions, one shared model and selector |
//! | `stream` | no | the [`stream`] module: non-blocking metric streaming (tracing, callbacks) |
//! | `prometheus` | no | Prometheus metrics in [`stream`] (implies `stream`) |
//! | `websocket` | no | the WebSocket client sink in [`stream`] (implies `stream`) |
//!
//! No feature is on by default: the loop, its profiles and its quality model (the [`profiles`]
//! and [`quality`] modules, which the loop itself needs) are always there. Each flag adds a
//! dependency and forwards to that crate's feature of the same name:
//!
//! ```toml
//! creative-feedback = { version = "0.1", features = ["serde", "prometheus"] }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use creative_feedback_core::*;

/// Entropy profiles: built-in shapes, the [`ProfileShape`] trait and the
/// registry of custom profiles.
pub mod profiles {
    pub use creative_feedback_profiles::*;
}

/// The ridge-regression gain model and batch fitting.
pub mod quality {
    pub use creative_feedback_quality::*;
}

/// Sticky, Unleash-compatible bucketing, gradual rollout and A/B tests.
#[cfg(feature = "rollout")]
pub mod rollout {
    pub use creative_feedback_rollout::*;
}

/// Metric streaming: the non-blocking dispatcher and its sinks.
#[cfg(feature = "stream")]
pub mod stream {
    pub use creative_feedback_stream::*;
}

/// Many sessions keyed by id sharing one quality model and selector, with idle eviction and
/// per-session snapshots.
#[cfg(feature = "sessions")]
pub mod sessions {
    pub use creative_feedback_sessions::*;
}

/// A seeded synthetic host for demos, end-to-end tests and benchmarks.
#[cfg(feature = "sim")]
pub mod sim {
    pub use creative_feedback_sim::*;
}
