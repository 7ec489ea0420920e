//! `GET /v1/report`: what the loop has learned — how well the quality model predicts, what the
//! learned selector estimates — and the A/B experiment's report when one runs.

use creative_feedback_core::ArmStatus;
use creative_feedback_rollout::{AbReport, Experiment};
use serde::Serialize;

use crate::service::Service;

/// The quality model's fit, scored out of sample: each prediction against the outcome that
/// followed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// Samples the model has learned from, pre-training included.
    pub samples_seen: u64,
    /// Whether the fitted model is in use.
    pub trained: bool,
    /// Ended explorations (not aborted) that had a prediction.
    pub scored: u64,
    /// R² of those predictions (1 is perfect, 0 no better than the mean, below 0 worse);
    /// `null` before two.
    pub out_of_sample_r2: Option<f64>,
    /// Their root mean squared error; `null` before one.
    pub rmse: Option<f64>,
}

/// The body of `GET /v1/report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The quality model's fit.
    pub quality: QualityReport,
    /// The learned selector's arms (with `[selector] kind = "learned"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<Vec<ArmStatus>>,
    /// The A/B experiment's report (with `--ab`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<AbReport>,
}

impl Service {
    /// The report of `GET /v1/report`.
    #[must_use]
    pub fn report(&self) -> Report {
        let m = self.metrics().metrics;
        let c = m.quality.calibration;
        Report {
            quality: QualityReport {
                samples_seen: m.quality.samples_seen,
                trained: m.quality.trained,
                scored: c.scored,
                out_of_sample_r2: c.r_squared(),
                rmse: c.rmse(),
            },
            learned: m.learned,
            experiment: self.experiment().map(Experiment::report),
        }
    }
}
