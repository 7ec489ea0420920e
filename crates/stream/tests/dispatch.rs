//! The dispatcher never blocks the loop and never loses or reorders a transition.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop, Event, HealthReason, State};
use creative_feedback_stream::{
    CallbackSink, Dispatcher, ManualClock, Message, Payload, SinkError,
};
use proptest::prelude::*;

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
    tokio::time::timeout(Duration::from_secs(5), async {
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
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

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
