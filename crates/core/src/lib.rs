//! The sans-I/O core of the creative feedback loop.
//!
//! A host system (a "cortex" producing text, images, plans…) reports its observed [`State`]
//! every step; [`CreativeLoop::update`] answers with a [`Decision`]: keep going, inject entropy
//! (explore), continue or end an exploration, recover, or halt in an emergency. The loop shapes
//! each exploration's entropy with a profile, predicts its gain with a ridge-regression model,
//! learns from its outcome, and records what it did as [`Event`]s for adapters to stream.
//!
//! # Contract
//!
//! This crate is deterministic and performs **no I/O**: no networking, no files, no clock and no
//! randomness of its own. The step is the loop's clock; the only random draw (the quality gate's
//! exploration rate) comes from a generator seeded by the config and saved in snapshots. Two
//! loops fed the same states make the same decisions, bit for bit. Streaming, HTTP and files live
//! in other crates.
//!
//! After warm-up, `update` allocates nothing on stable, exploring and recovering steps when the
//! events are drained every step.
//!
//! # Example
//!
//! ```
//! use creative_feedback_core::{Action, Config, CreativeLoop, State};
//!
//! let mut feedback = CreativeLoop::new(Config {
//!     stability_threshold: 0.8,   // higher = more conservative
//!     max_exploration_steps: 200, // longest exploration
//!     recovery_steps: 30,         // recovery after an exploration
//!     ..Config::default()
//! })?;
//!
//! // Novelty above 0.7 is momentum: the loop starts an exploration.
//! let decision = feedback.update(&State::new(0.85, 0.6))?;
//! assert_eq!(decision.action, Action::InjectEntropy);
//! let exploration = decision.exploration.as_ref().map(|e| (e.profile.to_string(), e.duration));
//! assert_eq!(exploration, Some(("constant".to_string(), 200)));
//!
//! for event in feedback.drain_events() {
//!     println!("{event:?}"); // mode change, exploration started
//! }
//! println!("{:?}", feedback.metrics());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for [`Config`], [`Decision`], [`Metrics`], [`Event`], [`ExplorationRecord`] and JSON snapshots ([`Snapshot::to_json`]) |
//!
//! Reading states and history records from JSON ([`ReadState::from_json`],
//! [`HistoryRecord::from_json`]) needs no feature.
//!
//! # Where things are
//!
//! The behaviour is stated in the project's `docs/specification.md`; comments cite its
//! sections. [`CreativeLoop`] keeps the state and runs the mode rules; the rules' arithmetic
//! (triggers, the base factor, duration, features, the adjustment, shaping, gain) are pure
//! functions in one module; [`LoopBuilder`] and [`Snapshot`] build and persist loops; the
//! policy seams ([`ProfileSelector`], [`GainPredictor`]) document the order of their hooks.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "ndarray")]
mod batch;
mod builder;
mod config;
mod decision;
mod engine;
mod events;
mod health;
mod history;
mod json;
mod learned;
mod metrics;
mod policy;
mod records;
mod rules;
mod snapshot;
mod state;
mod trend;
mod validate;

#[cfg(feature = "ndarray")]
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
pub use batch::{BatchDecisions, STATE_COLUMNS};
pub use builder::LoopBuilder;
pub use config::{Config, InputMode, QualityConfig, SelectorConfig, DEFAULT_GATE};
pub use decision::{
    Action, Decision, ExplorationInfo, Mode, Outcome, OutcomeKind, Reason, Trigger,
};
pub use engine::{CreativeLoop, Learning, Lesson, Trajectory, TrajectorySnapshot};
pub use events::Event;
pub use health::{Health, HealthReason, HealthStatus};
pub use history::{HistoryRecord, PretrainReport, SkippedRecord};
pub use json::{ReadError, ReadState};
pub use learned::{
    ArmStatus, ContextFeature, LearnedConfig, LearnedSelector, SelectorKind, Strategy,
    MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUES,
};
pub use metrics::{Calibration, Counters, Metrics, QualityStatus, RecentStats, Trend};
pub use policy::{
    ConstantSelector, DefaultSelector, GainPredictor, ModelPredictor, NoPredictor, Prediction,
    PredictionContext, ProfileSelector, Selection, SelectionContext, Tag,
};
pub use records::{CurrentExploration, ExplorationRecord};
pub use snapshot::{LearningSnapshot, Snapshot};
pub use state::{AttributeValue, Attributes, Coherence, Observation, ObservedValues, State};
pub use validate::{FieldError, FieldMessage, Findings, InputWarning, Rejected};

pub use creative_feedback_profiles::{
    Params, Profile, ProfileName, ProfileRegistry, ProfileShape, ResolvedProfile,
};
pub use creative_feedback_quality::{Features, ModelConfig, QualityModel, FEATURE_NAMES};

/// Errors of the core: configuration, profiles, the model and snapshots.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key holds a value that cannot work.
    #[error("invalid configuration: `{key}` {reason}")]
    InvalidConfig {
        /// The key, as named in configuration files (`quality.window`).
        key: &'static str,
        /// What it must be.
        reason: String,
    },
    /// A profile is unknown, misnamed or has invalid parameters.
    #[error(transparent)]
    Profile(#[from] creative_feedback_profiles::Error),
    /// The quality model refused a setting or a restored state.
    #[error(transparent)]
    Quality(#[from] creative_feedback_quality::Error),
    /// A snapshot is internally inconsistent.
    #[error("invalid snapshot: {0}; restore from an unmodified snapshot")]
    InvalidSnapshot(String),
    /// JSON (de)serialization of a snapshot or config failed.
    #[error("invalid JSON: {0}")]
    Json(String),
}
