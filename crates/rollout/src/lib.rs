//! Rollout and A/B testing for the creative feedback loop: sticky, Unleash-compatible bucketing.
//!
//! The guide assigned A/B groups with `random.choice`, stored per user in a dict that grows
//! without bound, and rolled out by drawing a fresh random number on every call, so one user
//! flipped between enhanced and plain behaviour from step to step. Here assignment is a pure
//! function of the ids, as a feature-flag system computes it:
//!
//! - [`bucket`]: `murmur3_x86_32("{group_id}:{user_id}", seed 0) % 100 + 1`, Unleash's
//!   gradual-rollout normalisation; a user is in a rollout of P% when bucket ≤ P. Ids are hashed
//!   as UTF-8 bytes, as Unleash's Rust engine does.
//! - [`variant`]: the same hash with seed 86028157 modulo the total weight, Unleash's variant
//!   normalisation, for multi-arm splits.
//! - [`Rollout`]: adaptive profiles and quality prediction for users inside the rollout; the
//!   constant profile and a reported predicted gain of 0.3 for the others (no adjustment, no
//!   gate). The percentage changes at run time through an atomic.
//! - [`Experiment`]: weighted arms (default control 50 / treatment 50), per-arm statistics and
//!   Welch's t-test of each arm against the control.
//!
//! A state without a `user_id` attribute uses the user id `default` (the guide's behaviour), so
//! all such states share one bucket.
//!
//! # Example
//!
//! ```
//! use creative_feedback_rollout::{bucket, in_rollout};
//!
//! let b = bucket("creative-enhancements", "user-42");
//! assert!((1..=100).contains(&b));
//! assert_eq!(in_rollout("creative-enhancements", "user-42", 100), true);
//! assert_eq!(in_rollout("creative-enhancements", "user-42", 0), false);
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for reports and arms |
//! | `prometheus` | no | `Experiment::emit_metrics`: A/B statistics as gauges labelled by arm (`metrics` facade) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

mod ab;
mod bucket;
mod gradual;
mod stats;

pub use ab::{AbReport, Arm, ArmComparison, ArmPolicy, ArmReport, Experiment, ExperimentSelector};
pub use bucket::{
    bucket, hash, in_rollout, normalized, variant, variant_with_seed, DEFAULT_USER, VARIANT_SEED,
};
pub use gradual::{
    Rollout, RolloutHandle, RolloutPredictor, RolloutReport, RolloutSelector, INSIDE, OUTSIDE,
    OUTSIDE_PREDICTION,
};
pub use stats::{welch, Accumulator, ArmStats, Comparison};

/// Errors of rollouts and experiments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rollout percentage above 100.
    #[error("rollout percentage {0} is out of range: use 0 to 100")]
    InvalidPercent(u32),
    /// The group id is empty.
    #[error("the group id is empty: name the rollout or experiment")]
    EmptyGroup,
    /// An experiment without arms.
    #[error("an experiment needs at least one arm")]
    NoArms,
    /// Two arms with one name.
    #[error("two arms are named `{0}`: arm names must be unique")]
    DuplicateArm(String),
    /// Every arm has weight 0.
    #[error("every arm has weight 0: give at least one arm a positive weight")]
    ZeroWeights,
}
