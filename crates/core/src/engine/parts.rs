//! A loop in two parts: what it learns ([`Learning`], shareable by many trajectories) and the
//! path of one host through the modes ([`Trajectory`]). A [`CreativeLoop`](super::CreativeLoop)
//! owns one of each; a session pool keeps one `Learning` behind a lock and a `Trajectory` per
//! session, and locks the learning only when an exploration starts or ends.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};

use creative_feedback_profiles::{ProfileRegistry, ResolvedProfile};
use creative_feedback_quality::QualityModel;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::step::Stepper;
use crate::config::Config;
use crate::decision::{Decision, Mode, OutcomeKind};
use crate::events::Event;
use crate::health::{Health, HealthReason};
use crate::json::ReadState;
use crate::learned::LearnedSelector;
use crate::metrics::{Counters, Metrics, QualityStatus, RecentStats};
use crate::policy::{DefaultSelector, GainPredictor, ProfileSelector};
use crate::records::{CurrentExploration, ExplorationRecord};
use crate::snapshot::{check_state, LearningSnapshot, LoopState, SNAPSHOT_FORMAT};
use crate::state::State;
use crate::validate::{Findings, Rejected};
use crate::Error;

/// Room for the events of one step (a correction or two, a mode change, an exploration's end
/// and the next one's start), so that draining every step never reallocates.
pub(crate) const EVENT_CAPACITY: usize = 8;

/// What a loop learns from ended explorations and consults when one starts: the registry of
/// profiles, the selectors (default, learned, custom), the gain predictor and the quality
/// model. One `Learning` can serve many [`Trajectory`]s: every trajectory's outcomes teach it,
/// in the order they are handed to it.
///
/// Taken from a built loop with [`CreativeLoop::into_parts`](super::CreativeLoop::into_parts).
pub struct Learning {
    pub(crate) registry: ProfileRegistry,
    pub(crate) default_selector: DefaultSelector,
    pub(crate) selector: Option<Box<dyn ProfileSelector>>,
    pub(crate) learned: Option<LearnedSelector>,
    pub(crate) predictor: Box<dyn GainPredictor>,
    pub(crate) model: QualityModel,
}

impl std::fmt::Debug for Learning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learning")
            .field("samples_seen", &self.model.samples_seen())
            .field("learned", &self.learned.is_some())
            .field("custom_selector", &self.selector.is_some())
            .finish_non_exhaustive()
    }
}

impl Learning {
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

    /// The registry of profiles choices are resolved with.
    #[must_use]
    pub fn registry(&self) -> &ProfileRegistry {
        &self.registry
    }

    /// A copy of what the trajectories share, to resume with
    /// [`LoopBuilder::from_learning`](crate::LoopBuilder::from_learning).
    #[must_use]
    pub fn snapshot(&self, config: &Config) -> LearningSnapshot {
        LearningSnapshot {
            format: SNAPSHOT_FORMAT,
            config: config.clone(),
            model: self.model.clone(),
            learned: self.learned.clone(),
        }
    }

    /// Learns from an ended exploration learned elsewhere or later (a fleet's shared log), as
    /// the loop would have at its end: the model (not from aborted ones), the predictor's
    /// feedback, the learned selector with the lesson's context, the custom selector's
    /// feedback. Lessons applied in the same order give the same learning, bit for bit.
    /// Returns how many parts failed (0 when all learned; a failed refit keeps the previous
    /// estimate, as in a loop).
    pub fn learn(&mut self, lesson: &Lesson) -> u64 {
        let mut context = match &mut self.learned {
            Some(learned) => learned.lesson_context(lesson.context.clone(), &lesson.texts),
            None => None,
        };
        self.apply(&lesson.record, &mut context)
    }

    /// The learning's section at an exploration's end; how many parts failed.
    pub(crate) fn apply(
        &mut self,
        record: &ExplorationRecord,
        pending: &mut Option<Vec<f64>>,
    ) -> u64 {
        let mut errors = 0;
        if record.outcome != OutcomeKind::Aborted
            && self
                .model
                .add_sample(record.features, record.creative_gain)
                .is_err()
        {
            errors += 1;
        }
        self.predictor.feedback(record);
        if let Some(learned) = &mut self.learned {
            if !learned.learn_with(record, pending) {
                errors += 1;
            }
        }
        if let Some(selector) = &mut self.selector {
            selector.feedback(record);
        }
        errors
    }

    /// The quality model's status, with a trajectory's calibration.
    pub(crate) fn quality_status(&self, s: &LoopState) -> QualityStatus {
        QualityStatus {
            samples_seen: self.model.samples_seen(),
            trained: self.model.is_trained(),
            can_predict: self.model.can_predict(),
            weights: self.model.weights(),
            calibration: s.calibration,
            out_of_sample_r2: s.calibration.r_squared(),
        }
    }
}

/// An ended exploration as a learning learns from it: its record, and the learned selector's
/// context from when it started (absent without a learned selector). A trajectory stepped
/// with [`Trajectory::update_deferred`] hands these out instead of teaching its learning, so
/// that many learnings (a fleet's) can learn the same lessons in one shared order.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lesson {
    /// The ended exploration.
    pub record: ExplorationRecord,
    /// The learned selector's context of it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub context: Option<Vec<f64>>,
    /// The text value of each of the learned selector's attributes when it started (`None`
    /// for other values): each learning gives them slots in the order it learns them.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub texts: Vec<Option<String>>,
}

/// Where a step finds the learning: owned by its loop, or shared behind a lock.
pub(crate) enum LearningRef<'a> {
    Owned(&'a mut Learning),
    Shared(&'a Mutex<Learning>),
}

impl LearningRef<'_> {
    /// Access for the length of one short section (an exploration's start or end).
    pub(crate) fn lock(&mut self) -> LearningGuard<'_> {
        match self {
            Self::Owned(l) => LearningGuard::Owned(l),
            // A panic in a user's policy while the lock was held leaves the learning as the
            // policy left it; it stays usable, as it would in a loop that owns it.
            Self::Shared(m) => {
                LearningGuard::Shared(m.lock().unwrap_or_else(PoisonError::into_inner))
            }
        }
    }
}

pub(crate) enum LearningGuard<'g> {
    Owned(&'g mut Learning),
    Shared(MutexGuard<'g, Learning>),
}

impl Deref for LearningGuard<'_> {
    type Target = Learning;
    fn deref(&self) -> &Learning {
        match self {
            Self::Owned(l) => l,
            Self::Shared(g) => g,
        }
    }
}

impl DerefMut for LearningGuard<'_> {
    fn deref_mut(&mut self) -> &mut Learning {
        match self {
            Self::Owned(l) => l,
            Self::Shared(g) => g,
        }
    }
}

/// One host's path through the modes: counters, windows, the exploration in progress, its own
/// seeded generator, and the events not yet drained. It decides with a [`Config`] and a
/// [`Learning`] handed to each update, so many trajectories can share one learning.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub(crate) s: LoopState,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) active: Option<ResolvedProfile>,
    pub(crate) events: Vec<Event>,
    /// The learned selector's context for the exploration in progress.
    pub(crate) pending: Option<Vec<f64>>,
    /// Its text attributes, when learning happens elsewhere ([`Trajectory::update_deferred`]).
    pub(crate) pending_texts: Vec<Option<String>>,
    /// Ended explorations kept (the config's `history_capacity` unless a pool keeps fewer).
    pub(crate) history_capacity: u32,
}

/// A trajectory's persisted state (see [`Trajectory::snapshot`]). With the `serde` feature it
/// is JSON.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct TrajectorySnapshot {
    pub(crate) format: u32,
    pub(crate) state: LoopState,
    pub(crate) rng: Xoshiro256PlusPlus,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub(crate) pending: Option<Vec<f64>>,
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub(crate) pending_texts: Vec<Option<String>>,
}

impl TrajectorySnapshot {
    /// Accepted steps at the time of the snapshot.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.state.steps
    }

    /// The mode at the time of the snapshot.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.state.mode
    }
}

crate::snapshot::json_io!(TrajectorySnapshot, "trajectory snapshot");

impl Trajectory {
    /// A trajectory at step 0 (stable, no history) whose generator is seeded with `seed`.
    /// Sessions of a pool derive their seeds from the config's seed and their ids, so that a
    /// session decides the same way whichever sessions ran before it.
    #[must_use]
    pub fn new(config: &Config, seed: u64) -> Self {
        Self::from_parts(
            LoopState::new(config),
            Xoshiro256PlusPlus::seed_from_u64(seed),
            None,
            None,
            config.history_capacity,
        )
    }

    pub(crate) fn from_parts(
        s: LoopState,
        rng: Xoshiro256PlusPlus,
        active: Option<ResolvedProfile>,
        pending: Option<Vec<f64>>,
        history_capacity: u32,
    ) -> Self {
        Self {
            s,
            rng,
            active,
            events: Vec::with_capacity(EVENT_CAPACITY),
            pending,
            pending_texts: Vec::new(),
            history_capacity,
        }
    }

    /// Keeps at most `capacity` ended explorations (at least 1), dropping the oldest now. A
    /// pool keeps few per session: they are most of an idle session's memory. Decisions do
    /// not depend on it.
    pub fn set_history_capacity(&mut self, capacity: u32) {
        let capacity = capacity.max(1);
        self.history_capacity = capacity;
        let excess = self.s.history.len().saturating_sub(capacity as usize);
        self.s.history.drain(..excess);
        self.s.history.shrink_to(capacity as usize);
    }

    /// Ended explorations kept.
    #[must_use]
    pub fn history_capacity(&self) -> u32 {
        self.history_capacity
    }

    /// Resumes a trajectory from its snapshot, checked against the config and the learning it
    /// will decide with.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSnapshot`] for another format or an inconsistent state;
    /// [`Error::Profile`] when its exploration names a profile the learning lacks.
    pub fn restore(
        snapshot: TrajectorySnapshot,
        config: &Config,
        learning: &Learning,
    ) -> Result<Self, Error> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(Error::InvalidSnapshot(format!(
                "trajectory snapshot format {}, but this version reads format {SNAPSHOT_FORMAT}",
                snapshot.format
            )));
        }
        check_state(&snapshot.state, config)?;
        let active = match &snapshot.state.exploration {
            Some(ex) => Some(learning.registry.resolve(ex.profile.clone())?),
            None => None,
        };
        let dim = learning.learned.as_ref().map(LearnedSelector::context_dim);
        let pending = match (snapshot.pending, dim) {
            (Some(p), Some(dim)) if p.len() != dim || !p.iter().all(|v| v.is_finite()) => {
                return Err(Error::InvalidSnapshot(
                    "the pending context does not fit the learned selector".into(),
                ))
            }
            (p, Some(_)) => p,
            (_, None) => None,
        };
        let mut t = Self::from_parts(
            snapshot.state,
            snapshot.rng,
            active,
            pending,
            config.history_capacity,
        );
        t.pending_texts = snapshot.pending_texts;
        Ok(t)
    }

    /// A complete copy of this trajectory (not of the learning it shares).
    #[must_use]
    pub fn snapshot(&self) -> TrajectorySnapshot {
        TrajectorySnapshot {
            format: SNAPSHOT_FORMAT,
            state: self.s.clone(),
            rng: self.rng.clone(),
            pending: self.pending.clone(),
            pending_texts: self.pending_texts.clone(),
        }
    }

    /// One step against a learning shared behind a lock, taken only if an exploration starts
    /// or ends. See [`CreativeLoop::update_read`](super::CreativeLoop::update_read).
    ///
    /// # Errors
    ///
    /// [`Rejected`] listing every offending field; the trajectory did not advance.
    pub fn update_read(
        &mut self,
        config: &Config,
        learning: &Mutex<Learning>,
        read: &ReadState,
    ) -> Result<Decision, Rejected> {
        self.step_with(config, learning, &read.state, &read.findings, None)
    }

    /// [`update_read`](Self::update_read) for a state built in code.
    ///
    /// # Errors
    ///
    /// As [`update_read`](Self::update_read).
    pub fn update(
        &mut self,
        config: &Config,
        learning: &Mutex<Learning>,
        state: &State,
    ) -> Result<Decision, Rejected> {
        self.step_with(config, learning, state, Findings::NONE, None)
    }

    /// [`update`](Self::update), except that an exploration ending here does not teach the
    /// learning: its [`Lesson`] is pushed onto `lessons`, for [`Learning::learn`] to apply
    /// later, in whatever order all learnings share. Starting an exploration still consults
    /// the learning as it is.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn update_deferred(
        &mut self,
        config: &Config,
        learning: &Mutex<Learning>,
        state: &State,
        lessons: &mut Vec<Lesson>,
    ) -> Result<Decision, Rejected> {
        self.step_with(config, learning, state, Findings::NONE, Some(lessons))
    }

    /// [`update_deferred`](Self::update_deferred) for a state read from JSON.
    ///
    /// # Errors
    ///
    /// As [`update_read`](Self::update_read).
    pub fn update_read_deferred(
        &mut self,
        config: &Config,
        learning: &Mutex<Learning>,
        read: &ReadState,
        lessons: &mut Vec<Lesson>,
    ) -> Result<Decision, Rejected> {
        self.step_with(config, learning, &read.state, &read.findings, Some(lessons))
    }

    fn step_with(
        &mut self,
        config: &Config,
        learning: &Mutex<Learning>,
        state: &State,
        findings: &Findings,
        lessons: Option<&mut Vec<Lesson>>,
    ) -> Result<Decision, Rejected> {
        let mut decision = Decision::default();
        Stepper::new(config, LearningRef::Shared(learning), self, lessons).step(
            state,
            findings,
            &mut decision,
        )?;
        Ok(decision)
    }

    /// Events emitted since the last drain, oldest first.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// The events emitted since the last drain, taking their buffer along: a trajectory that
    /// then sits idle holds no room for events.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Gives back the rings' and the events' spare room (an idle trajectory needs none).
    pub fn shrink(&mut self) {
        self.events = Vec::new();
        self.s.shrink();
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

    /// The most recent ended explorations, oldest first.
    pub fn history(
        &self,
    ) -> impl ExactSizeIterator<Item = &ExplorationRecord> + DoubleEndedIterator {
        self.s.history.iter()
    }

    /// The exploration in progress.
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

    /// A metrics snapshot, with the learning's model and arms.
    #[must_use]
    pub fn metrics(&self, learning: &Learning) -> Metrics {
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
            quality: learning.quality_status(s),
            learned: learning.learned.as_ref().map(LearnedSelector::arms),
        }
    }

    /// The health verdict (specification §9) under this config.
    #[must_use]
    pub fn health(&self, config: &Config) -> Health {
        if self.s.mode == Mode::Emergency {
            Health::degraded(HealthReason::Emergency)
        } else if self.s.counters.ended() > config.health_min_explorations
            && self.s.cumulative_gain < config.health_min_gain
        {
            Health::degraded(HealthReason::LowCumulativeGain)
        } else {
            Health::healthy()
        }
    }
}
