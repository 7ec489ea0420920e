//! `creative_feedback._native`: the Rust engine behind the Python package. The package's
//! `CreativeFeedbackLoop` (Python, `creative_feedback/__init__.py`) wraps [`Engine`] with the
//! guide's API; this module does the work: configuration, steps, batches, metrics, records,
//! health, snapshots and pre-training, all with the JSON API's keys.
#![deny(unsafe_code)]

mod convert;
mod hooks;

use creative_feedback_core::{
    Action, Coherence, Config, CreativeLoop, Decision, LoopBuilder, Mode, ReadState, Rejected,
    Snapshot, State, STATE_COLUMNS,
};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use convert::{from_py, to_py, write_json};

pyo3::create_exception!(
    _native,
    StateError,
    PyValueError,
    "A rejected state: `.fields` lists every offending field as {'field', 'message'}; the loop did not advance."
);

/// Raised for a configuration (or snapshot) that cannot work; the message names the key.
fn config_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn json_error(e: serde_json::Error) -> PyErr {
    PyRuntimeError::new_err(format!("cannot encode a result as JSON: {e}"))
}

/// `ValueError` subclass with `.fields`, as the JSON API's 422 body.
fn rejected_error(py: Python<'_>, rejected: &Rejected) -> PyErr {
    let err = StateError::new_err(rejected.to_string());
    let fields = PyList::empty(py);
    for f in &rejected.fields {
        let d = PyDict::new(py);
        let _ = d.set_item("field", &f.field);
        let _ = d.set_item("message", &f.message);
        let _ = fields.append(d);
    }
    let _ = err.value(py).setattr("fields", fields);
    err
}

/// The loop's configuration: the defaults with `overrides` (a dict with the configuration
/// file's keys, nested for `quality` and `selector`) merged in.
fn config_from(overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let defaults = serde_json::to_value(Config::default()).map_err(json_error)?;
    let mut value = defaults.clone();
    let patch = match overrides {
        Some(o) => from_py(o.as_any(), "")?,
        None => serde_json::Value::Null,
    };
    if !patch.is_null() {
        merge(&mut value, patch.clone());
    }
    let config: Config =
        serde_json::from_value(value).map_err(|e| match bad_key(&defaults, &patch, "") {
            Some((key, why)) => config_error(format!("invalid configuration: `{key}`: {why}")),
            None => config_error(format!("invalid configuration: {e}")),
        })?;
    config.validate().map_err(config_error)?;
    Ok(config)
}

/// The first key of `patch` that the defaults do not take, and why (serde's own errors do not
/// say which key): each key is tried alone over the defaults, nested settings key by key.
fn bad_key(
    defaults: &serde_json::Value,
    patch: &serde_json::Value,
    prefix: &str,
) -> Option<(String, String)> {
    let serde_json::Value::Object(keys) = patch else {
        return None;
    };
    for (k, v) in keys {
        let name = format!("{prefix}{k}");
        let mut probe = defaults.clone();
        merge(
            &mut probe,
            serde_json::Value::Object(std::iter::once((k.clone(), v.clone())).collect()),
        );
        let Err(e) = serde_json::from_value::<Config>(nest(prefix, probe)) else {
            continue;
        };
        let nested = v
            .is_object()
            .then(|| defaults.get(k))
            .flatten()
            .and_then(|d| bad_key(d, v, &format!("{name}.")));
        return Some(nested.unwrap_or((name, e.to_string())));
    }
    None
}

/// `value` (the settings under `prefix`, e.g. `quality.`) placed in the default config.
fn nest(prefix: &str, value: serde_json::Value) -> serde_json::Value {
    let Some(section) = prefix.strip_suffix('.') else {
        return value;
    };
    let mut root = serde_json::to_value(Config::default()).unwrap_or(serde_json::Value::Null);
    if let Some(slot) = root.get_mut(section) {
        *slot = value;
    }
    root
}

/// Merges `patch` into `base`, objects key by key (so `quality={'min_samples': 10}` keeps the
/// other quality settings).
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// The four numeric keys and `coherence`, read straight from the dict when they are all there is: most hosts
/// send just these, and skipping JSON keeps a step to about a microsecond. Anything else (other
/// keys, other types) goes through the JSON reader, which names every problem.
fn fast_state(py: Python<'_>, state: &Bound<'_, PyDict>) -> Option<State> {
    let mut s = State::default();
    let mut found = 0;
    for (key, slot) in [
        (intern!(py, "novelty"), &mut s.novelty),
        (intern!(py, "aesthetic_score"), &mut s.aesthetic_score),
        (intern!(py, "volatility"), &mut s.volatility),
        (intern!(py, "lambda_max"), &mut s.lambda_max),
    ] {
        let Ok(Some(v)) = state.get_item(key) else {
            continue;
        };
        found += 1;
        *slot = Some(if let Ok(f) = v.cast::<PyFloat>() {
            f.value()
        } else if v.is_exact_instance_of::<PyInt>() {
            v.extract::<i64>().ok()? as f64
        } else {
            return None;
        });
    }
    if let Ok(Some(v)) = state.get_item(intern!(py, "coherence")) {
        found += 1;
        if !v.is_none() {
            s.coherence = [
                (intern!(py, "local"), Coherence::Local),
                (intern!(py, "global"), Coherence::Global),
                (intern!(py, "critical"), Coherence::Critical),
            ]
            .into_iter()
            // Identity first: names written in Python source are interned.
            .find(|(name, _)| v.is(name) || v.eq(name).unwrap_or(false))
            .map(|(_, c)| c)?;
        }
    }
    (found == state.len()).then_some(s)
}

/// The name of an action, mode, reason or built-in profile as a Python string made once per
/// process (`intern!`): a decision's strings then cost no allocation.
fn name<'py>(py: Python<'py>, s: &str) -> Bound<'py, PyString> {
    match s {
        "maintain" => intern!(py, "maintain").clone(),
        "inject_entropy" => intern!(py, "inject_entropy").clone(),
        "continue_exploration" => intern!(py, "continue_exploration").clone(),
        "end_exploration" => intern!(py, "end_exploration").clone(),
        "recover" => intern!(py, "recover").clone(),
        "emergency_halt" => intern!(py, "emergency_halt").clone(),
        "stable" => intern!(py, "stable").clone(),
        "exploring" => intern!(py, "exploring").clone(),
        "recovering" => intern!(py, "recovering").clone(),
        "emergency" => intern!(py, "emergency").clone(),
        "in_band" => intern!(py, "in_band").clone(),
        "momentum" => intern!(py, "momentum").clone(),
        "stagnation" => intern!(py, "stagnation").clone(),
        "plateau" => intern!(py, "plateau").clone(),
        "low_stability" => intern!(py, "low_stability").clone(),
        "low_predicted_gain" => intern!(py, "low_predicted_gain").clone(),
        "completed" => intern!(py, "completed").clone(),
        "pruned" => intern!(py, "pruned").clone(),
        "emergency_lambda" => intern!(py, "emergency_lambda").clone(),
        "emergency_override" => intern!(py, "emergency_override").clone(),
        "emergency_cleared" => intern!(py, "emergency_cleared").clone(),
        "constant" => intern!(py, "constant").clone(),
        "pulse" => intern!(py, "pulse").clone(),
        "cosine_ramp" => intern!(py, "cosine_ramp").clone(),
        "exponential_decay" => intern!(py, "exponential_decay").clone(),
        other => PyString::intern(py, other),
    }
}

/// A decision as the dict `json.loads` would make of the JSON API's answer, built directly:
/// the common fields without going through JSON.
fn decision_dict<'py>(py: Python<'py>, d: &Decision) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item(intern!(py, "action"), name(py, d.action.as_str()))?;
    out.set_item(intern!(py, "mode"), name(py, d.mode.as_str()))?;
    out.set_item(intern!(py, "entropy_factor"), d.entropy_factor)?;
    out.set_item(intern!(py, "lambda_factor"), d.lambda_factor)?;
    out.set_item(intern!(py, "reason"), name(py, d.reason.as_str()))?;
    if let Some(e) = &d.exploration {
        let ex = PyDict::new(py);
        ex.set_item(intern!(py, "profile"), name(py, e.profile.as_str()))?;
        ex.set_item(intern!(py, "k"), e.k)?;
        ex.set_item(intern!(py, "duration"), e.duration)?;
        ex.set_item(intern!(py, "progress"), e.progress)?;
        out.set_item(intern!(py, "exploration"), ex)?;
    }
    if let Some(o) = &d.outcome {
        let value = serde_json::to_value(o).map_err(json_error)?;
        out.set_item(intern!(py, "outcome"), to_py(py, &value)?)?;
    }
    if let Some(p) = d.predicted_gain {
        out.set_item(intern!(py, "predicted_gain"), p)?;
    }
    let warnings = if d.warnings.is_empty() {
        PyList::empty(py).into_any()
    } else {
        to_py(py, &serde_json::to_value(&d.warnings).map_err(json_error)?)?
    };
    out.set_item(intern!(py, "warnings"), warnings)?;
    Ok(out)
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// A number for this thread (std's `ThreadId` has no stable integer form).
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// The loop, behind a lock so that one `Engine` may be shared between threads.
#[pyclass(module = "creative_feedback._native")]
struct Engine {
    inner: Mutex<CreativeLoop>,
    /// The thread holding the lock (0: none), to tell a hook calling back into its own loop
    /// (refused) from another thread's step (waited for).
    owner: AtomicU64,
    hook_errors: Arc<AtomicU64>,
}

impl Engine {
    fn wrap(feedback: CreativeLoop, hook_errors: Arc<AtomicU64>) -> Self {
        Self {
            inner: Mutex::new(feedback),
            owner: AtomicU64::new(0),
            hook_errors,
        }
    }

    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut CreativeLoop) -> R) -> PyResult<R> {
        let me = THREAD.with(|t| *t);
        let mut guard = loop {
            match self.inner.try_lock() {
                Ok(g) => break g,
                Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    if self.owner.load(Ordering::Acquire) == me {
                        return Err(PyRuntimeError::new_err(
                            "the loop cannot be called from inside its own _select_entropy_profile or _predict_creative_gain; read what you need before update, or from the state passed in",
                        ));
                    }
                    // Another thread steps the loop (and may need the interpreter for a hook):
                    // wait for it without the interpreter, then try again with it.
                    py.detach(|| {
                        drop(self.inner.lock());
                    });
                }
            }
        };
        self.owner.store(me, Ordering::Release);
        let out = f(&mut guard);
        self.owner.store(0, Ordering::Release);
        Ok(out)
    }
}

/// Builds the engine: the loop with the Python profiles, and the Python object's hooks when
/// it overrides them.
fn engine(
    mut builder: LoopBuilder,
    hooks: Option<Py<PyAny>>,
    select: bool,
    predict: bool,
    profiles: Option<&Bound<'_, PyDict>>,
) -> PyResult<Engine> {
    let errors = Arc::new(AtomicU64::new(0));
    for (name, function) in profiles.into_iter().flat_map(|p| p.iter()) {
        let name: String = name.extract()?;
        if !function.is_callable() {
            return Err(PyValueError::new_err(format!(
                "profile {name:?}: give a function (base_factor, step, total_steps, params) -> float"
            )));
        }
        builder = builder
            .profile(
                &name,
                hooks::PyShape {
                    name: name.clone(),
                    function: function.unbind(),
                },
            )
            .map_err(config_error)?;
    }
    if let Some(target) = hooks {
        let max_exploration_steps = builder.config().max_exploration_steps;
        let make = |target: Py<PyAny>| hooks::Hooks {
            target,
            errors: Arc::clone(&errors),
            max_exploration_steps,
        };
        if select {
            builder = builder.selector(hooks::PySelector(make(Python::attach(|py| {
                target.clone_ref(py)
            }))));
        }
        if predict {
            builder = builder.predictor(hooks::PyPredictor(make(target)));
        }
    }
    Ok(Engine::wrap(builder.build().map_err(config_error)?, errors))
}

#[pymethods]
impl Engine {
    /// A loop with the default configuration and `config`'s keys over it; with `hooks`, the
    /// object whose `_select_entropy_profile` (`select`) and `_predict_creative_gain`
    /// (`predict`) choose and predict at each exploration's start.
    #[new]
    #[pyo3(signature = (config=None, hooks=None, select=false, predict=false, profiles=None))]
    fn new(
        config: Option<&Bound<'_, PyDict>>,
        hooks: Option<Py<PyAny>>,
        select: bool,
        predict: bool,
        profiles: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = config_from(config)?;
        engine(
            CreativeLoop::builder(config),
            hooks,
            select,
            predict,
            profiles,
        )
    }

    /// A loop resumed from `snapshot()`'s text (with hooks as in the constructor).
    #[staticmethod]
    #[pyo3(signature = (text, hooks=None, select=false, predict=false, profiles=None))]
    fn restore(
        text: &str,
        hooks: Option<Py<PyAny>>,
        select: bool,
        predict: bool,
        profiles: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let snapshot = Snapshot::from_json(text).map_err(config_error)?;
        engine(
            LoopBuilder::from_snapshot(snapshot),
            hooks,
            select,
            predict,
            profiles,
        )
    }

    /// Hooks that raised or answered something unusable (the default was used instead).
    fn hook_errors(&self) -> u64 {
        self.hook_errors.load(Ordering::Relaxed)
    }

    /// One step; the decision as a dict with the JSON API's keys.
    fn update<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dict = state.cast::<PyDict>().map_err(|_| {
            StateError::new_err(format!(
                "the state must be a dict, got {}",
                state
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |n| n.to_string())
            ))
        })?;
        let decided = match fast_state(py, dict) {
            Some(s) => self.with(py, |l| {
                let d = l.update(&s);
                l.drain_events().for_each(drop);
                d
            })?,
            None => {
                let mut text = String::with_capacity(128);
                write_json(dict.as_any(), "", &mut text)?;
                let read =
                    ReadState::from_json(&text).map_err(|e| StateError::new_err(e.to_string()))?;
                self.with(py, |l| {
                    let d = l.update_read(&read);
                    l.drain_events().for_each(drop);
                    d
                })?
            }
        };
        let decision = decided.map_err(|r| rejected_error(py, &r))?;
        Ok(decision_dict(py, &decision)?.into_any())
    }

    /// Many steps at once: `states` is a float array of shape (n, 4), columns novelty,
    /// aesthetic_score, volatility, lambda_max (NaN: absent). Returns a dict of arrays.
    fn update_many<'py>(
        &self,
        py: Python<'py>,
        states: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let view = states.as_array();
        // The lock is taken with the interpreter held (a hook may need it); the batch runs
        // with it held too when there are hooks, since each exploration calls back.
        let decisions = self
            .with(py, |l| {
                let d = l.update_many(view);
                l.drain_events().for_each(drop);
                d
            })?
            .map_err(config_error)?;
        let out = PyDict::new(py);
        out.set_item("accepted", decisions.accepted.into_pyarray(py))?;
        out.set_item("action", decisions.action.into_pyarray(py))?;
        out.set_item("mode", decisions.mode.into_pyarray(py))?;
        out.set_item("entropy_factor", decisions.entropy_factor.into_pyarray(py))?;
        out.set_item("lambda_factor", decisions.lambda_factor.into_pyarray(py))?;
        out.set_item("predicted_gain", decisions.predicted_gain.into_pyarray(py))?;
        out.set_item("creative_gain", decisions.creative_gain.into_pyarray(py))?;
        Ok(out)
    }

    /// Pre-trains the quality model from arrays of past explorations; the report as a dict.
    fn pretrain_arrays<'py>(
        &self,
        py: Python<'py>,
        states: PyReadonlyArray2<'py, f64>,
        entropy_factors: PyReadonlyArray1<'py, f64>,
        durations: PyReadonlyArray1<'py, f64>,
        gains: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let report = self
            .with(py, |l| {
                l.pretrain_arrays(
                    states.as_array(),
                    entropy_factors.as_array(),
                    durations.as_array(),
                    gains.as_array(),
                )
            })?
            .map_err(config_error)?;
        report_dict(py, &report)
    }

    /// Pre-trains the quality model from JSON Lines records (`crefl pretrain`'s format).
    fn pretrain_jsonl<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
        let report = self.with(py, |l| l.pretrain_jsonl(text))?;
        report_dict(py, &report)
    }

    /// The metrics snapshot, as `GET /v1/metrics` (without the sinks).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = self.with(py, |l| l.metrics())?;
        to_py(py, &serde_json::to_value(&m).map_err(json_error)?)
    }

    /// The ended explorations kept (`history_capacity`), oldest first, as dicts.
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let records: Vec<_> = self.with(py, |l| l.history().cloned().collect())?;
        to_py(py, &serde_json::to_value(&records).map_err(json_error)?)
    }

    /// The health check (`status`, `reason`).
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let h = self.with(py, |l| l.health())?;
        to_py(py, &serde_json::to_value(&h).map_err(json_error)?)
    }

    /// The configuration in force, as a dict with the configuration file's keys.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.with(py, |l| l.config().clone())?;
        to_py(py, &serde_json::to_value(&c).map_err(json_error)?)
    }

    /// The quality model's settings (the configuration's `[quality]`), with its state:
    /// `trained`, `samples_seen`, `can_predict`, `weights`.
    fn quality<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (settings, status) =
            self.with(py, |l| (l.config().quality.clone(), l.metrics().quality))?;
        let mut value = serde_json::to_value(&settings).map_err(json_error)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("trained".into(), status.trained.into());
            map.insert("samples_seen".into(), status.samples_seen.into());
            map.insert("can_predict".into(), status.can_predict.into());
            map.insert(
                "weights".into(),
                serde_json::to_value(status.weights).map_err(json_error)?,
            );
        }
        to_py(py, &value)
    }

    /// Changes one quality setting online (the model refits); `ValueError` naming it when it
    /// cannot work, and nothing changes then.
    fn set_quality(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = from_py(value, key)?;
        self.with(py, |l| {
            let mut settings = serde_json::to_value(&l.config().quality).map_err(json_error)?;
            match settings.as_object_mut() {
                Some(map) if map.contains_key(key) || key == "feature_weights" => {
                    map.insert(key.to_owned(), value);
                }
                _ => {
                    return Err(PyKeyError::new_err(format!(
                        "quality_model has no setting {key:?}; settable: min_samples, regularization, window, feature_weights, min_predicted_gain, gate_exploration_rate, adjust_below, adjust_above, adjust_down, adjust_up, factor_min, factor_max"
                    )))
                }
            }
            let quality = serde_json::from_value(settings)
                .map_err(|e| config_error(format!("quality_model[{key:?}]: {e}")))?;
            l.set_quality_config(quality).map_err(config_error)
        })?
    }

    /// The quality model's prediction for an exploration from `state` with base `factor` over
    /// `duration` steps (the features of the specification §7); `None` until it can predict.
    fn predict(
        &self,
        py: Python<'_>,
        state: &Bound<'_, PyDict>,
        factor: f64,
        duration: u32,
    ) -> PyResult<Option<f64>> {
        let get = |key: &str, default: f64| -> PyResult<f64> {
            Ok(match state.get_item(key)? {
                Some(v) if !v.is_none() => v.extract::<f64>()?,
                _ => default,
            })
        };
        let (novelty, aesthetic, volatility) = (
            get("novelty", 0.5)?,
            get("aesthetic_score", 0.5)?,
            get("volatility", 0.0)?,
        );
        self.with(py, |l| {
            let model = l.model();
            let max = f64::from(l.config().max_exploration_steps.max(1));
            let experience = model.samples_seen().min(100) as f64 / 100.0;
            model.predict(&[
                novelty,
                aesthetic,
                volatility,
                factor,
                f64::from(duration) / max,
                experience,
                1.0,
            ])
        })
    }

    /// `(accepted steps, cumulative gain)`, cheaply, for metric streaming.
    fn progress(&self, py: Python<'_>) -> PyResult<(u64, f64)> {
        self.with(py, |l| (l.steps(), l.cumulative_gain()))
    }

    /// The most recent ended exploration as a dict, `None` before the first.
    fn last_exploration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let last = self.with(py, |l| l.history().last().cloned())?;
        to_py(py, &serde_json::to_value(&last).map_err(json_error)?)
    }

    /// The whole loop as JSON text, for `restore`.
    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |l| l.snapshot())?
            .to_json()
            .map_err(config_error)
    }
}

fn report_dict<'py>(
    py: Python<'py>,
    report: &creative_feedback_core::PretrainReport,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("used", report.used)?;
    let skipped = PyList::empty(py);
    for s in &report.skipped {
        let d = PyDict::new(py);
        d.set_item("line", s.line)?;
        let reasons = PyList::empty(py);
        for r in &s.reasons {
            let rd = PyDict::new(py);
            rd.set_item("field", &r.field)?;
            rd.set_item("message", &r.message)?;
            reasons.append(rd)?;
        }
        d.set_item("reasons", reasons)?;
        skipped.append(d)?;
    }
    out.set_item("skipped", skipped)?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Engine>()?;
    m.add("StateError", py.get_type::<StateError>())?;
    m.add(
        "ACTIONS",
        Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    )?;
    m.add(
        "MODES",
        Mode::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    )?;
    m.add("STATE_COLUMNS", STATE_COLUMNS.to_vec())?;
    Ok(())
}
