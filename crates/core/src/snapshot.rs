//! Persisted state: everything a loop carries between steps, the snapshot that copies it, and
//! the checks a restored snapshot must pass (specification §8).

use std::collections::VecDeque;

use creative_feedback_profiles::Profile;
use creative_feedback_quality::{Features, QualityModel};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::Config;
use crate::decision::{Mode, Trigger};
use crate::engine::{Learning, Trajectory};
use crate::learned::LearnedSelector;
use crate::metrics::{Calibration, Counters};
use crate::policy::Tag;
use crate::records::ExplorationRecord;
use crate::state::ObservedValues;
use crate::trend::TrendWindow;
use crate::Error;

/// Which refusal episode the stable rule is in (specification §8: counted once per episode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum Refusal {
    LowStability,
    LowPredictedGain,
}

/// The exploration in progress.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Active {
    pub(crate) trigger: Trigger,
    pub(crate) profile: Profile,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub(crate) tag: Option<Tag>,
    pub(crate) started_step: u64,
    pub(crate) raw_factor: f64,
    pub(crate) factor: f64,
    pub(crate) duration: u32,
    /// The k of the next step.
    pub(crate) k: u32,
    pub(crate) trigger_values: ObservedValues,
    pub(crate) features: Features,
    pub(crate) predicted_gain: Option<f64>,
    pub(crate) samples_seen: u64,
}

/// Everything a snapshot must carry besides config, model and generator.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct LoopState {
    pub(crate) mode: Mode,
    pub(crate) steps: u64,
    pub(crate) steps_in_mode: u64,
    pub(crate) baseline: Option<f64>,
    pub(crate) plateau: u64,
    pub(crate) recovery_left: u32,
    pub(crate) refusal: Option<Refusal>,
    pub(crate) counters: Counters,
    pub(crate) cumulative_gain: f64,
    pub(crate) exploration: Option<Active>,
    pub(crate) after: VecDeque<f64>,
    pub(crate) history: VecDeque<ExplorationRecord>,
    pub(crate) recent: VecDeque<f64>,
    pub(crate) trend: TrendWindow,
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) calibration: Calibration,
}

impl LoopState {
    /// Gives back the rings' spare room (an idle session's memory).
    pub(crate) fn shrink(&mut self) {
        self.after.shrink_to_fit();
        self.history.shrink_to_fit();
        self.recent.shrink_to_fit();
        self.trend.shrink();
    }

    pub(crate) fn new(config: &Config) -> Self {
        Self {
            mode: Mode::Stable,
            steps: 0,
            steps_in_mode: 0,
            baseline: None,
            plateau: 0,
            recovery_left: 0,
            refusal: None,
            counters: Counters::default(),
            cumulative_gain: 0.0,
            exploration: None,
            after: VecDeque::with_capacity(config.gain_window as usize),
            history: VecDeque::with_capacity(config.history_capacity as usize),
            recent: VecDeque::with_capacity(config.recent_window as usize),
            trend: TrendWindow::with_capacity(config.trend_window),
            calibration: Calibration::default(),
        }
    }
}

/// A complete copy of a loop: config, counters, histories, the exploration in progress, the
/// model and the generator. A loop restored from it makes exactly the decisions the original
/// would have. With the `serde` feature it is JSON.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Snapshot {
    pub(crate) format: u32,
    pub(crate) config: Config,
    pub(crate) state: LoopState,
    pub(crate) model: QualityModel,
    pub(crate) rng: Xoshiro256PlusPlus,
    /// The learned selector's state, when the loop has one (absent in older snapshots).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub(crate) learned: Option<LearnedSelector>,
}

pub(crate) const SNAPSHOT_FORMAT: u32 = 2;

/// What many trajectories share, persisted: the config, the quality model and the learned
/// selector's arms (without any trajectory's exploration in progress). Taken with
/// [`Learning::snapshot`](crate::Learning::snapshot), resumed with
/// [`LoopBuilder::from_learning`](crate::LoopBuilder::from_learning).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct LearningSnapshot {
    pub(crate) format: u32,
    pub(crate) config: Config,
    pub(crate) model: QualityModel,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub(crate) learned: Option<LearnedSelector>,
}

impl LearningSnapshot {
    /// The configuration the learning was built with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The snapshotted quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.model
    }
}

/// `to_json` and `from_json` for a persisted part of a loop, with the core's error.
macro_rules! json_io {
    ($ty:ty, $what:literal) => {
        #[cfg(feature = "serde")]
        impl $ty {
            #[doc = concat!("The ", $what, " as JSON.\n\n# Errors\n\n[`Error::Json`](crate::Error::Json) if serialization fails (it does not for one taken from a loop).")]
            pub fn to_json(&self) -> Result<String, crate::Error> {
                serde_json::to_string(self).map_err(|e| crate::Error::Json(e.to_string()))
            }

            #[doc = concat!("Reads the ", $what, " written by `to_json`.\n\n# Errors\n\n[`Error::Json`](crate::Error::Json) for text that is not one.")]
            pub fn from_json(text: &str) -> Result<Self, crate::Error> {
                serde_json::from_str(text).map_err(|e| crate::Error::Json(e.to_string()))
            }
        }
    };
}
pub(crate) use json_io;

json_io!(LearningSnapshot, "learning snapshot");

impl Snapshot {
    /// The format this version writes and reads.
    pub const FORMAT: u32 = SNAPSHOT_FORMAT;

    /// A loop's snapshot from its parts: the learning it decides with and one trajectory (a
    /// pool's primary session is persisted this way, as a single loop would be).
    #[must_use]
    pub fn from_parts(config: &Config, learning: &Learning, t: &Trajectory) -> Self {
        Self {
            format: SNAPSHOT_FORMAT,
            config: config.clone(),
            state: t.s.clone(),
            model: learning.model.clone(),
            rng: t.rng.clone(),
            // The context of the exploration in progress lives with the trajectory; the
            // snapshot keeps it in the selector, where format 2 has always had it.
            learned: learning.learned.clone().map(|mut l| {
                l.set_pending(t.pending.clone());
                l
            }),
        }
    }

    /// The configuration of the snapshotted loop.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The snapshotted quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.model
    }

    /// The snapshot's format number (a loop reads only [`Snapshot::FORMAT`]).
    #[must_use]
    pub fn format(&self) -> u32 {
        self.format
    }

    /// Accepted steps at the time of the snapshot.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.state.steps
    }

    /// The snapshot as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialization fails (it does not for a snapshot taken from a loop).
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Json(e.to_string()))
    }

    /// Reads a snapshot written by [`Snapshot::to_json`], by this version or an earlier one:
    /// a format-1 snapshot keeps the quality settings it was written under (the gate off,
    /// `adjust_down` 0.7) and is read as the current format.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] for text that is not a snapshot.
    #[cfg(feature = "serde")]
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
        if value.get("format").and_then(serde_json::Value::as_u64) == Some(1) {
            upgrade_v1(&mut value);
        }
        serde_json::from_value(value).map_err(|e| Error::Json(e.to_string()))
    }
}

/// Format 1 was written while the quality gate was off and `adjust_down` was 0.7 by default,
/// and it left default-valued keys out; a format-1 snapshot keeps those old defaults, so that
/// the restored loop decides exactly as the one that wrote it would have.
#[cfg(feature = "serde")]
fn upgrade_v1(value: &mut serde_json::Value) {
    if let Some(quality) = value
        .pointer_mut("/config/quality")
        .and_then(serde_json::Value::as_object_mut)
    {
        quality
            .entry("min_predicted_gain")
            .or_insert(serde_json::Value::Bool(false));
        quality
            .entry("adjust_down")
            .or_insert(serde_json::Value::from(0.7));
    }
    value["format"] = serde_json::Value::from(SNAPSHOT_FORMAT);
}

pub(crate) fn check_state(s: &LoopState, c: &Config) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::InvalidSnapshot(why.to_owned()));
    if (s.mode == Mode::Exploring) != s.exploration.is_some() {
        return bad("the mode and the exploration in progress disagree");
    }
    if let Some(ex) = &s.exploration {
        if ex.k == 0 || ex.k > ex.duration || ex.duration > c.max_exploration_steps {
            return bad("the exploration in progress is out of bounds");
        }
        if s.after.len() as u64 + 1 < u64::from(ex.k).min(u64::from(c.gain_window)) {
            return bad("the exploration's observed states are missing");
        }
    }
    if s.mode == Mode::Recovering && s.recovery_left == 0 {
        return bad("a recovery with no steps left");
    }
    let finite = s.cumulative_gain.is_finite()
        && s.baseline.is_none_or(f64::is_finite)
        && s.after.iter().chain(&s.recent).all(|v| v.is_finite())
        && s.trend.is_finite();
    if !finite {
        return bad("a non-finite value");
    }
    Ok(())
}
