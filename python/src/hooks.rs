//! The guide's customisation by subclassing: `_select_entropy_profile(state)` and
//! `_predict_creative_gain(state, factor, duration)` on the Python object, called by the
//! engine at each exploration's start. Before each call the engine's own answer is left on the
//! object (`_default_profile`, `_default_prediction`), which is what the base class's methods
//! return, so `super()` falls back to the default. A hook that raises, or answers something
//! unusable, is counted and the default is used: the loop keeps deciding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use creative_feedback_core::{
    AttributeValue, GainPredictor, Params, Prediction, PredictionContext, Profile, ProfileSelector,
    Selection, SelectionContext,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The Python object the hooks are called on, and the count of hooks that failed.
pub(crate) struct Hooks {
    pub(crate) target: Py<PyAny>,
    pub(crate) errors: Arc<AtomicU64>,
    pub(crate) max_exploration_steps: u32,
}

impl Hooks {
    /// Counts the failure and logs it on the `creative_feedback` logger, as the package's
    /// streaming does; nothing is raised into `update`.
    fn failed(&self, py: Python<'_>, hook: &str, err: &PyErr) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        warn(
            py,
            "%s failed (%s); the engine's own answer is used",
            hook,
            &err.to_string(),
        );
    }
}

/// A warning on the package's logger (`creative_feedback`), `format` taking `what` and `why`;
/// a logger that fails is ignored (nothing may break a step).
fn warn(py: Python<'_>, format: &str, what: &str, why: &str) {
    let _ = py
        .import("logging")
        .and_then(|l| l.call_method1("getLogger", ("creative_feedback",)))
        .and_then(|log| log.call_method1("warning", (format, what, why)));
}

/// The trigger state as the guide's hooks read it: the validated numbers, `coherence`, and the
/// state's other keys.
fn state_dict<'py>(
    py: Python<'py>,
    obs: &creative_feedback_core::Observation<'_>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let v = &obs.values;
    d.set_item("novelty", v.novelty)?;
    d.set_item("aesthetic_score", v.aesthetic_score)?;
    d.set_item("volatility", v.volatility)?;
    d.set_item("lambda_max", v.lambda_max)?;
    d.set_item("coherence", v.coherence.as_str())?;
    // The host's own keys (`user_id`, `temperature`, `conversation_stalled`, …), as the
    // guide's hooks read them with `state.get(...)`.
    for (key, value) in obs.attributes {
        match value {
            AttributeValue::Bool(b) => d.set_item(key, *b)?,
            AttributeValue::Number(x) => d.set_item(key, *x)?,
            AttributeValue::Text(t) => d.set_item(key, t)?,
        }
    }
    Ok(d)
}

const SELECT: &str = "_select_entropy_profile";
const PREDICT: &str = "_predict_creative_gain";

pub(crate) struct PySelector(pub(crate) Hooks);

impl ProfileSelector for PySelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        let own = ctx.fallback_choice();
        Python::attach(|py| {
            let target = self.0.target.bind(py);
            let asked = (|| -> PyResult<Bound<'_, PyAny>> {
                target.setattr("_default_profile", own.name_str())?;
                target.call_method1(SELECT, (state_dict(py, &ctx.observation)?,))
            })();
            let name = match asked {
                Ok(answer) => match answer.extract::<String>() {
                    Ok(name) => name,
                    Err(e) => {
                        self.0.failed(py, SELECT, &e);
                        return Selection::from(own.clone());
                    }
                },
                Err(e) => {
                    self.0.failed(py, SELECT, &e);
                    return Selection::from(own.clone());
                }
            };
            if name == own.name_str() {
                return Selection::from(own.clone());
            }
            match Profile::from_parts(&name, &Params::new()) {
                Ok(profile) => Selection::from(profile),
                Err(e) => {
                    let e = pyo3::exceptions::PyValueError::new_err(format!(
                        "it returned {name:?}: {e}"
                    ));
                    self.0.failed(py, SELECT, &e);
                    Selection::from(own.clone())
                }
            }
        })
    }
}

pub(crate) struct PyPredictor(pub(crate) Hooks);

impl GainPredictor for PyPredictor {
    fn predict(&mut self, ctx: &PredictionContext<'_>) -> Prediction {
        let own = ctx.model.predict(ctx.features);
        let factor = ctx.features[3];
        // The features carry the duration as a share of max_exploration_steps.
        let duration = (ctx.features[4] * f64::from(self.0.max_exploration_steps)).round() as u32;
        Python::attach(|py| {
            let target = self.0.target.bind(py);
            let asked = (|| -> PyResult<Bound<'_, PyAny>> {
                target.setattr("_default_prediction", own)?;
                target.setattr("_default_prediction_for", (factor, duration))?;
                target.call_method1(
                    PREDICT,
                    (state_dict(py, &ctx.observation)?, factor, duration),
                )
            })();
            match asked.and_then(|a| a.extract::<Option<f64>>()) {
                Ok(None) => Prediction::None,
                Ok(Some(p)) if p.is_finite() => Prediction::Model(p),
                Ok(Some(p)) => {
                    let e = pyo3::exceptions::PyValueError::new_err(format!(
                        "it returned {p}, not a finite number"
                    ));
                    self.0.failed(py, PREDICT, &e);
                    own.map_or(Prediction::None, Prediction::Model)
                }
                Err(e) => {
                    self.0.failed(py, PREDICT, &e);
                    own.map_or(Prediction::None, Prediction::Model)
                }
            }
        })
    }
}

/// A Python profile function `fn(base_factor, step, total_steps, params) -> float`, as the
/// guide's `sinusoidal_profile`. One that raises answers `NaN`, which the engine counts as a
/// failed profile and replaces (`docs/profiles.md`).
pub(crate) struct PyShape {
    pub(crate) name: String,
    pub(crate) function: Py<PyAny>,
}

impl creative_feedback_core::ProfileShape for PyShape {
    fn factor(&self, base: f64, step: u32, total: u32, params: &Params) -> f64 {
        Python::attach(|py| {
            let answer = (|| -> PyResult<f64> {
                let p = PyDict::new(py);
                for (k, v) in params.iter() {
                    p.set_item(k, v)?;
                }
                self.function
                    .bind(py)
                    .call1((base, step, total, p))?
                    .extract::<f64>()
            })();
            answer.unwrap_or_else(|e| {
                warn(py, "profile %s failed (%s)", &self.name, &e.to_string());
                f64::NAN
            })
        })
    }
}
