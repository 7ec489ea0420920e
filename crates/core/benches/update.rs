//! Criterion benches for the `update` group: one `update` (plus draining its events) on a
//! deterministic mixed stream that visits every mode.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use creative_feedback_core::{Config, CreativeLoop, Mode, State};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Stable stretches, momentum and stagnation triggers, prunes, plateaus and emergencies.
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
                0.6 + 0.05 * ((i as f64) * 0.11).cos()
            };
            let lambda = if (900..905).contains(&phase) {
                0.2
            } else {
                0.005 + 0.002 * wobble.abs()
            };
            State::new(novelty, aesthetic)
                .with_volatility(0.1 + 0.05 * wobble.abs())
                .with_lambda_max(lambda)
        })
        .collect()
}

fn update(c: &mut Criterion) {
    // 10,000 states (about 1.5 MB) stay in cache, as the state a host has just built does.
    let states = stream(10_000);
    let mut group = c.benchmark_group("update");
    group.throughput(Throughput::Elements(1));
    let mut config = Config::default();
    config.quality.min_samples = 5;
    let mut feedback = CreativeLoop::new(config).unwrap();
    let mut seen = [0u64; 4];
    for s in &states {
        let d = feedback.update(s).unwrap();
        seen[d.mode as usize] += 1;
        feedback.drain_events().for_each(drop);
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "the stream visits every mode: {seen:?}"
    );
    assert!(seen[Mode::Emergency as usize] > 0);
    let mut i = 0usize;
    let mut decision = creative_feedback_core::Decision::default();
    group.bench_function("mixed_stream", |b| {
        b.iter(|| {
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let r = feedback
                .update_into(black_box(&states[i]), &mut decision)
                .is_ok();
            feedback.drain_events().for_each(drop);
            black_box((r, &decision));
        });
    });
    group.bench_function("mixed_stream_owned_decision", |b| {
        b.iter(|| {
            // A compare, not a modulo: a division would cost as much as a stable step.
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let d = feedback.update(black_box(&states[i]));
            feedback.drain_events().for_each(drop);
            black_box(d)
        });
    });
    group.finish();
}

criterion_group!(benches, update);
criterion_main!(benches);
