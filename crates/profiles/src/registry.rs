use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::{Error, Params, Profile, BUILTIN_NAMES};

/// A user-defined entropy profile: the Rust form of the guide's
/// `sinusoidal_profile(base_factor, step, total_steps, params)`.
///
/// Closures of that signature implement it. Whatever a shape returns is clamped to `[0, 1]`
/// by the loop, and a non-finite value is replaced by the base factor and counted as an error.
pub trait ProfileShape: Send + Sync {
    /// The entropy factor at `step` (0-based) of an exploration of `total` steps.
    fn factor(&self, base: f64, step: u32, total: u32, params: &Params) -> f64;

    /// Checks parameters before an exploration uses them; the default accepts any.
    ///
    /// # Errors
    ///
    /// A message saying which parameter is wrong and what it should be.
    fn check_params(&self, params: &Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }
}

impl<F> ProfileShape for F
where
    F: Fn(f64, u32, u32, &Params) -> f64 + Send + Sync,
{
    fn factor(&self, base: f64, step: u32, total: u32, params: &Params) -> f64 {
        self(base, step, total, params)
    }
}

/// The built-in profiles plus the custom shapes registered by name.
#[derive(Clone, Default)]
pub struct ProfileRegistry {
    custom: BTreeMap<Arc<str>, Arc<dyn ProfileShape>>,
}

impl fmt::Debug for ProfileRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileRegistry")
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

impl ProfileRegistry {
    /// A registry with only the built-in profiles.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a custom shape under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a malformed name; [`Error::NameTaken`] when the name is
    /// built in or already registered.
    pub fn register(
        &mut self,
        name: &str,
        shape: impl ProfileShape + 'static,
    ) -> Result<(), Error> {
        check_name(name)?;
        if BUILTIN_NAMES.contains(&name) || self.custom.contains_key(name) {
            return Err(Error::NameTaken(name.to_owned()));
        }
        self.custom.insert(Arc::from(name), Arc::new(shape));
        Ok(())
    }

    /// Whether `name` is built in or registered.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        BUILTIN_NAMES.contains(&name) || self.custom.contains_key(name)
    }

    /// Every profile name: the built-ins first, then the custom ones in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        BUILTIN_NAMES
            .iter()
            .copied()
            .chain(self.custom.keys().map(|k| &**k))
    }

    /// Resolves a profile to something that can be evaluated, checking its parameters.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownProfile`] for an unregistered custom name; [`Error::InvalidParameter`]
    /// or [`Error::CustomParameters`] for parameters the shape rejects.
    pub fn resolve(&self, profile: Profile) -> Result<ResolvedProfile, Error> {
        profile.validate()?;
        let shape = match &profile {
            Profile::Custom { name, params } => {
                let shape = self
                    .custom
                    .get(&**name)
                    .ok_or_else(|| Error::UnknownProfile(name.to_string()))?;
                shape
                    .check_params(params)
                    .map_err(|message| Error::CustomParameters {
                        profile: name.to_string(),
                        message,
                    })?;
                Some(Arc::clone(shape))
            }
            _ => None,
        };
        Ok(ResolvedProfile { profile, shape })
    }
}

/// A profile ready to evaluate: a built-in, or a custom profile bound to its shape.
#[derive(Clone)]
pub struct ResolvedProfile {
    profile: Profile,
    shape: Option<Arc<dyn ProfileShape>>,
}

impl fmt::Debug for ResolvedProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.profile, f)
    }
}

impl PartialEq for ResolvedProfile {
    fn eq(&self, other: &Self) -> bool {
        self.profile == other.profile
    }
}

impl ResolvedProfile {
    /// The constant profile, which needs no registry.
    #[must_use]
    pub fn constant() -> Self {
        Self {
            profile: Profile::Constant,
            shape: None,
        }
    }

    /// The profile and its parameters.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The raw factor at `step` of `total` for `base`. Built-ins stay within `[0, base]`;
    /// a custom shape may return anything, which the caller must clamp.
    #[must_use]
    #[inline]
    pub fn factor(&self, base: f64, step: u32, total: u32) -> f64 {
        match (&self.shape, &self.profile) {
            (Some(shape), Profile::Custom { params, .. }) => {
                shape.factor(base, step, total, params)
            }
            _ => self
                .profile
                .builtin_factor(base, step, total)
                .unwrap_or(base),
        }
    }
}

impl From<ResolvedProfile> for Profile {
    fn from(resolved: ResolvedProfile) -> Self {
        resolved.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(base: f64, _: u32, _: u32, params: &Params) -> f64 {
        base * params.get_or("scale", 2.0)
    }

    #[test]
    fn custom_profiles_resolve_by_name() {
        let mut registry = ProfileRegistry::new();
        assert_eq!(registry.register("doubling", doubling), Ok(()));
        let resolved = registry.resolve(Profile::custom("doubling", Params::new()));
        assert_eq!(resolved.map(|r| r.factor(0.3, 1, 10)), Ok(0.6));
        assert!(registry.names().any(|n| n == "doubling"));
    }

    #[test]
    fn names_are_unique_and_builtins_reserved() {
        let mut registry = ProfileRegistry::new();
        assert_eq!(
            registry.register("pulse", doubling),
            Err(Error::NameTaken("pulse".into()))
        );
        assert_eq!(registry.register("x", doubling), Ok(()));
        assert_eq!(
            registry.register("x", doubling),
            Err(Error::NameTaken("x".into()))
        );
        assert_eq!(
            registry.register("a b", doubling),
            Err(Error::InvalidName("a b".into()))
        );
    }

    #[test]
    fn unknown_profiles_are_named_in_the_error() {
        let registry = ProfileRegistry::new();
        let err = registry.resolve(Profile::custom("sinusoidal", Params::new()));
        assert_eq!(err.err(), Some(Error::UnknownProfile("sinusoidal".into())));
    }

    struct Picky;
    impl ProfileShape for Picky {
        fn factor(&self, base: f64, _: u32, _: u32, _: &Params) -> f64 {
            base
        }
        fn check_params(&self, params: &Params) -> Result<(), String> {
            match params.get("amplitude") {
                Some(a) if a > 1.0 => Err("amplitude must be ≤ 1".into()),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn custom_shapes_check_their_parameters() {
        let mut registry = ProfileRegistry::new();
        assert_eq!(registry.register("picky", Picky), Ok(()));
        let bad = Profile::custom("picky", Params::new().with("amplitude", 2.0));
        assert!(matches!(
            registry.resolve(bad),
            Err(Error::CustomParameters { .. })
        ));
    }
}
