//! Criterion benches for the learned selector: what choosing costs at an exploration start,
//! with the default context and with an attribute, and what learning from an outcome costs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use creative_feedback_core::{
    Attributes, Coherence, DefaultSelector, ExplorationRecord, LearnedConfig, LearnedSelector,
    Observation, ObservedValues, OutcomeKind, SelectorConfig, State, Trigger,
};
use criterion::{criterion_group, criterion_main, Criterion};
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const PROFILES: [&str; 4] = ["constant", "cosine_ramp", "exponential_decay", "pulse"];

fn values(i: u32) -> ObservedValues {
    let x = f64::from(i);
    ObservedValues {
        novelty: 0.5 + 0.4 * (x * 0.37).sin(),
        aesthetic_score: 0.6,
        volatility: 0.4 + 0.4 * (x * 0.11).cos(),
        lambda_max: 0.01,
        coherence: Coherence::Local,
    }
}

fn record(profile: creative_feedback_core::Profile, i: u32) -> ExplorationRecord {
    ExplorationRecord {
        started_step: u64::from(i),
        ended_step: u64::from(i) + 100,
        trigger: Trigger::Plateau,
        profile,
        tag: None,
        initial_state: values(i),
        entropy_factor: 0.5,
        adjusted_factor: 0.5,
        duration: 100,
        entropy_steps: 100,
        outcome: OutcomeKind::Completed,
        creative_gain: 0.05 * (f64::from(i) * 0.7).sin(),
        successful: false,
        final_performance: 0.6,
        predicted_gain: None,
        samples_seen: 0,
        features: [0.0; 7],
    }
}

fn bench(c: &mut Criterion, name: &str, config: LearnedConfig, attributes: &Attributes) {
    let observation = |i: u32| Observation {
        values: values(i),
        emergency_override: false,
        attributes,
    };
    let default = DefaultSelector::new(SelectorConfig::default());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut learned = LearnedSelector::new(config, 0.08, PROFILES).unwrap();
    // Warm up: a few hundred outcomes, so the arms hold data and the buffers exist.
    for i in 0..500 {
        let profile = learned.choose(&observation(i), Trigger::Plateau, &default, &mut rng);
        learned.learn(&record(profile, i));
    }
    let mut group = c.benchmark_group("learned");
    let mut i = 0u32;
    group.bench_function(format!("choose/{name}"), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let obs = observation(i);
            black_box(learned.choose(black_box(&obs), Trigger::Plateau, &default, &mut rng))
        });
    });
    let sample = record(creative_feedback_core::Profile::Constant, 7);
    group.bench_function(format!("choose_and_learn/{name}"), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let obs = observation(i);
            let _ = learned.choose(black_box(&obs), Trigger::Plateau, &default, &mut rng);
            black_box(learned.learn(black_box(&sample)))
        });
    });
    group.finish();
}

fn learned(c: &mut Criterion) {
    bench(
        c,
        "default_context",
        LearnedConfig::default(),
        &Attributes::new(),
    );
    let with_domain = LearnedConfig {
        attributes: vec!["domain".into()],
        ..LearnedConfig::default()
    };
    let attributes = State::new(0.5, 0.5)
        .with_attribute("domain", "poetry")
        .attributes;
    bench(c, "with_attribute", with_domain, &attributes);
}

criterion_group!(benches, learned);
criterion_main!(benches);
