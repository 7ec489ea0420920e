//! The loop: the state it keeps and its public face. The mode rules are in [`step`]; the
//! rules' arithmetic in [`crate::rules`].

mod step;

use std::fmt;

use creative_feedback_profiles::{ProfileRegistry, ResolvedProfile};
use creative_feedback_quality::QualityModel;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::builder::LoopBuilder;
use crate::config::{Config, QualityConfig};
use crate::decision::{Decision, Mode};
use crate::events::Event;
use crate::health::{Health, HealthReason};
use crate::history::{HistoryRecord, PretrainReport, SkippedRecord};
use crate::json::ReadState;
use crate::learned::LearnedSelector;
use crate::metrics::{Counters, Metrics, QualityStatus, RecentStats};
use crate::policy::{DefaultSelector, GainPredictor, ProfileSelector};
use crate::records::{CurrentExploration, ExplorationRecord};
use crate::snapshot::{LoopState, Snapshot, SNAPSHOT_FORMAT};
use crate::state::State;
use crate::validate::{FieldError, Findings, Rejected};
use crate::Error;

/// The creative feedback loop: the Rust form of the guide's `CreativeFeedbackLoop`.
///
/// A sans-I/O state machine: no clock, no randomness other than its seeded generator, no I/O.
/// Its clock is the step: each accepted [`update`](Self::update) is one step.
///
/// Method groups:
/// - **input**: [`update`](Self::update) with one observed state per step → a [`Decision`]
///   ([`update_into`](Self::update_into) writes into one the caller keeps;
///   [`update_read`](Self::update_read) takes a state read from JSON with the reader's
///   findings); [`pretrain`](Self::pretrain) and [`pretrain_jsonl`](Self::pretrain_jsonl) with
///   historical records.
/// - **output**: [`drain_events`](Self::drain_events) after each update (mode changes,
///   explorations started and ended, input corrections), in the order they happened.
/// - **getters**: [`metrics`](Self::metrics), [`health`](Self::health),
///   [`history`](Self::history), [`current_exploration`](Self::current_exploration),
///   [`model`](Self::model), [`config`](Self::config).
/// - **persistence**: [`snapshot`](Self::snapshot) and [`LoopBuilder::from_snapshot`].
pub struct CreativeLoop {
    pub(crate) config: Config,
    pub(crate) registry: ProfileRegistry,
    pub(crate) default_selector: DefaultSelector,
    pub(crate) selector: Option<Box<dyn ProfileSelector>>,
    pub(crate) learned: Option<LearnedSelector>,
    pub(crate) predictor: Box<dyn GainPredictor>,
    pub(crate) model: QualityModel,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) s: LoopState,
    pub(crate) active: Option<ResolvedProfile>,
    pub(crate) events: Vec<Event>,
}

impl fmt::Debug for CreativeLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreativeLoop")
            .field("mode", &self.s.mode)
            .field("steps", &self.s.steps)
            .field("counters", &self.s.counters)
            .finish_non_exhaustive()
    }
}

impl CreativeLoop {
    /// A loop with this config, the default selector and the model predictor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming a key that cannot work.
    pub fn new(config: Config) -> Result<Self, Error> {
        LoopBuilder::new(config).build()
    }

    /// A builder, for custom profiles, selectors, predictors or a pre-trained model.
    #[must_use]
    pub fn builder(config: Config) -> LoopBuilder {
        LoopBuilder::new(config)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry of profiles this loop resolves names with.
    #[must_use]
    pub fn registry(&self) -> &ProfileRegistry {
        &self.registry
    }

    /// The quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.model
    }

    /// The learned selector, when `[selector] kind = "learned"`.
    #[must_use]
    pub fn learned_selector(&self) -> Option<&LearnedSelector> {
        self.learned.as_ref()
    }

    /// Changes the quality model's settings online (`min_samples`, `regularization`, `window`,
    /// `feature_weights`) and the gate's; the model refits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key; nothing changes then.
    pub fn set_quality_config(&mut self, quality: QualityConfig) -> Result<(), Error> {
        let mut config = self.config.clone();
        config.quality = quality;
        config.validate()?;
        self.model.reconfigure(config.quality.model_config())?;
        self.config = config;
        Ok(())
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.s.mode
    }

    /// Accepted steps so far.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.s.steps
    }

    /// The counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.s.counters
    }

    /// Sum of the gains of all ended explorations.
    #[must_use]
    pub fn cumulative_gain(&self) -> f64 {
        self.s.cumulative_gain
    }

    /// The most recent ended explorations, oldest first (at most `history_capacity`).
    pub fn history(
        &self,
    ) -> impl ExactSizeIterator<Item = &ExplorationRecord> + DoubleEndedIterator {
        self.s.history.iter()
    }

    /// Events emitted since the last drain, oldest first. Drain after every update: the
    /// buffer keeps every event until drained, so nothing is ever lost.
    #[inline]
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Events waiting to be drained.
    #[must_use]
    pub fn pending_events(&self) -> &[Event] {
        &self.events
    }

    /// The exploration in progress (the guide's `current_injection`).
    #[must_use]
    pub fn current_exploration(&self) -> Option<CurrentExploration> {
        self.s.exploration.as_ref().map(|ex| CurrentExploration {
            profile: ex.profile.name(),
            tag: ex.tag.clone(),
            trigger: ex.trigger,
            entropy_factor: ex.factor,
            k: ex.k,
            duration: ex.duration,
            progress: f64::from(ex.k) / f64::from(ex.duration),
            predicted_gain: ex.predicted_gain,
        })
    }

    /// A metrics snapshot (the guide's `get_creative_metrics()`).
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        let s = &self.s;
        let recent = (!s.recent.is_empty()).then(|| RecentStats {
            count: s.recent.len() as u32,
            mean_gain: s.recent.iter().sum::<f64>() / s.recent.len() as f64,
            max_gain: s.recent.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        });
        Metrics {
            mode: s.mode,
            steps: s.steps,
            steps_in_mode: s.steps_in_mode,
            cumulative_gain: s.cumulative_gain,
            success_rate: s.counters.success_rate(),
            counters: s.counters,
            aesthetic_baseline: s.baseline,
            recent,
            trend: s.trend.trend(),
            current_exploration: self.current_exploration(),
            quality: QualityStatus {
                samples_seen: self.model.samples_seen(),
                trained: self.model.is_trained(),
                can_predict: self.model.can_predict(),
                weights: self.model.weights(),
                calibration: s.calibration,
                out_of_sample_r2: s.calibration.r_squared(),
            },
            learned: self.learned.as_ref().map(LearnedSelector::arms),
        }
    }

    /// The health verdict (specification §9). Streaming adapters add sink failures to it.
    #[must_use]
    pub fn health(&self) -> Health {
        if self.s.mode == Mode::Emergency {
            Health::degraded(HealthReason::Emergency)
        } else if self.s.counters.ended() > self.config.health_min_explorations
            && self.s.cumulative_gain < self.config.health_min_gain
        {
            Health::degraded(HealthReason::LowCumulativeGain)
        } else {
            Health::healthy()
        }
    }

    /// A complete copy of the loop's state (see [`Snapshot`]).
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT,
            config: self.config.clone(),
            state: self.s.clone(),
            model: self.model.clone(),
            rng: self.rng.clone(),
            learned: self.learned.clone(),
        }
    }

    /// Gives a historical exploration to the quality model through the same path as live
    /// learning. Loop counters do not change.
    ///
    /// # Errors
    ///
    /// [`Rejected`] naming every field that breaks the record rules (the initial state is
    /// validated as in strict mode); the model is unchanged.
    pub fn pretrain(&mut self, record: &HistoryRecord) -> Result<(), Rejected> {
        let features = record.features(&self.config, self.model.samples_seen())?;
        self.model
            .add_sample(features, record.creative_gain)
            .map_err(|e| Rejected::new(vec![FieldError::new("record", e.to_string())]))
    }

    /// Pre-trains the quality model from JSON Lines text (one record per line; blank lines are
    /// skipped). Records that break the rules are skipped and reported with their line number.
    pub fn pretrain_jsonl(&mut self, text: &str) -> PretrainReport {
        let mut report = PretrainReport::default();
        for (line, record) in crate::history::read_jsonl(text) {
            match record.and_then(|r| self.pretrain(&r).map_err(|e| e.fields)) {
                Ok(()) => report.used += 1,
                Err(reasons) => report.skipped.push(SkippedRecord { line, reasons }),
            }
        }
        report
    }

    /// One step: validates the observed state and decides (specification §2–8).
    ///
    /// # Errors
    ///
    /// [`Rejected`] listing every offending field when the state is invalid; the loop did not
    /// advance (only `rejected_inputs` counts it).
    pub fn update(&mut self, state: &State) -> Result<Decision, Rejected> {
        let mut decision = Decision::default();
        self.step(state, Findings::NONE, &mut decision)?;
        Ok(decision)
    }

    /// [`update`](Self::update) for a state read from JSON: the reader's type errors are
    /// reported with the loop's own findings, and its corrections counted with the loop's.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn update_read(&mut self, read: &ReadState) -> Result<Decision, Rejected> {
        let mut decision = Decision::default();
        self.step(&read.state, &read.findings, &mut decision)?;
        Ok(decision)
    }

    /// [`update`](Self::update) into a decision the caller keeps and reuses: the fastest way to
    /// drive the loop, since nothing is moved or dropped per step. On an error `out` is left
    /// as it was.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    #[inline]
    pub fn update_into(&mut self, state: &State, out: &mut Decision) -> Result<(), Rejected> {
        self.step(state, Findings::NONE, out)
    }
}
