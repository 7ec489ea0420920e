//! Gradual rollout: enhanced behaviour for a sticky percentage of users.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use creative_feedback_core::{
    DefaultSelector, ExplorationRecord, GainPredictor, LoopBuilder, ModelPredictor, OutcomeKind,
    Prediction, PredictionContext, Profile, ProfileSelector, Selection, SelectionContext,
    SelectorConfig, Tag,
};

use crate::bucket::in_rollout;
use crate::stats::{Accumulator, ArmStats};
use crate::Error;

/// The predicted gain reported (never acted on) for users outside the rollout, as the guide's
/// `_predict_creative_gain` returned for them.
pub const OUTSIDE_PREDICTION: f64 = 0.3;

/// The tag of explorations started for users inside the rollout.
pub const INSIDE: Tag = Tag::from_static("inside");
/// The tag of explorations started for users outside the rollout.
pub const OUTSIDE: Tag = Tag::from_static("outside");

#[derive(Debug)]
struct Shared {
    group: Box<str>,
    percent: AtomicU32,
    /// Outcomes of the explorations inside and outside, from the selectors' feedback.
    tally: Mutex<[Accumulator; 2]>,
}

/// Outcome statistics of a rollout's two sides.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RolloutReport {
    /// The percentage now.
    pub percent: u32,
    /// Explorations of users inside the rollout (completed or pruned).
    pub inside: ArmStats,
    /// Explorations of users outside it.
    pub outside: ArmStats,
}

/// A gradual rollout of the enhanced behaviour (adaptive profiles and quality prediction).
///
/// Users are bucketed by `murmur3("{group}:{user_id}") % 100 + 1`, Unleash's gradual-rollout
/// normalisation; a user is inside when their bucket ≤ the percentage. Assignment is computed,
/// never stored, so memory does not grow with the number of users. The percentage is an atomic:
/// change it from any thread through a clone of the `Rollout` (or its [`RolloutHandle`]) while the
/// loop runs; 0 is a kill switch.
///
/// One decision per exploration: the predictor half decides (outside users get
/// [`Prediction::Reported`]`(0.3)`), and the selector half reads that decision from the
/// prediction the loop hands it, so a percentage changed in between cannot split them. The
/// selection is tagged [`INSIDE`] or [`OUTSIDE`], and the outcome that comes back with the tag
/// is counted in [`Rollout::report`]. One `Rollout` can serve many loops on many threads.
///
/// ```
/// use creative_feedback_core::{Config, CreativeLoop, State};
/// use creative_feedback_rollout::Rollout;
///
/// let rollout = Rollout::new("creative-enhancements", 10)?;
/// let mut feedback = rollout.install(CreativeLoop::builder(Config::default())).build()?;
/// let handle = rollout.handle();
/// handle.set_percent(50)?; // from another thread, at run time
/// let d = feedback.update(&State::new(0.15, 0.6).with_attribute("user_id", "u-17"))?;
/// assert!(d.predicted_gain.is_some() || rollout.is_enabled_for("u-17"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rollout {
    shared: Arc<Shared>,
}

/// A cheap handle to change or read a rollout's percentage from another thread.
#[derive(Debug, Clone)]
pub struct RolloutHandle {
    shared: Arc<Shared>,
}

fn check_percent(percent: u32) -> Result<(), Error> {
    if percent > 100 {
        Err(Error::InvalidPercent(percent))
    } else {
        Ok(())
    }
}

impl RolloutHandle {
    /// Sets the percentage (0 to 100).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPercent`] above 100; nothing changes then.
    pub fn set_percent(&self, percent: u32) -> Result<(), Error> {
        check_percent(percent)?;
        self.shared.percent.store(percent, Ordering::Relaxed);
        Ok(())
    }

    /// The current percentage.
    #[must_use]
    pub fn percent(&self) -> u32 {
        self.shared.percent.load(Ordering::Relaxed)
    }
}

impl Rollout {
    /// A rollout of `percent` (0 to 100) for the group id `group`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPercent`] above 100; [`Error::EmptyGroup`] for an empty group id.
    pub fn new(group: &str, percent: u32) -> Result<Self, Error> {
        check_percent(percent)?;
        if group.is_empty() {
            return Err(Error::EmptyGroup);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                group: group.into(),
                percent: AtomicU32::new(percent),
                tally: Mutex::new([Accumulator::default(); 2]),
            }),
        })
    }

    /// The group id.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.shared.group
    }

    /// A handle for changing the percentage from elsewhere.
    #[must_use]
    pub fn handle(&self) -> RolloutHandle {
        RolloutHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Sets the percentage (0 to 100).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPercent`] above 100.
    pub fn set_percent(&self, percent: u32) -> Result<(), Error> {
        self.handle().set_percent(percent)
    }

    /// The current percentage.
    #[must_use]
    pub fn percent(&self) -> u32 {
        self.shared.percent.load(Ordering::Relaxed)
    }

    /// Whether `user` gets the enhanced behaviour now.
    #[must_use]
    pub fn is_enabled_for(&self, user: &str) -> bool {
        in_rollout(&self.shared.group, user, self.percent())
    }

    /// Outcomes inside and outside the rollout so far.
    #[must_use]
    pub fn report(&self) -> RolloutReport {
        let tally = self
            .shared
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        RolloutReport {
            percent: self.percent(),
            inside: tally[0].stats(),
            outside: tally[1].stats(),
        }
    }

    /// The selector half alone (without the predictor half it decides membership itself):
    /// the default selector inside the rollout, the constant profile outside.
    #[must_use]
    pub fn selector(&self, config: SelectorConfig) -> RolloutSelector {
        self.selector_with(DefaultSelector::new(config))
    }

    /// The selector half with your own selector for users inside the rollout.
    #[must_use]
    pub fn selector_with(&self, inner: impl ProfileSelector + 'static) -> RolloutSelector {
        RolloutSelector {
            rollout: self.clone(),
            inner: Box::new(inner),
            paired: false,
        }
    }

    /// The predictor half: the loop's model inside the rollout, a reported 0.3 outside.
    #[must_use]
    pub fn predictor(&self) -> RolloutPredictor {
        self.predictor_with(ModelPredictor)
    }

    /// The predictor half with your own predictor for users inside the rollout.
    #[must_use]
    pub fn predictor_with(&self, inner: impl GainPredictor + 'static) -> RolloutPredictor {
        RolloutPredictor {
            rollout: self.clone(),
            inner: Box::new(inner),
        }
    }

    /// Installs both halves on a loop builder (the selector with the builder's selector config):
    /// the predictor decides membership once per exploration, the selector follows it.
    #[must_use]
    pub fn install(&self, builder: LoopBuilder) -> LoopBuilder {
        let mut selector = self.selector(builder.config().selector.clone());
        selector.paired = true;
        builder.selector(selector).predictor(self.predictor())
    }
}

/// Chooses profiles per user: the inner selector inside the rollout, `constant` outside.
pub struct RolloutSelector {
    rollout: Rollout,
    inner: Box<dyn ProfileSelector>,
    /// Installed with the predictor half, whose prediction carries the membership decision.
    paired: bool,
}

impl std::fmt::Debug for RolloutSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutSelector")
            .field("rollout", &self.rollout)
            .field("paired", &self.paired)
            .finish_non_exhaustive()
    }
}

impl ProfileSelector for RolloutSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        // Paired, the predictor has decided: a reported prediction is its mark for "outside"
        // (an inner predictor's own reported predictions count as outside too).
        let inside = if self.paired {
            !matches!(ctx.prediction, Prediction::Reported(_))
        } else {
            self.rollout.is_enabled_for(ctx.observation.user_id())
        };
        if inside {
            let Selection { profile, .. } = self.inner.select(ctx);
            Selection::tagged(profile, INSIDE)
        } else {
            Selection::tagged(Profile::Constant, OUTSIDE)
        }
    }

    fn feedback(&mut self, record: &ExplorationRecord) {
        let side = match &record.tag {
            Some(t) if *t == INSIDE => 0,
            Some(t) if *t == OUTSIDE => 1,
            _ => return,
        };
        if record.outcome != OutcomeKind::Aborted {
            let mut tally = self
                .rollout
                .shared
                .tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tally[side].add(record.creative_gain, record.successful);
        }
        if side == 0 {
            self.inner.feedback(record);
        }
    }
}

/// Predicts per user: the inner predictor inside the rollout, a reported 0.3 outside (no
/// adjustment, no gate).
pub struct RolloutPredictor {
    rollout: Rollout,
    inner: Box<dyn GainPredictor>,
}

impl std::fmt::Debug for RolloutPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutPredictor")
            .field("rollout", &self.rollout)
            .finish_non_exhaustive()
    }
}

impl GainPredictor for RolloutPredictor {
    fn predict(&mut self, ctx: &PredictionContext<'_>) -> Prediction {
        if self.rollout.is_enabled_for(ctx.observation.user_id()) {
            self.inner.predict(ctx)
        } else {
            Prediction::Reported(OUTSIDE_PREDICTION)
        }
    }

    fn feedback(&mut self, record: &ExplorationRecord) {
        if record.tag.as_ref() != Some(&OUTSIDE) {
            self.inner.feedback(record);
        }
    }
}
