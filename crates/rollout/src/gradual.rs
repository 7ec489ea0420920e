//! Gradual rollout: enhanced behaviour for a sticky percentage of users.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use creative_feedback_core::{
    DefaultSelector, GainPredictor, LoopBuilder, ModelPredictor, Prediction, PredictionContext,
    Profile, ProfileSelector, SelectionContext, SelectorConfig,
};

use crate::bucket::in_rollout;
use crate::Error;

/// The predicted gain reported (never acted on) for users outside the rollout, as the guide's
/// `_predict_creative_gain` returned for them.
pub const OUTSIDE_PREDICTION: f64 = 0.3;

const UNDECIDED: u8 = 0;
const INSIDE: u8 = 1;
const OUTSIDE: u8 = 2;

#[derive(Debug)]
struct Shared {
    group: Box<str>,
    percent: AtomicU32,
    /// The decision the predictor made for the exploration being started, so that the selector
    /// (called next, in the same update) uses the same one even if the percentage changed in
    /// between.
    pending: AtomicU8,
}

/// A gradual rollout of the enhanced behaviour (adaptive profiles and quality prediction).
///
/// Users are bucketed by `murmur3("{group}:{user_id}") % 100 + 1`, Unleash's gradual-rollout
/// normalisation; a user is inside when their bucket ≤ the percentage. Assignment is computed,
/// never stored, so memory does not grow with the number of users. The percentage is an atomic:
/// change it from any thread through a clone of the `Rollout` (or its [`RolloutHandle`]) while the
/// loop runs; 0 is a kill switch.
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
                pending: AtomicU8::new(UNDECIDED),
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

    /// The selector half: the default selector inside the rollout, the constant profile outside.
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

    /// Installs both halves on a loop builder (the selector with the builder's selector config).
    #[must_use]
    pub fn install(&self, builder: LoopBuilder) -> LoopBuilder {
        let selector = self.selector(builder.config().selector.clone());
        builder.selector(selector).predictor(self.predictor())
    }
}

/// Chooses profiles per user: the inner selector inside the rollout, `constant` outside.
pub struct RolloutSelector {
    rollout: Rollout,
    inner: Box<dyn ProfileSelector>,
}

impl std::fmt::Debug for RolloutSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutSelector")
            .field("rollout", &self.rollout)
            .finish_non_exhaustive()
    }
}

impl ProfileSelector for RolloutSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Profile {
        let pending = self
            .rollout
            .shared
            .pending
            .swap(UNDECIDED, Ordering::Relaxed);
        let inside = match pending {
            INSIDE => true,
            OUTSIDE => false,
            _ => self.rollout.is_enabled_for(ctx.observation.user_id()),
        };
        if inside {
            self.inner.select(ctx)
        } else {
            Profile::Constant
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
        let inside = self.rollout.is_enabled_for(ctx.observation.user_id());
        let decided = if inside { INSIDE } else { OUTSIDE };
        self.rollout
            .shared
            .pending
            .store(decided, Ordering::Relaxed);
        if inside {
            self.inner.predict(ctx)
        } else {
            Prediction::Reported(OUTSIDE_PREDICTION)
        }
    }
}
