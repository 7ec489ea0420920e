use std::f64::consts::PI;
use std::sync::Arc;

use crate::{Error, Params, ProfileName};

/// The names of the built-in profiles, in the order they are documented.
pub const BUILTIN_NAMES: [&str; 4] = ["constant", "cosine_ramp", "exponential_decay", "pulse"];

/// Default `ramp_fraction` of [`Profile::CosineRamp`] when none is given.
pub const DEFAULT_RAMP_FRACTION: f64 = 0.2;
/// Default `decay_rate` of [`Profile::ExponentialDecay`] when none is given.
pub const DEFAULT_DECAY_RATE: f64 = 2.0;
/// Default `frequency` of [`Profile::Pulse`] when none is given.
pub const DEFAULT_FREQUENCY: f64 = 3.0;

/// An entropy profile with its parameters: a built-in shape, or a custom one named for lookup in
/// a [`ProfileRegistry`](crate::ProfileRegistry).
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// The base factor at every step.
    Constant,
    /// Rises from 0 to the base over the first `ramp_fraction` of the exploration, holds, and
    /// falls back to 0 over the last `ramp_fraction` (0 < r ≤ 0.5).
    CosineRamp {
        /// Share of the exploration spent ramping up (and again ramping down).
        ramp_fraction: f64,
    },
    /// Starts at the base and decays towards half of it: `b·(½ + ½·e^(−d·p))` (d ≥ 0).
    ExponentialDecay {
        /// How fast the factor decays over the exploration.
        decay_rate: f64,
    },
    /// Oscillates between 0 and the base: `b·½(1 + sin(2πf·p))` (f > 0).
    Pulse {
        /// Number of pulses over the exploration.
        frequency: f64,
    },
    /// A user-defined shape, resolved by name through a registry.
    Custom {
        /// The registered name.
        name: Arc<str>,
        /// The shape's parameters.
        params: Params,
    },
}

impl Profile {
    /// A custom profile by name (resolved later by a [`ProfileRegistry`](crate::ProfileRegistry)).
    #[must_use]
    pub fn custom(name: &str, params: Params) -> Self {
        Self::Custom {
            name: Arc::from(name),
            params,
        }
    }

    /// Builds a profile from a name and parameters, as found in a config file or a snapshot.
    /// Built-in names get their parameters checked (missing ones take their defaults); any
    /// other name becomes [`Profile::Custom`], to be checked by a registry.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownParameter`] or [`Error::InvalidParameter`] for a built-in profile given a
    /// parameter it does not have, or a value out of range; [`Error::InvalidName`] for an empty
    /// or malformed custom name.
    pub fn from_parts(name: &str, params: &Params) -> Result<Self, Error> {
        let single = |key: &'static str, default: f64, accepted: &'static str| match params
            .iter()
            .find(|(k, _)| *k != key)
        {
            Some((other, _)) => Err(Error::UnknownParameter {
                profile: name.to_owned(),
                parameter: other.to_owned(),
                accepted,
            }),
            None => Ok(params.get_or(key, default)),
        };
        let profile = match name {
            "constant" => match params.iter().next() {
                Some((other, _)) => {
                    return Err(Error::UnknownParameter {
                        profile: name.to_owned(),
                        parameter: other.to_owned(),
                        accepted: "no parameters",
                    })
                }
                None => Self::Constant,
            },
            "cosine_ramp" => Self::CosineRamp {
                ramp_fraction: single("ramp_fraction", DEFAULT_RAMP_FRACTION, "ramp_fraction")?,
            },
            "exponential_decay" => Self::ExponentialDecay {
                decay_rate: single("decay_rate", DEFAULT_DECAY_RATE, "decay_rate")?,
            },
            "pulse" => Self::Pulse {
                frequency: single("frequency", DEFAULT_FREQUENCY, "frequency")?,
            },
            custom => {
                crate::registry::check_name(custom)?;
                Self::custom(custom, params.clone())
            }
        };
        profile.validate()?;
        Ok(profile)
    }

    /// The profile's name.
    #[must_use]
    pub fn name(&self) -> ProfileName {
        match (self, self.builtin_name()) {
            (Self::Custom { name, .. }, _) => ProfileName::from(Arc::clone(name)),
            (_, builtin) => ProfileName::from_static(builtin.unwrap_or_default()),
        }
    }

    /// The profile's name, borrowed (no reference count touched).
    #[must_use]
    pub fn name_str(&self) -> &str {
        match self {
            Self::Custom { name, .. } => name,
            builtin => builtin.builtin_name().unwrap_or_default(),
        }
    }

    /// The name of a built-in profile; `None` for a custom one.
    fn builtin_name(&self) -> Option<&'static str> {
        match self {
            Self::Constant => Some(BUILTIN_NAMES[0]),
            Self::CosineRamp { .. } => Some(BUILTIN_NAMES[1]),
            Self::ExponentialDecay { .. } => Some(BUILTIN_NAMES[2]),
            Self::Pulse { .. } => Some(BUILTIN_NAMES[3]),
            Self::Custom { .. } => None,
        }
    }

    /// The profile's parameters as a name → value set (built-ins report theirs too).
    #[must_use]
    pub fn params(&self) -> Params {
        match self {
            Self::Constant => Params::new(),
            Self::CosineRamp { ramp_fraction } => {
                Params::new().with("ramp_fraction", *ramp_fraction)
            }
            Self::ExponentialDecay { decay_rate } => Params::new().with("decay_rate", *decay_rate),
            Self::Pulse { frequency } => Params::new().with("frequency", *frequency),
            Self::Custom { params, .. } => params.clone(),
        }
    }

    /// Checks a built-in profile's parameters against their valid ranges (custom profiles are
    /// checked by their registry).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the parameter and its valid range.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |parameter: &str, value: f64, expected: &'static str| {
            Err(Error::InvalidParameter {
                profile: self.name().to_string(),
                parameter: parameter.to_owned(),
                value,
                expected,
            })
        };
        match *self {
            Self::CosineRamp { ramp_fraction: r } if !(r > 0.0 && r <= 0.5) => {
                invalid("ramp_fraction", r, "a number in (0, 0.5]")
            }
            Self::ExponentialDecay { decay_rate: d } if !(d >= 0.0 && d.is_finite()) => {
                invalid("decay_rate", d, "a finite number ≥ 0")
            }
            Self::Pulse { frequency: f } if !(f > 0.0 && f.is_finite()) => {
                invalid("frequency", f, "a finite number > 0")
            }
            _ => Ok(()),
        }
    }

    /// The factor of a built-in profile at `step` of `total` for base `base`;
    /// `None` for a custom profile (ask its registry). `total` of 0 is read as 1.
    #[must_use]
    #[inline]
    pub fn builtin_factor(&self, base: f64, step: u32, total: u32) -> Option<f64> {
        let p = f64::from(step) / f64::from(total.max(1));
        Some(match *self {
            Self::Constant => base,
            Self::CosineRamp { ramp_fraction: r } => {
                // cos(π·u) is cos_turns(u / 2).
                if p < r {
                    base * 0.5 * (1.0 - cos_turns(0.5 * p / r))
                } else if p > 1.0 - r {
                    base * 0.5 * (1.0 + cos_turns(0.5 * (p - 1.0 + r) / r))
                } else {
                    base
                }
            }
            Self::ExponentialDecay { decay_rate: d } => base * (0.5 + 0.5 * (-d * p).exp()),
            Self::Pulse { frequency: f } => base * 0.5 * (1.0 + sin_turns(f * p)),
            Self::Custom { .. } => return None,
        })
    }
}

/// Taylor coefficients of sin(x)/x and cos(x) in powers of x².
const S: [f64; 7] = [
    1.0,
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5040.0,
    1.0 / 362_880.0,
    -1.0 / 39_916_800.0,
    1.0 / 6_227_020_800.0,
];
const C: [f64; 8] = [
    1.0,
    -0.5,
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40_320.0,
    -1.0 / 3_628_800.0,
    1.0 / 479_001_600.0,
    -1.0 / 87_178_291_200.0,
];

/// `sin(2π·turns)`, accurate to about 1e-15 and several times faster than `f64::sin` on the
/// arguments profiles produce (up to hundreds of radians for a fast pulse): the whole turns
/// and quarter turns are removed exactly (for |turns| < 2.5·10¹⁴; beyond that `f64::sin`), leaving |x| ≤ π/4 where short Taylor polynomials
/// (remainders below 3e-14 and 1e-15) are exact to double precision in practice.
#[inline]
pub(crate) fn sin_turns(turns: f64) -> f64 {
    // Round to the nearest quarter turn with the 1.5·2⁵² trick: two additions, no conversion
    // instructions, and the rounded integer's low bits give the quadrant.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let quarters = turns * 4.0;
    if quarters.is_nan() || quarters.abs() >= 1e15 {
        return (2.0 * PI * turns).sin();
    }
    let shifted = quarters + ROUND;
    let q = shifted.to_bits();
    let x = (quarters - (shifted - ROUND)) * (0.5 * PI);
    // Estrin's scheme: the terms pair up independently, so the latency is a few multiply-adds
    // rather than one per coefficient as with Horner's rule.
    let z = x * x;
    let z2 = z * z;
    let z4 = z2 * z2;
    let sin =
        x * ((1.0 + z * S[1]) + z2 * (S[2] + z * S[3]) + z4 * ((S[4] + z * S[5]) + z2 * S[6]));
    let cos = (1.0 + z * C[1])
        + z2 * (C[2] + z * C[3])
        + z4 * ((C[4] + z * C[5]) + z2 * (C[6] + z * C[7]));
    // Select without branches: the quadrant changes from step to step, and a mispredicted
    // branch costs more than the polynomials.
    let value = if q & 1 == 1 { cos } else { sin };
    let sign = 1.0 - (q & 2) as f64;
    sign * value
}

/// `cos(2π·turns)`.
#[inline]
pub(crate) fn cos_turns(turns: f64) -> f64 {
    sin_turns(turns + 0.25)
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Params, Profile};

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        name: String,
        #[serde(default, skip_serializing_if = "Params::is_empty")]
        params: Params,
    }

    impl serde::Serialize for Profile {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Spec {
                name: self.name().to_string(),
                params: self.params(),
            }
            .serialize(serializer)
        }
    }

    impl<'de> serde::Deserialize<'de> for Profile {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let spec = Spec::deserialize(deserializer)?;
            Profile::from_parts(&spec.name, &spec.params).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: f64 = 0.6;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn at(profile: &Profile, step: u32) -> f64 {
        profile.builtin_factor(B, step, 100).unwrap_or(f64::NAN)
    }

    #[test]
    fn constant_is_flat() {
        let p = Profile::Constant;
        assert!([0, 50, 100].iter().all(|&k| close(at(&p, k), B)));
    }

    #[test]
    fn cosine_ramp_starts_at_zero_holds_and_returns_to_zero() {
        let p = Profile::CosineRamp {
            ramp_fraction: 0.25,
        };
        assert!(close(at(&p, 0), 0.0));
        assert!((at(&p, 10) - B * 0.5 * (1.0 - (PI * 0.1 / 0.25).cos())).abs() < 1e-12);
        assert!(close(at(&p, 50), B));
        assert!(close(at(&p, 100), 0.0));
        assert!(at(&p, 90) < B && at(&p, 90) > 0.0);
    }

    #[test]
    fn exponential_decay_falls_towards_half() {
        let p = Profile::ExponentialDecay { decay_rate: 2.0 };
        assert!(close(at(&p, 0), B));
        assert!(close(at(&p, 50), B * (0.5 + 0.5 * (-1.0f64).exp())));
        assert!(close(at(&p, 100), B * (0.5 + 0.5 * (-2.0f64).exp())));
    }

    #[test]
    fn pulse_oscillates_between_zero_and_base() {
        let p = Profile::Pulse { frequency: 3.0 };
        assert!(close(at(&p, 0), B * 0.5));
        // sin(2π·3·p) peaks at p = 1/12 and bottoms at p = 3/12.
        assert!(close(p.builtin_factor(B, 1, 12).unwrap_or(f64::NAN), B));
        assert!(close(p.builtin_factor(B, 3, 12).unwrap_or(f64::NAN), 0.0));
        assert!(close(at(&p, 100), B * 0.5));
    }

    #[test]
    fn fast_sine_and_cosine_match_the_standard_library() {
        let mut worst: f64 = 0.0;
        for i in -200_000..=200_000 {
            let t = f64::from(i) * 0.000_731;
            worst = worst.max((sin_turns(t) - (2.0 * PI * t).sin()).abs());
            worst = worst.max((cos_turns(t) - (2.0 * PI * t).cos()).abs());
        }
        assert!(worst < 1e-12, "worst error {worst}");
        assert!(sin_turns(f64::NAN).is_nan());
        assert!((sin_turns(-0.25) + 1.0).abs() < 1e-15);
        assert!((sin_turns(1e20) - (2.0 * PI * 1e20).sin()).abs() < 1e-15);
    }

    #[test]
    fn ramp_matches_the_formula_as_written() {
        for r in [0.05, 0.2, 0.25, 0.5] {
            let profile = Profile::CosineRamp { ramp_fraction: r };
            for k in 0..=300 {
                let p = f64::from(k) / 300.0;
                let direct = if p < r {
                    B * 0.5 * (1.0 - (PI * p / r).cos())
                } else if p > 1.0 - r {
                    B * 0.5 * (1.0 + (PI * (p - 1.0 + r) / r).cos())
                } else {
                    B
                };
                let fast = profile.builtin_factor(B, k, 300).unwrap_or(f64::NAN);
                assert!(
                    (direct - fast).abs() < 1e-12,
                    "r {r} k {k}: {direct} vs {fast}"
                );
            }
        }
    }

    #[test]
    fn pulse_matches_the_unreduced_formula() {
        for f in [0.5, 2.0, 3.0, 4.7, 11.0] {
            for k in 0..=200 {
                let p = f64::from(k) / 200.0;
                let direct = B * 0.5 * (1.0 + (2.0 * PI * f * p).sin());
                let fast = Profile::Pulse { frequency: f }
                    .builtin_factor(B, k, 200)
                    .unwrap_or(f64::NAN);
                assert!(
                    (direct - fast).abs() < 1e-12,
                    "f {f} k {k}: {direct} vs {fast}"
                );
            }
        }
    }

    #[test]
    fn from_parts_fills_defaults_and_rejects_bad_parameters() {
        assert_eq!(
            Profile::from_parts("cosine_ramp", &Params::new()),
            Ok(Profile::CosineRamp {
                ramp_fraction: DEFAULT_RAMP_FRACTION
            })
        );
        assert!(matches!(
            Profile::from_parts("cosine_ramp", &Params::new().with("ramp_fraction", 0.7)),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            Profile::from_parts("pulse", &Params::new().with("amplitude", 0.7)),
            Err(Error::UnknownParameter { .. })
        ));
        assert!(matches!(
            Profile::from_parts("pulse", &Params::new().with("frequency", 0.0)),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            Profile::from_parts("", &Params::new()),
            Err(Error::InvalidName(_))
        ));
        assert!(matches!(
            Profile::from_parts("sinusoidal", &Params::new()),
            Ok(Profile::Custom { .. })
        ));
    }
}
