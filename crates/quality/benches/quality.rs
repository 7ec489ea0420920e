//! Criterion benches for the `quality` group: predict, and add a sample with a refit over a full
//! 500-sample window.
#![allow(missing_docs)]

use std::hint::black_box;

use creative_feedback_quality::{Features, ModelConfig, QualityModel};
use criterion::{criterion_group, criterion_main, Criterion};

fn features(i: u32) -> Features {
    let t = f64::from(i);
    [
        (t * 0.37).sin().abs(),
        (t * 0.11).cos().abs(),
        (t * 0.05).sin().abs() * 0.5,
        0.1 + 0.8 * (t * 0.23).sin().abs(),
        0.5 + 0.5 * (t * 0.07).cos().abs(),
        1.0,
        1.0,
    ]
}

fn quality(c: &mut Criterion) {
    let mut group = c.benchmark_group("quality");
    let Ok(mut model) = QualityModel::new(ModelConfig::default()) else {
        return;
    };
    for i in 0..1_000 {
        let x = features(i);
        let _ = model.add_sample(x, 0.3 * x[0] - 0.1 * x[2]);
    }
    let probe = features(7);
    group.bench_function("predict", |b| {
        b.iter(|| black_box(model.predict(black_box(&probe))))
    });
    let mut i = 1_000u32;
    group.bench_function("add_sample_refit_window_500", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let x = features(i);
            black_box(model.add_sample(x, 0.3 * x[0]))
        });
    });
    group.finish();
}

criterion_group!(benches, quality);
criterion_main!(benches);
