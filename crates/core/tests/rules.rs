//! One or more tests per numbered rule of specification §4–8.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::*;

fn calm() -> State {
    State::new(0.5, 0.6)
}

fn step(l: &mut CreativeLoop, s: &State) -> Decision {
    l.update(s).expect("valid state")
}

fn new_loop(config: Config) -> CreativeLoop {
    CreativeLoop::new(config).expect("valid config")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Starts an exploration with a momentum trigger and returns its decision.
fn start(l: &mut CreativeLoop, novelty: f64) -> Decision {
    let d = step(l, &State::new(novelty, 0.6));
    assert_eq!(d.action, Action::InjectEntropy);
    d
}

// ---- Rule 1 and 2: emergencies -------------------------------------------------------------

#[test]
fn emergency_entry_on_lambda_counts_once_per_entry() {
    let mut l = new_loop(Config::default());
    step(&mut l, &calm());
    let hot = calm().with_lambda_max(0.09);
    let d = step(&mut l, &hot);
    assert_eq!(
        (d.action, d.reason, d.mode),
        (
            Action::EmergencyHalt,
            Reason::EmergencyLambda,
            Mode::Emergency
        )
    );
    assert_eq!(d.lambda_factor, 0.5);
    // Still above the exit level (0.5 × 0.08 = 0.04): halted, not counted again.
    for lambda in [0.09, 0.05, 0.04] {
        let d = step(&mut l, &calm().with_lambda_max(lambda));
        assert_eq!(d.action, Action::EmergencyHalt);
    }
    assert_eq!(l.counters().emergency_stops, 1);
    let d = step(&mut l, &calm().with_lambda_max(0.039));
    assert_eq!(
        (d.action, d.reason, d.mode),
        (Action::Recover, Reason::EmergencyCleared, Mode::Recovering)
    );
    // A second entry counts again.
    step(&mut l, &calm().with_lambda_max(0.5));
    assert_eq!(l.counters().emergency_stops, 2);
}

#[test]
fn emergency_override_wins_in_every_mode() {
    let mut l = new_loop(Config::default());
    let d = step(&mut l, &calm().with_emergency_override(true));
    assert_eq!(d.reason, Reason::EmergencyOverride);
    let d = step(&mut l, &calm().with_emergency_override(true));
    assert_eq!(
        (d.action, d.reason),
        (Action::EmergencyHalt, Reason::EmergencyOverride)
    );
    let d = step(&mut l, &calm());
    assert_eq!(d.reason, Reason::EmergencyCleared);
    // In recovery: the override enters emergency again and discards the recovery.
    let d = step(&mut l, &calm().with_emergency_override(true));
    assert_eq!(d.mode, Mode::Emergency);
    assert_eq!(l.counters().emergency_stops, 2);
}

#[test]
fn emergency_aborts_an_exploration_with_its_outcome_and_does_not_train() {
    let mut l = new_loop(Config::default());
    start(&mut l, 0.85);
    step(&mut l, &State::new(0.9, 0.7));
    let d = step(&mut l, &State::new(0.8, 0.5).with_lambda_max(f64::INFINITY));
    assert_eq!(d.action, Action::EmergencyHalt);
    let outcome = d.outcome.expect("aborted outcome");
    assert_eq!(outcome.kind, OutcomeKind::Aborted);
    assert_eq!(outcome.entropy_steps, 2);
    let info = d.exploration.expect("exploration info");
    assert_eq!((info.k, info.duration), (2, 200));
    // After states: k=1 (0.9, 0.7) and the halting step (0.8, 0.5); trigger 0.85/0.6.
    let expected = (0.8 + 0.65) / 2.0 - 0.725;
    assert!(close(outcome.gain, expected));
    assert_eq!(l.counters().aborted, 1);
    assert_eq!(l.model().samples_seen(), 0);
    assert!(close(l.cumulative_gain(), expected));
    assert_eq!(d.warnings.len(), 1, "+inf lambda_max is reported");
}

// ---- Rule 3: stable ------------------------------------------------------------------------

#[test]
fn baseline_is_seeded_then_averaged_on_stable_steps() {
    let mut l = new_loop(Config::default());
    step(&mut l, &State::new(0.5, 0.4));
    assert_eq!(l.metrics().aesthetic_baseline, Some(0.4));
    step(&mut l, &State::new(0.5, 0.8));
    assert!(close(
        l.metrics().aesthetic_baseline.unwrap_or(0.0),
        0.95 * 0.4 + 0.05 * 0.8
    ));
}

#[test]
fn triggers_fire_in_order_momentum_stagnation_plateau() {
    let mut l = new_loop(Config::default());
    assert_eq!(
        step(&mut l, &State::new(0.71, 0.6)).reason,
        Reason::Momentum
    );
    let mut l = new_loop(Config::default());
    assert_eq!(
        step(&mut l, &State::new(0.19, 0.6)).reason,
        Reason::Stagnation
    );
    let mut l = new_loop(Config::default());
    for _ in 0..100 {
        let d = step(&mut l, &calm());
        assert_eq!((d.action, d.reason), (Action::Maintain, Reason::InBand));
    }
    let d = step(&mut l, &calm());
    assert_eq!(
        (d.action, d.reason),
        (Action::InjectEntropy, Reason::Plateau),
        "101st stable step"
    );
    // A plateau in the comfortable band gets the cosine ramp, which starts at zero entropy.
    assert_eq!(
        d.exploration.map(|e| e.profile.to_string()),
        Some("cosine_ramp".into())
    );
    assert_eq!(d.entropy_factor, 0.0);
}

#[test]
fn plateau_can_be_turned_off() {
    let mut l = new_loop(Config {
        plateau_steps: None,
        ..Config::default()
    });
    for _ in 0..500 {
        assert_eq!(step(&mut l, &calm()).reason, Reason::InBand);
    }
}

#[test]
fn refused_trigger_resets_the_plateau_counter() {
    let mut l = new_loop(Config {
        plateau_steps: Some(3),
        ..Config::default()
    });
    step(&mut l, &calm());
    step(&mut l, &calm());
    let d = step(&mut l, &State::new(0.9, 0.6).with_lambda_max(0.03));
    assert_eq!(d.reason, Reason::LowStability);
    for _ in 0..3 {
        assert_eq!(step(&mut l, &calm()).reason, Reason::InBand);
    }
    assert_eq!(step(&mut l, &calm()).reason, Reason::Plateau);
}

#[test]
fn low_stability_blocks_and_counts_once_per_episode() {
    let mut l = new_loop(Config::default());
    // stability = 1 − 0.03/0.08 = 0.625 < 0.8.
    let shaky = State::new(0.9, 0.6).with_lambda_max(0.03);
    for _ in 0..5 {
        let d = step(&mut l, &shaky);
        assert_eq!(
            (d.action, d.reason),
            (Action::Maintain, Reason::LowStability)
        );
        assert_eq!(d.predicted_gain, None);
    }
    assert_eq!(l.counters().refused_low_stability, 1);
    step(&mut l, &calm());
    step(&mut l, &shaky);
    assert_eq!(l.counters().refused_low_stability, 2);
    // Exactly at the threshold is stable enough: 1 − 0.016/0.08 = 0.8.
    let d = step(&mut l, &State::new(0.9, 0.6).with_lambda_max(0.016));
    assert_eq!(d.action, Action::InjectEntropy);
}

// ---- §5: starting an exploration -----------------------------------------------------------

#[test]
fn base_factor_and_duration_follow_the_start_formula() {
    let mut l = new_loop(Config::default());
    let d = start(&mut l, 0.85);
    // b0 = 0.64, quality_mod = 1.05, diversity = 0.75 → b = 0.64·1.05·0.875.
    let b = 0.64 * 1.05 * 0.875;
    assert!(close(d.entropy_factor, b));
    assert!(close(d.lambda_factor, 1.0 + 0.5 * b));
    let info = d.exploration.expect("info");
    assert_eq!((info.k, info.duration, info.progress), (0, 200, 0.0));
    assert_eq!(d.mode, Mode::Exploring);
}

#[test]
fn base_factor_is_clamped() {
    let mut l = new_loop(Config::default());
    // novelty 0, aesthetic 0: b0 = 0.3, qm = 0.75, diversity 0.4 → 0.1575, pulse shape.
    let d = step(&mut l, &State::new(0.0, 0.0));
    assert_eq!(
        d.exploration.as_ref().map(|e| e.profile.to_string()),
        Some("pulse".into())
    );
    let rec_factor = {
        // The recorded base factor (before adjustment) is visible once the exploration ends.
        let mut c = 0;
        while l.mode() == Mode::Exploring && c < 300 {
            step(&mut l, &State::new(0.0, 0.0));
            c += 1;
        }
        l.history().last().map(|r| r.entropy_factor)
    };
    assert!(close(rec_factor.unwrap_or(0.0), 0.3 * 0.75 * 0.7));
}

#[test]
fn duration_is_clamped_to_min_and_max() {
    let cases = [
        (Config::default(), 0.1, 120),
        (Config::default(), 0.85, 200),
        (
            Config {
                max_exploration_steps: 50,
                ..Config::default()
            },
            0.1,
            50,
        ),
        (
            Config {
                min_exploration_steps: 150,
                ..Config::default()
            },
            0.1,
            150,
        ),
    ];
    for (config, novelty, expected) in cases {
        let mut l = new_loop(config);
        let d = step(&mut l, &State::new(novelty, 0.6));
        assert_eq!(
            d.exploration.map(|e| e.duration),
            Some(expected),
            "novelty {novelty}"
        );
    }
}

// ---- Rule 4: exploring ---------------------------------------------------------------------

#[test]
fn an_exploration_of_duration_d_spans_d_plus_one_decisions() {
    let config = Config {
        max_exploration_steps: 12,
        min_exploration_steps: 12,
        ..Config::default()
    };
    let mut l = new_loop(config);
    start(&mut l, 0.85);
    for k in 1..12 {
        let d = step(&mut l, &State::new(0.8, 0.6));
        assert_eq!(d.action, Action::ContinueExploration);
        assert_eq!(d.reason, Reason::Exploring);
        let info = d.exploration.expect("info");
        assert_eq!(info.k, k);
        assert!(close(info.progress, f64::from(k) / 12.0));
    }
    let d = step(&mut l, &State::new(0.8, 0.6));
    assert_eq!(
        (d.action, d.reason, d.mode),
        (Action::EndExploration, Reason::Completed, Mode::Recovering)
    );
    assert_eq!(
        d.outcome.map(|o| (o.kind, o.entropy_steps)),
        Some((OutcomeKind::Completed, 12))
    );
    assert_eq!(d.exploration.map(|e| e.k), Some(12));
    assert_eq!(d.lambda_factor, 0.9);
    assert_eq!(d.entropy_factor, 0.0);
}

#[test]
fn pruning_waits_for_the_grace_steps() {
    let mut l = new_loop(Config::default());
    start(&mut l, 0.85); // baseline 0.6 → prune below 0.48
    for _ in 1..5 {
        let d = step(&mut l, &State::new(0.8, 0.1));
        assert_eq!(d.action, Action::ContinueExploration);
    }
    let d = step(&mut l, &State::new(0.8, 0.47));
    assert_eq!(
        (d.action, d.reason),
        (Action::EndExploration, Reason::Pruned)
    );
    assert_eq!(
        d.outcome.map(|o| (o.kind, o.entropy_steps)),
        Some((OutcomeKind::Pruned, 5))
    );
    assert_eq!(l.counters().pruned, 1);
}

// ---- Rule 5: recovering --------------------------------------------------------------------

#[test]
fn recovery_lasts_recovery_steps_counting_the_entering_step() {
    let config = Config {
        max_exploration_steps: 10,
        recovery_steps: 4,
        ..Config::default()
    };
    let mut l = new_loop(config);
    start(&mut l, 0.85);
    for _ in 1..10 {
        step(&mut l, &calm());
    }
    let d = step(&mut l, &calm());
    assert_eq!(
        (d.action, d.mode),
        (Action::EndExploration, Mode::Recovering)
    );
    let modes: Vec<_> = (0..3)
        .map(|_| step(&mut l, &calm()))
        .map(|d| (d.action, d.mode))
        .collect();
    assert_eq!(
        modes,
        [
            (Action::Recover, Mode::Recovering),
            (Action::Recover, Mode::Recovering),
            (Action::Recover, Mode::Stable),
        ]
    );
    // The next step is stable and may trigger at once.
    assert_eq!(
        step(&mut l, &State::new(0.9, 0.6)).action,
        Action::InjectEntropy
    );
}

#[test]
fn one_step_recovery_returns_to_stable_on_the_end_step() {
    let mut l = new_loop(Config {
        recovery_steps: 1,
        max_exploration_steps: 10,
        ..Config::default()
    });
    start(&mut l, 0.85);
    for _ in 1..10 {
        step(&mut l, &calm());
    }
    let d = step(&mut l, &calm());
    assert_eq!((d.action, d.mode), (Action::EndExploration, Mode::Stable));
}

// ---- §6: profiles --------------------------------------------------------------------------

#[test]
fn default_selector_picks_by_volatility_then_novelty() {
    let cases = [
        (
            State::new(0.9, 0.6).with_volatility(0.8),
            "exponential_decay",
        ),
        (State::new(0.1, 0.6), "pulse"),
        (State::new(0.9, 0.6), "constant"),
    ];
    for (state, expected) in cases {
        let mut l = new_loop(Config::default());
        let d = step(&mut l, &state);
        assert_eq!(
            d.exploration.map(|e| e.profile.to_string()),
            Some(expected.to_string())
        );
    }
    // The parameters follow the selector's formulas: d = 1 + 3·volatility, f = 2 + 3·(1 − n);
    // an emergency ends each exploration so that its record (with the profile) is kept.
    let chosen = |state: State| {
        let mut l = new_loop(Config::default());
        step(&mut l, &state);
        step(&mut l, &State::new(0.5, 0.6).with_lambda_max(1.0));
        l.history().last().map(|r| r.profile.clone())
    };
    assert_eq!(
        chosen(State::new(0.9, 0.6).with_volatility(0.8)),
        Some(Profile::ExponentialDecay {
            decay_rate: 1.0 + 3.0 * 0.8
        })
    );
    assert_eq!(
        chosen(State::new(0.1, 0.6)),
        Some(Profile::Pulse {
            frequency: 2.0 + 3.0 * (1.0 - 0.1)
        })
    );
}

struct Named(&'static str);
impl ProfileSelector for Named {
    fn select(&mut self, _: &SelectionContext<'_>) -> Selection {
        Profile::custom(self.0, Params::new()).into()
    }
}

#[test]
fn unregistered_selector_choice_falls_back_to_default_and_counts_an_error() {
    let mut l = CreativeLoop::builder(Config::default())
        .selector(Named("nope"))
        .build()
        .unwrap();
    let d = step(&mut l, &State::new(0.1, 0.6));
    assert_eq!(
        d.exploration.map(|e| e.profile.to_string()),
        Some("pulse".into())
    );
    assert_eq!(l.counters().errors, 1);
}

#[test]
fn custom_profile_output_is_clamped_and_non_finite_replaced_by_base() {
    let mut l = CreativeLoop::builder(Config {
        max_exploration_steps: 10,
        ..Config::default()
    })
    .profile(
        "wild",
        |base: f64, step: u32, _: u32, _: &Params| match step {
            0 => 5.0,
            1 => -3.0,
            2 => f64::NAN,
            _ => base,
        },
    )
    .unwrap()
    .selector(Named("wild"))
    .build()
    .unwrap();
    let d0 = step(&mut l, &State::new(0.85, 0.6));
    assert_eq!(d0.entropy_factor, 1.0);
    assert_eq!(step(&mut l, &calm()).entropy_factor, 0.0);
    let d2 = step(&mut l, &calm());
    assert!(close(d2.entropy_factor, 0.64 * 1.05 * 0.875));
    assert_eq!(l.counters().errors, 1);
}

// ---- §7: quality model ---------------------------------------------------------------------

fn short(config: Config) -> Config {
    Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 1,
        ..config
    }
}

/// Runs one full exploration from a momentum trigger; returns the end decision.
fn run_exploration(l: &mut CreativeLoop, after: &State) -> Decision {
    run_exploration_from(l, &State::new(0.85, 0.6), after)
}

fn run_exploration_from(l: &mut CreativeLoop, trigger: &State, after: &State) -> Decision {
    step(l, trigger);
    let mut last = None;
    for _ in 0..20 {
        let d = step(l, after);
        if d.action == Action::EndExploration {
            last = Some(d);
            break;
        }
    }
    last.expect("exploration ended")
}

#[test]
fn gain_is_mean_of_last_ten_after_states_minus_trigger() {
    let mut l = new_loop(short(Config::default()));
    step(&mut l, &State::new(0.85, 0.6));
    let mut perfs = Vec::new();
    let mut end = None;
    for i in 1..=10 {
        let s = State::new(0.5 + 0.02 * f64::from(i), 0.6);
        perfs.push(0.5 * (0.5 + 0.02 * f64::from(i)) + 0.3);
        end = Some(step(&mut l, &s));
    }
    let outcome = end.and_then(|d| d.outcome).expect("outcome");
    let expected = perfs.iter().sum::<f64>() / 10.0 - 0.725;
    assert!(close(outcome.gain, expected));
}

#[test]
fn completed_and_pruned_explorations_train_the_model_with_the_trigger_features() {
    let mut l = new_loop(short(Config::default()));
    let end = run_exploration(&mut l, &calm());
    assert_eq!(l.model().samples_seen(), 1);
    let record = l.history().last().expect("record").clone();
    let b = 0.64 * 1.05 * 0.875;
    assert_eq!(record.features, [0.85, 0.6, 0.0, b, 1.0, 0.0, 1.0]);
    assert_eq!(Some(record.creative_gain), end.outcome.map(|o| o.gain));
    let sample = l.model().window_samples().next().expect("sample");
    assert_eq!(sample.features, record.features);
}

#[test]
fn model_predicts_after_min_samples_and_adjusts_the_factor() {
    let mut config = short(Config::default());
    config.quality.min_samples = 3;
    let mut l = new_loop(config);
    let trigger = State::new(0.85, 0.0);
    for _ in 0..3 {
        // gain = 1.0 − 0.425 = 0.575 each time
        let d = run_exploration_from(&mut l, &trigger, &State::new(1.0, 1.0));
        assert!(d.outcome.is_some_and(|o| close(o.gain, 0.575)));
    }
    assert!(l.model().can_predict());
    let d = step(&mut l, &trigger);
    let p = d.predicted_gain.expect("prediction");
    assert!(p > 0.5 && p < 0.58, "p = {p}");
    // p > 0.5 scales b by 1.2 (within [0.1, 0.9]).
    assert!(close(d.entropy_factor, 0.64 * 0.75 * 0.875 * 1.2));
}

#[test]
fn prior_weights_predict_from_the_start() {
    let mut config = Config::default();
    config.quality.feature_weights = Some(vec![0.3, 0.4, -0.2, 0.5, 0.1, 0.05]);
    let mut l = new_loop(config);
    let d = step(&mut l, &State::new(0.85, 0.6));
    let b = 0.64 * 1.05 * 0.875;
    let p: f64 = 0.3 * 0.85 + 0.4 * 0.6 + 0.5 * b + 0.1 * 1.0;
    assert!(close(d.predicted_gain.unwrap_or(0.0), p.min(1.0)));
}

#[test]
fn gate_refuses_low_predictions_once_per_episode() {
    let mut config = Config::default();
    config.quality.feature_weights = Some(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5]);
    config.quality.min_predicted_gain = Some(0.0);
    config.quality.gate_exploration_rate = 0.0;
    let mut l = new_loop(config);
    for _ in 0..4 {
        let d = step(&mut l, &State::new(0.9, 0.6));
        assert_eq!(
            (d.action, d.reason),
            (Action::Maintain, Reason::LowPredictedGain)
        );
        assert_eq!(d.predicted_gain, Some(-0.5));
    }
    assert_eq!(l.counters().refused_low_predicted_gain, 1);
    // A change of reason starts a new episode.
    step(&mut l, &State::new(0.9, 0.6).with_lambda_max(0.03));
    step(&mut l, &State::new(0.9, 0.6));
    assert_eq!(l.counters().refused_low_predicted_gain, 2);
    assert_eq!(l.counters().refused_low_stability, 1);
}

#[test]
fn gate_lets_every_episode_through_at_rate_one() {
    let mut config = Config::default();
    config.quality.feature_weights = Some(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5]);
    config.quality.min_predicted_gain = Some(0.0);
    config.quality.gate_exploration_rate = 1.0;
    config.quality.adjust_down = 0.7;
    let mut l = new_loop(config);
    let d = step(&mut l, &State::new(0.9, 0.6));
    assert_eq!(d.action, Action::InjectEntropy);
    // p < 0.1: b scaled by adjust_down.
    assert!(close(d.entropy_factor, 0.66 * 1.05 * 0.85 * 0.7));
}

struct Broken;
impl GainPredictor for Broken {
    fn predict(&mut self, _: &PredictionContext<'_>) -> Prediction {
        Prediction::Model(f64::NAN)
    }
}

#[test]
fn non_finite_predictions_count_as_errors_and_cannot_predict() {
    let mut l = CreativeLoop::builder(Config::default())
        .predictor(Broken)
        .build()
        .unwrap();
    let d = step(&mut l, &State::new(0.85, 0.6));
    assert_eq!(d.action, Action::InjectEntropy);
    assert_eq!(d.predicted_gain, None);
    assert_eq!(l.counters().errors, 1);
}

#[test]
fn pretraining_uses_the_live_sample_path_and_changes_no_counters() {
    let mut l = new_loop(Config::default());
    let text = [
        r#"{"initial_state": {"novelty": 0.8, "aesthetic_score": 0.6}, "entropy_factor": 0.5, "duration": 100, "creative_gain": 0.2}"#,
        "",
        r#"{"initial_state": {"novelty": 1.5, "aesthetic_score": 0.6}, "entropy_factor": 0.5, "duration": 100, "creative_gain": 0.2}"#,
        r#"{"initial_state": {"novelty": 0.8}, "entropy_factor": 0.5, "duration": 0, "creative_gain": 2}"#,
        r#"{"initial_state": {"novelty": 0.3, "aesthetic_score": 0.6}, "entropy_factor": 0.4, "duration": 150, "creative_gain": -0.1, "samples_seen": 500}"#,
        r#"{"initial_state": "#,
    ]
    .join("\n");
    let report = l.pretrain_jsonl(&text);
    assert_eq!(report.used, 2);
    let lines: Vec<usize> = report.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [3, 4, 6]);
    let fields: Vec<&str> = report.skipped[1]
        .reasons
        .iter()
        .map(|r| r.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["initial_state.aesthetic_score", "duration", "creative_gain"]
    );
    assert_eq!(l.model().samples_seen(), 2);
    assert_eq!(*l.counters(), Counters::default());
    let samples: Vec<_> = l.model().window_samples().map(|s| s.features).collect();
    assert_eq!(samples[0], [0.8, 0.6, 0.0, 0.5, 0.5, 0.0, 1.0]);
    assert_eq!(samples[1], [0.3, 0.6, 0.0, 0.4, 0.75, 1.0, 1.0]);
}

// ---- §8: outcomes and metrics --------------------------------------------------------------

#[test]
fn counters_success_and_cumulative_gain_add_up() {
    let mut l = new_loop(short(Config::default()));
    run_exploration(&mut l, &State::new(0.99, 0.99)); // gain 0.265 > 0.1
    run_exploration(&mut l, &State::new(0.5, 0.6)); // gain −0.175
    let c = *l.counters();
    assert_eq!(
        (c.explorations_started, c.completed, c.successful),
        (2, 2, 1)
    );
    assert_eq!(c.success_rate(), 0.5);
    let sum: f64 = l.history().map(|r| r.creative_gain).sum();
    assert!(close(l.cumulative_gain(), sum));
    let m = l.metrics();
    let recent = m.recent.expect("recent stats");
    assert_eq!(recent.count, 2);
    assert!(close(recent.max_gain, 0.99 - 0.725));
}

#[test]
fn rejected_states_do_not_advance_the_loop() {
    let mut l = new_loop(Config::default());
    step(&mut l, &calm());
    let before = l.metrics();
    let bad = State {
        novelty: Some(f64::NAN),
        ..calm()
    };
    let err = l.update(&bad).expect_err("NaN rejected");
    assert_eq!(err.fields[0].field, "novelty");
    let after = l.metrics();
    assert_eq!(after.steps, before.steps);
    assert_eq!(after.counters.rejected_inputs, 1);
    assert_eq!(after.aesthetic_baseline, before.aesthetic_baseline);
}

#[test]
fn corrections_are_reported_and_counted_per_field() {
    let mut l = new_loop(Config::default());
    let d = step(
        &mut l,
        &State {
            novelty: Some(1.3),
            aesthetic_score: None,
            ..State::default()
        },
    );
    let fields: Vec<&str> = d.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["novelty", "aesthetic_score"]);
    assert_eq!(l.counters().input_corrections, 2);
    let strict = Config {
        input_mode: InputMode::Strict,
        ..Config::default()
    };
    let mut l = new_loop(strict);
    assert!(l
        .update(&State {
            novelty: Some(1.3),
            ..calm()
        })
        .is_err());
}

#[test]
fn trend_is_the_least_squares_slope() {
    let mut l = new_loop(Config {
        plateau_steps: None,
        ..Config::default()
    });
    for i in 0..5 {
        step(&mut l, &State::new(0.3 + 0.01 * f64::from(i), 0.5));
    }
    let t = l.metrics().trend;
    assert!(close(t.novelty, 0.01) && close(t.aesthetic_score, 0.0));
}

// ---- §9: events and health -----------------------------------------------------------------

#[test]
fn events_record_starts_ends_and_mode_changes_in_order() {
    let mut l = new_loop(Config {
        recovery_steps: 2,
        ..short(Config::default())
    });
    run_exploration(&mut l, &calm());
    step(&mut l, &calm());
    let names: Vec<_> = l.drain_events().map(|e| (e.name(), e.step())).collect();
    assert_eq!(
        names,
        [
            ("exploration_started", 1),
            ("mode_changed", 1),
            ("exploration_ended", 11),
            ("mode_changed", 11),
            ("mode_changed", 12),
        ]
    );
    assert!(l.pending_events().is_empty());
}

#[test]
fn health_degrades_on_emergency_and_on_low_gain() {
    let mut l = new_loop(short(Config {
        health_min_explorations: 2,
        ..Config::default()
    }));
    assert_eq!(l.health().status, HealthStatus::Healthy);
    for _ in 0..3 {
        run_exploration(&mut l, &State::new(0.5, 0.6));
    }
    assert_eq!(l.health().reason, Some(HealthReason::LowCumulativeGain));
    step(&mut l, &calm().with_emergency_override(true));
    assert_eq!(l.health().reason, Some(HealthReason::Emergency));
}

#[test]
fn invalid_configs_are_refused_naming_the_key() {
    let err = CreativeLoop::new(Config {
        novelty_high: 0.1,
        ..Config::default()
    })
    .expect_err("bad");
    assert!(err.to_string().contains("novelty_low"), "{err}");
}

#[test]
fn size_like_keys_are_bounded_so_no_config_aborts_on_allocation() {
    type Set = fn(&mut Config);
    let cases: [(&str, Set); 6] = [
        ("trend_window", |c| c.trend_window = 4_000_000_000),
        ("history_capacity", |c| c.history_capacity = 4_000_000_000),
        ("recent_window", |c| c.recent_window = 4_000_000_000),
        ("gain_window", |c| c.gain_window = 4_000_000_000),
        ("max_exploration_steps", |c| {
            c.max_exploration_steps = u32::MAX
        }),
        ("quality.window", |c| c.quality.window = usize::MAX),
    ];
    for (key, set) in cases {
        let mut config = Config::default();
        set(&mut config);
        match CreativeLoop::new(config) {
            Err(Error::InvalidConfig { key: named, .. }) => assert_eq!(named, key),
            other => panic!("{key}: {other:?}"),
        }
    }
}
