//! The model's settings at their limits, its counts and accessors, the prior's pull, the
//! periodic rebuild of its sums, and (with `serde`) the checks a restored model passes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_quality::{
    fit_batch, Error, Features, ModelConfig, QualityModel, MAX_WINDOW,
};

fn config(window: usize) -> ModelConfig {
    ModelConfig {
        min_samples: 2,
        window,
        ..ModelConfig::default()
    }
}

fn features(scale: f64, i: u32) -> Features {
    let x = f64::from(i);
    [
        scale * (0.3 + 0.01 * x),
        scale * (0.5 - 0.02 * x),
        scale * 0.1 * (x % 3.0),
        scale * 0.4,
        scale * 0.2 * (x % 5.0),
        0.5,
        1.0,
    ]
}

#[test]
fn settings_at_their_limits() {
    let with = |f: &dyn Fn(&mut ModelConfig)| {
        let mut c = ModelConfig::default();
        f(&mut c);
        QualityModel::new(c)
    };
    assert!(
        with(&|c| c.regularization = 0.0).is_err(),
        "λ must be above 0"
    );
    assert!(with(&|c| c.regularization = 1e-12).is_ok());
    assert!(with(&|c| c.window = 0).is_err());
    assert!(with(&|c| c.window = MAX_WINDOW).is_ok());
    let err = with(&|c| c.window = MAX_WINDOW + 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "window",
                ..
            }
        ),
        "{err}"
    );
    assert!(with(&|c| c.prior = Some([f64::NAN; 7])).is_err());
}

#[test]
fn counts_and_accessors() {
    let c = config(8);
    let mut m = QualityModel::new(c.clone()).unwrap();
    assert_eq!(m.config(), &c);
    for i in 0..5 {
        assert_eq!(m.samples_seen(), u64::from(i));
        m.add_sample(features(1.0, i), 0.1).unwrap();
    }
    assert_eq!(m.samples_seen(), 5);
    assert!(m.is_trained());
}

#[test]
fn the_prior_predicts_until_trained_and_pulls_the_fit() {
    let prior = [0.3, 0.4, -0.2, 0.5, 0.1, 0.05, 0.2];
    let c = ModelConfig {
        prior: Some(prior),
        regularization: 0.5,
        ..config(16)
    };
    let mut m = QualityModel::new(c).unwrap();
    assert_eq!(m.weights(), prior, "untrained: the prior's weights");
    m.add_sample(features(1.0, 1), 0.2).unwrap();
    assert!(!m.is_trained());
    assert_eq!(
        m.weights(),
        prior,
        "until min_samples, predictions use the prior"
    );
    assert_ne!(m.fitted_weights(), &prior);
    // One sample: the fit is w = (XᵀX + λI)⁻¹(Xᵀy + λ·w0), as the batch solve computes it.
    let batch = fit_batch(&[(features(1.0, 1), 0.2)], 0.5, Some(&prior)).unwrap();
    for (a, b) in m.fitted_weights().iter().zip(&batch) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let no_prior = fit_batch(&[(features(1.0, 1), 0.2)], 0.5, None).unwrap();
    assert!(batch
        .iter()
        .zip(&no_prior)
        .any(|(a, b)| (a - b).abs() > 1e-3));
}

/// Large samples leave the window before small ones are fitted: without the periodic rebuild
/// of the sums, the cancellation error would swamp the small samples' fit.
#[test]
fn the_sums_are_rebuilt_so_evicted_samples_leave_no_trace() {
    let window = 4;
    let mut m = QualityModel::new(config(window)).unwrap();
    for i in 0..window as u32 {
        m.add_sample(features(1e7, i), 3.0).unwrap();
    }
    let small: Vec<(Features, f64)> = (0..window as u32)
        .map(|i| (features(1e-3, i + 10), 0.01 * f64::from(i)))
        .collect();
    for (f, g) in &small {
        m.add_sample(*f, *g).unwrap();
    }
    let batch = fit_batch(&small, ModelConfig::default().regularization, None).unwrap();
    for (a, b) in m.fitted_weights().iter().zip(&batch) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

#[cfg(feature = "serde")]
mod restore {
    use super::*;

    fn saved() -> serde_json::Value {
        let mut m = QualityModel::new(config(4)).unwrap();
        for i in 0..3 {
            m.add_sample(features(1.0, i), 0.1).unwrap();
        }
        serde_json::to_value(&m).unwrap()
    }

    #[test]
    fn a_saved_model_restores_exactly() {
        let v = saved();
        let m: QualityModel = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
        assert_eq!(m.samples_seen(), 3);
        assert_eq!(m.config().window, 4);
    }

    #[test]
    fn an_inconsistent_saved_model_is_refused() {
        let refuse = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = saved();
            edit(&mut v);
            serde_json::from_value::<QualityModel>(v).is_err()
        };
        assert!(
            refuse(&|v| v["config"]["window"] = 2.into()),
            "more samples than the window"
        );
        assert!(
            refuse(&|v| v["samples_seen"] = 2.into()),
            "more samples than were seen"
        );
        assert!(refuse(&|v| v["config"]["regularization"] = 0.into()));
        assert!(!refuse(&|v| v["samples_seen"] = 3.into()), "as saved");
        assert!(
            !refuse(&|v| v["config"]["window"] = 3.into()),
            "exactly full"
        );
    }
}
