//! Running the same seeds under several policies (`crefl simulate --compare`).

use creative_feedback_core::{
    Config, ConstantSelector, CreativeLoop, DefaultSelector, ModelPredictor, NoPredictor,
};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::host::{Host, HostConfig};
use crate::run::{run, RunOptions};
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
}

impl Policy {
    /// Every policy, in report order.
    pub const ALL: [Self; 3] = [Self::ConstantOnly, Self::Adaptive, Self::AdaptiveWithModel];

    /// The policy's name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ConstantOnly => "constant_only",
            Self::Adaptive => "adaptive",
            Self::AdaptiveWithModel => "adaptive_with_model",
        }
    }

    /// A loop following this policy over `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Loop`] when the config is invalid.
    pub fn build(self, config: &Config) -> Result<CreativeLoop, Error> {
        let mut config = config.clone();
        let builder = match self {
            Self::ConstantOnly => CreativeLoop::builder(config)
                .selector(ConstantSelector)
                .predictor(NoPredictor),
            Self::Adaptive => {
                let selector = DefaultSelector::new(config.selector.clone());
                CreativeLoop::builder(config)
                    .selector(selector)
                    .predictor(NoPredictor)
            }
            Self::AdaptiveWithModel => {
                if config.quality.min_predicted_gain.is_none() {
                    config.quality.min_predicted_gain = Some(LOW_VALUE_GAIN);
                }
                CreativeLoop::builder(config).predictor(ModelPredictor)
            }
        };
        Ok(builder.build()?)
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
}

/// The comparison of every policy on the same seeds.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Comparison {
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

/// Runs every policy on every seed for `steps` steps.
///
/// # Errors
///
/// [`Error::TooFewSeeds`] with fewer than two seeds; [`Error::Loop`] for an invalid config.
pub fn compare(config: &Config, seeds: &[u64], steps: u64) -> Result<Comparison, Error> {
    if seeds.len() < 2 {
        return Err(Error::TooFewSeeds(seeds.len()));
    }
    let mut results = Vec::new();
    for policy in Policy::ALL {
        let (mut gains, mut ended, mut low, mut total_gain, mut emergencies) =
            (Vec::new(), 0u64, 0.0, 0.0, 0u64);
        for &seed in seeds {
            let mut cfg = config.clone();
            cfg.seed = seed;
            let mut feedback = policy.build(&cfg)?;
            let mut host = Host::new(HostConfig::seeded(seed))?;
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
        }
        let (mean, ci) = mean_ci95(&gains)?;
        results.push(PolicyResult {
            policy,
            cumulative_gains: gains,
            mean_cumulative_gain: mean,
            ci95: ci,
            explorations: ended,
            low_value_share: if ended == 0 { 0.0 } else { low / ended as f64 },
            mean_gain: if ended == 0 {
                0.0
            } else {
                total_gain / ended as f64
            },
            emergencies,
        });
    }
    Ok(Comparison {
        steps,
        seeds: seeds.to_vec(),
        results,
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
