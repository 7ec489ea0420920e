//! Shared strategies for the workspace's property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use creative_feedback::{Coherence, Config, State};
use proptest::prelude::*;

/// A number that is sometimes fine, sometimes out of range, sometimes NaN or infinite.
pub fn wild_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0..=1.0f64,
        2 => -5.0..5.0f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => prop_oneof![Just(f64::MAX), Just(f64::MIN), Just(f64::MIN_POSITIVE), Just(1e300), Just(-0.0)],
    ]
}

/// Mostly calm instability, sometimes an emergency, sometimes garbage.
pub fn wild_lambda() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0..0.02f64,
        2 => 0.02..0.2f64,
        1 => wild_number(),
    ]
}

/// A state that exercises every input rule.
pub fn wild_state() -> impl Strategy<Value = State> {
    (
        proptest::option::weighted(0.95, wild_number()),
        proptest::option::weighted(0.95, wild_number()),
        proptest::option::weighted(0.8, wild_number()),
        proptest::option::weighted(0.9, wild_lambda()),
        prop::bool::weighted(0.03),
        proptest::option::weighted(0.1, wild_number()),
        0..3u8,
    )
        .prop_map(|(n, a, v, l, emergency, temperature, coherence)| {
            let mut state = State {
                novelty: n,
                aesthetic_score: a,
                volatility: v,
                lambda_max: l,
                emergency_override: emergency,
                coherence: match coherence {
                    0 => Coherence::Local,
                    1 => Coherence::Global,
                    _ => Coherence::Critical,
                },
                ..State::default()
            };
            if let Some(t) = temperature {
                state = state.with_attribute("temperature", t);
            }
            state
        })
}

/// Valid configs small enough that every mode is visited in a short run.
pub fn small_config() -> impl Strategy<Value = Config> {
    (
        1..20u32,
        0..15u32,
        1..6u32,
        prop::option::of(1..8u32),
        prop::bool::ANY,
        prop::option::of(-0.2..0.3f64),
        1..6u64,
        0..u64::MAX,
    )
        .prop_map(
            |(min, extra, recovery, plateau, prior, gate, min_samples, seed)| {
                let mut c = Config {
                    min_exploration_steps: min,
                    max_exploration_steps: min + extra,
                    recovery_steps: recovery,
                    plateau_steps: plateau,
                    prune_grace_steps: 2,
                    seed,
                    ..Config::default()
                };
                c.quality.min_samples = min_samples;
                c.quality.window = 8;
                c.quality.min_predicted_gain = gate;
                c.quality.gate_exploration_rate = 0.3;
                if prior {
                    c.quality.feature_weights = Some(vec![0.3, 0.4, -0.2, 0.5, 0.1, 0.05]);
                }
                c
            },
        )
}
