//! `update_into` with one reused decision answers exactly as `update` does, and the quality
//! gate's draw lets a share of refusal episodes through, not all or none.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::*;

/// Stable stretches, triggers of every kind, prunes, completions, emergencies, clamped and
/// rejected states: every path that writes a decision.
fn stream() -> Vec<State> {
    (0..6_000u32)
        .map(|i| {
            let phase = i % 500;
            let wobble = (f64::from(i) * 0.37).sin();
            let novelty = match phase {
                0 => 0.9,
                150 => 0.1,
                300 => 1.3,
                _ => 0.45 + 0.05 * wobble,
            };
            let aesthetic = if (200..215).contains(&phase) {
                0.2
            } else {
                0.6
            };
            let lambda = if (450..455).contains(&phase) {
                0.2
            } else {
                0.004
            };
            let mut s = State::new(novelty, aesthetic)
                .with_volatility(if phase == 0 && i % 1_000 == 0 {
                    0.9
                } else {
                    0.1
                })
                .with_lambda_max(lambda);
            if phase == 77 {
                s.novelty = Some(f64::NAN);
            }
            s
        })
        .collect()
}

#[test]
fn a_reused_decision_is_overwritten_exactly() {
    let config = Config {
        max_exploration_steps: 40,
        min_exploration_steps: 10,
        recovery_steps: 3,
        plateau_steps: Some(60),
        ..Config::default()
    };
    let mut owned = CreativeLoop::new(config.clone()).unwrap();
    let mut reusing = CreativeLoop::new(config).unwrap();
    let mut decision = Decision::default();
    let mut actions = std::collections::BTreeSet::new();
    for (i, s) in stream().iter().enumerate() {
        let expected = owned.update(s);
        let got = reusing.update_into(s, &mut decision);
        match expected {
            Ok(d) => {
                assert!(got.is_ok(), "step {i}");
                assert_eq!(decision, d, "step {i}");
                actions.insert(d.action.as_str());
            }
            Err(e) => assert_eq!(got, Err(e), "step {i}"),
        }
    }
    assert_eq!(
        actions.len(),
        Action::ALL.len(),
        "every action was written: {actions:?}"
    );
}

#[test]
fn the_gate_lets_a_share_of_episodes_through() {
    let mut config = Config::default();
    config.quality.feature_weights = Some(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5]);
    config.quality.min_predicted_gain = Some(0.0);
    config.quality.gate_exploration_rate = 0.5;
    config.max_exploration_steps = 10;
    config.min_exploration_steps = 10;
    config.recovery_steps = 1;
    let mut l = CreativeLoop::new(config).unwrap();
    let (mut through, mut refused) = (0u32, 0u32);
    for _ in 0..400 {
        // Each trigger after an in-band step starts a new refusal episode.
        let d = l.update(&State::new(0.9, 0.6)).unwrap();
        match d.action {
            Action::InjectEntropy => {
                through += 1;
                for _ in 0..10 {
                    l.update(&State::new(0.5, 0.6)).unwrap();
                }
            }
            _ => refused += 1,
        }
        l.update(&State::new(0.5, 0.6)).unwrap();
    }
    assert!(
        through > 100 && refused > 100,
        "{through} through, {refused} refused"
    );
}

/// One decision reused by two loops in turn (whose explorations have different profiles) is
/// still overwritten exactly: a continuing step never keeps the other loop's profile.
#[test]
fn a_decision_shared_by_two_loops_is_overwritten_exactly() {
    let config = Config {
        max_exploration_steps: 20,
        min_exploration_steps: 20,
        ..Config::default()
    };
    let mut loops = [
        CreativeLoop::new(config.clone()).unwrap(),
        CreativeLoop::new(config.clone()).unwrap(),
    ];
    let mut owned = [
        CreativeLoop::new(config.clone()).unwrap(),
        CreativeLoop::new(config).unwrap(),
    ];
    // Loop 0 explores with pulse (stagnation), loop 1 with constant (momentum).
    let triggers = [State::new(0.1, 0.6), State::new(0.9, 0.6)];
    let mut decision = Decision::default();
    for step in 0..30 {
        for i in 0..2 {
            let state = if step == 0 {
                &triggers[i]
            } else {
                &State::new(0.5, 0.6)
            };
            let expected = owned[i].update(state).unwrap();
            loops[i].update_into(state, &mut decision).unwrap();
            assert_eq!(decision, expected, "loop {i}, step {step}");
        }
    }
}

/// The step that ends an exploration reports where it ended: k and k / duration.
#[test]
fn the_end_step_reports_its_progress() {
    let mut l = CreativeLoop::new(Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        prune_grace_steps: 2,
        ..Config::default()
    })
    .unwrap();
    l.update(&State::new(0.9, 0.6)).unwrap();
    l.update(&State::new(0.5, 0.6)).unwrap();
    l.update(&State::new(0.5, 0.6)).unwrap();
    let end = l.update(&State::new(0.5, 0.1)).unwrap();
    assert_eq!(end.reason, Reason::Pruned);
    let info = end.exploration.unwrap();
    assert_eq!((info.k, info.duration), (3, 10));
    assert_eq!(info.progress, 0.3);
}
