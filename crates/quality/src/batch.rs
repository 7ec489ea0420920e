use nalgebra::{DMatrix, DVector};

use crate::{Error, Features, FEATURE_COUNT};

/// Fits ridge weights directly over a batch of `(features, target)` samples:
/// `w = (XᵀX + λI)⁻¹ (Xᵀy + λ·w0)`, with `w0` the prior (zero when `None`).
///
/// This is the reference the incremental [`QualityModel`](crate::QualityModel) is checked
/// against, and a way to fit a model offline over a whole history.
///
/// # Errors
///
/// [`Error::InvalidConfig`] when `regularization` is not a finite number > 0;
/// [`Error::NonFiniteSample`] for NaN or infinite data; [`Error::Singular`] if the system
/// cannot be solved.
pub fn fit_batch(
    samples: &[(Features, f64)],
    regularization: f64,
    prior: Option<&Features>,
) -> Result<Features, Error> {
    if !(regularization > 0.0 && regularization.is_finite()) {
        return Err(Error::InvalidConfig {
            field: "regularization",
            reason: format!("must be a finite number > 0, got {regularization}"),
        });
    }
    if samples
        .iter()
        .any(|(x, y)| !y.is_finite() || x.iter().any(|v| !v.is_finite()))
    {
        return Err(Error::NonFiniteSample("a batch sample"));
    }
    let x = DMatrix::from_fn(samples.len(), FEATURE_COUNT, |r, c| samples[r].0[c]);
    let y = DVector::from_iterator(samples.len(), samples.iter().map(|s| s.1));
    let w0 = DVector::from_iterator(
        FEATURE_COUNT,
        prior.map_or([0.0; FEATURE_COUNT], |p| *p).iter().copied(),
    );
    let xt = x.transpose();
    let a = &xt * &x + DMatrix::identity(FEATURE_COUNT, FEATURE_COUNT) * regularization;
    let b = &xt * &y + w0 * regularization;
    let w = a.lu().solve(&b).ok_or(Error::Singular)?;
    let mut out = [0.0; FEATURE_COUNT];
    for (o, v) in out.iter_mut().zip(w.iter()) {
        *o = *v;
    }
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(Error::Singular)
    }
}
