//! Counters and the metrics snapshot (specification §8).

use creative_feedback_quality::Features;

use crate::decision::Mode;
use crate::learned::ArmStatus;
use crate::records::CurrentExploration;

/// The loop's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Counters {
    /// Explorations started.
    pub explorations_started: u64,
    /// Explorations that ran their full duration.
    pub completed: u64,
    /// Explorations cut short for low quality.
    pub pruned: u64,
    /// Explorations cut short by an emergency.
    pub aborted: u64,
    /// Ended explorations with gain above `success_gain`.
    pub successful: u64,
    /// Emergency entries (once per entry, not per halted step).
    pub emergency_stops: u64,
    /// Episodes of triggers refused for low stability.
    pub refused_low_stability: u64,
    /// Episodes of triggers refused by the quality gate.
    pub refused_low_predicted_gain: u64,
    /// Failures of user-supplied code (profiles, selectors, predictors).
    pub errors: u64,
    /// Input corrections (defaults, clamps, infinite instability, ignored keys), per field.
    pub input_corrections: u64,
    /// States rejected as invalid.
    pub rejected_inputs: u64,
}

impl Counters {
    /// Explorations that ended, however.
    #[must_use]
    pub fn ended(&self) -> u64 {
        self.completed + self.pruned + self.aborted
    }

    /// successful / ended, 0 when none ended.
    #[must_use]
    pub fn success_rate(&self) -> f64 {
        match self.ended() {
            0 => 0.0,
            n => self.successful as f64 / n as f64,
        }
    }
}

/// Statistics over the most recent ended explorations.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecentStats {
    /// How many explorations (at most `recent_window`).
    pub count: u32,
    /// Mean gain.
    pub mean_gain: f64,
    /// Largest gain.
    pub max_gain: f64,
}

/// Least-squares slopes per step over the last `trend_window` accepted steps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Trend {
    /// Novelty slope.
    pub novelty: f64,
    /// Aesthetic-score slope.
    pub aesthetic_score: f64,
}

/// How well the gain predictions made at exploration starts matched the gains that followed:
/// every prediction is scored against an outcome it had not seen, so this is out of sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Calibration {
    /// Ended explorations (not aborted) that had a prediction.
    pub scored: u64,
    /// Σ gain.
    pub sum_gain: f64,
    /// Σ gain².
    pub sum_gain_squared: f64,
    /// Σ (gain − prediction)².
    pub sum_squared_error: f64,
}

impl Calibration {
    /// Scores one prediction against its outcome.
    pub fn score(&mut self, predicted: f64, gain: f64) {
        if predicted.is_finite() && gain.is_finite() {
            self.scored += 1;
            self.sum_gain += gain;
            self.sum_gain_squared += gain * gain;
            self.sum_squared_error += (gain - predicted) * (gain - predicted);
        }
    }

    /// Adds another tally's scores (another run's, another seed's) to this one.
    pub fn merge(&mut self, other: &Self) {
        self.scored += other.scored;
        self.sum_gain += other.sum_gain;
        self.sum_gain_squared += other.sum_gain_squared;
        self.sum_squared_error += other.sum_squared_error;
    }

    /// R² = 1 − Σ(gain − prediction)² / Σ(gain − mean gain)²: 1 is perfect, 0 is no better
    /// than always predicting the mean, below 0 is worse. `None` before two scored outcomes or
    /// when every gain was the same.
    #[must_use]
    pub fn r_squared(&self) -> Option<f64> {
        if self.scored < 2 {
            return None;
        }
        let n = self.scored as f64;
        let total = self.sum_gain_squared - self.sum_gain * self.sum_gain / n;
        (total > 0.0).then(|| 1.0 - self.sum_squared_error / total)
    }

    /// Root mean squared error of the predictions; `None` before any.
    #[must_use]
    pub fn rmse(&self) -> Option<f64> {
        (self.scored > 0).then(|| (self.sum_squared_error / self.scored as f64).sqrt())
    }
}

/// The quality model's status.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QualityStatus {
    /// Samples given so far, pre-training included.
    pub samples_seen: u64,
    /// Whether the fitted model is in use (`samples_seen ≥ min_samples`).
    pub trained: bool,
    /// Whether predictions are made (trained, or a prior is set).
    pub can_predict: bool,
    /// The weights predictions use now.
    pub weights: Features,
    /// The predictions' out-of-sample fit so far.
    pub calibration: Calibration,
    /// `calibration`'s R², when defined.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub out_of_sample_r2: Option<f64>,
}

/// A snapshot of the loop's metrics (the guide's `get_creative_metrics()`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Metrics {
    /// The current mode.
    pub mode: Mode,
    /// Accepted steps so far.
    pub steps: u64,
    /// Steps in the current mode (0 on the step that entered it).
    pub steps_in_mode: u64,
    /// Sum of the gains of all ended explorations.
    pub cumulative_gain: f64,
    /// successful / ended.
    pub success_rate: f64,
    /// The counters.
    pub counters: Counters,
    /// The aesthetic baseline, once seeded.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub aesthetic_baseline: Option<f64>,
    /// Statistics of recent explorations; absent when none ended.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub recent: Option<RecentStats>,
    /// Performance trend.
    pub trend: Trend,
    /// The exploration in progress.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub current_exploration: Option<CurrentExploration>,
    /// The quality model.
    pub quality: QualityStatus,
    /// The learned selector's arms, when `[selector] kind = "learned"`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub learned: Option<Vec<ArmStatus>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_squared_is_one_for_perfect_predictions_and_zero_for_the_mean() {
        let mut perfect = Calibration::default();
        let mut mean = Calibration::default();
        for g in [0.1, 0.3, -0.2] {
            perfect.score(g, g);
            mean.score(0.2 / 3.0, g);
        }
        assert_eq!(perfect.r_squared(), Some(1.0));
        assert!(mean.r_squared().is_some_and(|r| r.abs() < 1e-12));
        assert_eq!(Calibration::default().r_squared(), None);
        assert_eq!(perfect.rmse(), Some(0.0));
        let mut both = perfect;
        both.merge(&mean);
        assert_eq!(both.scored, 6);
        assert!((both.sum_squared_error - mean.sum_squared_error).abs() < 1e-15);
    }

    #[test]
    fn success_rate_is_zero_without_endings() {
        assert_eq!(Counters::default().success_rate(), 0.0);
        let c = Counters {
            completed: 3,
            pruned: 1,
            successful: 2,
            ..Counters::default()
        };
        assert_eq!(c.success_rate(), 0.5);
    }
}
