//! The rules of the loop as pure functions: each takes numbers and returns numbers, so that it
//! can be read against its formula in the specification and tested alone. The state they act
//! on lives in [`crate::engine`].

use creative_feedback_profiles::ResolvedProfile;
use creative_feedback_quality::Features;

use crate::config::{Config, QualityConfig};
use crate::decision::Trigger;
use crate::state::ObservedValues;

/// The trigger of a stable step, first match (specification §4, rule 3): `momentum` when
/// novelty > `novelty_high`; `stagnation` when novelty < `novelty_low`; `plateau` when the
/// plateau counter has reached `plateau_steps`.
#[inline]
pub(crate) fn trigger(novelty: f64, plateau: u64, c: &Config) -> Option<Trigger> {
    if novelty > c.novelty_high {
        Some(Trigger::Momentum)
    } else if novelty < c.novelty_low {
        Some(Trigger::Stagnation)
    } else if c.plateau_steps.is_some_and(|p| plateau >= u64::from(p)) {
        Some(Trigger::Plateau)
    } else {
        None
    }
}

/// The aesthetic baseline after a stable step: B ← (1 − α)·B + α·aesthetic, seeded by the
/// first observation (specification §4, rule 3).
#[inline]
pub(crate) fn baseline(previous: Option<f64>, aesthetic: f64, alpha: f64) -> f64 {
    match previous {
        None => aesthetic,
        Some(b) => (1.0 - alpha) * b + alpha * aesthetic,
    }
}

/// stability = clamp(1 − λ_max / `emergency_lambda`, 0, 1) (specification §4, rule 3).
#[inline]
pub(crate) fn stability(lambda_max: f64, emergency_lambda: f64) -> f64 {
    (1.0 - lambda_max / emergency_lambda).clamp(0.0, 1.0)
}

/// The base factor before the quality adjustment (specification §5, step 1):
///
/// ```text
/// b0          = 0.3 + 0.4·novelty
/// quality_mod = 1 + 0.5·(aesthetic − 0.5)
/// diversity   = max(0, 1 − |0.6 − novelty|)
/// b           = clamp(b0 · quality_mod · (0.5 + 0.5·diversity), 0.1, 0.9)
/// ```
#[inline]
pub(crate) fn raw_factor(novelty: f64, aesthetic: f64) -> f64 {
    let b0 = 0.3 + 0.4 * novelty;
    let quality_mod = 1.0 + 0.5 * (aesthetic - 0.5);
    let diversity = (1.0 - (0.6 - novelty).abs()).max(0.0);
    (b0 * quality_mod * (0.5 + 0.5 * diversity)).clamp(0.1, 0.9)
}

/// D = clamp(100 + floor(200·novelty), min, max) (specification §5, step 2).
#[inline]
pub(crate) fn duration(novelty: f64, min: u32, max: u32) -> u32 {
    let d = 100.0 + (200.0 * novelty).floor();
    (d as u32).clamp(min, max)
}

/// The quality model's features (specification §7): novelty, aesthetic score, volatility, the
/// base factor before adjustment, D / `max_exploration_steps`, min(samples seen, 100) / 100, and
/// 1 for the intercept. Live explorations and pre-training records both come through here.
#[inline]
pub(crate) fn features(
    values: &ObservedValues,
    raw_factor: f64,
    duration: u32,
    max_exploration_steps: u32,
    samples_seen: u64,
) -> Features {
    [
        values.novelty,
        values.aesthetic_score,
        values.volatility,
        raw_factor,
        f64::from(duration) / f64::from(max_exploration_steps),
        samples_seen.min(100) as f64 / 100.0,
        1.0,
    ]
}

/// The base factor adjusted by a model prediction p (specification §5, step 6): p below
/// `adjust_below` scales it by `adjust_down`, p above `adjust_above` by `adjust_up`; then it
/// is clamped to [`factor_min`, `factor_max`].
#[inline]
pub(crate) fn adjusted_factor(raw: f64, p: f64, q: &QualityConfig) -> f64 {
    let scaled = if p < q.adjust_below {
        raw * q.adjust_down
    } else if p > q.adjust_above {
        raw * q.adjust_up
    } else {
        raw
    };
    scaled.clamp(q.factor_min, q.factor_max)
}

/// Whether an exploring step at entropy step `k` prunes (specification §4, rule 4).
#[inline]
pub(crate) fn prunes(k: u32, aesthetic: f64, baseline: f64, c: &Config) -> bool {
    k >= c.prune_grace_steps && aesthetic < baseline * c.prune_tolerance
}

/// The profile's factor, clamped to [0, 1]; a non-finite value is replaced by the base and
/// counted as an error of user code (specification §6).
#[inline]
pub(crate) fn shaped(
    profile: &ResolvedProfile,
    base: f64,
    k: u32,
    duration: u32,
    errors: &mut u64,
) -> f64 {
    let raw = profile.factor(base, k, duration);
    if raw.is_finite() {
        raw.clamp(0.0, 1.0)
    } else {
        *errors += 1;
        base
    }
}

/// The gain of an ended exploration and its final performance (specification §8): the mean
/// performance of its last after-states minus the performance of its trigger state.
#[inline]
pub(crate) fn gain<'a>(after: impl ExactSizeIterator<Item = &'a f64>, trigger: f64) -> (f64, f64) {
    let n = after.len().max(1) as f64;
    let final_performance = after.sum::<f64>() / n;
    (final_performance - trigger, final_performance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_factor_follows_its_formula_and_clamp() {
        // novelty 0.6, aesthetic 0.5: b0 = 0.54, quality_mod = 1, diversity = 1 → 0.54.
        assert!((raw_factor(0.6, 0.5) - 0.54).abs() < 1e-12);
        // novelty 0, aesthetic 0: 0.3 · 0.75 · (0.5 + 0.5 · 0.4) = 0.1575.
        assert!((raw_factor(0.0, 0.0) - 0.1575).abs() < 1e-12);
        assert!(raw_factor(1.0, 1.0) <= 0.9);
    }

    #[test]
    fn duration_floors_then_clamps() {
        assert_eq!(duration(0.5, 10, 200), 200);
        assert_eq!(duration(0.2049, 10, 200), 140);
        assert_eq!(duration(0.0, 150, 200), 150);
    }

    #[test]
    fn the_adjustment_scales_only_outside_the_band() {
        let q = QualityConfig {
            adjust_down: 0.7,
            ..QualityConfig::default()
        };
        assert!((adjusted_factor(0.5, 0.0, &q) - 0.35).abs() < 1e-12);
        assert_eq!(adjusted_factor(0.5, 0.3, &q), 0.5);
        assert!((adjusted_factor(0.5, 0.9, &q) - 0.6).abs() < 1e-12);
        assert_eq!(adjusted_factor(0.9, 0.9, &q), 0.9);
        // At the band's edges nothing is scaled: below and above are strict.
        assert_eq!(adjusted_factor(0.5, q.adjust_below, &q), 0.5);
        assert_eq!(adjusted_factor(0.5, q.adjust_above, &q), 0.5);
    }

    #[test]
    fn gain_is_mean_after_minus_trigger() {
        let after = [0.6, 0.8];
        let (g, fp) = gain(after.iter(), 0.5);
        assert!((fp - 0.7).abs() < 1e-12 && (g - 0.2).abs() < 1e-12);
    }
}
