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
        for event in l.drain_events() {
            experiment.record(&event);
        }
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
    assert!(Experiment::new("", vec![arm("a", 1)], 0.1).is_err());
    assert!(Experiment::new("g", vec![], 0.1).is_err());
    assert!(Experiment::new("g", vec![arm("a", 1), arm("a", 1)], 0.1).is_err());
    assert!(Experiment::new("g", vec![arm("a", 0), arm("b", 0)], 0.1).is_err());
    let e = Experiment::new("g", vec![arm("a", 1), arm("b", 3), arm("c", 0)], 0.1).unwrap();
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
