//! The observed state the host reports each step (specification §2): plain data.
//!
//! Validation lives in [`crate::validate`]; reading from JSON in [`crate::json`].

use std::collections::BTreeMap;

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

/// One step's observation from the host (specification §2). Absent fields take their
/// documented defaults; validation happens in [`CreativeLoop::update`](crate::CreativeLoop::update).
///
/// With the `serde` feature a state serializes flat, as the JSON reader reads it: the known
/// fields (absent ones left out), then `attributes`.
///
/// ```
/// use creative_feedback_core::State;
/// let state = State::new(0.85, 0.6).with_volatility(0.2).with_attribute("user_id", "u1");
/// assert_eq!(state.novelty, Some(0.85));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// How new the recent output is, in [0, 1]; absent → 0.5 with a warning.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub novelty: Option<f64>,
    /// Quality of the recent output, in [0, 1]; absent → 0.5 with a warning.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub aesthetic_score: Option<f64>,
    /// How unsteady the host is, in [0, 1]; absent → 0.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub volatility: Option<f64>,
    /// Largest eigenvalue of the host's dynamics, ≥ 0 (`+∞` is accepted); absent → 0.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub lambda_max: Option<f64>,
    /// The host's phase.
    #[cfg_attr(feature = "serde", serde(default))]
    pub coherence: Coherence,
    /// The host demands an emergency halt.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "std::ops::Not::not")
    )]
    pub emergency_override: bool,
    /// Free keys for policies.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Attributes::is_empty")
    )]
    pub attributes: Attributes,
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
    /// performance = ½·novelty + ½·aesthetic score (specification §8).
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

impl<'a> Observation<'a> {
    /// The observation of `state` with its validated numbers.
    #[inline]
    pub(crate) fn new(state: &'a State, n: crate::validate::Numbers) -> Self {
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
