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
        proptest::option::weighted(0.3, "[a-z0-9]{0,6}"),
        proptest::option::weighted(0.2, prop::bool::ANY),
    )
        .prop_map(
            |(n, a, v, l, emergency, temperature, coherence, user, stalled)| {
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
                if let Some(u) = user {
                    state = state.with_attribute("user_id", u.as_str());
                }
                if let Some(s) = stalled {
                    state = state.with_attribute("conversation_stalled", s);
                }
                state
            },
        )
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
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(min, extra, recovery, plateau, prior, gate, min_samples, seed, strict)| {
                let mut c = Config {
                    input_mode: if strict {
                        creative_feedback::InputMode::Strict
                    } else {
                        creative_feedback::InputMode::Lenient
                    },
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

/// Cases for a property test: `PROPTEST_CASES` when set (CI or a long local run may raise it),
/// else this test's own default, chosen to keep the README's test command quick.
#[must_use]
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
