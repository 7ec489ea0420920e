//! Criterion benches for the `profiles` group: one factor evaluation per built-in profile.
#![allow(missing_docs)]

use std::hint::black_box;

use creative_feedback_profiles::{Profile, ProfileRegistry};
use criterion::{criterion_group, criterion_main, Criterion};

fn profiles(c: &mut Criterion) {
    let registry = ProfileRegistry::new();
    let mut group = c.benchmark_group("profiles");
    let shapes = [
        Profile::Constant,
        Profile::CosineRamp {
            ramp_fraction: 0.25,
        },
        Profile::ExponentialDecay { decay_rate: 2.0 },
        Profile::Pulse { frequency: 3.0 },
    ];
    for profile in shapes {
        let name = profile.name().to_string();
        let Ok(resolved) = registry.resolve(profile) else {
            continue;
        };
        let mut step = 0u32;
        group.bench_function(format!("factor/{name}"), |b| {
            b.iter(|| {
                // A compare, not a modulo: a division costs as much as the factor itself.
                step += 1;
                if step == 150 {
                    step = 0;
                }
                black_box(resolved.factor(black_box(0.6), step, black_box(150)))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, profiles);
criterion_main!(benches);
