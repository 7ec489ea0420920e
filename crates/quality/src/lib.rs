//! A ridge-regression model of an exploration's creative gain.
//!
//! Each exploration is described by a fixed-size feature vector (see [`FEATURE_NAMES`]); when it
//! ends, its gain is the target. The model keeps the most recent `window` samples and fits
//!
//! ```text
//! w = (XᵀX + λI)⁻¹ (Xᵀy + λ·w0)
//! ```
//!
//! where `λ` is the regularization and `w0` the user's prior weights (zero when none), so the
//! prior is what the model believes before data and what it shrinks towards after. The sums
//! `XᵀX` and `Xᵀy` are updated incrementally (add the new sample, subtract the evicted one) and
//! rebuilt from the window every `window` additions, so refitting costs a 7×7 Cholesky solve
//! rather than a pass over the window, and rounding cannot accumulate. [`fit_batch`] solves the
//! same problem directly over a sample matrix; the two agree to 1e-9.
//!
//! The crate is pure: no I/O, no clock, no randomness.
//!
//! # Example
//!
//! ```
//! use creative_feedback_quality::{ModelConfig, QualityModel};
//!
//! let mut model = QualityModel::new(ModelConfig { min_samples: 3, ..ModelConfig::default() })?;
//! assert_eq!(model.predict(&[0.5, 0.5, 0.1, 0.4, 0.6, 0.0, 1.0]), None); // not enough data yet
//! for i in 0..10 {
//!     let novelty = f64::from(i) / 10.0;
//!     model.add_sample([novelty, 0.5, 0.1, 0.4, 0.6, 0.0, 1.0], 0.5 * novelty)?;
//! }
//! let p = model.predict(&[0.8, 0.5, 0.1, 0.4, 0.6, 0.0, 1.0]);
//! assert!(p.is_some_and(|p| (p - 0.4).abs() < 0.05));
//! # Ok::<(), creative_feedback_quality::Error>(())
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for [`QualityModel`] and [`ModelConfig`] |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod model;

pub use batch::fit_batch;
pub use model::{ModelConfig, QualityModel, Sample, MAX_WINDOW};

/// How many features describe an exploration (the last one is the constant intercept).
pub const FEATURE_COUNT: usize = 7;

/// The features, in order: the trigger state's novelty, aesthetic score and volatility, the
/// base entropy factor before adjustment, the duration over the maximum duration, the model's
/// experience `min(samples_seen, 100) / 100`, and the intercept `1`.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "novelty",
    "aesthetic_score",
    "volatility",
    "entropy_factor",
    "duration",
    "experience",
    "intercept",
];

/// One exploration's feature vector.
pub type Features = [f64; FEATURE_COUNT];

/// Errors of the quality model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its valid range.
    #[error("invalid quality-model setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting, as named in the configuration file.
        field: &'static str,
        /// What it must be.
        reason: String,
    },
    /// A sample holds NaN or an infinity; it was not added.
    #[error("sample rejected: {0} is not a finite number")]
    NonFiniteSample(&'static str),
    /// The regularized normal equations could not be solved (only possible with values so large
    /// that their squares overflow).
    #[error("the ridge system is not solvable; check for extreme feature or target values")]
    Singular,
    /// A restored model is inconsistent with its own configuration.
    #[error("inconsistent model state: {0}")]
    InvalidState(String),
}
