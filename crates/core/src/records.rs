//! What the loop keeps of explorations: the record of each ended one and the view of the one in
//! progress (specification §8).

use creative_feedback_profiles::{Profile, ProfileName};
use creative_feedback_quality::Features;

use crate::decision::{OutcomeKind, Trigger};
use crate::policy::Tag;
use crate::state::ObservedValues;

/// One ended exploration (the guide's `injection_history` entry). Its fields are also the
/// pre-training record format, so a history exported from one run pre-trains the next.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExplorationRecord {
    /// The accepted step (1-based) that started it.
    pub started_step: u64,
    /// The accepted step that ended it.
    pub ended_step: u64,
    /// What triggered it.
    pub trigger: Trigger,
    /// The profile and its parameters.
    pub profile: Profile,
    /// The tag the selector attached to its choice (an arm), if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub tag: Option<Tag>,
    /// The trigger state.
    pub initial_state: ObservedValues,
    /// The base factor before the quality adjustment.
    pub entropy_factor: f64,
    /// The base factor the profile shaped (after adjustment).
    pub adjusted_factor: f64,
    /// Planned entropy steps.
    pub duration: u32,
    /// Entropy steps it had.
    pub entropy_steps: u32,
    /// How it ended.
    pub outcome: OutcomeKind,
    /// Its creative gain.
    pub creative_gain: f64,
    /// Whether the gain is above `success_gain` (the loop's own verdict, so that policies
    /// counting successes need no threshold of their own).
    #[cfg_attr(feature = "serde", serde(default))]
    pub successful: bool,
    /// The performance of its last states (mean of up to `gain_window`).
    pub final_performance: f64,
    /// The prediction at the trigger, if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub predicted_gain: Option<f64>,
    /// Samples the model had seen at the trigger.
    pub samples_seen: u64,
    /// The features used to predict and to train.
    pub features: Features,
}

/// The exploration in progress.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CurrentExploration {
    /// Its profile.
    pub profile: ProfileName,
    /// The tag the selector attached to its choice, if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub tag: Option<Tag>,
    /// Its trigger.
    pub trigger: Trigger,
    /// The base factor the profile shapes (after adjustment).
    pub entropy_factor: f64,
    /// Entropy steps done so far.
    pub k: u32,
    /// Planned entropy steps.
    pub duration: u32,
    /// `k / duration`.
    pub progress: f64,
    /// The prediction at the trigger.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub predicted_gain: Option<f64>,
}
