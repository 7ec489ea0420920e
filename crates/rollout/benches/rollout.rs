//! Criterion benches for the `rollout` group: bucketing a typical id, and `update` wrapped in a
//! gradual rollout against the bare `update` on the same stream.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use creative_feedback_core::{Config, CreativeLoop, State};
use creative_feedback_rollout::{bucket, Rollout};
use criterion::{criterion_group, criterion_main, Criterion};

/// A mixed stream (every mode) whose states carry one of 1,000 user ids.
fn stream(len: u64) -> Vec<State> {
    (0..len)
        .map(|i| {
            let phase = i % 1_000;
            let wobble = ((i as f64) * 0.37).sin();
            let novelty = match phase {
                0 => 0.9,
                300 => 0.1,
                _ => 0.45 + 0.05 * wobble,
            };
            let aesthetic = if (450..470).contains(&phase) {
                0.2
            } else {
                0.6
            };
            let lambda = if (900..905).contains(&phase) {
                0.2
            } else {
                0.005
            };
            State::new(novelty, aesthetic)
                .with_volatility(0.1)
                .with_lambda_max(lambda)
                .with_attribute("user_id", format!("user-{}", (i / 97) % 1_000))
        })
        .collect()
}

fn run(c: &mut Criterion, name: &str, mut feedback: CreativeLoop, states: &[State]) {
    let mut i = 0usize;
    c.benchmark_group("rollout").bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let d = feedback.update(black_box(&states[i]));
            feedback.drain_events().for_each(drop);
            black_box(d)
        });
    });
}

fn rollout(c: &mut Criterion) {
    let users: Vec<String> = (0..1_024)
        .map(|i| format!("user-{:08x}-session", i * 7_919))
        .collect();
    let mut k = 0usize;
    c.benchmark_group("rollout")
        .bench_function("bucket_typical_id", |b| {
            b.iter(|| {
                k = (k + 1) & 1_023;
                black_box(bucket(black_box("creative-enhancements"), &users[k]))
            });
        });

    // 10,000 states (about 1.5 MB) stay in cache, as the state a host has just built does.
    let states = stream(10_000);
    run(
        c,
        "update_bare",
        CreativeLoop::new(Config::default()).unwrap(),
        &states,
    );
    let rollout = Rollout::new("creative-enhancements", 50).unwrap();
    let wrapped = rollout
        .install(CreativeLoop::builder(Config::default()))
        .build()
        .unwrap();
    run(c, "update_rollout_50", wrapped, &states);
}

criterion_group!(benches, rollout);
criterion_main!(benches);
