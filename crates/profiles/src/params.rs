use std::collections::BTreeMap;

/// Named numeric parameters of a profile, e.g. `{"amplitude": 0.3, "frequency": 2.0}`.
///
/// Ordered by name so that two equal parameter sets serialize identically.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Params(BTreeMap<String, f64>);

impl Params {
    /// No parameters (an empty set allocates nothing).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a parameter, builder style.
    #[must_use]
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces a parameter.
    pub fn insert(&mut self, name: &str, value: f64) {
        self.0.insert(name.to_owned(), value);
    }

    /// The parameter's value, if set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// The parameter's value, or `default` when it is not set (the guide's `params.get(k, d)`).
    #[must_use]
    pub fn get_or(&self, name: &str, default: f64) -> f64 {
        self.get(name).unwrap_or(default)
    }

    /// Iterates over `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// How many parameters are set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no parameter is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, f64)> for Params {
    fn from_iter<I: IntoIterator<Item = (&'a str, f64)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}
