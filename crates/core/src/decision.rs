//! The decision the loop answers each accepted step with (specification §3).

use std::fmt;

use creative_feedback_profiles::ProfileName;

use crate::validate::InputWarning;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name used in JSON and metrics.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// What the host should do this step.
    Action {
        /// Keep going as is.
        Maintain => "maintain",
        /// Start an exploration: inject entropy.
        InjectEntropy => "inject_entropy",
        /// Keep injecting entropy.
        ContinueExploration => "continue_exploration",
        /// The exploration is over.
        EndExploration => "end_exploration",
        /// Settle down after an exploration or an emergency.
        Recover => "recover",
        /// Stop exploring at once.
        EmergencyHalt => "emergency_halt",
    }
}

named_enum! {
    /// The loop's mode.
    Mode {
        /// Watching for triggers.
        Stable => "stable",
        /// Injecting entropy.
        Exploring => "exploring",
        /// Settling after an exploration or emergency.
        Recovering => "recovering",
        /// Halted until the instability clears.
        Emergency => "emergency",
    }
}

named_enum! {
    /// Why the loop decided what it did.
    Reason {
        /// No trigger.
        InBand => "in_band",
        /// Novelty above `novelty_high`.
        Momentum => "momentum",
        /// Novelty below `novelty_low`.
        Stagnation => "stagnation",
        /// Too long without a trigger.
        Plateau => "plateau",
        /// A trigger was blocked: stability below the threshold.
        LowStability => "low_stability",
        /// A trigger was gated: predicted gain below `min_predicted_gain`.
        LowPredictedGain => "low_predicted_gain",
        /// An exploration goes on.
        Exploring => "exploring",
        /// The exploration ran its full duration.
        Completed => "completed",
        /// The exploration was cut short: quality fell below the baseline tolerance.
        Pruned => "pruned",
        /// `lambda_max` over the emergency threshold.
        EmergencyLambda => "emergency_lambda",
        /// The host demanded a halt.
        EmergencyOverride => "emergency_override",
        /// The first recovery step after an emergency.
        EmergencyCleared => "emergency_cleared",
        /// Other recovery steps.
        Recovering => "recovering",
    }
}

named_enum! {
    /// What started an exploration.
    Trigger {
        /// Novelty above `novelty_high`.
        Momentum => "momentum",
        /// Novelty below `novelty_low`.
        Stagnation => "stagnation",
        /// Too long without a trigger.
        Plateau => "plateau",
    }
}

named_enum! {
    /// How an exploration ended.
    OutcomeKind {
        /// Ran its full duration.
        Completed => "completed",
        /// Cut short for low quality.
        Pruned => "pruned",
        /// Cut short by an emergency (not used for training).
        Aborted => "aborted",
    }
}

impl Trigger {
    /// The decision reason of this trigger.
    #[must_use]
    pub fn reason(self) -> Reason {
        match self {
            Self::Momentum => Reason::Momentum,
            Self::Stagnation => Reason::Stagnation,
            Self::Plateau => Reason::Plateau,
        }
    }
}

/// Where an exploration stands, on every step of it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExplorationInfo {
    /// The profile shaping it.
    pub profile: ProfileName,
    /// The step within the exploration (0 = the injection).
    pub k: u32,
    /// Its number of entropy steps.
    pub duration: u32,
    /// `k / duration`.
    pub progress: f64,
}

/// How an exploration ended, on the step it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Outcome {
    /// Completed, pruned or aborted.
    pub kind: OutcomeKind,
    /// The creative gain (specification §8).
    pub gain: f64,
    /// How many entropy steps it had.
    pub entropy_steps: u32,
}

/// The loop's answer to one accepted state.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Decision {
    /// What the host should do.
    pub action: Action,
    /// The mode after this step: the mode whose rule handles the next step.
    pub mode: Mode,
    /// The profile's factor on entropy steps, in [0, 1]; 0 otherwise.
    pub entropy_factor: f64,
    /// Multiplier for the host's own dynamics: 1.0 maintain, 1 + ½·entropy on entropy steps,
    /// 0.9 end/recover, 0.5 emergency halt.
    pub lambda_factor: f64,
    /// Why.
    pub reason: Reason,
    /// On every step of an exploration, including the one that ends it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub exploration: Option<ExplorationInfo>,
    /// On the step an exploration ends.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub outcome: Option<Outcome>,
    /// The predicted gain, on injections and gate refusals, when there is a prediction.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub predicted_gain: Option<f64>,
    /// Corrections made to the input.
    #[cfg_attr(feature = "serde", serde(default))]
    pub warnings: Vec<InputWarning>,
}

impl Default for Decision {
    /// A `maintain` in stable mode: the answer to an in-band step, and a blank to pass to
    /// [`CreativeLoop::update_into`](crate::CreativeLoop::update_into).
    fn default() -> Self {
        Self {
            action: Action::Maintain,
            mode: Mode::Stable,
            entropy_factor: 0.0,
            lambda_factor: 1.0,
            reason: Reason::InBand,
            exploration: None,
            outcome: None,
            predicted_gain: None,
            warnings: Vec::new(),
        }
    }
}

impl Action {
    /// The host-dynamics multiplier for this action (specification §3).
    #[must_use]
    pub fn lambda_factor(self, entropy_factor: f64) -> f64 {
        match self {
            Self::Maintain => 1.0,
            Self::InjectEntropy | Self::ContinueExploration => 1.0 + 0.5 * entropy_factor,
            Self::EndExploration | Self::Recover => 0.9,
            Self::EmergencyHalt => 0.5,
        }
    }

    /// Whether the action injects entropy.
    #[must_use]
    pub fn is_entropy_step(self) -> bool {
        matches!(self, Self::InjectEntropy | Self::ContinueExploration)
    }
}
