//! The observed state the host reports each step (SPEC §2), and its validation.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::InputMode;

/// The host's phase. No default rule uses it; custom selectors and records may.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Coherence {
    /// Local coherence (the default when absent).
    #[default]
    Local,
    /// Global coherence.
    Global,
    /// A critical phase.
    Critical,
}

impl Coherence {
    /// The name used in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Global => "global",
            Self::Critical => "critical",
        }
    }

    /// Parses the JSON name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "local" => Some(Self::Local),
            "global" => Some(Self::Global),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// A free attribute value: text, a finite number, or a flag.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum AttributeValue {
    /// A flag, e.g. `conversation_stalled`.
    Bool(bool),
    /// A number, e.g. `temperature` (must be finite).
    Number(f64),
    /// Text, e.g. `user_id`.
    Text(String),
}

impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        Self::Number(v)
    }
}
impl From<&str> for AttributeValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

/// Free keys for policies: `user_id`, `conversation_stalled`, `temperature`, `user_comfort`, …
pub type Attributes = BTreeMap<String, AttributeValue>;

/// A field that made a state invalid, named by its path (`novelty`, `attributes.temperature`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FieldError {
    /// The field's path.
    pub field: String,
    /// What is wrong with it and what it should be.
    pub message: String,
}

impl FieldError {
    /// A field error.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// An input correction: a default used for a missing field, a clamp, an infinite instability,
/// or an ignored key. Each is reported in the decision and counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InputWarning {
    /// The field's path.
    pub field: String,
    /// What was done.
    pub message: String,
}

impl InputWarning {
    /// A warning.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A state the loop refused: every offending field is listed. The loop did not advance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[error("invalid state: {}", list(.fields))]
pub struct Rejected {
    /// Always `"invalid state"` in JSON, so an error object is recognisable.
    pub error: String,
    /// The offending fields.
    pub fields: Vec<FieldError>,
}

fn list(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Rejected {
    pub(crate) fn new(fields: Vec<FieldError>) -> Self {
        Self {
            error: "invalid state".into(),
            fields,
        }
    }
}

/// One step's observation from the host (SPEC §2). Absent fields take their documented
/// defaults; validation happens in [`CreativeLoop::update`](crate::CreativeLoop::update).
///
/// ```
/// use creative_feedback_core::State;
/// let state = State::new(0.85, 0.6).with_volatility(0.2).with_attribute("user_id", "u1");
/// assert_eq!(state.novelty, Some(0.85));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// How new the recent output is, in [0, 1]; absent → 0.5 with a warning.
    pub novelty: Option<f64>,
    /// Quality of the recent output, in [0, 1]; absent → 0.5 with a warning.
    pub aesthetic_score: Option<f64>,
    /// How unsteady the host is, in [0, 1]; absent → 0.
    pub volatility: Option<f64>,
    /// Largest eigenvalue of the host's dynamics, ≥ 0 (`+∞` is accepted); absent → 0.
    pub lambda_max: Option<f64>,
    /// The host's phase.
    pub coherence: Coherence,
    /// The host demands an emergency halt.
    pub emergency_override: bool,
    /// Free keys for policies.
    pub attributes: Attributes,
    /// Type errors found while reading the state from text; the loop rejects the state with
    /// these and its own findings together, so every offending field is named at once.
    pub read_errors: Vec<FieldError>,
    /// Corrections made while reading (e.g. an ignored nested key); reported and counted.
    pub read_warnings: Vec<InputWarning>,
}

impl State {
    /// A state with the two main fields set.
    #[must_use]
    pub fn new(novelty: f64, aesthetic_score: f64) -> Self {
        Self {
            novelty: Some(novelty),
            aesthetic_score: Some(aesthetic_score),
            ..Self::default()
        }
    }

    /// Sets the volatility.
    #[must_use]
    pub fn with_volatility(mut self, volatility: f64) -> Self {
        self.volatility = Some(volatility);
        self
    }

    /// Sets `lambda_max`.
    #[must_use]
    pub fn with_lambda_max(mut self, lambda_max: f64) -> Self {
        self.lambda_max = Some(lambda_max);
        self
    }

    /// Sets the coherence.
    #[must_use]
    pub fn with_coherence(mut self, coherence: Coherence) -> Self {
        self.coherence = coherence;
        self
    }

    /// Sets the emergency override.
    #[must_use]
    pub fn with_emergency_override(mut self, on: bool) -> Self {
        self.emergency_override = on;
        self
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: &str, value: impl Into<AttributeValue>) -> Self {
        self.attributes.insert(key.to_owned(), value.into());
        self
    }
}

/// The numeric part of a validated observation, without attributes (kept in records).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ObservedValues {
    /// Novelty in [0, 1].
    pub novelty: f64,
    /// Aesthetic score in [0, 1].
    pub aesthetic_score: f64,
    /// Volatility in [0, 1].
    pub volatility: f64,
    /// `lambda_max`, finite and ≥ 0 (an infinite report is the largest finite value).
    pub lambda_max: f64,
    /// The host's phase.
    pub coherence: Coherence,
}

impl ObservedValues {
    /// performance = ½·novelty + ½·aesthetic score (SPEC §8).
    #[must_use]
    #[inline]
    pub fn performance(&self) -> f64 {
        0.5 * self.novelty + 0.5 * self.aesthetic_score
    }
}

/// A validated observation as policies see it: every number finite and in range.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The validated numbers.
    pub values: ObservedValues,
    /// The host demands an emergency halt.
    pub emergency_override: bool,
    /// The state's free attributes.
    pub attributes: &'a Attributes,
}

impl Observation<'_> {
    /// An attribute by key.
    #[must_use]
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes.get(key)
    }

    /// A flag attribute; `false` when absent or not a flag.
    #[must_use]
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.attribute(key), Some(AttributeValue::Bool(true)))
    }

    /// A numeric attribute.
    #[must_use]
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.attribute(key) {
            Some(AttributeValue::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// A text attribute.
    #[must_use]
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(AttributeValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The `user_id` attribute, or `default` when absent (the guide's behaviour).
    #[must_use]
    pub fn user_id(&self) -> &str {
        self.text("user_id").unwrap_or("default")
    }
}

/// In-range values take the fast path; everything else goes to [`unit_field_slow`].
#[inline]
fn unit_field(
    name: &'static str,
    value: Option<f64>,
    missing: Option<f64>,
    mode: InputMode,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<InputWarning>,
) -> f64 {
    match value {
        Some(v) if (0.0..=1.0).contains(&v) => v,
        _ => unit_field_slow(name, value, missing, mode, errors, warnings),
    }
}

#[cold]
fn unit_field_slow(
    name: &'static str,
    value: Option<f64>,
    missing: Option<f64>,
    mode: InputMode,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<InputWarning>,
) -> f64 {
    let Some(v) = value else {
        return match missing {
            None => 0.0,
            Some(default) if mode == InputMode::Strict => {
                errors.push(FieldError::new(
                    name,
                    "missing; strict input mode requires it",
                ));
                default
            }
            Some(default) => {
                warnings.push(InputWarning::new(name, format!("missing; using {default}")));
                default
            }
        };
    };
    if v.is_nan() {
        errors.push(FieldError::new(name, "NaN is not a number in [0, 1]"));
        0.0
    } else if v.is_infinite() {
        errors.push(FieldError::new(
            name,
            format!("{v} is not a number in [0, 1]"),
        ));
        0.0
    } else if (0.0..=1.0).contains(&v) {
        v
    } else if mode == InputMode::Strict {
        errors.push(FieldError::new(name, format!("{v} is outside [0, 1]")));
        0.0
    } else {
        let c = v.clamp(0.0, 1.0);
        warnings.push(InputWarning::new(
            name,
            format!("{v} is outside [0, 1]; clamped to {c}"),
        ));
        c
    }
}

/// The validated numbers of a state. Kept apart from the byte-sized fields so that moving
/// them never mixes narrow stores with wide loads (a store-forwarding stall on the hot path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbers {
    pub(crate) novelty: f64,
    pub(crate) aesthetic_score: f64,
    pub(crate) volatility: f64,
    pub(crate) lambda_max: f64,
}

impl<'a> Observation<'a> {
    /// The observation of `state` with its validated numbers.
    #[inline]
    pub(crate) fn new(state: &'a State, n: Numbers) -> Self {
        Self {
            values: ObservedValues {
                novelty: n.novelty,
                aesthetic_score: n.aesthetic_score,
                volatility: n.volatility,
                lambda_max: n.lambda_max,
                coherence: state.coherence,
            },
            emergency_override: state.emergency_override,
            attributes: &state.attributes,
        }
    }
}

/// Validates a state (SPEC §2): collects every error, applies defaults and clamps.
///
/// The common case (every number present, finite and in range, nothing carried over from the
/// reader) is checked first without building error lists.
#[inline]
pub(crate) fn validate(
    state: &State,
    mode: InputMode,
) -> Result<(Numbers, Vec<InputWarning>), Rejected> {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    if let (Some(novelty), Some(aesthetic_score)) = (state.novelty, state.aesthetic_score) {
        let volatility = state.volatility.unwrap_or(0.0);
        let lambda_max = state.lambda_max.unwrap_or(0.0);
        let clean = unit(novelty)
            && unit(aesthetic_score)
            && unit(volatility)
            && (0.0..f64::INFINITY).contains(&lambda_max)
            && state.read_errors.is_empty()
            && state.read_warnings.is_empty()
            && state.attributes.values().all(|v| match v {
                AttributeValue::Number(n) => n.is_finite(),
                _ => true,
            });
        if clean {
            let numbers = Numbers {
                novelty,
                aesthetic_score,
                volatility,
                lambda_max,
            };
            return Ok((numbers, Vec::new()));
        }
    }
    validate_slow(state, mode)
}

#[cold]
fn validate_slow(state: &State, mode: InputMode) -> Result<(Numbers, Vec<InputWarning>), Rejected> {
    // Cloning an empty Vec still costs a call per step; most states have nothing to carry over.
    let mut errors = if state.read_errors.is_empty() {
        Vec::new()
    } else {
        state.read_errors.clone()
    };
    let mut warnings = if state.read_warnings.is_empty() {
        Vec::new()
    } else {
        state.read_warnings.clone()
    };
    let novelty = unit_field(
        "novelty",
        state.novelty,
        Some(0.5),
        mode,
        &mut errors,
        &mut warnings,
    );
    let aesthetic_score = unit_field(
        "aesthetic_score",
        state.aesthetic_score,
        Some(0.5),
        mode,
        &mut errors,
        &mut warnings,
    );
    let volatility = unit_field(
        "volatility",
        state.volatility,
        None,
        mode,
        &mut errors,
        &mut warnings,
    );
    let lambda_max = match state.lambda_max {
        None => 0.0,
        Some(v) if (0.0..f64::INFINITY).contains(&v) => v,
        Some(v) if v.is_nan() => {
            errors.push(FieldError::new("lambda_max", "NaN is not a number ≥ 0"));
            0.0
        }
        Some(f64::INFINITY) => {
            warnings.push(InputWarning::new(
                "lambda_max",
                "+inf is an instability beyond any threshold; treated as the largest finite value",
            ));
            f64::MAX
        }
        Some(f64::NEG_INFINITY) => {
            errors.push(FieldError::new("lambda_max", "-inf is not a number ≥ 0"));
            0.0
        }
        Some(v) if v < 0.0 && mode == InputMode::Strict => {
            errors.push(FieldError::new("lambda_max", format!("{v} is below 0")));
            0.0
        }
        Some(v) if v < 0.0 => {
            warnings.push(InputWarning::new(
                "lambda_max",
                format!("{v} is below 0; clamped to 0"),
            ));
            0.0
        }
        Some(v) => v,
    };
    for (key, value) in &state.attributes {
        if let AttributeValue::Number(n) = value {
            if !n.is_finite() {
                errors.push(FieldError::new(
                    format!("attributes.{key}"),
                    format!("{n} is not a finite number"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Rejected::new(errors));
    }
    Ok((
        Numbers {
            novelty,
            aesthetic_score,
            volatility,
            lambda_max,
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &Rejected) -> Vec<&str> {
        r.fields.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn every_offending_field_is_named() {
        let state = State {
            novelty: Some(f64::NAN),
            aesthetic_score: Some(f64::INFINITY),
            volatility: Some(f64::NEG_INFINITY),
            lambda_max: Some(f64::NAN),
            ..State::default()
        }
        .with_attribute("temperature", f64::NAN);
        let Err(rejected) = validate(&state, InputMode::Lenient) else {
            panic!("accepted a NaN state");
        };
        assert_eq!(
            fields(&rejected),
            [
                "novelty",
                "aesthetic_score",
                "volatility",
                "lambda_max",
                "attributes.temperature"
            ]
        );
    }

    #[test]
    fn lenient_clamps_and_warns_strict_rejects() {
        let state = State::new(1.4, -0.2).with_lambda_max(-1.0);
        let Ok((obs, warnings)) = validate(&state, InputMode::Lenient) else {
            panic!("lenient rejected a finite state");
        };
        assert_eq!((obs.novelty, obs.aesthetic_score), (1.0, 0.0));
        assert_eq!(obs.lambda_max, 0.0);
        assert_eq!(warnings.len(), 3);
        let Err(rejected) = validate(&state, InputMode::Strict) else {
            panic!("strict accepted an out-of-range state");
        };
        assert_eq!(
            fields(&rejected),
            ["novelty", "aesthetic_score", "lambda_max"]
        );
    }

    #[test]
    fn missing_fields_default_with_warnings_or_are_required_in_strict() {
        let state = State::default();
        let Ok((obs, warnings)) = validate(&state, InputMode::Lenient) else {
            panic!("lenient rejected an empty state");
        };
        assert_eq!(obs.novelty, 0.5);
        assert_eq!(obs.volatility, 0.0);
        assert_eq!(warnings.len(), 2);
        assert!(validate(&state, InputMode::Strict).is_err());
    }

    #[test]
    fn infinite_instability_is_accepted_as_largest_value() {
        let state = State::new(0.5, 0.5).with_lambda_max(f64::INFINITY);
        for mode in [InputMode::Lenient, InputMode::Strict] {
            let Ok((obs, warnings)) = validate(&state, mode) else {
                panic!("+inf lambda_max rejected");
            };
            assert_eq!(obs.lambda_max, f64::MAX);
            assert_eq!(warnings.len(), 1);
        }
    }
}
