//! Entropy profiles: how hard an exploration pushes at each of its steps.
//!
//! An exploration of `total` steps starts from a base factor `b` and asks its profile for the
//! entropy factor at each step `k` (progress `p = k / total`). This crate holds the four built-in
//! shapes, the [`ProfileShape`] trait for user-defined shapes, and a [`ProfileRegistry`] that
//! resolves a profile name (from a selector, a config or a snapshot) to a shape.
//!
//! | profile | parameters (default; valid range) | factor |
//! |---|---|---|
//! | `constant` | — | b |
//! | `cosine_ramp` | `ramp_fraction` r (0.2; 0 < r ≤ 0.5) | rises from 0 over the first r, falls back over the last r |
//! | `exponential_decay` | `decay_rate` d (2.0; d ≥ 0) | b·(½ + ½·e^(−d·p)) |
//! | `pulse` | `frequency` f (3.0; f > 0) | b·½(1 + sin(2πf·p)) |
//!
//! Built-in profiles satisfy `0 ≤ factor ≤ b`. The crate is pure math: no I/O, no allocation
//! when a factor is evaluated.
//!
//! # Example
//!
//! ```
//! use creative_feedback_profiles::{Params, Profile, ProfileRegistry};
//!
//! // A built-in profile.
//! let ramp = Profile::CosineRamp { ramp_fraction: 0.25 };
//! assert_eq!(ramp.builtin_factor(0.6, 0, 100), Some(0.0)); // a ramp starts at zero entropy
//! assert_eq!(ramp.builtin_factor(0.6, 50, 100), Some(0.6));
//!
//! // A user-defined profile, registered by name at run time.
//! let mut registry = ProfileRegistry::new();
//! registry.register("sinusoidal", |base: f64, step: u32, total: u32, params: &Params| {
//!     let t = f64::from(step) / f64::from(total);
//!     let amplitude = params.get_or("amplitude", 0.3);
//!     let frequency = params.get_or("frequency", 2.0);
//!     base * (1.0 + amplitude * (2.0 * std::f64::consts::PI * frequency * t).sin())
//! })?;
//! let sinusoidal = registry.resolve(Profile::custom("sinusoidal", Params::new()))?;
//! assert!((sinusoidal.factor(0.5, 0, 100) - 0.5).abs() < 1e-12);
//! # Ok::<(), creative_feedback_profiles::Error>(())
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for [`Profile`], [`Params`] and [`ProfileName`] |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod name;
mod params;
mod profile;
mod registry;

pub use name::ProfileName;
pub use params::Params;
pub use profile::{Profile, BUILTIN_NAMES};
pub use registry::{ProfileRegistry, ProfileShape, ResolvedProfile};

/// Errors raised while building, naming or resolving a profile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name is neither built in nor registered.
    #[error(
        "unknown entropy profile `{0}`: use one of constant, cosine_ramp, exponential_decay, \
         pulse, or register it first with ProfileRegistry::register"
    )]
    UnknownProfile(String),
    /// A parameter value is outside the profile's valid range.
    #[error(
        "profile `{profile}`: parameter `{parameter}` = {value} is invalid; expected {expected}"
    )]
    InvalidParameter {
        /// The profile.
        profile: String,
        /// The parameter.
        parameter: String,
        /// The rejected value.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// A built-in profile was given a parameter it does not have.
    #[error("profile `{profile}` has no parameter `{parameter}`; it accepts: {accepted}")]
    UnknownParameter {
        /// The profile.
        profile: String,
        /// The parameter it does not have.
        parameter: String,
        /// The parameters it does accept.
        accepted: &'static str,
    },
    /// A custom profile cannot take a built-in profile's name, and names must be unique.
    #[error("cannot register profile `{0}`: the name is built in or already registered")]
    NameTaken(String),
    /// Profile names must be non-empty and made of ASCII letters, digits, `_` or `-`.
    #[error("invalid profile name `{0}`: use ASCII letters, digits, `_` or `-`")]
    InvalidName(String),
    /// A custom profile rejected its parameters.
    #[error("profile `{profile}` rejected its parameters: {message}")]
    CustomParameters {
        /// The profile.
        profile: String,
        /// The profile's own explanation.
        message: String,
    },
}
