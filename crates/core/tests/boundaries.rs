//! Every threshold of the specification at its exact value, and the ordering and input
//! promises of docs/specification.md and docs/behaviour.md that a rule test does not already
//! pin: "more than" must not become "at least", nor the reverse.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::*;

fn new_loop(config: Config) -> CreativeLoop {
    CreativeLoop::new(config).unwrap()
}

fn step(l: &mut CreativeLoop, s: &State) -> Decision {
    l.update(s).unwrap()
}

#[test]
fn triggers_need_novelty_strictly_beyond_their_thresholds() {
    let c = Config::default();
    let mut l = new_loop(c.clone());
    assert_eq!(
        step(&mut l, &State::new(c.novelty_high, 0.6)).reason,
        Reason::InBand
    );
    assert_eq!(
        step(&mut l, &State::new(c.novelty_low, 0.6)).reason,
        Reason::InBand
    );
    let above = step(&mut l, &State::new(c.novelty_high + 1e-9, 0.6));
    assert_eq!(above.reason, Reason::Momentum);
    let mut l = new_loop(c.clone());
    let below = step(&mut l, &State::new(c.novelty_low - 1e-9, 0.6));
    assert_eq!(below.reason, Reason::Stagnation);
}

#[test]
fn plateau_fires_when_the_counter_reaches_plateau_steps() {
    let mut l = new_loop(Config {
        plateau_steps: Some(3),
        ..Config::default()
    });
    let reasons: Vec<Reason> = (0..4)
        .map(|_| step(&mut l, &State::new(0.5, 0.6)).reason)
        .collect();
    assert_eq!(
        reasons,
        [
            Reason::InBand,
            Reason::InBand,
            Reason::InBand,
            Reason::Plateau
        ]
    );
}

#[test]
fn stability_exactly_at_the_threshold_starts_an_exploration() {
    // stability = 1 − λ/0.5 = 0.75 exactly at λ = 0.125 (binary fractions, so exact).
    let c = Config {
        emergency_lambda: 0.5,
        stability_threshold: 0.75,
        ..Config::default()
    };
    let mut l = new_loop(c.clone());
    let at = step(&mut l, &State::new(0.9, 0.6).with_lambda_max(0.125));
    assert_eq!(at.action, Action::InjectEntropy, "stability 0.75 ≥ 0.75");
    let mut l = new_loop(c);
    let below = step(&mut l, &State::new(0.9, 0.6).with_lambda_max(0.125 + 1e-9));
    assert_eq!(below.reason, Reason::LowStability);
}

#[test]
fn emergencies_start_above_the_threshold_and_end_below_the_exit_ratio() {
    let c = Config::default();
    let mut l = new_loop(c.clone());
    let at = step(
        &mut l,
        &State::new(0.5, 0.6).with_lambda_max(c.emergency_lambda),
    );
    assert_ne!(
        at.action,
        Action::EmergencyHalt,
        "λ = emergency_lambda is not above it"
    );
    let over = step(&mut l, &State::new(0.5, 0.6).with_lambda_max(0.1));
    assert_eq!(over.action, Action::EmergencyHalt);
    let exit = c.emergency_exit_ratio * c.emergency_lambda;
    let still = step(&mut l, &State::new(0.5, 0.6).with_lambda_max(exit));
    assert_eq!(
        still.action,
        Action::EmergencyHalt,
        "λ = exit ratio × threshold still halts"
    );
    let cleared = step(&mut l, &State::new(0.5, 0.6).with_lambda_max(exit - 1e-9));
    assert_eq!(cleared.reason, Reason::EmergencyCleared);
}

#[test]
fn pruning_needs_quality_strictly_below_the_tolerated_baseline() {
    let c = Config {
        prune_grace_steps: 1,
        ..Config::default()
    };
    // Baseline 0.5 (seeded by the trigger step), tolerance 0.8: the line is at 0.4.
    let mut l = new_loop(c.clone());
    step(&mut l, &State::new(0.9, 0.5));
    let at = step(&mut l, &State::new(0.5, 0.4));
    assert_eq!(at.action, Action::ContinueExploration);
    let mut l = new_loop(c);
    step(&mut l, &State::new(0.9, 0.5));
    let below = step(&mut l, &State::new(0.5, 0.4 - 1e-9));
    assert_eq!(below.reason, Reason::Pruned);
}

#[test]
fn success_needs_gain_strictly_above_success_gain() {
    // Trigger (0.75, 0.25): performance 0.5; after-states (1.0, 0.5): performance 0.75. The
    // gain is 0.25 exactly (binary fractions), which is not above a success_gain of 0.25.
    let successes = |success_gain: f64| {
        let mut l = new_loop(Config {
            success_gain,
            max_exploration_steps: 10,
            min_exploration_steps: 10,
            ..Config::default()
        });
        step(&mut l, &State::new(0.75, 0.25));
        for _ in 0..10 {
            step(&mut l, &State::new(1.0, 0.5));
        }
        let record = l.history().last().unwrap().clone();
        assert_eq!(record.creative_gain, 0.25);
        assert_eq!(record.successful, l.counters().successful == 1);
        l.counters().successful
    };
    assert_eq!(successes(0.25), 0);
    assert_eq!(successes(0.25 - 1e-9), 1);
}

#[test]
fn health_degrades_only_with_more_than_the_minimum_explorations() {
    let mut l = new_loop(Config {
        health_min_explorations: 2,
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 1,
        ..Config::default()
    });
    let explore = |l: &mut CreativeLoop| {
        step(l, &State::new(0.9, 0.6));
        for _ in 0..10 {
            step(l, &State::new(0.5, 0.6));
        }
    };
    explore(&mut l);
    explore(&mut l);
    assert_eq!(l.counters().ended(), 2);
    assert!(l.cumulative_gain() < 0.1);
    assert_eq!(
        l.health().status,
        HealthStatus::Healthy,
        "2 is not more than 2"
    );
    explore(&mut l);
    assert_eq!(l.health().reason, Some(HealthReason::LowCumulativeGain));
}

#[test]
fn input_corrections_come_first_in_a_step() {
    let mut l = new_loop(Config::default());
    let d = step(&mut l, &State::new(1.5, 0.6));
    assert_eq!(d.action, Action::InjectEntropy);
    let names: Vec<&str> = l.drain_events().map(|e| e.name()).collect();
    assert_eq!(
        names,
        ["input_corrected", "exploration_started", "mode_changed"]
    );
}

#[test]
fn one_recovery_step_gives_a_single_mode_change_to_stable() {
    let mut l = new_loop(Config {
        recovery_steps: 1,
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        ..Config::default()
    });
    step(&mut l, &State::new(0.9, 0.6));
    l.drain_events().for_each(drop);
    for _ in 0..10 {
        step(&mut l, &State::new(0.5, 0.6));
    }
    let events: Vec<Event> = l.drain_events().collect();
    let changes: Vec<(Mode, Mode)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ModeChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [(Mode::Exploring, Mode::Stable)]);
}

#[test]
fn strict_mode_still_defaults_volatility_and_lambda_silently() {
    let mut l = new_loop(Config {
        input_mode: InputMode::Strict,
        ..Config::default()
    });
    let d = step(&mut l, &State::new(0.5, 0.6));
    assert!(d.warnings.is_empty());
    assert_eq!(l.counters().input_corrections, 0);
    assert!(
        l.update(&State::default()).is_err(),
        "but novelty is required"
    );
}

#[test]
fn the_reader_takes_exactly_64_levels_of_nesting() {
    let nested = |depth: usize| {
        format!(
            r#"{{"novelty": 0.5, "blob": {}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    // Levels are counted below the top-level object: 64 are read, a 65th is refused.
    assert!(ReadState::from_json(&nested(64)).is_ok());
    let err = ReadState::from_json(&nested(65)).unwrap_err();
    assert!(err.to_string().contains("deeper than 64"), "{err}");
}

#[test]
fn steps_in_mode_is_zero_on_entry_and_counts_up() {
    let mut l = new_loop(Config::default());
    let counts: Vec<u64> = (0..3)
        .map(|_| {
            step(&mut l, &State::new(0.5, 0.6));
            l.metrics().steps_in_mode
        })
        .collect();
    assert_eq!(
        counts,
        [1, 2, 3],
        "stable from the start: the first step is its first"
    );
    step(&mut l, &State::new(0.9, 0.6));
    assert_eq!((l.mode(), l.metrics().steps_in_mode), (Mode::Exploring, 0));
    step(&mut l, &State::new(0.5, 0.6));
    assert_eq!(l.metrics().steps_in_mode, 1);
}
