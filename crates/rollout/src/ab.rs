//! A/B tests of profile policies with sticky, weighted arms.

use std::sync::{Arc, Mutex, PoisonError};

use creative_feedback_core::{
    DefaultSelector, ExplorationRecord, LoopBuilder, OutcomeKind, Profile, ProfileSelector,
    Selection, SelectionContext, SelectorConfig, Tag,
};

use crate::bucket::variant;
use crate::stats::{welch, Accumulator, ArmStats, Comparison};
use crate::Error;

/// What an arm does when an exploration starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ArmPolicy {
    /// Always the constant profile (the plain behaviour).
    Constant,
    /// The default selector's adaptive choice.
    Adaptive,
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Arm {
    /// Its name in reports and metrics.
    pub name: String,
    /// Its share of users, relative to the other weights.
    pub weight: u32,
    /// What it does.
    pub policy: ArmPolicy,
}

impl Arm {
    /// An arm.
    #[must_use]
    pub fn new(name: &str, weight: u32, policy: ArmPolicy) -> Self {
        Self {
            name: name.to_owned(),
            weight,
            policy,
        }
    }
}

/// An arm's report.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArmReport {
    /// The arm.
    pub arm: Arm,
    /// Its outcome statistics.
    pub stats: ArmStats,
}

/// One arm compared with the control arm.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArmComparison {
    /// The arm compared.
    pub arm: String,
    /// The control arm.
    pub control: String,
    /// The result.
    pub comparison: Comparison,
}

/// The experiment's report.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AbReport {
    /// The group id users are hashed with.
    pub group: String,
    /// Every arm, the control first.
    pub arms: Vec<ArmReport>,
    /// Every other arm against the control.
    pub comparisons: Vec<ArmComparison>,
}

#[derive(Debug)]
struct Shared {
    group: Box<str>,
    arms: Vec<Arm>,
    /// Each arm's name as the tag its explorations carry.
    tags: Vec<Tag>,
    weights: Vec<u32>,
    tally: Mutex<Vec<Accumulator>>,
}

/// An A/B test: users are assigned to weighted arms by Unleash's variant hashing
/// (`murmur3("{group}:{user_id}")`, seed 86028157, modulo the total weight), computed and never
/// stored. The first arm is the control.
///
/// Install its selector on a loop (or on many loops: one experiment serves them all, on any
/// thread). The selector tags each exploration with its arm's name; the loop hands the tag back
/// with the outcome, and the experiment counts each ended exploration (completed or pruned;
/// aborted ones are not the arm's doing) for that arm. Success is the loop's own verdict
/// (`success_gain` in the loop's config).
///
/// ```
/// use creative_feedback_core::{Config, CreativeLoop, State};
/// use creative_feedback_rollout::Experiment;
///
/// let experiment = Experiment::control_treatment("profiles-ab")?;
/// let mut feedback = experiment.install(CreativeLoop::builder(Config::default())).build()?;
/// feedback.update(&State::new(0.15, 0.6).with_attribute("user_id", "u-1"))?;
/// let report = experiment.report();
/// assert_eq!(report.arms.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Experiment {
    shared: Arc<Shared>,
}

impl Experiment {
    /// The default experiment: `control` (constant, 50) and `treatment` (adaptive, 50).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyGroup`] for an empty group id.
    pub fn control_treatment(group: &str) -> Result<Self, Error> {
        Self::new(
            group,
            vec![
                Arm::new("control", 50, ArmPolicy::Constant),
                Arm::new("treatment", 50, ArmPolicy::Adaptive),
            ],
        )
    }

    /// An experiment with these arms (the first is the control).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyGroup`], [`Error::NoArms`], [`Error::DuplicateArm`], or
    /// [`Error::ZeroWeights`] when every weight is 0.
    pub fn new(group: &str, arms: Vec<Arm>) -> Result<Self, Error> {
        if group.is_empty() {
            return Err(Error::EmptyGroup);
        }
        if arms.is_empty() {
            return Err(Error::NoArms);
        }
        for (i, arm) in arms.iter().enumerate() {
            if arms[..i].iter().any(|a| a.name == arm.name) {
                return Err(Error::DuplicateArm(arm.name.clone()));
            }
        }
        if arms.iter().all(|a| a.weight == 0) {
            return Err(Error::ZeroWeights);
        }
        let weights = arms.iter().map(|a| a.weight).collect();
        let tags = arms.iter().map(|a| Tag::from(a.name.as_str())).collect();
        let tally = vec![Accumulator::default(); arms.len()];
        Ok(Self {
            shared: Arc::new(Shared {
                group: group.into(),
                arms,
                tags,
                weights,
                tally: Mutex::new(tally),
            }),
        })
    }

    /// The arms, the control first.
    #[must_use]
    pub fn arms(&self) -> &[Arm] {
        &self.shared.arms
    }

    /// The arm `user` is in.
    #[must_use]
    pub fn arm_for(&self, user: &str) -> &Arm {
        let index = variant(&self.shared.group, user, &self.shared.weights).unwrap_or(0);
        &self.shared.arms[index]
    }

    fn arm_index(&self, user: &str) -> usize {
        variant(&self.shared.group, user, &self.shared.weights).unwrap_or(0)
    }

    /// The selector to install on the loop; adaptive arms use the default selector with
    /// `config`.
    #[must_use]
    pub fn selector(&self, config: SelectorConfig) -> ExperimentSelector {
        ExperimentSelector {
            experiment: self.clone(),
            adaptive: DefaultSelector::new(config),
        }
    }

    /// Installs the selector on a loop builder.
    #[must_use]
    pub fn install(&self, builder: LoopBuilder) -> LoopBuilder {
        let selector = self.selector(builder.config().selector.clone());
        builder.selector(selector)
    }

    /// Counts an ended exploration for the arm its tag names (the selector's feedback).
    fn record(&self, record: &ExplorationRecord) {
        if record.outcome == OutcomeKind::Aborted {
            return;
        }
        let Some(tag) = &record.tag else { return };
        let Some(arm) = self.shared.tags.iter().position(|t| t == tag) else {
            return;
        };
        let mut tally = self
            .shared
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(acc) = tally.get_mut(arm) {
            acc.add(record.creative_gain, record.successful);
        }
    }

    /// The statistics of each arm and every arm against the control.
    #[must_use]
    pub fn report(&self) -> AbReport {
        let stats: Vec<ArmStats> = {
            let tally = self
                .shared
                .tally
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tally.iter().map(Accumulator::stats).collect()
        };
        let arms: Vec<ArmReport> = self
            .shared
            .arms
            .iter()
            .zip(&stats)
            .map(|(arm, stats)| ArmReport {
                arm: arm.clone(),
                stats: *stats,
            })
            .collect();
        let control = &arms[0];
        let comparisons = arms[1..]
            .iter()
            .map(|a| ArmComparison {
                arm: a.arm.name.clone(),
                control: control.arm.name.clone(),
                comparison: welch(&a.stats, &control.stats),
            })
            .collect();
        AbReport {
            group: self.shared.group.to_string(),
            arms,
            comparisons,
        }
    }
}

#[cfg(feature = "prometheus")]
impl Experiment {
    /// Emits the report through the `metrics` facade, as gauges labelled by arm, into whatever
    /// recorder is installed (or the one a Prometheus exporter runs this under):
    ///
    /// | metric | labels | meaning |
    /// |---|---|---|
    /// | `{prefix}_ab_explorations` | `arm` | ended explorations attributed to the arm |
    /// | `{prefix}_ab_mean_gain` | `arm` | their mean gain |
    /// | `{prefix}_ab_gain_variance` | `arm` | its sample variance |
    /// | `{prefix}_ab_success_rate` | `arm` | share of successful explorations (the loop's `success_gain`) |
    /// | `{prefix}_ab_difference` | `arm` | mean gain minus the control's |
    /// | `{prefix}_ab_p_value` | `arm` | Welch's two-sided p-value against the control |
    ///
    /// Figures that need more data than there is are not emitted (never NaN).
    pub fn emit_metrics(&self, prefix: &str) {
        let n = |suffix: &str| format!("{prefix}_ab_{suffix}");
        metrics::describe_gauge!(
            n("explorations"),
            "Ended explorations attributed to each A/B arm."
        );
        metrics::describe_gauge!(n("mean_gain"), "Mean creative gain of each A/B arm.");
        metrics::describe_gauge!(
            n("gain_variance"),
            "Sample variance of the gain of each A/B arm."
        );
        metrics::describe_gauge!(
            n("success_rate"),
            "Share of each A/B arm's explorations above success_gain."
        );
        metrics::describe_gauge!(
            n("difference"),
            "Mean gain of each A/B arm minus the control's."
        );
        metrics::describe_gauge!(
            n("p_value"),
            "Welch's two-sided p-value of each A/B arm against the control."
        );
        let report = self.report();
        for a in &report.arms {
            let arm = a.arm.name.clone();
            metrics::gauge!(n("explorations"), "arm" => arm.clone())
                .set(a.stats.explorations as f64);
            let optional = [
                ("mean_gain", a.stats.mean_gain),
                ("gain_variance", a.stats.variance),
                ("success_rate", a.stats.success_rate),
            ];
            for (suffix, value) in optional {
                if let Some(v) = value {
                    metrics::gauge!(n(suffix), "arm" => arm.clone()).set(v);
                }
            }
        }
        for c in &report.comparisons {
            if let Comparison::Welch {
                difference,
                p_value,
                ..
            } = c.comparison
            {
                metrics::gauge!(n("difference"), "arm" => c.arm.clone()).set(difference);
                metrics::gauge!(n("p_value"), "arm" => c.arm.clone()).set(p_value);
            }
        }
    }
}

/// Chooses each exploration's profile by the arm of the user who triggered it.
#[derive(Debug)]
pub struct ExperimentSelector {
    experiment: Experiment,
    adaptive: DefaultSelector,
}

impl ProfileSelector for ExperimentSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        let arm = self.experiment.arm_index(ctx.observation.user_id());
        let shared = &self.experiment.shared;
        let profile = match shared.arms[arm].policy {
            ArmPolicy::Constant => Profile::Constant,
            ArmPolicy::Adaptive => self.adaptive.choose(&ctx.observation),
        };
        Selection::tagged(profile, shared.tags[arm].clone())
    }

    fn feedback(&mut self, record: &ExplorationRecord) {
        self.experiment.record(record);
    }
}
