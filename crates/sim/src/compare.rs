//! Running the same seeds under several policies (`crefl simulate --compare`).

use creative_feedback_core::{
    Calibration, Config, ConstantSelector, CreativeLoop, DefaultSelector, ModelPredictor,
    NoPredictor, SelectorKind,
};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::host::Host;
use crate::oracle::OracleTable;
use crate::run::{run, RunOptions};
use crate::scenario::Scenario;
use crate::{Error, LOW_VALUE_GAIN};

/// A policy to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Policy {
    /// The constant profile only, no quality model.
    ConstantOnly,
    /// Adaptive profiles (the default selector), no quality model.
    Adaptive,
    /// Adaptive profiles with the quality model adjusting explorations and its gate refusing
    /// those predicted below [`LOW_VALUE_GAIN`] (unless the config sets its own threshold).
    AdaptiveWithModel,
    /// The learned selector (`[selector] kind = "learned"`, reading the scenario's
    /// attributes), no quality model.
    Learned,
    /// The learned selector with the quality model and gate as in `adaptive_with_model`.
    LearnedWithModel,
    /// The oracle: the measured best profile of the hidden context, no quality model.
    Oracle,
    /// The oracle with the quality model and gate as in `adaptive_with_model`.
    OracleWithModel,
}

impl Policy {
    /// Every policy, in report order.
    pub const ALL: [Self; 7] = [
        Self::ConstantOnly,
        Self::Adaptive,
        Self::Learned,
        Self::Oracle,
        Self::AdaptiveWithModel,
        Self::LearnedWithModel,
        Self::OracleWithModel,
    ];

    /// The policy's name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ConstantOnly => "constant_only",
            Self::Adaptive => "adaptive",
            Self::AdaptiveWithModel => "adaptive_with_model",
            Self::Learned => "learned",
            Self::LearnedWithModel => "learned_with_model",
            Self::Oracle => "oracle",
            Self::OracleWithModel => "oracle_with_model",
        }
    }

    /// Whether the policy uses the quality model and its gate.
    #[must_use]
    pub fn with_model(self) -> bool {
        matches!(
            self,
            Self::AdaptiveWithModel | Self::LearnedWithModel | Self::OracleWithModel
        )
    }

    /// The oracle this policy is measured against: [`Policy::OracleWithModel`] for policies
    /// with the model, [`Policy::Oracle`] for the others.
    #[must_use]
    pub fn reference(self) -> Self {
        if self.with_model() {
            Self::OracleWithModel
        } else {
            Self::Oracle
        }
    }

    /// A loop following this policy over `config` on `host` (the oracle reads its hidden
    /// context through a probe; `oracle` says which profile pays best in each).
    ///
    /// # Errors
    ///
    /// [`Error::Loop`] when the config is invalid.
    pub fn build(
        self,
        config: &Config,
        scenario: Scenario,
        host: &Host,
        oracle: &OracleTable,
    ) -> Result<CreativeLoop, Error> {
        let mut config = config.clone();
        if self.with_model() && config.quality.min_predicted_gain.is_none() {
            config.quality.min_predicted_gain = Some(LOW_VALUE_GAIN);
        }
        if matches!(self, Self::Learned | Self::LearnedWithModel) {
            config.selector.kind = SelectorKind::Learned;
            scenario.add_attributes(&mut config.selector.learned);
        } else {
            config.selector.kind = SelectorKind::Default;
        }
        let selector = DefaultSelector::new(config.selector.clone());
        let builder = CreativeLoop::builder(config);
        let builder = match self {
            Self::ConstantOnly => builder.selector(ConstantSelector),
            Self::Adaptive | Self::AdaptiveWithModel => builder.selector(selector),
            Self::Learned | Self::LearnedWithModel => builder,
            Self::Oracle | Self::OracleWithModel => builder.selector(oracle.selector(host.probe())),
        };
        let builder = if self.with_model() {
            builder.predictor(ModelPredictor)
        } else {
            builder.predictor(NoPredictor)
        };
        Ok(builder.build()?)
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                format!("unknown policy `{s}`; expected one of {}", names.join(", "))
            })
    }
}

/// One policy's results over the seeds.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PolicyResult {
    /// The policy.
    pub policy: Policy,
    /// Cumulative gain per seed, in seed order.
    pub cumulative_gains: Vec<f64>,
    /// Mean cumulative gain.
    pub mean_cumulative_gain: f64,
    /// Half-width of its 95% confidence interval (Student's t over the seeds).
    pub ci95: f64,
    /// Ended explorations over all seeds.
    pub explorations: u64,
    /// Share of ended explorations with gain below [`LOW_VALUE_GAIN`].
    pub low_value_share: f64,
    /// Mean gain per ended exploration.
    pub mean_gain: f64,
    /// Emergency entries over all seeds.
    pub emergencies: u64,
    /// Mean cumulative gain as a share of the reference oracle's ([`Policy::reference`]);
    /// `None` when the oracle does not gain.
    pub share_of_oracle: Option<f64>,
    /// The quality model's out-of-sample R² over all seeds' predictions (policies with the
    /// model only).
    pub model_r2: Option<f64>,
}

/// The comparison of every policy on the same seeds.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Comparison {
    /// The host.
    pub scenario: Scenario,
    /// What each profile earns in each hidden context, measured on the same seeds.
    pub oracle: OracleTable,
    /// Steps per run.
    pub steps: u64,
    /// The seeds (each seeds both the host and the loop).
    pub seeds: Vec<u64>,
    /// One entry per policy.
    pub results: Vec<PolicyResult>,
}

/// Mean and 95% confidence half-width (Student's t with n − 1 degrees of freedom).
///
/// # Errors
///
/// [`Error::TooFewSeeds`] with fewer than two values.
pub fn mean_ci95(values: &[f64]) -> Result<(f64, f64), Error> {
    let n = values.len();
    if n < 2 {
        return Err(Error::TooFewSeeds(n));
    }
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let t = StudentsT::new(0.0, 1.0, nf - 1.0)
        .map(|d| d.inverse_cdf(0.975))
        .unwrap_or(1.96);
    Ok((mean, t * (var / nf).sqrt()))
}

/// Runs each policy on every seed for `steps` steps on the scenario's host, after measuring
/// the oracle's table on the same seeds.
///
/// # Errors
///
/// [`Error::TooFewSeeds`] with fewer than two seeds; [`Error::Loop`] for an invalid config.
pub fn compare(
    config: &Config,
    scenario: Scenario,
    policies: &[Policy],
    seeds: &[u64],
    steps: u64,
) -> Result<Comparison, Error> {
    if seeds.len() < 2 {
        return Err(Error::TooFewSeeds(seeds.len()));
    }
    let oracle = OracleTable::measure(scenario, config, seeds, steps)?;
    let mut results = Vec::new();
    for &policy in policies {
        results.push(run_policy(config, scenario, policy, seeds, steps, &oracle)?);
    }
    for i in 0..results.len() {
        let reference = results[i].policy.reference();
        let oracle_gain = match results.iter().find(|r| r.policy == reference) {
            Some(r) => r.mean_cumulative_gain,
            None => {
                run_policy(config, scenario, reference, seeds, steps, &oracle)?.mean_cumulative_gain
            }
        };
        results[i].share_of_oracle =
            (oracle_gain > 0.0).then(|| results[i].mean_cumulative_gain / oracle_gain);
    }
    Ok(Comparison {
        scenario,
        oracle,
        steps,
        seeds: seeds.to_vec(),
        results,
    })
}

fn run_policy(
    config: &Config,
    scenario: Scenario,
    policy: Policy,
    seeds: &[u64],
    steps: u64,
    oracle: &OracleTable,
) -> Result<PolicyResult, Error> {
    let (mut gains, mut ended, mut low, mut total_gain, mut emergencies) =
        (Vec::new(), 0u64, 0.0, 0.0, 0u64);
    let mut calibration = Calibration::default();
    for &seed in seeds {
        let mut cfg = config.clone();
        cfg.seed = seed;
        let mut host = Host::new(scenario.host(seed))?;
        let mut feedback = policy.build(&cfg, scenario, &host, oracle)?;
        let out = run(
            &mut feedback,
            &mut host,
            steps,
            RunOptions::default(),
            |_| {},
        );
        let s = out.summary;
        let n = s.completed + s.pruned + s.aborted;
        gains.push(s.cumulative_gain);
        ended += n;
        low += s.low_value_share * n as f64;
        total_gain += s.cumulative_gain;
        emergencies += s.emergencies;
        calibration.merge(&s.quality.calibration);
    }
    let (mean, ci) = mean_ci95(&gains)?;
    let per = |x: f64| if ended == 0 { 0.0 } else { x / ended as f64 };
    Ok(PolicyResult {
        policy,
        cumulative_gains: gains,
        mean_cumulative_gain: mean,
        ci95: ci,
        explorations: ended,
        low_value_share: per(low),
        mean_gain: per(total_gain),
        emergencies,
        share_of_oracle: None,
        model_r2: calibration.r_squared(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_matches_a_hand_computed_t_interval() {
        // n = 4, mean 2.5, s = 1.2910, t(0.975, 3) = 3.1824.
        let (mean, half) = mean_ci95(&[1.0, 2.0, 3.0, 4.0]).unwrap_or((0.0, 0.0));
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((half - 3.182_446 * 1.290_994 / 2.0).abs() < 1e-4, "{half}");
        assert!(mean_ci95(&[1.0]).is_err());
    }
}
