//! Gradual rollout and A/B experiments wrapped around a real loop.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{
    Action, Config, ConstantSelector, CreativeLoop, Decision, NoPredictor, State,
};
use creative_feedback_rollout::{
    Arm, ArmPolicy, Comparison, Experiment, Rollout, OUTSIDE_PREDICTION,
};

fn stream(len: u64, users: u64) -> Vec<State> {
    (0..len)
        .map(|i| {
            let phase = i % 400;
            let novelty = match phase {
                0 => 0.9,
                150 => 0.1,
                _ => 0.45 + 0.05 * ((i as f64) * 0.37).sin(),
            };
            let aesthetic = if (250..260).contains(&phase) {
                0.2
            } else {
                0.6
            };
            State::new(novelty, aesthetic)
                .with_volatility(if phase == 0 && i % 800 == 0 { 0.9 } else { 0.1 })
                .with_lambda_max(if (390..393).contains(&phase) {
                    0.2
                } else {
                    0.005
                })
                .with_attribute("user_id", format!("user-{}", (i / 37) % users))
        })
        .collect()
}

fn run(l: &mut CreativeLoop, states: &[State]) -> Vec<Decision> {
    states
        .iter()
        .map(|s| {
            let d = l.update(s).unwrap();
            l.drain_events().for_each(drop);
            d
        })
        .collect()
}

fn config() -> Config {
    let mut c = Config::default();
    c.quality.min_samples = 3;
    c
}

#[test]
fn zero_percent_is_the_plain_constant_loop_and_reports_a_fixed_prediction() {
    let states = stream(20_000, 50);
    let rollout = Rollout::new("g", 0).unwrap();
    let mut wrapped = rollout
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    let mut plain = CreativeLoop::builder(config())
        .selector(ConstantSelector)
        .predictor(NoPredictor)
        .build()
        .unwrap();
    let a = run(&mut wrapped, &states);
    let b = run(&mut plain, &states);
    let mut injections = 0;
    for (x, y) in a.iter().zip(&b) {
        let same = Decision {
            predicted_gain: None,
            ..x.clone()
        };
        assert_eq!(&same, y);
        if x.action == Action::InjectEntropy {
            injections += 1;
            assert_eq!(x.predicted_gain, Some(OUTSIDE_PREDICTION));
        }
    }
    assert!(injections > 20);
}

#[test]
fn hundred_percent_is_the_adaptive_loop() {
    let states = stream(20_000, 50);
    let rollout = Rollout::new("g", 100).unwrap();
    let mut wrapped = rollout
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    let mut adaptive = CreativeLoop::new(config()).unwrap();
    assert_eq!(run(&mut wrapped, &states), run(&mut adaptive, &states));
    assert!(adaptive.model().is_trained());
}

#[test]
fn the_percentage_changes_at_run_time_from_another_thread() {
    let rollout = Rollout::new("g", 0).unwrap();
    let handle = rollout.handle();
    let mut l = rollout
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    let trigger = State::new(0.1, 0.6).with_attribute("user_id", "u1");
    let d = l.update(&trigger).unwrap();
    assert_eq!(
        d.exploration.map(|e| e.profile.to_string()),
        Some("constant".into())
    );
    std::thread::spawn(move || handle.set_percent(100).unwrap())
        .join()
        .unwrap();
    assert_eq!(rollout.percent(), 100);
    assert!(rollout.set_percent(101).is_err());
    let mut fresh = rollout
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    let d = fresh.update(&trigger).unwrap();
    assert_eq!(
        d.exploration.map(|e| e.profile.to_string()),
        Some("pulse".into())
    );
}

#[test]
fn a_user_without_id_is_the_default_user() {
    let rollout = Rollout::new("g", 37).unwrap();
    let mut l = rollout
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    let d = l.update(&State::new(0.1, 0.6)).unwrap();
    let inside = rollout.is_enabled_for("default");
    let profile = d
        .exploration
        .map(|e| e.profile.to_string())
        .unwrap_or_default();
    assert_eq!(profile == "pulse", inside);
}

#[test]
fn an_experiment_attributes_outcomes_to_arms_and_compares_them() {
    let experiment = Experiment::control_treatment("profiles-ab").unwrap();
    let mut l = experiment
        .install(CreativeLoop::builder(config()))
        .build()
        .unwrap();
    for s in stream(60_000, 200) {
        let d = l.update(&s).unwrap();
        if let Some(e) = &d.exploration {
            if d.action == Action::InjectEntropy {
                let arm =
                    experiment.arm_for(s.attributes.get("user_id").map_or(
                        "default",
                        |v| match v {
                            creative_feedback_core::AttributeValue::Text(t) => t.as_str(),
                            _ => "default",
                        },
                    ));
                if arm.policy == ArmPolicy::Constant {
                    assert_eq!(e.profile.as_str(), "constant");
                }
            }
        }
        l.drain_events().for_each(drop);
    }
    let report = experiment.report();
    let counted: u64 = report.arms.iter().map(|a| a.stats.explorations).sum();
    let c = l.counters();
    assert_eq!(
        counted,
        c.completed + c.pruned,
        "every non-aborted ending is attributed"
    );
    assert!(report.arms.iter().all(|a| a.stats.explorations > 2));
    assert!(matches!(
        report.comparisons[0].comparison,
        Comparison::Welch { .. }
    ));
    #[cfg(feature = "serde")]
    {
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"treatment\"") && json.contains("p_value"));
    }
}

#[test]
fn experiments_refuse_bad_arms() {
    let arm = |n: &str, w| Arm::new(n, w, ArmPolicy::Constant);
    assert!(Experiment::new("", vec![arm("a", 1)]).is_err());
    assert!(Experiment::new("g", vec![]).is_err());
    assert!(Experiment::new("g", vec![arm("a", 1), arm("a", 1)]).is_err());
    assert!(Experiment::new("g", vec![arm("a", 0), arm("b", 0)]).is_err());
    let e = Experiment::new("g", vec![arm("a", 1), arm("b", 3), arm("c", 0)]).unwrap();
    let in_c = (0..10_000)
        .filter(|i| e.arm_for(&format!("u{i}")).name == "c")
        .count();
    assert_eq!(in_c, 0, "an arm of weight 0 gets nobody");
    let report = e.report();
    assert!(report
        .comparisons
        .iter()
        .all(|c| matches!(c.comparison, Comparison::InsufficientData { .. })));
}

/// Eight loops on eight threads share one experiment and one rollout: every arm's tally equals
/// the explorations that carried that arm, as the loops' own events say.
#[test]
fn one_experiment_and_one_rollout_serve_eight_loops_on_eight_threads() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use creative_feedback_core::{Event, OutcomeKind};

    let experiment = Experiment::control_treatment("shared-ab").unwrap();
    let rollout = Rollout::new("shared-rollout", 50).unwrap();
    // (arm or side) → (ended explorations that count, sum of their gains), from the events.
    let seen: Mutex<BTreeMap<String, (u64, f64)>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let (experiment, rollout, seen) = (&experiment, &rollout, &seen);
            scope.spawn(move || {
                let mut with_arms = experiment
                    .install(CreativeLoop::builder(config()))
                    .build()
                    .unwrap();
                let mut with_rollout = rollout
                    .install(CreativeLoop::builder(config()))
                    .build()
                    .unwrap();
                let states = stream(20_000 + thread * 1_000, 50 + thread);
                for s in &states {
                    for l in [&mut with_arms, &mut with_rollout] {
                        let _ = l.update(s).unwrap();
                        for event in l.drain_events() {
                            if let Event::ExplorationEnded {
                                tag: Some(tag),
                                outcome,
                                gain,
                                ..
                            } = event
                            {
                                if outcome != OutcomeKind::Aborted {
                                    let mut seen = seen.lock().unwrap();
                                    let e = seen.entry(tag.to_string()).or_default();
                                    e.0 += 1;
                                    e.1 += gain;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    let seen = seen.into_inner().unwrap();
    let report = experiment.report();
    for arm in &report.arms {
        let (n, sum) = seen[&arm.arm.name];
        assert_eq!(arm.stats.explorations, n, "arm {}", arm.arm.name);
        let mean = arm.stats.mean_gain.unwrap();
        assert!((mean - sum / n as f64).abs() < 1e-9, "arm {}", arm.arm.name);
    }
    let sides = rollout.report();
    for (name, stats) in [("inside", sides.inside), ("outside", sides.outside)] {
        let (n, sum) = seen[name];
        assert!(n > 10, "{name} saw {n} explorations");
        assert_eq!(stats.explorations, n, "{name}");
        assert!((stats.mean_gain.unwrap() - sum / n as f64).abs() < 1e-9);
    }
}
