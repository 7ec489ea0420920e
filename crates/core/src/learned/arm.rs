//! One arm of the bandit: a discounted ridge regression of gain on the context
//! (`docs/learning.md`, "The model of one arm").

use nalgebra::{DMatrix, DVector};

/// A profile's model: `A = λI + Σ w·x·xᵀ`, `b = Σ w·r·x`, with `A⁻¹` and `θ = A⁻¹·b` kept up to
/// date so that scoring a context needs no solve.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Arm {
    /// The profile's name.
    pub(crate) name: String,
    /// `A`, row-major, `dim × dim`.
    a: Vec<f64>,
    /// `b`.
    b: Vec<f64>,
    /// `A⁻¹`, row-major.
    inverse: Vec<f64>,
    /// `θ = A⁻¹·b`.
    pub(crate) theta: Vec<f64>,
    /// Σ w: the discounted number of outcomes behind the estimate.
    pub(crate) weight: f64,
    /// Explorations that used this profile, undiscounted.
    pub(crate) pulls: u64,
    /// Sum of their gains, undiscounted.
    pub(crate) gain_sum: f64,
    /// How much better than the model this arm did lately: a discounted mean of its
    /// out-of-sample residuals (the context as it is now, beyond what the features show).
    pub(crate) recent_residual: f64,
    /// The discounted count behind `recent_residual`.
    pub(crate) recent_weight: f64,
}

impl Arm {
    pub(crate) fn new(name: String, dim: usize, regularization: f64) -> Self {
        let mut a = vec![0.0; dim * dim];
        let mut inverse = vec![0.0; dim * dim];
        for i in 0..dim {
            a[i * dim + i] = regularization;
            inverse[i * dim + i] = 1.0 / regularization;
        }
        Self {
            name,
            a,
            b: vec![0.0; dim],
            inverse,
            theta: vec![0.0; dim],
            weight: 0.0,
            pulls: 0,
            gain_sum: 0.0,
            recent_residual: 0.0,
            recent_weight: 0.0,
        }
    }

    /// The recent offset, shrunk towards 0 as its evidence fades: `w/(w + 1)·mean`.
    #[inline]
    pub(crate) fn offset(&self) -> f64 {
        self.recent_residual * self.recent_weight / (self.recent_weight + 1.0)
    }

    /// Ages the recent offset by one ended exploration.
    pub(crate) fn age_recent(&mut self, recent_discount: f64) {
        self.recent_weight *= recent_discount;
    }

    /// Adds a residual (gain − the model's estimate made before it learned this outcome).
    pub(crate) fn add_recent(&mut self, residual: f64) {
        self.recent_residual =
            (self.recent_weight * self.recent_residual + residual) / (self.recent_weight + 1.0);
        self.recent_weight += 1.0;
    }

    pub(crate) fn dim(&self) -> usize {
        self.b.len()
    }

    /// The estimated gain `θ·x` and its width `√(xᵀ·A⁻¹·x)`.
    #[inline]
    pub(crate) fn estimate(&self, x: &[f64]) -> (f64, f64) {
        let dim = self.dim();
        let mean = dot(&self.theta, x);
        let mut quad = 0.0;
        for (i, xi) in x.iter().enumerate().take(dim) {
            quad += xi * dot(&self.inverse[i * dim..(i + 1) * dim], x);
        }
        (mean, quad.max(0.0).sqrt())
    }

    /// Forgets: earlier outcomes weigh `discount` times as much; the ridge prior stays whole.
    pub(crate) fn discount(&mut self, discount: f64, regularization: f64) {
        if discount >= 1.0 {
            return;
        }
        let dim = self.dim();
        for (i, v) in self.a.iter_mut().enumerate() {
            *v *= discount;
            if i % (dim + 1) == 0 {
                *v += (1.0 - discount) * regularization;
            }
        }
        self.b.iter_mut().for_each(|v| *v *= discount);
        self.weight *= discount;
    }

    /// Adds one outcome with weight 1.
    pub(crate) fn add(&mut self, x: &[f64], gain: f64, weight: f64) {
        let dim = self.dim();
        for i in 0..dim {
            for j in 0..dim {
                self.a[i * dim + j] += weight * x[i] * x[j];
            }
            self.b[i] += weight * gain * x[i];
        }
        self.weight += weight;
        self.pulls += 1;
        self.gain_sum += gain;
    }

    /// Recomputes `A⁻¹` and `θ` in `scratch`'s buffers (no allocation once they exist). `A` is
    /// symmetric positive definite by construction (at least the ridge prior on its diagonal),
    /// so the Cholesky factorisation succeeds; should rounding ever defeat it, the previous
    /// estimate stays and `false` says so.
    pub(crate) fn refit(&mut self, scratch: &mut Scratch) -> bool {
        let dim = self.dim();
        scratch.fit(dim);
        let mut work = std::mem::replace(&mut scratch.work, DMatrix::zeros(0, 0));
        // A is symmetric: row-major and column-major copies are the same matrix.
        work.as_mut_slice().copy_from_slice(&self.a);
        let Some(cholesky) = work.cholesky() else {
            return false;
        };
        scratch.inverse.fill_with_identity();
        cholesky.solve_mut(&mut scratch.inverse);
        scratch.work = cholesky.unpack_dirty();
        scratch.b.as_mut_slice().copy_from_slice(&self.b);
        scratch.inverse.mul_to(&scratch.b, &mut scratch.theta);
        let (inverse, theta) = (scratch.inverse.as_slice(), scratch.theta.as_slice());
        if inverse.iter().chain(theta).any(|v| !v.is_finite()) {
            return false;
        }
        self.inverse.copy_from_slice(inverse);
        self.theta.copy_from_slice(theta);
        true
    }

    /// Whether the stored matrices have the shapes of a `dim`-wide context and hold finite
    /// numbers (a restored snapshot must).
    pub(crate) fn is_consistent(&self, dim: usize) -> bool {
        self.a.len() == dim * dim
            && self.inverse.len() == dim * dim
            && self.b.len() == dim
            && self.theta.len() == dim
            && self.weight.is_finite()
            && self.weight >= 0.0
            && self.gain_sum.is_finite()
            && self.recent_residual.is_finite()
            && self.recent_weight.is_finite()
            && self.recent_weight >= 0.0
            && self
                .a
                .iter()
                .chain(&self.b)
                .chain(&self.inverse)
                .chain(&self.theta)
                .all(|v| v.is_finite())
    }
}

/// Buffers for refitting, kept between refits so that learning allocates nothing once warm.
#[derive(Debug, Clone)]
pub(crate) struct Scratch {
    work: DMatrix<f64>,
    inverse: DMatrix<f64>,
    b: DVector<f64>,
    theta: DVector<f64>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            work: DMatrix::zeros(0, 0),
            inverse: DMatrix::zeros(0, 0),
            b: DVector::zeros(0),
            theta: DVector::zeros(0),
        }
    }
}

impl Scratch {
    fn fit(&mut self, dim: usize) {
        if self.work.nrows() != dim || self.inverse.nrows() != dim {
            self.work = DMatrix::zeros(dim, dim);
            self.inverse = DMatrix::zeros(dim, dim);
            self.b = DVector::zeros(dim);
            self.theta = DVector::zeros(dim);
        }
    }
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outcome_moves_the_estimate_towards_it_and_narrows_it() {
        let mut arm = Arm::new("constant".into(), 2, 1.0);
        let x = [1.0, 0.5];
        let (m0, w0) = arm.estimate(&x);
        arm.add(&x, 0.2, 1.0);
        assert!(arm.refit(&mut Scratch::default()));
        let (m1, w1) = arm.estimate(&x);
        assert_eq!(m0, 0.0);
        // Ridge with λ = 1: θ = (I + xxᵀ)⁻¹·0.2x, so θ·x = 0.2·|x|²/(1 + |x|²) = 0.2·1.25/2.25.
        assert!((m1 - 0.2 * 1.25 / 2.25).abs() < 1e-12, "{m1}");
        assert!(w1 < w0);
    }

    #[test]
    fn discounting_forgets_data_but_keeps_the_prior() {
        let mut arm = Arm::new("pulse".into(), 1, 2.0);
        arm.add(&[1.0], 1.0, 1.0);
        arm.discount(0.5, 2.0);
        assert!(arm.refit(&mut Scratch::default()));
        // A = 0.5·(2 + 1) + 0.5·2 = 2.5, b = 0.5.
        assert!((arm.theta[0] - 0.2).abs() < 1e-12);
        assert!((arm.weight - 0.5).abs() < 1e-12);
        assert!(arm.is_consistent(1) && !arm.is_consistent(2));
    }
}
