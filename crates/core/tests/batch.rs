//! Batches as arrays decide exactly as the loop stepped row by row, and pre-training from
//! arrays learns exactly what pre-training from records does.
#![cfg(feature = "ndarray")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{
    Action, Config, CreativeLoop, HistoryRecord, Mode, State, STATE_COLUMNS,
};
use ndarray::{Array1, Array2};

/// A seeded stream through every mode, with invalid rows (out of range, infinite) and absent
/// values (NaN) mixed in.
fn stream(n: usize) -> Array2<f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    Array2::from_shape_fn((n, 4), |(i, c)| {
        let r = next();
        match (i % 97, c) {
            (13, 0) => f64::INFINITY,
            (29, 2) => -0.5,
            (41, 1) => f64::NAN,
            (_, 0) => [0.9, 0.45 + 0.1 * r, 0.1][i / 150 % 3],
            (_, 1) => 0.4 + 0.4 * r,
            (_, 2) => 0.1 * r,
            _ => {
                if i % 500 < 4 {
                    0.3
                } else {
                    0.004 * r
                }
            }
        }
    })
}

fn row_state(row: ndarray::ArrayView1<'_, f64>) -> State {
    let v = |x: f64| (!x.is_nan()).then_some(x);
    State {
        novelty: v(row[0]),
        aesthetic_score: v(row[1]),
        volatility: v(row[2]),
        lambda_max: v(row[3]),
        ..State::default()
    }
}

fn config() -> Config {
    let mut config = Config::default();
    config.quality.min_samples = 3;
    config
}

#[test]
fn a_batch_decides_as_the_loop_does_row_by_row() {
    let states = stream(20_000);
    let mut batch = CreativeLoop::new(config()).unwrap();
    let mut single = CreativeLoop::new(config()).unwrap();
    let decisions = batch.update_many(states.view()).unwrap();
    assert_eq!(decisions.len(), 20_000);
    let mut seen_modes = [false; 4];
    for (i, row) in states.rows().into_iter().enumerate() {
        match single.update(&row_state(row)) {
            Ok(d) => {
                assert!(decisions.accepted[i], "row {i}");
                assert_eq!(Action::ALL[usize::from(decisions.action[i])], d.action);
                assert_eq!(Mode::ALL[usize::from(decisions.mode[i])], d.mode);
                seen_modes[usize::from(decisions.mode[i])] = true;
                assert_eq!(
                    decisions.entropy_factor[i].to_bits(),
                    d.entropy_factor.to_bits()
                );
                assert_eq!(
                    decisions.lambda_factor[i].to_bits(),
                    d.lambda_factor.to_bits()
                );
                assert_eq!(
                    decisions.predicted_gain[i].to_bits(),
                    d.predicted_gain.unwrap_or(f64::NAN).to_bits()
                );
                assert_eq!(
                    decisions.creative_gain[i].to_bits(),
                    d.outcome.map_or(f64::NAN, |o| o.gain).to_bits()
                );
            }
            Err(_) => {
                assert!(!decisions.accepted[i], "row {i}");
                assert_eq!(decisions.action[i], u8::MAX);
                assert!(decisions.entropy_factor[i].is_nan());
            }
        }
    }
    assert!(seen_modes.iter().all(|m| *m), "{seen_modes:?}");
    assert!(decisions.rejected() > 100);
    assert!(decisions.creative_gain.iter().any(|g| !g.is_nan()));
    assert_eq!(batch.snapshot(), single.snapshot());
}

#[test]
fn a_batch_of_the_wrong_shape_is_refused_and_steps_nothing() {
    let mut feedback = CreativeLoop::new(config()).unwrap();
    let e = feedback
        .update_many(Array2::<f64>::zeros((3, 5)).view())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("5 columns") && e.contains(&STATE_COLUMNS.join(", ")),
        "{e}"
    );
    assert_eq!(feedback.metrics().steps, 0);
    let empty = feedback
        .update_many(Array2::<f64>::zeros((0, 4)).view())
        .unwrap();
    assert!(empty.is_empty());
}

#[test]
fn pretraining_from_arrays_learns_as_from_records() {
    let n = 60;
    let states = Array2::from_shape_fn((n, 4), |(i, c)| {
        [0.2 + 0.01 * i as f64, 0.5, 0.05, 0.003][c]
    });
    let factors = Array1::from_shape_fn(n, |i| 0.2 + 0.01 * (i % 50) as f64);
    let mut durations = Array1::from_shape_fn(n, |i| 20.0 + (i % 7) as f64);
    let mut gains = Array1::from_shape_fn(n, |i| ((i as f64) * 0.3).sin() * 0.5);
    durations[5] = 0.0;
    durations[6] = 2.5;
    gains[7] = 3.0;
    let mut from_arrays = CreativeLoop::new(config()).unwrap();
    let report = from_arrays
        .pretrain_arrays(
            states.view(),
            factors.view(),
            durations.view(),
            gains.view(),
        )
        .unwrap();
    assert_eq!(report.used, n - 3);
    let skipped: Vec<usize> = report.skipped.iter().map(|s| s.line).collect();
    assert_eq!(skipped, [6, 7, 8]);
    assert_eq!(report.skipped[0].reasons[0].field, "duration");

    let mut from_records = CreativeLoop::new(config()).unwrap();
    for i in (0..n).filter(|i| ![5, 6, 7].contains(i)) {
        from_records
            .pretrain(&HistoryRecord {
                initial_state: row_state(states.row(i)),
                entropy_factor: factors[i],
                duration: durations[i] as u32,
                creative_gain: gains[i],
                samples_seen: None,
            })
            .unwrap();
    }
    assert_eq!(from_arrays.snapshot(), from_records.snapshot());
    assert!(from_arrays.metrics().quality.trained);

    let e = from_arrays
        .pretrain_arrays(
            states.view(),
            factors.view(),
            durations.view(),
            gains.slice(ndarray::s![..3]),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("not 60, 60 and 3"), "{e}");
}
