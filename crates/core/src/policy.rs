//! The policy seams: which profile an exploration uses, what gain it is predicted to bring, and
//! how both hear what came of it.
//!
//! The guide customised behaviour by subclassing (`_select_entropy_profile`,
//! `_predict_creative_gain`); here a user implements [`ProfileSelector`] or [`GainPredictor`]
//! and hands it to the [`LoopBuilder`](crate::LoopBuilder).
//!
//! # The order of the hooks
//!
//! On the stable step that triggers an exploration (specification §5), after the stability
//! check:
//!
//! 1. [`GainPredictor::predict`] with the features;
//! 2. the quality gate (a refused exploration stops here: no selector is called);
//! 3. the learned selector, when `[selector] kind = "learned"`, builds its context and makes
//!    its choice;
//! 4. [`ProfileSelector::select`], whose context carries the prediction of step 1 and the
//!    learned choice of step 3; the [`Selection`] it returns (profile and optional [`Tag`])
//!    travels with the exploration, on its `exploration_started` and `exploration_ended`
//!    events and its [`ExplorationRecord`]. Without a custom selector, the learned choice (or
//!    the default selector's) is taken.
//!
//! When the exploration ends, however it ends (completed, pruned or aborted), exactly once:
//!
//! 5. the loop's own quality model learns from it (not from aborted ones);
//! 6. [`GainPredictor::feedback`] with the [`ExplorationRecord`];
//! 7. the learned selector, when configured, learns from it (whichever selector chose it);
//! 8. [`ProfileSelector::feedback`] with the same record;
//! 9. the `exploration_ended` event is queued and the record enters the history.
//!
//! Policies learn only from what the loop hands them: a policy keeps no note between `select`
//! and `feedback`, so one policy value (behind an `Arc`) can serve many loops on many threads.

use std::fmt;

use creative_feedback_profiles::{Profile, ProfileName};
use creative_feedback_quality::{Features, QualityModel};

use crate::config::SelectorConfig;
use crate::decision::Trigger;
use crate::records::ExplorationRecord;
use crate::state::Observation;

/// A short label a policy attaches to the explorations it chose: an A/B arm, a rollout bucket,
/// a bandit arm. The loop carries it on events and records and hands it back in feedback.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Tag(ProfileName);

impl Tag {
    /// A tag from a static string (no allocation).
    #[must_use]
    pub const fn from_static(tag: &'static str) -> Self {
        Self(ProfileName::from_static(tag))
    }

    /// The tag's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Tag {
    fn from(tag: &str) -> Self {
        Self(ProfileName::from(tag))
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a selector chose for an exploration: the profile with its parameters, and an optional
/// tag that comes back with the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The profile and its parameters.
    pub profile: Profile,
    /// A label for the choice (an arm), carried on events and records.
    pub tag: Option<Tag>,
}

impl Selection {
    /// A selection with a tag.
    #[must_use]
    pub fn tagged(profile: Profile, tag: Tag) -> Self {
        Self {
            profile,
            tag: Some(tag),
        }
    }
}

impl From<Profile> for Selection {
    fn from(profile: Profile) -> Self {
        Self { profile, tag: None }
    }
}

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
    /// The prediction already made for this exploration (the gate has let it through).
    pub prediction: Prediction,
    /// The features the prediction was made from, and the model will learn from.
    pub features: &'a Features,
    /// The default selector, to fall back on (the guide's `super()._select_entropy_profile`).
    pub default: &'a DefaultSelector,
    /// The learned selector's choice for this state, when `[selector] kind = "learned"`. It
    /// learns from every ended exploration whoever chose it, so a custom selector may wrap it.
    pub learned: Option<&'a Profile>,
}

impl SelectionContext<'_> {
    /// The default selector's choice for this state.
    #[must_use]
    pub fn default_choice(&self) -> Profile {
        self.default.choose(&self.observation)
    }

    /// The configured built-in selector's choice: the learned one's when configured, else the
    /// default one's. What a custom selector falls back to.
    #[must_use]
    pub fn fallback_choice(&self) -> Profile {
        match self.learned {
            Some(profile) => profile.clone(),
            None => self.default_choice(),
        }
    }
}

/// Chooses the profile (and its parameters) of each exploration, and may learn from how its
/// choices turned out.
///
/// A choice naming an unregistered profile or invalid parameters falls back to the default
/// selector's choice for that exploration (keeping the tag) and counts as an error. The loop
/// calls the hooks in this order: [`GainPredictor::predict`], the quality gate, `select`; when
/// the exploration ends, its model learns, then [`GainPredictor::feedback`], then `feedback`.
///
/// ```
/// use creative_feedback_core::{Profile, ProfileSelector, Selection, SelectionContext};
///
/// /// The guide's `CustomCreativeFeedback._select_entropy_profile`.
/// struct Conversational;
///
/// impl ProfileSelector for Conversational {
///     fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
///         let obs = &ctx.observation;
///         if obs.flag("conversation_stalled") {
///             Profile::Pulse { frequency: 3.0 }.into()
///         } else if obs.number("temperature").is_some_and(|t| t > 0.8) {
///             Profile::ExponentialDecay { decay_rate: 2.0 }.into()
///         } else if obs.number("user_comfort").is_some_and(|c| c < 0.5) {
///             Profile::CosineRamp { ramp_fraction: 0.25 }.into()
///         } else {
///             ctx.default_choice().into()
///         }
///     }
/// }
/// ```
pub trait ProfileSelector: Send {
    /// The profile (and optional tag) for the exploration starting now.
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection;

    /// How an exploration this selector chose ended: called exactly once per ended
    /// exploration (completed, pruned or aborted). The record carries the selection's profile
    /// and tag. Does nothing by default.
    fn feedback(&mut self, record: &ExplorationRecord) {
        let _ = record;
    }
}

/// The default selector (specification §6), first match: volatile → `exponential_decay`; low novelty →
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
        let name = if v.volatility > c.volatile_above {
            "exponential_decay"
        } else if v.novelty < c.pulse_below {
            "pulse"
        } else if c.ramp_band[0] < v.novelty && v.novelty < c.ramp_band[1] {
            "cosine_ramp"
        } else {
            "constant"
        };
        self.profile_for(name, obs).unwrap_or(Profile::Constant)
    }

    /// A built-in profile by name with the parameters this selector gives it in this state
    /// (the learned selector uses them too); `None` for any other name.
    #[must_use]
    pub fn profile_for(&self, name: &str, obs: &Observation<'_>) -> Option<Profile> {
        let c = &self.config;
        let v = obs.values;
        Some(match name {
            "exponential_decay" => Profile::ExponentialDecay {
                decay_rate: c.decay_rate_base + c.decay_rate_slope * v.volatility,
            },
            "pulse" => Profile::Pulse {
                frequency: c.pulse_frequency_base + c.pulse_frequency_slope * (1.0 - v.novelty),
            },
            "cosine_ramp" => Profile::CosineRamp {
                ramp_fraction: c.ramp_fraction,
            },
            "constant" => Profile::Constant,
            _ => return None,
        })
    }
}

impl ProfileSelector for DefaultSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        self.choose(&ctx.observation).into()
    }
}

/// Always the constant profile: the plain, non-adaptive behaviour (a control arm).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConstantSelector;

impl ProfileSelector for ConstantSelector {
    fn select(&mut self, _: &SelectionContext<'_>) -> Selection {
        Profile::Constant.into()
    }
}

/// What a predictor knows when an exploration is about to start.
#[derive(Debug, Clone, Copy)]
pub struct PredictionContext<'a> {
    /// The trigger state.
    pub observation: Observation<'a>,
    /// The features (specification §7).
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

    /// How an exploration ended: called exactly once per ended exploration, before the
    /// selector's feedback. The record carries the prediction made at its start. Does nothing
    /// by default (the loop's own model learns without it).
    fn feedback(&mut self, record: &ExplorationRecord) {
        let _ = record;
    }
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
