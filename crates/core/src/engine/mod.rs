//! The loop: the state it keeps and its public face. The mode rules are in [`step`]; the
//! rules' arithmetic in [`crate::rules`].

mod parts;
mod step;

pub use parts::{Learning, Lesson, Trajectory, TrajectorySnapshot};

use std::fmt;

use creative_feedback_profiles::ProfileRegistry;
use creative_feedback_quality::QualityModel;

use crate::builder::LoopBuilder;
use crate::config::{Config, QualityConfig};
use crate::decision::{Decision, Mode};
use crate::events::Event;
use crate::health::Health;
use crate::history::{HistoryRecord, PretrainReport, SkippedRecord};
use crate::json::ReadState;
use crate::learned::LearnedSelector;
use crate::metrics::{Counters, Metrics};
use crate::records::{CurrentExploration, ExplorationRecord};
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::validate::{FieldError, Findings, Rejected};
use crate::Error;
use parts::LearningRef;
use step::Stepper;

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
    pub(crate) learning: Learning,
    pub(crate) t: Trajectory,
}

impl fmt::Debug for CreativeLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreativeLoop")
            .field("mode", &self.t.s.mode)
            .field("steps", &self.t.s.steps)
            .field("counters", &self.t.s.counters)
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
        &self.learning.registry
    }

    /// The quality model.
    #[must_use]
    pub fn model(&self) -> &QualityModel {
        &self.learning.model
    }

    /// The learned selector, when `[selector] kind = "learned"`.
    #[must_use]
    pub fn learned_selector(&self) -> Option<&LearnedSelector> {
        self.learning.learned.as_ref()
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
        self.learning
            .model
            .reconfigure(config.quality.model_config())?;
        self.config = config;
        Ok(())
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.t.s.mode
    }

    /// Accepted steps so far.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.t.s.steps
    }

    /// The counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.t.s.counters
    }

    /// Sum of the gains of all ended explorations.
    #[must_use]
    pub fn cumulative_gain(&self) -> f64 {
        self.t.s.cumulative_gain
    }

    /// The most recent ended explorations, oldest first (at most `history_capacity`).
    pub fn history(
        &self,
    ) -> impl ExactSizeIterator<Item = &ExplorationRecord> + DoubleEndedIterator {
        self.t.s.history.iter()
    }

    /// Events emitted since the last drain, oldest first. Drain after every update: the
    /// buffer keeps every event until drained, so nothing is ever lost.
    #[inline]
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.t.events.drain(..)
    }

    /// Events waiting to be drained.
    #[must_use]
    pub fn pending_events(&self) -> &[Event] {
        &self.t.events
    }

    /// The exploration in progress (the guide's `current_injection`).
    #[must_use]
    pub fn current_exploration(&self) -> Option<CurrentExploration> {
        self.t.current_exploration()
    }

    /// A metrics snapshot (the guide's `get_creative_metrics()`).
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        self.t.metrics(&self.learning)
    }

    /// The health verdict (specification §9). Streaming adapters add sink failures to it.
    #[must_use]
    pub fn health(&self) -> Health {
        self.t.health(&self.config)
    }

    /// A complete copy of the loop's state (see [`Snapshot`]).
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::from_parts(&self.config, &self.learning, &self.t)
    }

    /// Gives a historical exploration to the quality model through the same path as live
    /// learning. Loop counters do not change.
    ///
    /// # Errors
    ///
    /// [`Rejected`] naming every field that breaks the record rules (the initial state is
    /// validated as in strict mode); the model is unchanged.
    pub fn pretrain(&mut self, record: &HistoryRecord) -> Result<(), Rejected> {
        let features = record.features(&self.config, self.learning.model.samples_seen())?;
        self.learning
            .model
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
        self.stepper().step(state, Findings::NONE, &mut decision)?;
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
        self.stepper()
            .step(&read.state, &read.findings, &mut decision)?;
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
        self.stepper().step(state, Findings::NONE, out)
    }

    #[inline]
    fn stepper(&mut self) -> Stepper<'_> {
        Stepper::new(
            &self.config,
            LearningRef::Owned(&mut self.learning),
            &mut self.t,
            None,
        )
    }

    /// The two parts of this loop: what it learns, and its own trajectory.
    #[must_use]
    pub fn into_parts(self) -> (Config, Learning, Trajectory) {
        (self.config, self.learning, self.t)
    }
}
