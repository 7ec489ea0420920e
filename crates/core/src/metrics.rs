//! Outcome accounting, metrics, records, events and health (SPEC §8–9).

use std::fmt;

use creative_feedback_profiles::{Profile, ProfileName};
use creative_feedback_quality::Features;

use crate::decision::{Mode, OutcomeKind, Trigger};
use crate::state::ObservedValues;

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

/// One ended exploration (the guide's `injection_history` entry). Its fields are also the
/// pre-training record format, so a history exported from one run pre-trains the next.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExplorationRecord {
    /// The accepted step (1-based) that started it.
    pub started_step: u64,
    /// The accepted step that ended it.
    pub ended_step: u64,
    /// What triggered it.
    pub trigger: Trigger,
    /// The profile and its parameters.
    pub profile: Profile,
    /// The trigger state.
    pub initial_state: ObservedValues,
    /// The base factor before the quality adjustment.
    pub entropy_factor: f64,
    /// The base factor the profile shaped (after adjustment).
    pub adjusted_factor: f64,
    /// Planned entropy steps.
    pub duration: u32,
    /// Entropy steps it had.
    pub entropy_steps: u32,
    /// How it ended.
    pub outcome: OutcomeKind,
    /// Its creative gain.
    pub creative_gain: f64,
    /// The performance of its last states (mean of up to `gain_window`).
    pub final_performance: f64,
    /// The prediction at the trigger, if any.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub predicted_gain: Option<f64>,
    /// Samples the model had seen at the trigger.
    pub samples_seen: u64,
    /// The features used to predict and to train.
    pub features: Features,
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

/// The exploration in progress.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CurrentExploration {
    /// Its profile.
    pub profile: ProfileName,
    /// Its trigger.
    pub trigger: Trigger,
    /// The base factor the profile shapes (after adjustment).
    pub entropy_factor: f64,
    /// Entropy steps done so far.
    pub k: u32,
    /// Planned entropy steps.
    pub duration: u32,
    /// `k / duration`.
    pub progress: f64,
    /// The prediction at the trigger.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub predicted_gain: Option<f64>,
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
}

/// Something the loop did that adapters stream (SPEC §9). Plain data; the core does no I/O.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "event", rename_all = "snake_case"))]
pub enum Event {
    /// The mode changed.
    ModeChanged {
        /// The accepted step (1-based).
        step: u64,
        /// The mode before the step.
        from: Mode,
        /// The mode after it.
        to: Mode,
        /// Cumulative gain after the step.
        cumulative_gain: f64,
    },
    /// An exploration started.
    ExplorationStarted {
        /// The accepted step.
        step: u64,
        /// What triggered it.
        trigger: Trigger,
        /// Its profile.
        profile: ProfileName,
        /// The base factor the profile shapes (after adjustment).
        entropy_factor: f64,
        /// Planned entropy steps.
        duration: u32,
        /// The prediction, if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        predicted_gain: Option<f64>,
    },
    /// An exploration ended.
    ExplorationEnded {
        /// The accepted step.
        step: u64,
        /// Its profile.
        profile: ProfileName,
        /// How it ended.
        outcome: OutcomeKind,
        /// Its gain.
        gain: f64,
        /// Planned entropy steps.
        duration: u32,
        /// Entropy steps it had.
        entropy_steps: u32,
        /// The prediction at its start, if any.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        predicted_gain: Option<f64>,
        /// Cumulative gain after it.
        cumulative_gain: f64,
    },
    /// An input field was corrected.
    InputCorrected {
        /// The accepted step.
        step: u64,
        /// The field's path.
        field: String,
        /// What was done.
        message: String,
    },
}

impl Event {
    /// The accepted step the event belongs to.
    #[must_use]
    pub fn step(&self) -> u64 {
        match self {
            Self::ModeChanged { step, .. }
            | Self::ExplorationStarted { step, .. }
            | Self::ExplorationEnded { step, .. }
            | Self::InputCorrected { step, .. } => *step,
        }
    }

    /// The event's name: `mode_changed`, `exploration_started`, …
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::ModeChanged { .. } => "mode_changed",
            Self::ExplorationStarted { .. } => "exploration_started",
            Self::ExplorationEnded { .. } => "exploration_ended",
            Self::InputCorrected { .. } => "input_corrected",
        }
    }
}

/// Healthy or degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HealthStatus {
    /// All is well.
    Healthy,
    /// Something needs attention; see the reason.
    Degraded,
}

/// Why the loop is degraded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum HealthReason {
    /// More than `health_min_explorations` ended with cumulative gain below `health_min_gain`.
    LowCumulativeGain,
    /// The loop is halted in emergency mode.
    Emergency,
    /// A metric sink is failing (reported by streaming adapters).
    SinkFailing(String),
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LowCumulativeGain => {
                f.write_str("Low cumulative gain despite multiple explorations")
            }
            Self::Emergency => f.write_str("Emergency halt in progress"),
            Self::SinkFailing(sink) => write!(f, "Metric sink `{sink}` is failing"),
        }
    }
}

/// The health verdict (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Health {
    /// Healthy or degraded.
    pub status: HealthStatus,
    /// Why degraded.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub reason: Option<HealthReason>,
}

impl Health {
    /// A healthy verdict.
    #[must_use]
    pub fn healthy() -> Self {
        Self {
            status: HealthStatus::Healthy,
            reason: None,
        }
    }

    /// A degraded verdict.
    #[must_use]
    pub fn degraded(reason: HealthReason) -> Self {
        Self {
            status: HealthStatus::Degraded,
            reason: Some(reason),
        }
    }
}

/// Least-squares slopes of novelty and aesthetic score against 0, 1, 2, … in one pass, with the
/// closed forms Σx = n(n−1)/2 and Σx² = (n−1)n(2n−1)/6 (0 with fewer than 2 points).
#[cfg(test)]
pub(crate) fn trend<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Trend {
    let mut w = TrendWindow::default();
    for p in points {
        w.push(u32::MAX, *p);
    }
    w.trend()
}

/// The last `trend_window` (novelty, aesthetic score) pairs with their running sums Σy and
/// Σi·y, so that the trend costs O(1) however often metrics are read. The sums are rebuilt from
/// the points every `window` pushes, so rounding cannot accumulate.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct TrendWindow {
    points: std::collections::VecDeque<(f64, f64)>,
    sums: [f64; 4],
    since_rebuild: u32,
}

impl TrendWindow {
    pub(crate) fn with_capacity(capacity: u32) -> Self {
        Self {
            points: std::collections::VecDeque::with_capacity(capacity as usize),
            ..Self::default()
        }
    }

    /// Adds a point, evicting the oldest once `capacity` are held.
    pub(crate) fn push(&mut self, capacity: u32, (y1, y2): (f64, f64)) {
        let [sy1, sy2, sxy1, sxy2] = &mut self.sums;
        if self.points.len() >= capacity as usize {
            if let Some((o1, o2)) = self.points.pop_front() {
                // Every index moves down by one: Σi·y loses Σy of the survivors.
                *sy1 -= o1;
                *sy2 -= o2;
                *sxy1 -= *sy1;
                *sxy2 -= *sy2;
            }
        }
        let i = self.points.len() as f64;
        *sy1 += y1;
        *sy2 += y2;
        *sxy1 += i * y1;
        *sxy2 += i * y2;
        self.points.push_back((y1, y2));
        self.since_rebuild += 1;
        if self.since_rebuild >= capacity.min(1 << 20) {
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        let mut sums = [0.0; 4];
        for (i, (y1, y2)) in self.points.iter().enumerate() {
            let x = i as f64;
            sums[0] += y1;
            sums[1] += y2;
            sums[2] += x * y1;
            sums[3] += x * y2;
        }
        self.sums = sums;
        self.since_rebuild = 0;
    }

    pub(crate) fn is_finite(&self) -> bool {
        self.sums.iter().all(|v| v.is_finite())
            && self
                .points
                .iter()
                .all(|(a, b)| a.is_finite() && b.is_finite())
    }

    /// The slopes (0 with fewer than 2 points).
    pub(crate) fn trend(&self) -> Trend {
        let n = self.points.len() as f64;
        if n < 2.0 {
            return Trend::default();
        }
        let [sy1, sy2, sxy1, sxy2] = self.sums;
        let sx = n * (n - 1.0) / 2.0;
        let sxx = (n - 1.0) * n * (2.0 * n - 1.0) / 6.0;
        let den = n * sxx - sx * sx;
        Trend {
            novelty: (n * sxy1 - sx * sy1) / den,
            aesthetic_score: (n * sxy2 - sx * sy2) / den,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_its_gradient() {
        let points = [(1.0, 0.2), (1.5, 0.2), (2.0, 0.2), (2.5, 0.2)];
        let t = trend(points.iter());
        assert!((t.novelty - 0.5).abs() < 1e-12 && t.aesthetic_score.abs() < 1e-12);
        assert_eq!(trend([(3.0, 1.0)].iter()), Trend::default());
        // Noisy points: the same as the two-pass textbook formula.
        let ys: Vec<(f64, f64)> = (0..100)
            .map(|i| (f64::from(i % 7) * 0.1, f64::from(i % 3)))
            .collect();
        let n = ys.len() as f64;
        let mx = (n - 1.0) / 2.0;
        let my = ys.iter().map(|p| p.0).sum::<f64>() / n;
        let (sxy, sxx) = ys.iter().enumerate().fold((0.0, 0.0), |(a, b), (i, p)| {
            let dx = i as f64 - mx;
            (a + dx * (p.0 - my), b + dx * dx)
        });
        assert!((trend(ys.iter()).novelty - sxy / sxx).abs() < 1e-12);
    }

    #[test]
    fn the_sliding_window_matches_a_fresh_fit() {
        let mut w = TrendWindow::with_capacity(50);
        let mut all = Vec::new();
        for i in 0..1_234u32 {
            let p = (f64::from(i % 11) * 0.07, (f64::from(i) * 0.3).sin());
            w.push(50, p);
            all.push(p);
            let fresh = trend(all[all.len().saturating_sub(50)..].iter());
            let t = w.trend();
            assert!(
                (t.novelty - fresh.novelty).abs() < 1e-12
                    && (t.aesthetic_score - fresh.aesthetic_score).abs() < 1e-12,
                "{i}"
            );
        }
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
