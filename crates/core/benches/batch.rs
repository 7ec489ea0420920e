//! Criterion bench of `update_many`: states per second through the array entry point.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use creative_feedback_core::{Config, CreativeLoop};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array2;

fn batch(c: &mut Criterion) {
    // Momentum bursts, calm stretches and a short emergency every 1,000 rows.
    let n = 10_000;
    let states = Array2::from_shape_fn((n, 4), |(i, c)| {
        let phase = i % 1_000;
        let wobble = ((i as f64) * 0.37).sin();
        match c {
            0 if phase == 0 => 0.9,
            0 if phase == 300 => 0.1,
            0 => 0.45 + 0.05 * wobble,
            1 => 0.6 + 0.05 * ((i as f64) * 0.11).cos(),
            2 => 0.1 + 0.05 * wobble.abs(),
            _ if (900..905).contains(&phase) => 0.2,
            _ => 0.005 + 0.002 * wobble.abs(),
        }
    });
    let mut config = Config::default();
    config.quality.min_samples = 5;
    let mut feedback = CreativeLoop::new(config).unwrap();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("update_many_10k", |b| {
        b.iter(|| {
            let decisions = feedback.update_many(black_box(states.view())).unwrap();
            feedback.drain_events().for_each(drop);
            decisions
        });
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
