//! The profiles' names, parameters and valid ranges at their edges, their factors against the
//! formulas of specification §6 evaluated with the standard library, and the registry's
//! look-ups.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::f64::consts::PI;

use creative_feedback_profiles::{Error, Params, Profile, ProfileRegistry, ProfileShape};

#[test]
fn names_and_parameters() {
    let cases = [
        (Profile::Constant, "constant", Params::new()),
        (
            Profile::CosineRamp { ramp_fraction: 0.3 },
            "cosine_ramp",
            Params::new().with("ramp_fraction", 0.3),
        ),
        (
            Profile::ExponentialDecay { decay_rate: 1.5 },
            "exponential_decay",
            Params::new().with("decay_rate", 1.5),
        ),
        (
            Profile::Pulse { frequency: 4.0 },
            "pulse",
            Params::new().with("frequency", 4.0),
        ),
        (
            Profile::custom("wobble", Params::new().with("a", 1.0)),
            "wobble",
            Params::new().with("a", 1.0),
        ),
    ];
    for (profile, name, params) in cases {
        assert_eq!(profile.name_str(), name);
        assert_eq!(profile.name().as_str(), name);
        assert_eq!(profile.params(), params, "{name}");
    }
}

#[test]
fn parameters_are_valid_exactly_in_their_ranges() {
    let ok = |p: Profile| p.validate().is_ok();
    assert!(!ok(Profile::CosineRamp { ramp_fraction: 0.0 }));
    assert!(ok(Profile::CosineRamp {
        ramp_fraction: 1e-9
    }));
    assert!(ok(Profile::CosineRamp { ramp_fraction: 0.5 }));
    assert!(!ok(Profile::CosineRamp {
        ramp_fraction: 0.5 + 1e-9
    }));
    assert!(ok(Profile::ExponentialDecay { decay_rate: 0.0 }));
    assert!(ok(Profile::ExponentialDecay { decay_rate: 1e9 }));
    assert!(!ok(Profile::ExponentialDecay { decay_rate: -1e-9 }));
    assert!(!ok(Profile::ExponentialDecay {
        decay_rate: f64::INFINITY
    }));
    assert!(!ok(Profile::ExponentialDecay {
        decay_rate: f64::NAN
    }));
    assert!(!ok(Profile::Pulse { frequency: 0.0 }));
    assert!(ok(Profile::Pulse { frequency: 1e-9 }));
    assert!(!ok(Profile::Pulse { frequency: -1.0 }));
    assert!(!ok(Profile::Pulse {
        frequency: f64::INFINITY
    }));
    let err = Profile::Pulse { frequency: 0.0 }.validate().unwrap_err();
    assert!(err.to_string().contains("frequency"), "{err}");
}

/// Every built-in factor against its formula, computed here with `f64::sin` and `f64::cos`,
/// over a dense grid of progress and parameters.
#[test]
fn factors_follow_their_formulas() {
    let b = 0.7;
    let total = 997;
    for step in 0..=total {
        let p = f64::from(step) / f64::from(total);
        for r in [0.1, 0.3, 0.5] {
            let expected = if p < r {
                b * 0.5 * (1.0 - (PI * p / r).cos())
            } else if p > 1.0 - r {
                b * 0.5 * (1.0 + (PI * (p - 1.0 + r) / r).cos())
            } else {
                b
            };
            let got = Profile::CosineRamp { ramp_fraction: r }
                .builtin_factor(b, step, total)
                .unwrap();
            assert!(
                (got - expected).abs() < 1e-14,
                "ramp r={r} p={p}: {got} vs {expected}"
            );
        }
        for d in [0.0, 0.5, 2.0, 7.0] {
            let expected = b * (0.5 + 0.5 * (-d * p).exp());
            let got = Profile::ExponentialDecay { decay_rate: d }
                .builtin_factor(b, step, total)
                .unwrap();
            assert!((got - expected).abs() < 1e-12, "decay d={d} p={p}");
        }
        for f in [0.25, 1.0, 3.0, 17.3, 250.0] {
            let expected = b * 0.5 * (1.0 + (2.0 * PI * f * p).sin());
            let got = Profile::Pulse { frequency: f }
                .builtin_factor(b, step, total)
                .unwrap();
            // The reference rounds 2πfp before taking its sine: allow for that at large
            // arguments, and nothing more than a few ulps elsewhere.
            let tolerance = 1e-14 + 1e-15 * (2.0 * PI * f * p);
            assert!(
                (got - expected).abs() < tolerance,
                "pulse f={f} p={p}: {got} vs {expected}"
            );
        }
    }
    assert_eq!(
        Profile::custom("x", Params::new()).builtin_factor(b, 1, 2),
        None
    );
}

/// A shape that refuses a missing parameter.
struct NeedsAmplitude;

impl ProfileShape for NeedsAmplitude {
    fn factor(&self, base: f64, _: u32, _: u32, params: &Params) -> f64 {
        base * params.get("amplitude").unwrap_or(0.0)
    }

    fn check_params(&self, params: &Params) -> Result<(), String> {
        params
            .get("amplitude")
            .map(drop)
            .ok_or_else(|| "needs an amplitude".to_owned())
    }
}

#[test]
fn the_registry_knows_its_profiles_and_checks_their_parameters() {
    let mut registry = ProfileRegistry::new();
    registry.register("wave", NeedsAmplitude).unwrap();
    registry
        .register("plain", |b: f64, _: u32, _: u32, _: &Params| b)
        .unwrap();
    for name in ["constant", "pulse", "wave", "plain"] {
        assert!(registry.contains(name), "{name}");
    }
    assert!(!registry.contains("nowhere"));
    assert!(!ProfileRegistry::new().contains("wave"));
    assert!(matches!(
        registry.register("pulse", NeedsAmplitude),
        Err(Error::NameTaken(_))
    ));
    assert!(registry.register("has space", NeedsAmplitude).is_err());
    assert!(registry.register("", NeedsAmplitude).is_err());
    assert!(registry
        .register("dash-and_underscore1", NeedsAmplitude)
        .is_ok());

    let missing = registry.resolve(Profile::custom("wave", Params::new()));
    assert!(
        matches!(missing, Err(Error::CustomParameters { .. })),
        "{missing:?}"
    );
    let given = registry
        .resolve(Profile::custom(
            "wave",
            Params::new().with("amplitude", 0.5),
        ))
        .unwrap();
    assert_eq!(given.factor(0.8, 1, 10), 0.4);
    // The default check accepts any parameters.
    assert!(registry
        .resolve(Profile::custom(
            "plain",
            Params::new().with("anything", 1.0)
        ))
        .is_ok());

    let a = registry.resolve(Profile::Pulse { frequency: 3.0 }).unwrap();
    let b = registry.resolve(Profile::Pulse { frequency: 3.0 }).unwrap();
    let c = registry.resolve(Profile::Pulse { frequency: 4.0 }).unwrap();
    assert!(a == b && a != c);
    assert_eq!(
        format!("{a:?}"),
        format!("{:?}", Profile::Pulse { frequency: 3.0 })
    );
    let listed = format!("{registry:?}");
    assert!(
        listed.contains("wave") && listed.contains("plain"),
        "{listed}"
    );
}
