//! Per-arm outcome statistics and Welch's comparison of two arms.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Running statistics of one arm's explorations (Welford's algorithm: one pass, no stored gains).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accumulator {
    count: u64,
    mean: f64,
    m2: f64,
    successes: u64,
}

impl Accumulator {
    /// Adds one exploration's gain; non-finite gains are ignored (the loop never produces them).
    pub fn add(&mut self, gain: f64, success: bool) {
        if !gain.is_finite() {
            return;
        }
        self.count += 1;
        let delta = gain - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (gain - self.mean);
        self.successes += u64::from(success);
    }

    /// The summary.
    #[must_use]
    pub fn stats(&self) -> ArmStats {
        ArmStats {
            explorations: self.count,
            mean_gain: (self.count > 0).then_some(self.mean),
            variance: (self.count > 1).then(|| self.m2 / (self.count - 1) as f64),
            success_rate: (self.count > 0).then(|| self.successes as f64 / self.count as f64),
        }
    }
}

/// An arm's outcome statistics. Figures that need more data than there is are absent, never NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArmStats {
    /// Ended (completed or pruned) explorations.
    pub explorations: u64,
    /// Mean gain; absent with no exploration.
    pub mean_gain: Option<f64>,
    /// Sample variance of the gain; absent with fewer than 2.
    pub variance: Option<f64>,
    /// Share with gain above `success_gain`; absent with no exploration.
    pub success_rate: Option<f64>,
}

/// Treatment minus control.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "result", rename_all = "snake_case"))]
pub enum Comparison {
    /// Not enough data for a test; the reason says what is missing.
    InsufficientData {
        /// What is missing.
        reason: String,
    },
    /// Welch's unequal-variance t-test.
    Welch {
        /// Difference in mean gain (treatment − control).
        difference: f64,
        /// Lower end of the 95% confidence interval of the difference.
        ci_low: f64,
        /// Upper end of the 95% confidence interval.
        ci_high: f64,
        /// The t statistic.
        t: f64,
        /// Welch–Satterthwaite degrees of freedom.
        degrees_of_freedom: f64,
        /// Two-sided p-value.
        p_value: f64,
    },
}

/// Welch's t-test of `treatment` against `control`, with a 95% confidence interval.
#[must_use]
pub fn welch(treatment: &ArmStats, control: &ArmStats) -> Comparison {
    let insufficient = |reason: &str| Comparison::InsufficientData {
        reason: reason.to_owned(),
    };
    let (Some(mt), Some(vt), Some(mc), Some(vc)) = (
        treatment.mean_gain,
        treatment.variance,
        control.mean_gain,
        control.variance,
    ) else {
        return insufficient("each arm needs at least 2 ended explorations");
    };
    let (nt, nc) = (treatment.explorations as f64, control.explorations as f64);
    let (st, sc) = (vt / nt, vc / nc);
    let se2 = st + sc;
    if se2.is_nan() || se2 <= 0.0 || se2.is_infinite() {
        return insufficient("both arms have zero variance; the difference cannot be tested");
    }
    let se = se2.sqrt();
    let difference = mt - mc;
    let t = difference / se;
    // Welch–Satterthwaite; a zero-variance arm contributes nothing to the denominator.
    let denom = st * st / (nt - 1.0) + sc * sc / (nc - 1.0);
    let df = se2 * se2 / denom;
    let Ok(dist) = StudentsT::new(0.0, 1.0, df) else {
        return insufficient("degrees of freedom out of range");
    };
    let p_value = (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0);
    let critical = dist.inverse_cdf(0.975);
    Comparison::Welch {
        difference,
        ci_low: difference - critical * se,
        ci_high: difference + critical * se,
        t,
        degrees_of_freedom: df,
        p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(gains: &[f64]) -> ArmStats {
        let mut a = Accumulator::default();
        for g in gains {
            a.add(*g, *g > 0.1);
        }
        a.stats()
    }

    #[test]
    fn welford_matches_the_textbook_formulas() {
        let s = arm(&[0.1, 0.2, 0.3, 0.4]);
        assert_eq!(s.explorations, 4);
        assert!((s.mean_gain.unwrap_or(0.0) - 0.25).abs() < 1e-15);
        assert!((s.variance.unwrap_or(0.0) - 0.05 / 3.0).abs() < 1e-15);
        assert_eq!(s.success_rate, Some(0.75));
    }

    #[test]
    fn welch_against_a_hand_computed_example() {
        // Treatment: 1..=5 (mean 3, var 2.5); control: 2, 4, 6, 8 (mean 5, var 20/3).
        // se² = 2.5/5 + (20/3)/4 = 0.5 + 1.6667 = 2.1667, t = −2/1.47196 = −1.35873,
        // df = 2.1667² / (0.25/4 + 2.7778/3) = 4.69444 / 0.98843 = 4.74937.
        let c = welch(
            &arm(&[1.0, 2.0, 3.0, 4.0, 5.0]),
            &arm(&[2.0, 4.0, 6.0, 8.0]),
        );
        let Comparison::Welch {
            difference,
            t,
            degrees_of_freedom,
            p_value,
            ci_low,
            ci_high,
        } = c
        else {
            panic!("expected a test result, got {c:?}");
        };
        assert!((difference + 2.0).abs() < 1e-12);
        assert!((t + 1.358_732).abs() < 1e-5, "t = {t}");
        assert!(
            (degrees_of_freedom - 4.749_37).abs() < 1e-4,
            "df = {degrees_of_freedom}"
        );
        // Two-sided p for t = 1.3587 with 4.75 df (R: 2*pt(-1.358732, 4.74937) = 0.2355).
        assert!((p_value - 0.2355).abs() < 5e-4, "p = {p_value}");
        assert!(ci_low < difference && difference < ci_high && ci_low < -2.0 - 3.0);
    }

    #[test]
    fn degenerate_arms_give_insufficient_data_not_nan() {
        let empty = arm(&[]);
        let one = arm(&[0.2]);
        let flat = arm(&[0.2, 0.2, 0.2]);
        for (t, c) in [
            (&empty, &flat),
            (&one, &flat),
            (&flat, &one),
            (&flat, &flat),
        ] {
            assert!(matches!(welch(t, c), Comparison::InsufficientData { .. }));
        }
        assert_eq!(empty.mean_gain, None);
        assert_eq!(one.variance, None);
        // One flat arm against a varied one is testable.
        assert!(matches!(
            welch(&flat, &arm(&[0.1, 0.3, 0.5])),
            Comparison::Welch { .. }
        ));
    }
}
