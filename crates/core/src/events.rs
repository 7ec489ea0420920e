//! Events: what the loop did, as plain data for adapters to stream (specification §9).

use creative_feedback_profiles::ProfileName;

use crate::decision::{Mode, OutcomeKind, Trigger};
use crate::policy::Tag;

/// Something the loop did that adapters stream (specification §9). Plain data; the core does no I/O.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "event", rename_all = "snake_case"))]
pub enum Event {
    /// The mode changed.
    ModeChanged {
        /// The accepted step (1-based).
        step: u64,
        /// The mode before the step.
        from: Mode,
        /// The mode after it.
        to: Mode,
        /// Cumulative gain after the step.
        cumulative_gain: f64,
    },
    /// An exploration started.
    ExplorationStarted {
        /// The accepted step.
        step: u64,
        /// What triggered it.
        trigger: Trigger,
        /// Its profile.
        profile: ProfileName,
        /// The tag the selector attached to its choice (an arm), if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        tag: Option<Tag>,
        /// The base factor the profile shapes (after adjustment).
        entropy_factor: f64,
        /// Planned entropy steps.
        duration: u32,
        /// The prediction, if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        predicted_gain: Option<f64>,
    },
    /// An exploration ended.
    ExplorationEnded {
        /// The accepted step.
        step: u64,
        /// Its profile.
        profile: ProfileName,
        /// The tag the selector attached to its choice (an arm), if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        tag: Option<Tag>,
        /// How it ended.
        outcome: OutcomeKind,
        /// Its gain.
        gain: f64,
        /// Planned entropy steps.
        duration: u32,
        /// Entropy steps it had.
        entropy_steps: u32,
        /// The prediction at its start, if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        predicted_gain: Option<f64>,
        /// Cumulative gain after it.
        cumulative_gain: f64,
    },
    /// An input field was corrected.
    InputCorrected {
        /// The accepted step.
        step: u64,
        /// The field's path.
        field: String,
        /// What was done.
        message: String,
    },
}

impl Event {
    /// The accepted step the event belongs to.
    #[must_use]
    pub fn step(&self) -> u64 {
        match self {
            Self::ModeChanged { step, .. }
            | Self::ExplorationStarted { step, .. }
            | Self::ExplorationEnded { step, .. }
            | Self::InputCorrected { step, .. } => *step,
        }
    }

    /// The event's name: `mode_changed`, `exploration_started`, …
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::ModeChanged { .. } => "mode_changed",
            Self::ExplorationStarted { .. } => "exploration_started",
            Self::ExplorationEnded { .. } => "exploration_ended",
            Self::InputCorrected { .. } => "input_corrected",
        }
    }
}
