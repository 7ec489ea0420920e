//! Property tests over arbitrary state sequences (specification §2–8).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback::quality::{fit_batch, ModelConfig, QualityModel};
use creative_feedback::{
    Action, CreativeLoop, Decision, LoopBuilder, Metrics, Mode, Profile, ProfileRegistry,
    ReadState, Snapshot,
};
use creative_feedback_tests::{cases, small_config, wild_state};
use proptest::prelude::*;

fn allowed(from: Mode, to: Mode, recovery_steps: u32) -> bool {
    use Mode::*;
    match (from, to) {
        (_, Emergency) => true,
        (Stable, Stable | Exploring) => true,
        (Exploring, Exploring | Recovering) => true,
        (Recovering, Recovering | Stable) => true,
        (Emergency, Recovering) => true,
        (Exploring | Emergency, Stable) => recovery_steps == 1,
        _ => false,
    }
}

fn action_fits_mode(d: &Decision) -> bool {
    match d.action {
        Action::Maintain => d.mode == Mode::Stable,
        Action::InjectEntropy | Action::ContinueExploration => d.mode == Mode::Exploring,
        Action::EndExploration | Action::Recover => {
            matches!(d.mode, Mode::Recovering | Mode::Stable)
        }
        Action::EmergencyHalt => d.mode == Mode::Emergency,
    }
}

fn metrics_finite(m: &Metrics) -> bool {
    let mut values = vec![
        m.cumulative_gain,
        m.success_rate,
        m.trend.novelty,
        m.trend.aesthetic_score,
    ];
    values.extend(m.aesthetic_baseline);
    values.extend(m.recent.iter().flat_map(|r| [r.mean_gain, r.max_gain]));
    values.extend(m.quality.weights);
    values.extend(
        m.current_exploration
            .iter()
            .flat_map(|c| [c.entropy_factor, c.progress]),
    );
    values.iter().all(|v| v.is_finite())
}

/// The input rules of the specification (§2), written independently of the loop: NaN anywhere
/// and ±∞ anywhere but `lambda_max = +∞` are rejected; lenient mode clamps the rest, strict mode
/// also rejects out-of-range values and a missing novelty or aesthetic score.
fn acceptable(state: &creative_feedback::State, strict: bool) -> bool {
    let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
    let unit = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
    let strict_ok = !strict
        || (state.novelty.is_some()
            && state.aesthetic_score.is_some()
            && unit(state.novelty)
            && unit(state.aesthetic_score)
            && unit(state.volatility)
            && state.lambda_max.is_none_or(|v| v >= 0.0));
    strict_ok
        && finite(state.novelty)
        && finite(state.aesthetic_score)
        && finite(state.volatility)
        && state
            .lambda_max
            .is_none_or(|v| v.is_finite() || v == f64::INFINITY)
        && state.attributes.values().all(|v| match v {
            creative_feedback::AttributeValue::Number(n) => n.is_finite(),
            _ => true,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn every_step_keeps_the_invariants(
        config in small_config(),
        states in prop::collection::vec(wild_state(), 1..400),
    ) {
        let recovery = config.recovery_steps;
        let strict = config.input_mode == creative_feedback::InputMode::Strict;
        let max = config.max_exploration_steps;
        let emergency_lambda = config.emergency_lambda;
        let mut l = CreativeLoop::new(config).unwrap();
        let mut gains = 0.0;
        for state in &states {
            let from = l.mode();
            let steps = l.steps();
            let result = l.update(state);
            // Exactly the states the input rules reject are rejected.
            prop_assert_eq!(result.is_ok(), acceptable(state, strict), "{:?}", state);
            match result {
                Err(rejected) => {
                    prop_assert!(!rejected.fields.is_empty());
                    prop_assert_eq!(l.steps(), steps);
                    prop_assert_eq!(l.mode(), from);
                }
                Ok(d) => {
                    prop_assert!(allowed(from, d.mode, recovery), "{from:?} → {:?}", d.mode);
                    prop_assert!(action_fits_mode(&d), "{d:?}");
                    prop_assert!((0.0..=1.0).contains(&d.entropy_factor));
                    prop_assert!(d.lambda_factor.is_finite());
                    prop_assert!(d.predicted_gain.is_none_or(f64::is_finite));
                    if let Some(e) = &d.exploration {
                        prop_assert!(e.duration <= max && e.k <= e.duration);
                        prop_assert!(e.progress.is_finite());
                    }
                    if let Some(o) = &d.outcome {
                        prop_assert!(o.gain.is_finite());
                        gains += o.gain;
                    }
                    let lambda = state.lambda_max.unwrap_or(0.0);
                    let emergency = state.emergency_override || lambda > emergency_lambda;
                    if emergency && from != Mode::Emergency {
                        prop_assert_eq!(d.action, Action::EmergencyHalt);
                    }
                }
            }
            prop_assert!(metrics_finite(&l.metrics()));
        }
        prop_assert!((l.cumulative_gain() - gains).abs() < 1e-9);
        if l.counters().ended() as usize == l.history().len() {
            let recorded: f64 = l.history().map(|r| r.creative_gain).sum();
            prop_assert!((l.cumulative_gain() - recorded).abs() < 1e-9);
        }
    }

    #[test]
    fn snapshot_and_restore_at_any_step_give_identical_futures(
        config in small_config(),
        states in prop::collection::vec(wild_state(), 2..300),
        cut in 0usize..300,
    ) {
        let cut = cut % states.len();
        let mut original = CreativeLoop::new(config).unwrap();
        for s in &states[..cut] {
            let _ = original.update(s);
        }
        let json = original.snapshot().to_json().unwrap();
        let snapshot = Snapshot::from_json(&json).unwrap();
        prop_assert_eq!(&snapshot, &original.snapshot());
        let mut restored = LoopBuilder::from_snapshot(snapshot).build().unwrap();
        for s in &states[cut..] {
            prop_assert_eq!(original.update(s), restored.update(s));
        }
        prop_assert_eq!(original.metrics(), restored.metrics());
    }

    #[test]
    fn builtin_profiles_stay_within_zero_and_base(
        base in 0.0..=1.0f64,
        total in 1..500u32,
        k in 0..500u32,
        r in 0.001..=0.5f64,
        d in 0.0..50.0f64,
        f in 0.001..50.0f64,
    ) {
        let k = k % (total + 1);
        let registry = ProfileRegistry::new();
        for p in [
            Profile::Constant,
            Profile::CosineRamp { ramp_fraction: r },
            Profile::ExponentialDecay { decay_rate: d },
            Profile::Pulse { frequency: f },
        ] {
            let v = registry.resolve(p).unwrap().factor(base, k, total);
            prop_assert!((-1e-15..=base + 1e-15).contains(&v), "{v} outside [0, {base}]");
        }
    }

    #[test]
    fn incremental_model_equals_a_batch_solve_over_the_window(
        samples in prop::collection::vec((prop::array::uniform6(0.0..=1.0f64), -1.0..=1.0f64), 1..700),
        window in 1usize..120,
        lambda in 0.001..1.0f64,
    ) {
        let mut model = QualityModel::new(ModelConfig { window, regularization: lambda, ..ModelConfig::default() }).unwrap();
        let mut all = Vec::new();
        for (x, y) in samples {
            let f = [x[0], x[1], x[2], x[3], x[4], x[5], 1.0];
            model.add_sample(f, y).unwrap();
            all.push((f, y));
        }
        let from = all.len().saturating_sub(window);
        let batch = fit_batch(&all[from..], lambda, None).unwrap();
        for (a, b) in model.fitted_weights().iter().zip(&batch) {
            prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
}

#[test]
fn a_state_with_every_field_bad_names_them_all() {
    let mut l = CreativeLoop::new(creative_feedback::Config::default()).unwrap();
    let text = r#"{"novelty": NaN, "aesthetic_score": Infinity, "volatility": "x", "lambda_max": -Infinity,
                   "coherence": "weird", "emergency_override": 0, "attributes": {"temperature": -Infinity}}"#;
    let read = ReadState::from_json(text).unwrap();
    let err = l.update_read(&read).unwrap_err();
    let mut fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "aesthetic_score",
            "attributes.temperature",
            "coherence",
            "emergency_override",
            "lambda_max",
            "novelty",
            "volatility"
        ]
    );
    assert_eq!(l.counters().rejected_inputs, 1);
    assert_eq!(l.steps(), 0);
}

/// Any configuration that validation accepts runs: no size, threshold or window it allows can
/// abort on allocation, panic, or loop forever over a simulated stretch of 1,000 steps.
#[test]
fn every_configuration_validation_accepts_runs() {
    use creative_feedback::sim::{run, Host, HostConfig, RunOptions};
    use creative_feedback::Config;
    let sizes = prop_oneof![Just(1u32), Just(2), 1u32..50, Just(10_000), Just(1_000_000)];
    let unit = prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0];
    let strategy = (
        sizes.clone(),
        sizes.clone(),
        sizes.clone(),
        sizes,
        unit.clone(),
        unit,
        1u32..5_000,
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases(64)));
    let ran = std::cell::Cell::new(0u32);
    runner
        .run(
            &strategy,
            |(
                gain_window,
                recent_window,
                trend_window,
                history_capacity,
                threshold,
                low,
                max_steps,
            )| {
                let config = Config {
                    gain_window,
                    recent_window,
                    trend_window,
                    history_capacity,
                    stability_threshold: threshold,
                    novelty_low: low * 0.5,
                    max_exploration_steps: max_steps,
                    min_exploration_steps: 1,
                    recovery_steps: 1,
                    plateau_steps: Some(1),
                    ..Config::default()
                };
                if config.validate().is_err() {
                    return Ok(());
                }
                let mut feedback = CreativeLoop::new(config).unwrap();
                let mut host = Host::new(HostConfig::seeded(3)).unwrap();
                let out = run(
                    &mut feedback,
                    &mut host,
                    1_000,
                    RunOptions::default(),
                    |_| {},
                );
                prop_assert_eq!(feedback.steps(), 1_000);
                drop(out);
                ran.set(ran.get() + 1);
                Ok(())
            },
        )
        .unwrap();
    assert!(
        ran.get() >= cases(64) / 8,
        "only {} configurations were valid",
        ran.get()
    );
    // And the largest sizes of all at once.
    let largest = Config {
        gain_window: 10_000,
        recent_window: 100_000,
        trend_window: 1_000_000,
        history_capacity: 100_000,
        max_exploration_steps: 1_000_000,
        ..Config::default()
    };
    let mut feedback = CreativeLoop::new(largest).unwrap();
    let mut host = Host::new(HostConfig::seeded(3)).unwrap();
    run(
        &mut feedback,
        &mut host,
        1_000,
        RunOptions::default(),
        |_| {},
    );
    assert_eq!(feedback.steps(), 1_000);
}

/// A selector that picks a registered custom profile, an unregistered one, or the default,
/// by the state it sees.
struct Mixed;

impl creative_feedback::ProfileSelector for Mixed {
    fn select(
        &mut self,
        ctx: &creative_feedback::SelectionContext<'_>,
    ) -> creative_feedback::Selection {
        let v = ctx.observation.values;
        if ctx.observation.flag("conversation_stalled") {
            Profile::custom(
                "wobble",
                creative_feedback::Params::new().with("amplitude", 0.5),
            )
            .into()
        } else if v.volatility > 0.5 {
            Profile::custom("nowhere", creative_feedback::Params::new()).into()
        } else {
            ctx.default_choice().into()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    /// Custom profiles and selectors keep the invariants: only registered profiles run, their
    /// factors reach the host clamped to [0, 1], and each unusable choice counts one error.
    #[test]
    fn custom_profiles_and_selectors_keep_the_invariants(
        config in small_config(),
        states in prop::collection::vec(wild_state(), 1..300),
    ) {
        let wobble = |b: f64, k: u32, d: u32, p: &creative_feedback::Params| {
            let a = p.get("amplitude").unwrap_or(0.0);
            b * (1.0 + a * (f64::from(k) * 7.0 / f64::from(d.max(1))).sin()) * 3.0
        };
        let mut l = CreativeLoop::builder(config)
            .profile("wobble", wobble)
            .unwrap()
            .selector(Mixed)
            .build()
            .unwrap();
        let mut unusable = 0u64;
        for state in &states {
            let volatile = state.volatility.is_some_and(|v| v.is_finite() && v > 0.5);
            let stalled = matches!(
                state.attributes.get("conversation_stalled"),
                Some(creative_feedback::AttributeValue::Bool(true))
            );
            let Ok(d) = l.update(state) else { continue };
            prop_assert!((0.0..=1.0).contains(&d.entropy_factor));
            if d.action == Action::InjectEntropy {
                let name = d.exploration.as_ref().map(|e| e.profile.to_string()).unwrap_or_default();
                prop_assert_ne!(name.as_str(), "nowhere");
                unusable += u64::from(!stalled && volatile);
            }
        }
        prop_assert_eq!(l.counters().errors, unusable);
    }
}
