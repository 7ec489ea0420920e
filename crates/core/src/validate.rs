//! Validation of observed states (specification §2): defaults, clamps, and every offending
//! field named at once.

use std::fmt;

use crate::config::InputMode;
use crate::state::{AttributeValue, State};

/// A note about one input field, named by its path (`novelty`, `attributes.temperature`): why
/// it was refused ([`FieldError`]) or how it was corrected ([`InputWarning`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FieldMessage {
    /// The field's path.
    pub field: String,
    /// What is wrong with it and what it should be, or what was done.
    pub message: String,
}

/// A field that made a state invalid.
pub type FieldError = FieldMessage;

/// An input correction: a default used for a missing field, a clamp, an infinite instability,
/// or an ignored key. Each is reported in the decision and counted once.
pub type InputWarning = FieldMessage;

impl FieldMessage {
    /// A note about `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What a reader found in a state's text besides the state itself: type errors (the loop
/// rejects the state with these and its own findings together, so every offending field is
/// named at once) and corrections (e.g. an ignored nested key; reported and counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Fields of the wrong type.
    pub errors: Vec<FieldError>,
    /// Corrections made while reading.
    pub warnings: Vec<InputWarning>,
}

impl Findings {
    /// No findings.
    pub const NONE: &'static Findings = &Findings {
        errors: Vec::new(),
        warnings: Vec::new(),
    };

    /// Whether there is nothing to report.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.warnings.is_empty()
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

/// `lambda_max` (specification §2): ≥ 0; `+∞` is accepted as the largest finite value.
fn lambda_field(
    value: Option<f64>,
    mode: InputMode,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<InputWarning>,
) -> f64 {
    match value {
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
    }
}

/// Validates a state (specification §2): collects every error, applies defaults and clamps.
///
/// The common case (every number present, finite and in range, nothing carried over from the
/// reader) is checked first without building error lists.
#[inline]
///
/// Corrections go to `warnings` (left untouched on the fast path): returning them in a tuple
/// beside the numbers would move the vector with wide loads over narrow stores on every step.
pub(crate) fn validate(
    state: &State,
    mode: InputMode,
    findings: &Findings,
    warnings: &mut Vec<InputWarning>,
) -> Result<Numbers, Rejected> {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    if let (Some(novelty), Some(aesthetic_score)) = (state.novelty, state.aesthetic_score) {
        let volatility = state.volatility.unwrap_or(0.0);
        let lambda_max = state.lambda_max.unwrap_or(0.0);
        let clean = unit(novelty)
            && unit(aesthetic_score)
            && unit(volatility)
            && (0.0..f64::INFINITY).contains(&lambda_max)
            && findings.is_empty()
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
            return Ok(numbers);
        }
    }
    validate_slow(state, mode, findings, warnings)
}

#[cold]
fn validate_slow(
    state: &State,
    mode: InputMode,
    findings: &Findings,
    warnings: &mut Vec<InputWarning>,
) -> Result<Numbers, Rejected> {
    let mut errors = findings.errors.clone();
    warnings.extend(findings.warnings.iter().cloned());
    let novelty = unit_field(
        "novelty",
        state.novelty,
        Some(0.5),
        mode,
        &mut errors,
        warnings,
    );
    let aesthetic_score = unit_field(
        "aesthetic_score",
        state.aesthetic_score,
        Some(0.5),
        mode,
        &mut errors,
        warnings,
    );
    let volatility = unit_field(
        "volatility",
        state.volatility,
        None,
        mode,
        &mut errors,
        warnings,
    );
    let lambda_max = lambda_field(state.lambda_max, mode, &mut errors, warnings);
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
    Ok(Numbers {
        novelty,
        aesthetic_score,
        volatility,
        lambda_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(state: &State, mode: InputMode) -> Result<(Numbers, Vec<InputWarning>), Rejected> {
        let mut warnings = Vec::new();
        validate(state, mode, Findings::NONE, &mut warnings).map(|n| (n, warnings))
    }

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
        let Err(rejected) = check(&state, InputMode::Lenient) else {
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
        let Ok((obs, warnings)) = check(&state, InputMode::Lenient) else {
            panic!("lenient rejected a finite state");
        };
        assert_eq!((obs.novelty, obs.aesthetic_score), (1.0, 0.0));
        assert_eq!(obs.lambda_max, 0.0);
        assert_eq!(warnings.len(), 3);
        let Err(rejected) = check(&state, InputMode::Strict) else {
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
        let Ok((obs, warnings)) = check(&state, InputMode::Lenient) else {
            panic!("lenient rejected an empty state");
        };
        assert_eq!(obs.novelty, 0.5);
        assert_eq!(obs.volatility, 0.0);
        assert_eq!(warnings.len(), 2);
        assert!(check(&state, InputMode::Strict).is_err());
    }

    #[test]
    fn infinite_instability_is_accepted_as_largest_value() {
        let state = State::new(0.5, 0.5).with_lambda_max(f64::INFINITY);
        for mode in [InputMode::Lenient, InputMode::Strict] {
            let Ok((obs, warnings)) = check(&state, mode) else {
                panic!("+inf lambda_max rejected");
            };
            assert_eq!(obs.lambda_max, f64::MAX);
            assert_eq!(warnings.len(), 1);
        }
    }
}
