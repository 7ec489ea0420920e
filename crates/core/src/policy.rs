//! The policy seams: which profile an exploration uses, and what gain it is predicted to bring.
//!
//! The guide customised behaviour by subclassing (`_select_entropy_profile`,
//! `_predict_creative_gain`); here a user implements [`ProfileSelector`] or [`GainPredictor`]
//! and hands it to the [`LoopBuilder`](crate::LoopBuilder).

use creative_feedback_profiles::Profile;
use creative_feedback_quality::{Features, QualityModel};

use crate::config::SelectorConfig;
use crate::decision::Trigger;
use crate::state::Observation;

/// What a selector knows when an exploration starts.
#[derive(Debug, Clone, Copy)]
pub struct SelectionContext<'a> {
    /// The trigger state.
    pub observation: Observation<'a>,
    /// What triggered the exploration.
    pub trigger: Trigger,
    /// The base factor before the quality adjustment.
    pub base_factor: f64,
    /// Planned entropy steps.
    pub duration: u32,
    /// The default selector, to fall back on (the guide's `super()._select_entropy_profile`).
    pub default: &'a DefaultSelector,
}

impl SelectionContext<'_> {
    /// The default selector's choice for this state.
    #[must_use]
    pub fn default_choice(&self) -> Profile {
        self.default.choose(&self.observation)
    }
}

/// Chooses the profile (and its parameters) of each exploration.
///
/// A choice naming an unregistered profile or invalid parameters falls back to the default
/// selector's choice for that exploration and counts as an error.
///
/// ```
/// use creative_feedback_core::{Profile, ProfileSelector, SelectionContext};
///
/// /// The guide's `CustomCreativeFeedback._select_entropy_profile`.
/// struct Conversational;
///
/// impl ProfileSelector for Conversational {
///     fn select(&mut self, ctx: &SelectionContext<'_>) -> Profile {
///         let obs = &ctx.observation;
///         if obs.flag("conversation_stalled") {
///             Profile::Pulse { frequency: 3.0 }
///         } else if obs.number("temperature").is_some_and(|t| t > 0.8) {
///             Profile::ExponentialDecay { decay_rate: 2.0 }
///         } else if obs.number("user_comfort").is_some_and(|c| c < 0.5) {
///             Profile::CosineRamp { ramp_fraction: 0.25 }
///         } else {
///             ctx.default_choice()
///         }
///     }
/// }
/// ```
pub trait ProfileSelector: Send {
    /// The profile for the exploration starting now.
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Profile;
}

/// The default selector (SPEC §6), first match: volatile → `exponential_decay`; low novelty →
/// `pulse`; novelty inside the ramp band → `cosine_ramp`; else `constant`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultSelector {
    config: SelectorConfig,
}

impl DefaultSelector {
    /// A default selector with these thresholds (validated with the loop's config).
    #[must_use]
    pub fn new(config: SelectorConfig) -> Self {
        Self { config }
    }

    /// The choice for an observation.
    #[must_use]
    pub fn choose(&self, obs: &Observation<'_>) -> Profile {
        let c = &self.config;
        let v = obs.values;
        if v.volatility > c.volatile_above {
            Profile::ExponentialDecay {
                decay_rate: c.decay_rate_base + c.decay_rate_slope * v.volatility,
            }
        } else if v.novelty < c.pulse_below {
            Profile::Pulse {
                frequency: c.pulse_frequency_base + c.pulse_frequency_slope * (1.0 - v.novelty),
            }
        } else if c.ramp_band[0] < v.novelty && v.novelty < c.ramp_band[1] {
            Profile::CosineRamp {
                ramp_fraction: c.ramp_fraction,
            }
        } else {
            Profile::Constant
        }
    }
}

impl ProfileSelector for DefaultSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Profile {
        self.choose(&ctx.observation)
    }
}

/// Always the constant profile: the plain, non-adaptive behaviour (a control arm).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConstantSelector;

impl ProfileSelector for ConstantSelector {
    fn select(&mut self, _: &SelectionContext<'_>) -> Profile {
        Profile::Constant
    }
}

/// What a predictor knows when an exploration is about to start.
#[derive(Debug, Clone, Copy)]
pub struct PredictionContext<'a> {
    /// The trigger state.
    pub observation: Observation<'a>,
    /// The features (SPEC §7).
    pub features: &'a Features,
    /// The loop's quality model.
    pub model: &'a QualityModel,
}

/// A gain prediction and how the loop may use it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prediction {
    /// No prediction: nothing is adjusted or gated.
    None,
    /// A prediction that adjusts the base factor and may gate the exploration.
    Model(f64),
    /// A prediction shown in the decision only (no adjustment, no gate), e.g. the fixed 0.3 a
    /// rollout reports for users outside it.
    Reported(f64),
}

impl Prediction {
    /// The predicted value, if any.
    #[must_use]
    pub fn value(self) -> Option<f64> {
        match self {
            Self::None => None,
            Self::Model(p) | Self::Reported(p) => Some(p),
        }
    }
}

/// Predicts the gain of an exploration (the guide's `_predict_creative_gain`).
///
/// A non-finite value makes the loop treat the step as "cannot predict" and count an error.
pub trait GainPredictor: Send {
    /// The prediction for the exploration starting now.
    fn predict(&mut self, ctx: &PredictionContext<'_>) -> Prediction;
}

/// The default predictor: the loop's own ridge model, once it can predict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelPredictor;

impl GainPredictor for ModelPredictor {
    fn predict(&mut self, ctx: &PredictionContext<'_>) -> Prediction {
        ctx.model
            .predict(ctx.features)
            .map_or(Prediction::None, Prediction::Model)
    }
}

/// Never predicts: explorations are neither adjusted nor gated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoPredictor;

impl GainPredictor for NoPredictor {
    fn predict(&mut self, _: &PredictionContext<'_>) -> Prediction {
        Prediction::None
    }
}
