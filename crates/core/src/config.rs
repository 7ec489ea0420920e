//! Configuration (specification §11): every key, its default, and validation.
//!
//! In files (TOML or JSON) the loop's keys sit at the top level, and the quality model's and the
//! default selector's keys in tables `[quality]` and `[selector]`. Unknown keys are errors.

use crate::learned::{LearnedConfig, SelectorKind};
use crate::Error;

/// How out-of-range input is treated (specification §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum InputMode {
    /// Clamp out-of-range numbers into range with a warning; default missing scores.
    #[default]
    Lenient,
    /// Reject out-of-range numbers and missing scores.
    Strict,
}

/// The whole configuration of a loop. Every field has the specification's default.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Config {
    /// Minimum stability to start an exploration (0.8; in [0, 1]). Higher = more conservative.
    pub stability_threshold: f64,
    /// Longest exploration in entropy steps (200; ≥ `min_exploration_steps`).
    pub max_exploration_steps: u32,
    /// Shortest exploration in entropy steps (10; ≥ 1).
    pub min_exploration_steps: u32,
    /// Steps of recovery after an exploration or emergency, counting the step that enters it
    /// (30; ≥ 1).
    pub recovery_steps: u32,
    /// Novelty above this triggers `momentum` (0.7; in [0, 1], > `novelty_low`).
    pub novelty_high: f64,
    /// Novelty below this triggers `stagnation` (0.2; in [0, 1]).
    pub novelty_low: f64,
    /// Stable steps without a trigger before `plateau` fires (100; ≥ 1); `None` turns it off
    /// (`false` in TOML, `null` or `false` in JSON).
    #[cfg_attr(feature = "serde", serde(with = "plateau_serde"))]
    pub plateau_steps: Option<u32>,
    /// `lambda_max` above this is an emergency (0.08; > 0).
    pub emergency_lambda: f64,
    /// An emergency clears once `lambda_max` is below this share of `emergency_lambda`
    /// (0.5; in (0, 1]).
    pub emergency_exit_ratio: f64,
    /// Weight of a new aesthetic score in the baseline average (0.05; in (0, 1]).
    pub baseline_alpha: f64,
    /// An exploration is pruned when the aesthetic score drops below baseline × this
    /// (0.8; ≥ 0).
    pub prune_tolerance: f64,
    /// Entropy steps before pruning may happen (5).
    pub prune_grace_steps: u32,
    /// Gain above which an exploration counts as successful (0.1).
    pub success_gain: f64,
    /// How out-of-range input is treated (`lenient`).
    pub input_mode: InputMode,
    /// How many of the last observed states enter an exploration's gain (10; ≥ 1).
    pub gain_window: u32,
    /// How many ended explorations the recent statistics cover (10; ≥ 1).
    pub recent_window: u32,
    /// How many accepted steps the performance trend covers (100; ≥ 2).
    pub trend_window: u32,
    /// How many ended explorations the history keeps (100; ≥ 1).
    pub history_capacity: u32,
    /// Seed of the loop's generator (0): the only randomness is the gate's exploration draw.
    pub seed: u64,
    /// More than this many ended explorations with low cumulative gain is `degraded` (10).
    pub health_min_explorations: u64,
    /// Cumulative gain below which many explorations mean `degraded` (0.1).
    pub health_min_gain: f64,
    /// The quality model and its effect on explorations.
    pub quality: QualityConfig,
    /// The default profile selector.
    pub selector: SelectorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            stability_threshold: 0.8,
            max_exploration_steps: 200,
            min_exploration_steps: 10,
            recovery_steps: 30,
            novelty_high: 0.7,
            novelty_low: 0.2,
            plateau_steps: Some(100),
            emergency_lambda: 0.08,
            emergency_exit_ratio: 0.5,
            baseline_alpha: 0.05,
            prune_tolerance: 0.8,
            prune_grace_steps: 5,
            success_gain: 0.1,
            input_mode: InputMode::Lenient,
            gain_window: 10,
            recent_window: 10,
            trend_window: 100,
            history_capacity: 100,
            seed: 0,
            health_min_explorations: 10,
            health_min_gain: 0.1,
            quality: QualityConfig::default(),
            selector: SelectorConfig::default(),
        }
    }
}

/// The quality gate's default threshold: explorations predicted to gain less are refused.
pub const DEFAULT_GATE: f64 = 0.03;

/// Settings of the quality model and how its predictions act on explorations.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct QualityConfig {
    /// Samples before the fitted model predicts (20).
    pub min_samples: u64,
    /// Ridge strength λ (0.01; > 0).
    pub regularization: f64,
    /// Most recent samples the fit uses (500; ≥ 1).
    pub window: usize,
    /// Initial weights from domain knowledge: 6 values (novelty, aesthetic, volatility, factor,
    /// duration, experience; intercept 0) or 7 (with the intercept). None = zero.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub feature_weights: Option<Vec<f64>>,
    /// Quality gate: refuse explorations predicted below this (0.03; in [−1, 1]); `None`
    /// turns the gate off (`false` in TOML, `null` or `false` in JSON). See
    /// `docs/quality-model.md` for why the gate is on by default.
    #[cfg_attr(feature = "serde", serde(with = "gate_serde"))]
    pub min_predicted_gain: Option<f64>,
    /// Share of gate-refusal episodes let through anyway (0.1; in [0, 1]).
    pub gate_exploration_rate: f64,
    /// Below this prediction the base factor is scaled by `adjust_down` (0.1).
    pub adjust_below: f64,
    /// Above this prediction the base factor is scaled by `adjust_up` (0.5; ≥ `adjust_below`).
    pub adjust_above: f64,
    /// Scale for poor predictions (1, no scaling; > 0). Scaling poor explorations down
    /// lowered the gain on every simulated host (`docs/quality-model.md`).
    pub adjust_down: f64,
    /// Scale for good predictions (1.2; > 0).
    pub adjust_up: f64,
    /// Lower clamp of the adjusted factor (0.1; in [0, 1]).
    pub factor_min: f64,
    /// Upper clamp of the adjusted factor (0.9; in [`factor_min`, 1]).
    pub factor_max: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        // The model's own settings have one owner: the quality crate's `ModelConfig`.
        let model = creative_feedback_quality::ModelConfig::default();
        Self {
            min_samples: model.min_samples,
            regularization: model.regularization,
            window: model.window,
            feature_weights: None,
            min_predicted_gain: Some(DEFAULT_GATE),
            gate_exploration_rate: 0.1,
            adjust_below: 0.1,
            adjust_above: 0.5,
            adjust_down: 1.0,
            adjust_up: 1.2,
            factor_min: 0.1,
            factor_max: 0.9,
        }
    }
}

/// Which selector chooses profiles, the default selector's thresholds and parameters
/// (specification §6), and the learned selector's settings.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct SelectorConfig {
    /// `default` (fixed thresholds) or `learned` (a bandit that learns which profile pays;
    /// `docs/learning.md`). A custom selector set in code replaces either.
    pub kind: SelectorKind,
    /// The learned selector's settings (`[selector.learned]`).
    pub learned: LearnedConfig,
    /// Volatility above this picks `exponential_decay` (0.7).
    pub volatile_above: f64,
    /// Novelty below this picks `pulse` (0.3).
    pub pulse_below: f64,
    /// Novelty strictly inside this band picks `cosine_ramp` ([0.4, 0.7]).
    pub ramp_band: [f64; 2],
    /// `ramp_fraction` of the chosen cosine ramp (0.25; in (0, 0.5]).
    pub ramp_fraction: f64,
    /// Decay rate = base + slope·volatility (1).
    pub decay_rate_base: f64,
    /// Decay rate slope (3).
    pub decay_rate_slope: f64,
    /// Pulse frequency = base + slope·(1 − novelty) (2).
    pub pulse_frequency_base: f64,
    /// Pulse frequency slope (3).
    pub pulse_frequency_slope: f64,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        Self {
            kind: SelectorKind::Default,
            learned: LearnedConfig::default(),
            volatile_above: 0.7,
            pulse_below: 0.3,
            ramp_band: [0.4, 0.7],
            ramp_fraction: 0.25,
            decay_rate_base: 1.0,
            decay_rate_slope: 3.0,
            pulse_frequency_base: 2.0,
            pulse_frequency_slope: 3.0,
        }
    }
}

/// An optional setting written as its value, or `false` for "off" (TOML has no null).
#[cfg(feature = "serde")]
mod or_false {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr<T> {
        Value(T),
        Flag(bool),
    }

    #[allow(clippy::ref_option)]
    pub fn serialize<T: Serialize + Copy, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => Repr::Value(*x).serialize(s),
            None => Repr::<T>::Flag(false).serialize(s),
        }
    }

    /// `message` says what to write instead of `true`.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
        message: &'static str,
    ) -> Result<Option<T>, D::Error> {
        match Option::<Repr<T>>::deserialize(d)? {
            Some(Repr::Value(x)) => Ok(Some(x)),
            None | Some(Repr::Flag(false)) => Ok(None),
            Some(Repr::Flag(true)) => Err(serde::de::Error::custom(message)),
        }
    }
}

#[cfg(feature = "serde")]
mod plateau_serde {
    pub use super::or_false::serialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        super::or_false::deserialize(
            d,
            "plateau_steps: give a number of steps, or false to turn the plateau trigger off",
        )
    }
}

#[cfg(feature = "serde")]
mod gate_serde {
    pub use super::or_false::serialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        super::or_false::deserialize(
            d,
            "quality.min_predicted_gain: give a threshold gain, or false to turn the gate off",
        )
    }
}

pub(crate) struct Check(Result<(), Error>);

impl Check {
    pub(crate) fn new() -> Self {
        Self(Ok(()))
    }

    pub(crate) fn into_result(self) -> Result<(), Error> {
        self.0
    }

    pub(crate) fn rule(&mut self, key: &'static str, ok: bool, expected: &str) {
        if self.0.is_ok() && !ok {
            self.0 = Err(Error::InvalidConfig {
                key,
                reason: expected.to_owned(),
            });
        }
    }

    fn unit(&mut self, key: &'static str, v: f64) {
        self.rule(key, (0.0..=1.0).contains(&v), "must be a number in [0, 1]");
    }

    fn finite(&mut self, key: &'static str, v: f64) {
        self.rule(key, v.is_finite(), "must be a finite number");
    }
}

impl Config {
    /// Checks every key; the error names the first key that cannot work and says why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key.
    pub fn validate(&self) -> Result<(), Error> {
        let mut c = Check(Ok(()));
        c.unit("stability_threshold", self.stability_threshold);
        c.rule(
            "min_exploration_steps",
            self.min_exploration_steps >= 1,
            "must be at least 1",
        );
        c.rule(
            "min_exploration_steps",
            self.min_exploration_steps <= self.max_exploration_steps,
            "must not exceed max_exploration_steps",
        );
        c.rule(
            "recovery_steps",
            self.recovery_steps >= 1,
            "must be at least 1",
        );
        c.unit("novelty_high", self.novelty_high);
        c.unit("novelty_low", self.novelty_low);
        c.rule(
            "novelty_low",
            self.novelty_low < self.novelty_high,
            "must be below novelty_high",
        );
        c.rule(
            "plateau_steps",
            self.plateau_steps != Some(0),
            "must be at least 1, or false to turn the plateau trigger off",
        );
        c.rule(
            "emergency_lambda",
            self.emergency_lambda > 0.0 && self.emergency_lambda.is_finite(),
            "must be a finite number > 0",
        );
        c.rule(
            "emergency_exit_ratio",
            self.emergency_exit_ratio > 0.0 && self.emergency_exit_ratio <= 1.0,
            "must be a number in (0, 1]",
        );
        c.rule(
            "baseline_alpha",
            self.baseline_alpha > 0.0 && self.baseline_alpha <= 1.0,
            "must be a number in (0, 1]",
        );
        c.rule(
            "prune_tolerance",
            self.prune_tolerance >= 0.0 && self.prune_tolerance.is_finite(),
            "must be a finite number ≥ 0",
        );
        c.finite("success_gain", self.success_gain);
        // Size-like keys are bounded above too: each sizes a buffer allocated up front.
        for (key, value, min, max) in [
            (
                "max_exploration_steps",
                self.max_exploration_steps,
                1,
                1_000_000,
            ),
            ("gain_window", self.gain_window, 1, 10_000),
            ("recent_window", self.recent_window, 1, 100_000),
            ("trend_window", self.trend_window, 2, 1_000_000),
            ("history_capacity", self.history_capacity, 1, 100_000),
        ] {
            c.rule(
                key,
                (min..=max).contains(&value),
                &format!("must be a whole number from {min} to {max}"),
            );
        }
        c.finite("health_min_gain", self.health_min_gain);
        self.quality.check(&mut c);
        self.selector.check(&mut c);
        c.0
    }
}

impl QualityConfig {
    fn check(&self, c: &mut Check) {
        if let Some(w) = &self.feature_weights {
            c.rule(
                "quality.feature_weights",
                w.len() == 6 || w.len() == 7,
                "must have 6 values (intercept 0) or 7 (with the intercept)",
            );
        }
        // The model's settings are checked by the model's own rules, named as config keys.
        if let Err(creative_feedback_quality::Error::InvalidConfig { field, reason }) =
            self.model_config().validate()
        {
            let key = match field {
                "regularization" => "quality.regularization",
                "window" => "quality.window",
                "feature_weights" => "quality.feature_weights",
                _ => "quality.min_samples",
            };
            c.rule(key, false, &reason);
        }
        if let Some(g) = self.min_predicted_gain {
            c.rule(
                "quality.min_predicted_gain",
                (-1.0..=1.0).contains(&g),
                "must be a number in [-1, 1] (the range of a gain)",
            );
        }
        c.unit("quality.gate_exploration_rate", self.gate_exploration_rate);
        c.finite("quality.adjust_below", self.adjust_below);
        c.finite("quality.adjust_above", self.adjust_above);
        c.rule(
            "quality.adjust_above",
            self.adjust_below <= self.adjust_above,
            "must not be below adjust_below",
        );
        for (key, v) in [
            ("quality.adjust_down", self.adjust_down),
            ("quality.adjust_up", self.adjust_up),
        ] {
            c.rule(key, v > 0.0 && v.is_finite(), "must be a finite number > 0");
        }
        c.unit("quality.factor_min", self.factor_min);
        c.unit("quality.factor_max", self.factor_max);
        c.rule(
            "quality.factor_max",
            self.factor_min <= self.factor_max,
            "must not be below factor_min",
        );
    }

    /// The prior as 7 weights (a 6-value prior gets intercept 0).
    pub(crate) fn prior(&self) -> Option<creative_feedback_quality::Features> {
        self.feature_weights.as_ref().map(|w| {
            let mut out = [0.0; creative_feedback_quality::FEATURE_COUNT];
            for (o, v) in out.iter_mut().zip(w) {
                *o = *v;
            }
            out
        })
    }

    /// The quality crate's view of these settings.
    #[must_use]
    pub fn model_config(&self) -> creative_feedback_quality::ModelConfig {
        creative_feedback_quality::ModelConfig {
            min_samples: self.min_samples,
            regularization: self.regularization,
            window: self.window,
            prior: self.prior(),
        }
    }
}

impl SelectorConfig {
    fn check(&self, c: &mut Check) {
        self.learned.check(c);
        c.unit("selector.volatile_above", self.volatile_above);
        c.unit("selector.pulse_below", self.pulse_below);
        c.unit("selector.ramp_band", self.ramp_band[0]);
        c.unit("selector.ramp_band", self.ramp_band[1]);
        c.rule(
            "selector.ramp_band",
            self.ramp_band[0] < self.ramp_band[1],
            "must be [low, high] with low < high",
        );
        c.rule(
            "selector.ramp_fraction",
            self.ramp_fraction > 0.0 && self.ramp_fraction <= 0.5,
            "must be a number in (0, 0.5]",
        );
        c.rule(
            "selector.decay_rate_base",
            self.decay_rate_base >= 0.0 && self.decay_rate_base.is_finite(),
            "must be a finite number ≥ 0",
        );
        c.rule(
            "selector.decay_rate_slope",
            self.decay_rate_slope.is_finite() && self.decay_rate_base + self.decay_rate_slope >= 0.0,
            "must be finite, with decay_rate_base + decay_rate_slope ≥ 0 (the rate at volatility 1)",
        );
        c.rule(
            "selector.pulse_frequency_base",
            self.pulse_frequency_base > 0.0 && self.pulse_frequency_base.is_finite(),
            "must be a finite number > 0",
        );
        c.rule(
            "selector.pulse_frequency_slope",
            self.pulse_frequency_slope.is_finite()
                && self.pulse_frequency_base + self.pulse_frequency_slope > 0.0,
            "must be finite, with pulse_frequency_base + pulse_frequency_slope > 0",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(config: &Config) -> &'static str {
        match config.validate() {
            Err(Error::InvalidConfig { key, .. }) => key,
            _ => "ok",
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(key_of(&Config::default()), "ok");
    }

    #[test]
    fn unworkable_configs_name_their_key() {
        let d = Config::default;
        assert_eq!(
            key_of(&Config {
                novelty_low: 0.9,
                ..d()
            }),
            "novelty_low"
        );
        assert_eq!(
            key_of(&Config {
                min_exploration_steps: 300,
                ..d()
            }),
            "min_exploration_steps"
        );
        assert_eq!(
            key_of(&Config {
                stability_threshold: f64::NAN,
                ..d()
            }),
            "stability_threshold"
        );
        assert_eq!(
            key_of(&Config {
                recovery_steps: 0,
                ..d()
            }),
            "recovery_steps"
        );
        assert_eq!(
            key_of(&Config {
                plateau_steps: Some(0),
                ..d()
            }),
            "plateau_steps"
        );
        let mut c = d();
        c.quality.regularization = -0.1;
        assert_eq!(key_of(&c), "quality.regularization");
        let mut c = d();
        c.quality.window = 0;
        assert_eq!(key_of(&c), "quality.window");
        let mut c = d();
        c.quality.feature_weights = Some(vec![0.1; 5]);
        assert_eq!(key_of(&c), "quality.feature_weights");
        let mut c = d();
        c.selector.ramp_band = [0.7, 0.4];
        assert_eq!(key_of(&c), "selector.ramp_band");
        let mut c = d();
        c.selector.ramp_fraction = f64::NAN;
        assert_eq!(key_of(&c), "selector.ramp_fraction");
    }
}
