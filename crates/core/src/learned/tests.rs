//! The learned selector alone: its context, choosing, learning and restoring.

use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;
use crate::config::SelectorConfig;
use crate::decision::OutcomeKind;
use crate::state::{Attributes, Coherence, ObservedValues};

fn observation(attributes: &Attributes) -> Observation<'_> {
    Observation {
        values: ObservedValues {
            novelty: 0.5,
            aesthetic_score: 0.5,
            volatility: 0.2,
            lambda_max: 0.01,
            coherence: Coherence::Local,
        },
        emergency_override: false,
        attributes,
    }
}

fn record(profile: Profile, gain: f64) -> ExplorationRecord {
    let values = ObservedValues {
        novelty: 0.5,
        aesthetic_score: 0.5,
        volatility: 0.2,
        lambda_max: 0.01,
        coherence: Coherence::Local,
    };
    ExplorationRecord {
        started_step: 1,
        ended_step: 2,
        trigger: Trigger::Plateau,
        profile,
        tag: None,
        initial_state: values,
        entropy_factor: 0.5,
        adjusted_factor: 0.5,
        duration: 100,
        entropy_steps: 100,
        outcome: OutcomeKind::Completed,
        creative_gain: gain,
        successful: gain > 0.1,
        final_performance: 0.5,
        predicted_gain: None,
        samples_seen: 0,
        features: [0.0; 7],
    }
}

/// Plays `rounds` explorations in one context where `means[i]` is arm i's mean gain
/// (noise ±0.07); returns how often the last quarter chose the best arm.
fn play(config: LearnedConfig, means: [f64; 4], rounds: u32, seed: u64) -> f64 {
    let names = ["constant", "cosine_ramp", "exponential_decay", "pulse"];
    let mut learned = LearnedSelector::new(config, 0.08, names).unwrap();
    let default = DefaultSelector::new(SelectorConfig::default());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let attributes = Attributes::new();
    let obs = observation(&attributes);
    let best = (0..4).fold(0, |b, i| if means[i] > means[b] { i } else { b });
    let mut right = 0;
    for round in 0..rounds {
        let profile = learned.choose(&obs, Trigger::Plateau, &default, &mut rng);
        let arm = names.iter().position(|n| *n == profile.name_str()).unwrap();
        let noise: f64 = StandardNormal.sample(&mut rng);
        assert!(learned.learn(&record(profile, means[arm] + 0.07 * noise)));
        if round >= rounds * 3 / 4 && arm == best {
            right += 1;
        }
        let _ = rng.next_u64();
    }
    f64::from(right) / f64::from(rounds / 4)
}

#[test]
fn it_finds_the_best_arm_of_one_context() {
    // Gap 0.05 at noise 0.07: over ten seeds the last quarter takes the best arm nearly
    // always; one unlucky seed may still be learning.
    let free = LearnedConfig {
        prior: 0.0,
        ..LearnedConfig::default()
    };
    let share: f64 = (1..=10)
        .map(|s| play(free.clone(), [0.0, 0.02, 0.07, -0.02], 400, s))
        .sum::<f64>()
        / 10.0;
    assert!(share > 0.85, "{share}");
}

#[test]
fn the_prior_keeps_the_default_choice_until_the_data_disagree() {
    // The default selector takes cosine_ramp in this state. With equal means the prior
    // keeps it; when another profile pays clearly more, the data win.
    let config = LearnedConfig::default();
    let even: f64 = (1..=5)
        .map(|s| play(config.clone(), [0.03, 0.03, 0.03, 0.03], 400, s))
        .sum::<f64>()
        / 5.0;
    assert!(even < 0.5, "the first arm is not favoured: {even}");
    let mut chose_default = 0;
    let names = ["constant", "cosine_ramp", "exponential_decay", "pulse"];
    let mut learned = LearnedSelector::new(config.clone(), 0.08, names).unwrap();
    let default = DefaultSelector::new(SelectorConfig::default());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let attributes = Attributes::new();
    let obs = observation(&attributes);
    for _ in 0..200 {
        let profile = learned.choose(&obs, Trigger::Plateau, &default, &mut rng);
        chose_default += u32::from(profile.name_str() == "cosine_ramp");
        assert!(learned.learn(&record(profile, 0.03)));
    }
    assert!(chose_default > 120, "{chose_default}");
    let clear: f64 = (1..=5)
        .map(|s| play(config.clone(), [0.0, 0.0, 0.12, 0.0], 600, s))
        .sum::<f64>()
        / 5.0;
    assert!(clear > 0.8, "{clear}");
}

const NAMES: [&str; 4] = ["constant", "cosine_ramp", "exponential_decay", "pulse"];

fn state_values(novelty: f64, volatility: f64, lambda_max: f64) -> ObservedValues {
    ObservedValues {
        novelty,
        aesthetic_score: 0.7,
        volatility,
        lambda_max,
        coherence: Coherence::Local,
    }
}

/// A quiet selector: no draw, no bonus, no prior; only the estimates decide.
fn quiet() -> LearnedConfig {
    LearnedConfig {
        strategy: Strategy::Ucb,
        exploration: 0.0,
        recent_bonus: 0.0,
        prior: 0.0,
        ..LearnedConfig::default()
    }
}

fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(5)
}

#[test]
fn the_context_holds_every_feature_in_order_and_the_names_match() {
    let config = LearnedConfig {
        context: vec![
            ContextFeature::Region,
            ContextFeature::Trigger,
            ContextFeature::Novelty,
            ContextFeature::AestheticScore,
            ContextFeature::Volatility,
            ContextFeature::LambdaRatio,
            ContextFeature::RecentGains,
            ContextFeature::RecentCompletion,
        ],
        attributes: vec!["domain".into(), "t".into(), "flag".into(), "missing".into()],
        attribute_values: 2,
        ..quiet()
    };
    let mut learned = LearnedSelector::new(config, 0.08, NAMES).unwrap();
    assert_eq!(learned.context_dim(), 1 + 3 + 2 + 4 + 4 + 1 + 4 * 2);
    let default = DefaultSelector::new(SelectorConfig::default());
    let mut attributes = Attributes::new();
    attributes.insert("domain".into(), AttributeValue::Text("code".into()));
    attributes.insert("t".into(), AttributeValue::Number(0.25));
    attributes.insert("flag".into(), AttributeValue::Bool(true));
    // Volatile (→ exponential_decay region), momentum, λ beyond twice the emergency level.
    let obs = Observation {
        values: state_values(0.9, 0.8, 0.5),
        emergency_override: false,
        attributes: &attributes,
    };
    let profile = learned.choose(&obs, Trigger::Momentum, &default, &mut rng());
    assert!(NAMES.contains(&profile.name_str()));
    let mut pulse = record(Profile::Pulse { frequency: 2.0 }, 0.05);
    pulse.entropy_steps = 50;
    assert!(learned.learn(&pulse));
    // Memory after one outcome at rate 0.5: the pulse's gain half-way from 0 to 0.05, the
    // completion half-way from 1 to 0.5.
    assert!((learned.memory.gains[3] - 0.025).abs() < 1e-12);
    assert_eq!(&learned.memory.gains[..3], &[0.0; 3]);
    assert!((learned.memory.completion - 0.75).abs() < 1e-12);
    let obs = Observation {
        values: state_values(0.1, 0.2, 0.04),
        emergency_override: false,
        attributes: &attributes,
    };
    let _ = learned.choose(&obs, Trigger::Stagnation, &default, &mut rng());
    let x = learned.last.clone();
    let expected = [
        1.0, // intercept
        0.0, 1.0, 0.0, // region: low novelty → pulse
        0.0, 1.0, // stagnation
        0.1, 0.7, 0.2, 0.5, // novelty, aesthetic, volatility, λ ratio 0.04 / 0.08
        0.0, 0.0, 0.0, 0.25, // recent gains in tenths
        0.75, // recent completion
        1.0, 0.0, // domain = code, first seen
        0.25, 0.0, // t
        1.0, 0.0, // flag
        0.0, 0.0, // missing
    ];
    assert_eq!(x.len(), expected.len());
    for (i, (a, b)) in x.iter().zip(expected).enumerate() {
        assert!((a - b).abs() < 1e-12, "entry {i}: {a} vs {b}");
    }
    let names = learned.context_names();
    assert_eq!(names.len(), x.len());
    assert_eq!(names[1], "region_volatile");
    assert_eq!(names[13], "recent_gain_pulse");
    assert_eq!(names[15], "domain=code");
    assert_eq!(names[16], "domain#1");
    assert_eq!(names[17], "t");
}

#[test]
fn text_values_take_slots_in_order_and_extra_ones_share_the_last() {
    let config = LearnedConfig {
        context: vec![],
        attributes: vec!["domain".into()],
        attribute_values: 2,
        ..quiet()
    };
    let mut learned = LearnedSelector::new(config, 0.08, NAMES).unwrap();
    let default = DefaultSelector::new(SelectorConfig::default());
    let mut slots = Vec::new();
    for value in ["a", "b", "c", "a", "d"] {
        let mut attributes = Attributes::new();
        attributes.insert("domain".into(), AttributeValue::Text(value.into()));
        let obs = Observation {
            values: state_values(0.5, 0.2, 0.01),
            emergency_override: false,
            attributes: &attributes,
        };
        let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
        slots.push(learned.last[1..].to_vec());
    }
    assert_eq!(
        slots,
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    );
    let mut attributes = Attributes::new();
    attributes.insert("domain".into(), AttributeValue::Number(f64::INFINITY));
    let obs = Observation {
        values: state_values(0.5, 0.2, 0.01),
        emergency_override: false,
        attributes: &attributes,
    };
    let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(
        &learned.last[1..],
        &[0.0, 0.0],
        "a non-finite number counts as absent"
    );
}

#[test]
fn learning_moves_only_the_chosen_arm_and_the_report_says_so() {
    let mut learned = LearnedSelector::new(quiet(), 0.08, NAMES).unwrap();
    let default = DefaultSelector::new(SelectorConfig::default());
    let attributes = Attributes::new();
    let obs = observation(&attributes);
    for gain in [0.1, 0.3] {
        let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
        assert!(learned.learn(&record(Profile::Pulse { frequency: 2.0 }, gain)));
    }
    let arms = learned.arms();
    let pulse = &arms[3];
    assert_eq!((pulse.profile.as_str(), pulse.explorations), ("pulse", 2));
    assert!((pulse.mean_gain - 0.2).abs() < 1e-12);
    // Discount 0.999 once on the first outcome, then the second adds 1.
    assert!((pulse.effective_samples - 1.999).abs() < 1e-12);
    assert!(pulse.estimate > 0.0 && pulse.estimate <= 0.3);
    assert!(
        (pulse.estimate - pulse.recent_offset - learned.arms[3].estimate(&learned.last).0).abs()
            < 1e-12
    );
    for other in &arms[..3] {
        assert_eq!(
            (other.explorations, other.mean_gain, other.estimate),
            (0, 0.0, 0.0)
        );
    }
    // Learning with no context moves the memory only.
    assert!(learned.learn(&record(Profile::Constant, 1.0)));
    assert_eq!(learned.arms()[0].explorations, 0);
}

#[test]
fn the_best_estimate_wins_and_the_prior_and_the_recent_bonus_tip_even_cases() {
    let default = DefaultSelector::new(SelectorConfig::default());
    let attributes = Attributes::new();
    let obs = observation(&attributes); // the default selector takes cosine_ramp here
                                        // No data, no prior: every score is 0 and the first arm wins the tie.
    let mut learned = LearnedSelector::new(quiet(), 0.08, NAMES).unwrap();
    let first = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(first.name_str(), "constant");
    // The prior gives the default choice the edge.
    let mut learned = LearnedSelector::new(
        LearnedConfig {
            prior: 0.01,
            ..quiet()
        },
        0.08,
        NAMES,
    )
    .unwrap();
    let chosen = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(chosen, default.choose(&obs));
    // With data, the best estimate wins over the prior.
    assert!(learned.learn(&record(chosen, -0.5)));
    let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert!(learned.learn(&record(Profile::Pulse { frequency: 2.0 }, 0.4)));
    let next = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(next.name_str(), "pulse");
    // The recent bonus favours the profiles not tried lately.
    let mut learned = LearnedSelector::new(
        LearnedConfig {
            recent_bonus: 0.05,
            ..quiet()
        },
        0.08,
        NAMES,
    )
    .unwrap();
    let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert!(learned.learn(&record(Profile::Constant, 0.0)));
    let next = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(next.name_str(), "cosine_ramp", "constant was just tried");
}

#[test]
fn the_recent_offset_is_the_shrunk_mean_of_residuals() {
    let mut arm = arm::Arm::new("pulse".into(), 1, 1.0);
    assert_eq!(arm.offset(), 0.0);
    arm.add_recent(0.2);
    assert!((arm.offset() - 0.1).abs() < 1e-12, "w = 1: half of 0.2");
    arm.age_recent(0.5);
    arm.add_recent(-0.1);
    // w = 1.5, mean = (0.5·0.2 − 0.1) / 1.5 = 0, so the offset is 0.
    assert!(arm.offset().abs() < 1e-12);
}

#[test]
fn a_restored_selector_must_fit_the_loop() {
    let mut learned = LearnedSelector::new(LearnedConfig::default(), 0.08, NAMES).unwrap();
    let config = LearnedConfig::default();
    assert!(learned.clone().check_restored(&config, NAMES).is_ok());
    let err = learned
        .clone()
        .check_restored(&config, ["constant", "pulse"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("register the same custom profiles"), "{err}");
    let wider = LearnedConfig {
        attributes: vec!["domain".into()],
        ..LearnedConfig::default()
    };
    let err = learned
        .clone()
        .check_restored(&wider, NAMES)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not fit"), "{err}");
    learned.memory.completion = f64::NAN;
    assert!(learned.check_restored(&config, NAMES).is_err());
    assert!(LearnedSelector::new(LearnedConfig::default(), 0.08, []).is_err());
    let bad = LearnedConfig {
        discount: 0.0,
        ..LearnedConfig::default()
    };
    assert!(LearnedSelector::new(bad, 0.08, NAMES).is_err());
}

#[test]
fn the_prior_fades_with_local_evidence_at_the_documented_rate() {
    // Only the intercept: x = [1], λ = 1, no forgetting, offsets gone after one step. With n
    // outcomes of the default profile (cosine_ramp here) at gain 0, its score is the prior's
    // p·k/(k + n) (local evidence e = (1 + n) − 1 = n); pulse, with one outcome at 0.12,
    // scores 0.06 (plus half its residual, 0.06, until the next outcome ages it).
    let config = LearnedConfig {
        context: vec![],
        discount: 1.0,
        recent_discount: 1e-12,
        prior: 0.1,
        prior_fade: 4.0,
        ..quiet()
    };
    let default = DefaultSelector::new(SelectorConfig::default());
    let attributes = Attributes::new();
    let obs = observation(&attributes);
    let mut learned = LearnedSelector::new(config.clone(), 0.08, NAMES).unwrap();
    assert_eq!(learned.config(), &config);
    let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert!(learned.learn(&record(Profile::Pulse { frequency: 2.0 }, 0.12)));
    let mut chose_default = Vec::new();
    for _ in 0..8 {
        let chosen = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
        chose_default.push(chosen.name_str() == "cosine_ramp");
        // Teach the default profile an outcome of 0 whatever was chosen.
        assert!(learned.learn(&record(default.choose(&obs), 0.0)));
    }
    // First 0.12 against 0.1; then 0.06 against 0.4/(4 + n), which wins for n = 1 and 2.
    assert_eq!(
        chose_default,
        [false, true, true, false, false, false, false, false]
    );
}

#[test]
fn offsets_and_the_exploration_term_enter_the_score() {
    let default = DefaultSelector::new(SelectorConfig::default());
    let attributes = Attributes::new();
    let obs = observation(&attributes);
    // UCB: a profile never tried has the widest estimate and is taken first.
    let mut learned = LearnedSelector::new(
        LearnedConfig {
            context: vec![],
            exploration: 0.05,
            ..quiet()
        },
        0.08,
        NAMES,
    )
    .unwrap();
    let _ = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert!(learned.learn(&record(Profile::Constant, 0.0)));
    // constant: 0 + 0.05·√½; cosine_ramp, untried: 0 + 0.05·1.
    let next = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(next.name_str(), "cosine_ramp");
    // A positive recent offset lifts a profile above an equal estimate elsewhere.
    let mut learned = LearnedSelector::new(
        LearnedConfig {
            context: vec![],
            ..quiet()
        },
        0.08,
        NAMES,
    )
    .unwrap();
    learned.arms[2].add_recent(0.01);
    let next = learned.choose(&obs, Trigger::Plateau, &default, &mut rng());
    assert_eq!(next.name_str(), "exponential_decay");
}

#[test]
fn the_outcome_memory_moves_each_time_by_its_rate() {
    let mut learned = LearnedSelector::new(quiet(), 0.08, NAMES).unwrap();
    assert!(learned.learn(&record(Profile::Constant, 0.2)));
    assert!(learned.learn(&record(Profile::Constant, 0.0)));
    // 0 → 0.1 → 0.05 at rate 0.5.
    assert!((learned.memory.gains[0] - 0.05).abs() < 1e-12);
    assert_eq!(learned.clone(), learned, "buffers are not state");
}

#[test]
fn widths_and_forgetting_follow_the_formulas() {
    let mut arm = arm::Arm::new("constant".into(), 2, 2.0);
    // No data: xᵀA⁻¹x = |x|²/λ = 2/2.
    assert!((arm.estimate(&[1.0, 1.0]).1 - 1.0).abs() < 1e-12);
    arm.add(&[1.0, 0.0], 1.0, 1.0);
    arm.discount(0.5, 2.0);
    assert!(arm.refit(&mut arm::Scratch::default()));
    // A = 0.5·diag(3, 2) + 0.5·diag(2, 2) = diag(2.5, 2); b = (0.5, 0).
    assert!((arm.theta[0] - 0.2).abs() < 1e-12 && arm.theta[1].abs() < 1e-12);
    let (_, width) = arm.estimate(&[0.0, 1.0]);
    assert!((width - 0.5f64.sqrt()).abs() < 1e-12);
    assert_eq!((arm.pulls, arm.gain_sum), (1, 1.0));
    let mut offset = arm::Arm::new("pulse".into(), 1, 1.0);
    offset.add_recent(0.2);
    offset.age_recent(0.5);
    offset.add_recent(0.1);
    // w = 1.5, mean = (0.5·0.2 + 0.1)/1.5; the offset counts w/(w + 1) of it.
    let mean = (0.5 * 0.2 + 0.1) / 1.5;
    assert!((offset.offset() - mean * 1.5 / 2.5).abs() < 1e-12);
}

#[test]
fn a_pending_context_of_the_wrong_width_is_refused() {
    let mut learned = LearnedSelector::new(LearnedConfig::default(), 0.08, NAMES).unwrap();
    learned.pending = Some(vec![0.0; 3]);
    let err = learned
        .check_restored(&LearnedConfig::default(), NAMES)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not fit"), "{err}");
}
