use std::collections::VecDeque;

use nalgebra::{SMatrix, SVector};

use crate::{Error, Features, FEATURE_COUNT};

type Mat = SMatrix<f64, FEATURE_COUNT, FEATURE_COUNT>;
type Vect = SVector<f64, FEATURE_COUNT>;

/// Settings of the quality model.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ModelConfig {
    /// Samples needed before the fitted model predicts (default 20). With a prior, the prior
    /// predicts until then.
    pub min_samples: u64,
    /// Ridge strength λ (default 0.01, must be > 0): larger is more stable and stays closer to
    /// the prior.
    pub regularization: f64,
    /// How many of the most recent samples the fit uses (default 500, at least 1).
    pub window: usize,
    /// Initial weights from domain knowledge (`w0`), one per feature including the intercept;
    /// `None` means zero.
    pub prior: Option<Features>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            min_samples: 20,
            regularization: 0.01,
            window: 500,
            prior: None,
        }
    }
}

/// The largest `window`: 100,000 samples of 7 features (about 6 MB), far beyond what a ridge
/// fit over recent outcomes needs, and small enough that no setting can abort on allocation.
pub const MAX_WINDOW: usize = 100_000;

impl ModelConfig {
    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.regularization > 0.0 && self.regularization.is_finite()) {
            return Err(Error::InvalidConfig {
                field: "regularization",
                reason: format!("must be a finite number > 0, got {}", self.regularization),
            });
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(Error::InvalidConfig {
                field: "window",
                reason: format!("must be a whole number from 1 to {MAX_WINDOW}"),
            });
        }
        if let Some(prior) = &self.prior {
            if prior.iter().any(|w| !w.is_finite()) {
                return Err(Error::InvalidConfig {
                    field: "feature_weights",
                    reason: "every weight must be a finite number".into(),
                });
            }
        }
        Ok(())
    }
}

/// One training sample: an exploration's features and its creative gain.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    /// The features at the trigger.
    pub features: Features,
    /// The creative gain observed when the exploration ended.
    pub gain: f64,
}

/// The online ridge-regression gain model over a sliding window of samples.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ModelState", into = "ModelState"))]
pub struct QualityModel {
    config: ModelConfig,
    samples: VecDeque<Sample>,
    xtx: [[f64; FEATURE_COUNT]; FEATURE_COUNT],
    xty: Features,
    weights: Features,
    samples_seen: u64,
    adds_since_rebuild: usize,
}

/// The serialized form; checked on the way back in.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelState {
    config: ModelConfig,
    samples: Vec<Sample>,
    xtx: [[f64; FEATURE_COUNT]; FEATURE_COUNT],
    xty: Features,
    weights: Features,
    samples_seen: u64,
    adds_since_rebuild: usize,
}

#[cfg(feature = "serde")]
impl From<QualityModel> for ModelState {
    fn from(m: QualityModel) -> Self {
        Self {
            config: m.config,
            samples: m.samples.into(),
            xtx: m.xtx,
            xty: m.xty,
            weights: m.weights,
            samples_seen: m.samples_seen,
            adds_since_rebuild: m.adds_since_rebuild,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<ModelState> for QualityModel {
    type Error = Error;
    fn try_from(s: ModelState) -> Result<Self, Error> {
        s.config.validate()?;
        let finite = s.xtx.iter().flatten().all(|v| v.is_finite())
            && s.xty.iter().chain(&s.weights).all(|v| v.is_finite())
            && s.samples
                .iter()
                .all(|x| x.gain.is_finite() && x.features.iter().all(|v| v.is_finite()));
        if !finite {
            return Err(Error::InvalidState("non-finite value in the model".into()));
        }
        if s.samples.len() > s.config.window || (s.samples.len() as u64) > s.samples_seen {
            return Err(Error::InvalidState(format!(
                "{} samples kept, but the window is {} and {} were seen",
                s.samples.len(),
                s.config.window,
                s.samples_seen
            )));
        }
        let mut samples = VecDeque::with_capacity(s.config.window);
        samples.extend(s.samples);
        Ok(Self {
            config: s.config,
            samples,
            xtx: s.xtx,
            xty: s.xty,
            weights: s.weights,
            samples_seen: s.samples_seen,
            adds_since_rebuild: s.adds_since_rebuild,
        })
    }
}

impl QualityModel {
    /// An untrained model.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when a setting is out of range.
    pub fn new(config: ModelConfig) -> Result<Self, Error> {
        config.validate()?;
        let weights = config.prior.unwrap_or([0.0; FEATURE_COUNT]);
        Ok(Self {
            samples: VecDeque::with_capacity(config.window.min(1 << 16)),
            config,
            xtx: [[0.0; FEATURE_COUNT]; FEATURE_COUNT],
            xty: [0.0; FEATURE_COUNT],
            weights,
            samples_seen: 0,
            adds_since_rebuild: 0,
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Changes the settings online (the guide's `quality_model['min_samples'] = 10`, …) and
    /// refits. A smaller window drops the oldest samples.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when a setting is out of range; the model is then unchanged.
    pub fn reconfigure(&mut self, config: ModelConfig) -> Result<(), Error> {
        config.validate()?;
        while self.samples.len() > config.window {
            self.samples.pop_front();
        }
        self.config = config;
        self.rebuild();
        self.refit()
    }

    /// How many samples the model has been given in all (pre-training included).
    #[must_use]
    pub fn samples_seen(&self) -> u64 {
        self.samples_seen
    }

    /// The samples in the current window, oldest first.
    pub fn window_samples(&self) -> impl ExactSizeIterator<Item = &Sample> {
        self.samples.iter()
    }

    /// Whether enough samples were seen for the fitted weights to predict (the guide's
    /// `quality_model['trained']`).
    #[must_use]
    pub fn is_trained(&self) -> bool {
        self.samples_seen >= self.config.min_samples
    }

    /// Whether the model predicts: once trained, or from the start when a prior is given.
    #[must_use]
    pub fn can_predict(&self) -> bool {
        self.is_trained() || self.config.prior.is_some()
    }

    /// The weights predictions use now: the fitted ones once trained, else the prior.
    #[must_use]
    pub fn weights(&self) -> Features {
        match (self.is_trained(), &self.config.prior) {
            (false, Some(prior)) => *prior,
            _ => self.weights,
        }
    }

    /// The fitted weights, whether or not the model is trained yet.
    #[must_use]
    pub fn fitted_weights(&self) -> &Features {
        &self.weights
    }

    /// The predicted gain `clamp(x·w, −1, 1)`, or `None` while the model cannot predict
    /// (or, for extreme inputs, when the product is not finite).
    #[must_use]
    #[inline]
    pub fn predict(&self, features: &Features) -> Option<f64> {
        if !self.can_predict() {
            return None;
        }
        let w = match (self.is_trained(), &self.config.prior) {
            (false, Some(prior)) => prior,
            _ => &self.weights,
        };
        let dot: f64 = features.iter().zip(w).map(|(x, w)| x * w).sum();
        dot.is_finite().then(|| dot.clamp(-1.0, 1.0))
    }

    /// Adds one sample (evicting the oldest when the window is full) and refits.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteSample`] for NaN or infinite values (nothing changes);
    /// [`Error::Singular`] if the refit fails (the previous weights are kept).
    pub fn add_sample(&mut self, features: Features, gain: f64) -> Result<(), Error> {
        if features.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteSample("a feature"));
        }
        if !gain.is_finite() {
            return Err(Error::NonFiniteSample("the gain"));
        }
        if self.samples.len() == self.config.window {
            if let Some(old) = self.samples.pop_front() {
                self.accumulate(&old, -1.0);
            }
        }
        let sample = Sample { features, gain };
        self.accumulate(&sample, 1.0);
        self.samples.push_back(sample);
        self.samples_seen = self.samples_seen.saturating_add(1);
        self.adds_since_rebuild += 1;
        if self.adds_since_rebuild >= self.config.window {
            self.rebuild();
        }
        self.refit()
    }

    fn accumulate(&mut self, s: &Sample, sign: f64) {
        for i in 0..FEATURE_COUNT {
            let xi = sign * s.features[i];
            for j in i..FEATURE_COUNT {
                self.xtx[i][j] += xi * s.features[j];
            }
            self.xty[i] += xi * s.gain;
        }
    }

    /// Recomputes the sums from the window so subtraction errors cannot build up.
    fn rebuild(&mut self) {
        self.xtx = [[0.0; FEATURE_COUNT]; FEATURE_COUNT];
        self.xty = [0.0; FEATURE_COUNT];
        let samples = std::mem::take(&mut self.samples);
        for s in &samples {
            self.accumulate(s, 1.0);
        }
        self.samples = samples;
        self.adds_since_rebuild = 0;
    }

    fn refit(&mut self) -> Result<(), Error> {
        let lambda = self.config.regularization;
        let prior = self.config.prior.unwrap_or([0.0; FEATURE_COUNT]);
        let a = Mat::from_fn(|r, c| {
            let (i, j) = if r <= c { (r, c) } else { (c, r) };
            self.xtx[i][j] + if r == c { lambda } else { 0.0 }
        });
        let b = Vect::from_fn(|r, _| self.xty[r] + lambda * prior[r]);
        let w = a.cholesky().ok_or(Error::Singular)?.solve(&b);
        if w.iter().any(|v| !v.is_finite()) {
            return Err(Error::Singular);
        }
        for (o, v) in self.weights.iter_mut().zip(w.iter()) {
            *o = *v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit_batch;

    fn sample(i: u32) -> (Features, f64) {
        let t = f64::from(i);
        let x = [
            (t * 0.37).sin().abs(),
            (t * 0.11).cos().abs(),
            (t * 0.05).sin().abs() * 0.5,
            0.1 + 0.8 * (t * 0.23).sin().abs(),
            0.5 + 0.5 * (t * 0.07).cos().abs(),
            (f64::from(i.min(100))) / 100.0,
            1.0,
        ];
        let y = 0.3 * x[0] - 0.2 * x[2] + 0.1 * x[3] - 0.05;
        (x, y)
    }

    #[test]
    fn untrained_model_does_not_predict_without_prior() {
        let model = QualityModel::new(ModelConfig::default());
        assert!(model.is_ok_and(|m| m.predict(&[0.5; 7]).is_none()));
    }

    #[test]
    fn prior_predicts_until_min_samples() -> Result<(), Error> {
        let prior = [0.3, 0.4, -0.2, 0.5, 0.1, 0.05, 0.0];
        let mut model = QualityModel::new(ModelConfig {
            prior: Some(prior),
            min_samples: 5,
            ..ModelConfig::default()
        })?;
        let x = [0.5, 0.5, 0.0, 0.4, 1.0, 0.0, 1.0];
        let expected: f64 = x.iter().zip(&prior).map(|(a, b)| a * b).sum();
        assert_eq!(model.predict(&x), Some(expected));
        for i in 0..4 {
            let (x, _) = sample(i);
            model.add_sample(x, -0.9)?;
        }
        assert_eq!(model.predict(&x), Some(expected));
        model.add_sample(sample(4).0, -0.9)?;
        assert!(model.predict(&x).is_some_and(|p| p != expected));
        Ok(())
    }

    #[test]
    fn incremental_fit_matches_batch_over_window() -> Result<(), Error> {
        let mut model = QualityModel::new(ModelConfig {
            window: 50,
            ..ModelConfig::default()
        })?;
        let all: Vec<_> = (0..437).map(sample).collect();
        for (x, y) in &all {
            model.add_sample(*x, *y)?;
        }
        let batch = fit_batch(&all[all.len() - 50..], 0.01, None)?;
        for (a, b) in model.fitted_weights().iter().zip(&batch) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn prediction_is_clamped_to_gain_range() -> Result<(), Error> {
        let model = QualityModel::new(ModelConfig {
            prior: Some([10.0; 7]),
            ..ModelConfig::default()
        })?;
        assert_eq!(model.predict(&[1.0; 7]), Some(1.0));
        assert_eq!(model.predict(&[-1.0; 7]), Some(-1.0));
        Ok(())
    }

    #[test]
    fn non_finite_samples_are_refused() -> Result<(), Error> {
        let mut model = QualityModel::new(ModelConfig::default())?;
        assert!(model.add_sample([f64::NAN; 7], 0.1).is_err());
        assert!(model.add_sample([0.1; 7], f64::INFINITY).is_err());
        assert_eq!(model.samples_seen(), 0);
        Ok(())
    }

    #[test]
    fn config_errors_name_the_field() {
        let bad = |c: ModelConfig| match QualityModel::new(c) {
            Err(Error::InvalidConfig { field, .. }) => field,
            _ => "accepted",
        };
        assert_eq!(
            bad(ModelConfig {
                regularization: -1.0,
                ..ModelConfig::default()
            }),
            "regularization"
        );
        assert_eq!(
            bad(ModelConfig {
                regularization: f64::NAN,
                ..ModelConfig::default()
            }),
            "regularization"
        );
        assert_eq!(
            bad(ModelConfig {
                window: 0,
                ..ModelConfig::default()
            }),
            "window"
        );
        assert_eq!(
            bad(ModelConfig {
                prior: Some([f64::NAN; 7]),
                ..ModelConfig::default()
            }),
            "feature_weights"
        );
    }

    #[test]
    fn reconfigure_shrinks_window_and_refits() -> Result<(), Error> {
        let mut model = QualityModel::new(ModelConfig::default())?;
        let all: Vec<_> = (0..100).map(sample).collect();
        for (x, y) in &all {
            model.add_sample(*x, *y)?;
        }
        model.reconfigure(ModelConfig {
            window: 30,
            regularization: 0.1,
            ..ModelConfig::default()
        })?;
        assert_eq!(model.window_samples().len(), 30);
        let batch = fit_batch(&all[70..], 0.1, None)?;
        for (a, b) in model.fitted_weights().iter().zip(&batch) {
            assert!((a - b).abs() < 1e-9);
        }
        Ok(())
    }
}
