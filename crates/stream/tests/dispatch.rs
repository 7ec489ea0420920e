//! The dispatcher never blocks the loop and never loses or reorders a transition.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop, Event, HealthReason, State};
use creative_feedback_stream::{
    CallbackSink, Dispatcher, ManualClock, Message, Payload, SinkError,
};
use proptest::prelude::*;

/// `PROPTEST_CASES` when set, else this file's default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn states(n: u64, seed: u64) -> Vec<State> {
    creative_feedback_sim::recorded_states(seed, n).unwrap()
}

#[tokio::test]
async fn a_failing_sink_is_counted_and_degrades_health() {
    let mut d = Dispatcher::builder()
        .sink(CallbackSink::new("broken", |_| {
            Err(SinkError::new("disk full"))
        }))
        .build()
        .unwrap();
    let mut l = CreativeLoop::new(Config::default()).unwrap();
    l.update(&State::new(0.9, 0.6)).unwrap();
    d.dispatch(&mut l);
    // Waits for the sink's task to fail twice; the deadline only bounds a hang.
    tokio::time::timeout(Duration::from_secs(30), async {
        while d.stats()[0].errors < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        d.health(&l).reason,
        Some(HealthReason::SinkFailing("broken".into()))
    );
    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats[0].sent, stats[0].errors), (0, 2));
}

#[tokio::test]
async fn an_async_callback_sees_timestamps_from_the_clock() {
    let clock = ManualClock::new(1_700_000_000_000);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    let mut d = Dispatcher::builder()
        .clock(clock.clone())
        .sink(CallbackSink::from_async("async", move |m: Message| {
            let out = Arc::clone(&out);
            async move {
                tokio::task::yield_now().await;
                out.lock().map_err(|e| e.to_string())?.push(m.timestamp_ms);
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let mut l = CreativeLoop::new(Config::default()).unwrap();
    l.update(&State::new(0.9, 0.6)).unwrap();
    d.dispatch(&mut l);
    clock.advance(1_500);
    d.publish_snapshot(l.metrics());
    d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [1_700_000_000_000, 1_700_000_000_000, 1_700_000_001_500]
    );
}

fn run_and_collect(
    states: &[State],
    interval: u64,
    rt: &tokio::runtime::Runtime,
) -> (Vec<Event>, Vec<Event>, u64, u64) {
    let collected = Arc::new(Mutex::new(Vec::new()));
    let snapshots = Arc::new(Mutex::new(0u64));
    let (c, s) = (Arc::clone(&collected), Arc::clone(&snapshots));
    let mut d = Dispatcher::builder()
        .interval_steps(interval)
        .unwrap()
        .queue_capacity(1 << 20)
        .unwrap()
        .sink(CallbackSink::new("collector", move |m| {
            match &m.payload {
                Payload::Event(e) => c.lock().map_err(|e| e.to_string())?.push(e.clone()),
                Payload::Snapshot(_) => *s.lock().map_err(|e| e.to_string())? += 1,
            }
            Ok(())
        }))
        .build_on(rt.handle());
    let mut l = CreativeLoop::new(Config {
        max_exploration_steps: 30,
        min_exploration_steps: 5,
        recovery_steps: 3,
        plateau_steps: Some(7),
        ..Config::default()
    })
    .unwrap();
    let mut shadow = CreativeLoop::new(l.config().clone()).unwrap();
    let mut expected = Vec::new();
    for s in states {
        let _ = l.update(s);
        let _ = shadow.update(s);
        expected.extend(shadow.drain_events());
        d.dispatch(&mut l);
    }
    let stats = rt.block_on(d.shutdown(Duration::from_secs(5)));
    assert_eq!(stats[0].dropped(), 0);
    let got = collected.lock().unwrap().clone();
    let snaps = *snapshots.lock().unwrap();
    (got, expected, snaps, l.steps())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    #[test]
    fn every_transition_reaches_the_sink_exactly_once_in_order(
        seed in 0u64..1_000,
        len in 50u64..3_000,
        interval in prop_oneof![Just(10u64), Just(100u64)],
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let states = states(len, seed);
        let (got, expected, snapshots, steps) = run_and_collect(&states, interval, &rt);
        let ended = expected.iter().any(|e| matches!(e, Event::ExplorationEnded { .. }));
        prop_assert!(ended || len < 200, "the run should end explorations");
        prop_assert_eq!(got, expected);
        prop_assert_eq!(snapshots, steps / interval);
    }
}

/// Recorded states with invalid and out-of-range ones mixed in: rejected states must emit
/// nothing, clamped ones their corrections.
fn mixed_states(n: u64, seed: u64) -> Vec<State> {
    states(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, s)| match i % 17 {
            3 => State::new(f64::NAN, 0.5),
            7 => State::new(1.4, -0.2),
            11 => State::default(),
            _ => s,
        })
        .collect()
}

/// Exactly once, in order, even through a small queue that fills. The sink is held shut while
/// the loop produces a snapshot every step: the queue (32) overflows with snapshots, which are
/// dropped, while the events produced meanwhile (fewer than 32) wait. Opened, the sink gets
/// every event, including the input corrections of clamped states, once and in order.
#[test]
fn events_survive_a_full_queue_exactly_once_in_order() {
    use std::sync::Condvar;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let collected = Arc::new(Mutex::new(Vec::new()));
    let (c, g) = (Arc::clone(&collected), Arc::clone(&gate));
    let mut d = Dispatcher::builder()
        .interval_steps(1)
        .unwrap()
        .queue_capacity(32)
        .unwrap()
        .sink(CallbackSink::new("gated collector", move |m| {
            let (open, opened) = &*g;
            let guard = open.lock().map_err(|e| e.to_string())?;
            let _open = opened
                .wait_while(guard, |open| !*open)
                .map_err(|e| e.to_string())?;
            if let Payload::Event(e) = &m.payload {
                c.lock().map_err(|e| e.to_string())?.push(e.clone());
            }
            Ok(())
        }))
        .build_on(rt.handle());
    let config = Config {
        max_exploration_steps: 30,
        min_exploration_steps: 5,
        recovery_steps: 3,
        plateau_steps: Some(7),
        ..Config::default()
    };
    let mut l = CreativeLoop::new(config.clone()).unwrap();
    let mut shadow = CreativeLoop::new(config).unwrap();
    let mut expected = Vec::new();
    let (mut rejected, mut corrected) = (0, 0);
    for s in &mixed_states(5_000, 4) {
        // Open the gate before the waiting events could fill the queue by themselves.
        if expected.len() >= 24 {
            let (open, opened) = &*gate;
            *open.lock().unwrap() = true;
            opened.notify_all();
        }
        rejected += u32::from(l.update(s).is_err());
        let _ = shadow.update(s);
        for e in shadow.drain_events() {
            corrected += u32::from(matches!(e, Event::InputCorrected { .. }));
            expected.push(e);
        }
        d.dispatch(&mut l);
        // Once open, the sink keeps up with the events (snapshots may still be dropped);
        // waiting for it here keeps the test about ordering, not about speed. Bounded.
        if *gate.0.lock().unwrap() {
            for _ in 0..10_000 {
                if d.stats()[0].pending < 16 {
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
    let stats = rt.block_on(d.shutdown(Duration::from_secs(30)));
    assert!(rejected > 100 && corrected > 100, "{rejected} {corrected}");
    assert!(
        stats[0].dropped_snapshots > 0,
        "the queue never filled: {stats:?}"
    );
    assert_eq!(stats[0].dropped_events, 0, "{stats:?}");
    assert_eq!(*collected.lock().unwrap(), expected);
}
