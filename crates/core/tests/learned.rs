//! The learned selector inside a loop: it only ever takes registered profiles, keeps every
//! number finite, restores from a snapshot to make the same choices, and can be wrapped by a
//! custom selector that falls back on it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{
    Config, ContextFeature, CreativeLoop, Event, LoopBuilder, Params, Profile, ProfileSelector,
    Selection, SelectionContext, SelectorKind, State, Strategy as Exploring,
};
use proptest::prelude::*;

fn wobble(base: f64, step: u32, _total: u32, _params: &Params) -> f64 {
    base * (0.5 + 0.5 * f64::from(step % 7) / 7.0)
}

fn config(seed: u64, strategy: Exploring) -> Config {
    let mut c = Config {
        seed,
        ..Config::default()
    };
    c.quality.min_samples = 5;
    c.selector.kind = SelectorKind::Learned;
    c.selector.learned.strategy = strategy;
    c.selector.learned.prior = 0.0;
    c.selector.learned.attributes = vec!["domain".into(), "temperature".into()];
    c.selector.learned.attribute_values = 3;
    c.selector.learned.context = vec![
        ContextFeature::Region,
        ContextFeature::Trigger,
        ContextFeature::Novelty,
        ContextFeature::AestheticScore,
        ContextFeature::Volatility,
        ContextFeature::LambdaRatio,
        ContextFeature::RecentGains,
        ContextFeature::RecentCompletion,
    ];
    c
}

fn build(config: Config) -> CreativeLoop {
    CreativeLoop::builder(config)
        .profile("wobble", wobble)
        .unwrap()
        .build()
        .unwrap()
}

/// A state from three numbers in [0, 1) and a small index, reaching every trigger, prunes,
/// emergencies, and five text values of `domain` (more than its three slots).
fn state(n: f64, a: f64, v: f64, i: u8) -> State {
    let novelty = match i % 5 {
        0 => 0.9 * n + 0.1,
        1 => 0.15 * n,
        _ => 0.3 + 0.4 * n,
    };
    State::new(novelty, a)
        .with_volatility(v)
        .with_lambda_max(if i.is_multiple_of(61) { 0.2 } else { 0.01 * v })
        .with_attribute(
            "domain",
            ["poetry", "code", "dialogue", "design", "law"][usize::from(i % 5)],
        )
        .with_attribute("temperature", n)
}

fn states() -> impl proptest::strategy::Strategy<Value = Vec<(f64, f64, f64, u8)>> {
    proptest::collection::vec(
        (0.0..1.0f64, 0.0..1.0f64, 0.0..1.0f64, any::<u8>()),
        300..1500,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn it_takes_only_registered_profiles_and_stays_finite(
        seq in states(),
        seed in any::<u64>(),
        ucb in any::<bool>(),
    ) {
        let strategy = if ucb { Exploring::Ucb } else { Exploring::Thompson };
        let mut l = build(config(seed, strategy));
        for &(n, a, v, i) in &seq {
            let d = l.update(&state(n, a, v, i)).unwrap();
            prop_assert!(d.entropy_factor.is_finite());
            let events: Vec<Event> = l.drain_events().collect();
            for event in events {
                if let Event::ExplorationStarted { profile, .. } = event {
                    prop_assert!(l.registry().contains(profile.as_str()), "{profile}");
                }
            }
        }
        prop_assert_eq!(l.counters().errors, 0);
        let learned = l.learned_selector().unwrap();
        prop_assert_eq!(learned.arms().len(), 5);
        for arm in learned.arms() {
            prop_assert!(arm.estimate.is_finite() && arm.uncertainty.is_finite());
            prop_assert!(arm.effective_samples.is_finite() && arm.mean_gain.is_finite());
        }
    }

    #[test]
    fn a_restore_at_any_step_makes_the_same_choices(
        seq in states(),
        cut in 0.0..1.0f64,
        seed in any::<u64>(),
    ) {
        let mut original = build(config(seed, Exploring::Thompson));
        let at = (cut * seq.len() as f64) as usize;
        for &(n, a, v, i) in &seq[..at] {
            let _ = original.update(&state(n, a, v, i)).unwrap();
            original.drain_events().for_each(drop);
        }
        let restored = LoopBuilder::from_snapshot(original.snapshot())
            .profile("wobble", wobble)
            .unwrap()
            .build();
        let mut restored = restored.unwrap();
        for &(n, a, v, i) in &seq[at..] {
            let s = state(n, a, v, i);
            prop_assert_eq!(original.update(&s).unwrap(), restored.update(&s).unwrap());
            let (x, y): (Vec<Event>, Vec<Event>) =
                (original.drain_events().collect(), restored.drain_events().collect());
            prop_assert_eq!(x, y);
        }
        prop_assert_eq!(original.learned_selector(), restored.learned_selector());
        prop_assert_eq!(original.snapshot(), restored.snapshot());
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_snapshot_through_json_restores_the_learned_state_exactly() {
    use creative_feedback_core::Snapshot;
    let mut l = build(config(7, Exploring::Thompson));
    for i in 0..4_000u32 {
        let x = f64::from(i);
        let _ = l
            .update(&state((x * 0.37).sin().abs(), 0.6, 0.2, (i % 251) as u8))
            .unwrap();
        l.drain_events().for_each(drop);
    }
    assert!(l
        .learned_selector()
        .unwrap()
        .arms()
        .iter()
        .any(|a| a.explorations > 0));
    let json = l.snapshot().to_json().unwrap();
    let back = LoopBuilder::from_snapshot(Snapshot::from_json(&json).unwrap())
        .profile("wobble", wobble)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(back.learned_selector(), l.learned_selector());
    // Without the custom profile the arms do not match: refused, with what to do.
    let err = LoopBuilder::from_snapshot(Snapshot::from_json(&json).unwrap())
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("register the same custom profiles"), "{err}");
}

/// The guide's "customise, fall back to super": pulses when the conversation stalls, the
/// learned selector's choice otherwise.
struct Stalled;

impl ProfileSelector for Stalled {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        assert!(ctx.learned.is_some(), "the learned choice is offered");
        if ctx.observation.flag("stalled") {
            Profile::Pulse { frequency: 4.0 }.into()
        } else {
            ctx.fallback_choice().into()
        }
    }
}

#[test]
fn a_custom_selector_can_wrap_the_learned_one_which_learns_from_every_exploration() {
    let mut l = CreativeLoop::builder(config(3, Exploring::Thompson))
        .selector(Stalled)
        .build()
        .unwrap();
    let mut pulses = 0;
    for i in 0..6_000u32 {
        let s = State::new(if i % 300 == 0 { 0.9 } else { 0.5 }, 0.6)
            .with_attribute("stalled", i % 600 == 0);
        let _ = l.update(&s).unwrap();
        for event in l.drain_events() {
            if let Event::ExplorationStarted { profile, .. } = event {
                pulses += u32::from(profile.as_str() == "pulse");
            }
        }
    }
    let arms = l.learned_selector().unwrap().arms();
    let taught: u64 = arms.iter().map(|a| a.explorations).sum();
    assert_eq!(
        taught,
        l.counters().ended(),
        "it learns from every ended exploration"
    );
    let pulse = arms.iter().find(|a| a.profile == "pulse").unwrap();
    assert!(pulses > 0 && pulse.explorations >= u64::from(pulses) - 1);
}
