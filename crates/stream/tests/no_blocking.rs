//! A slow or stalled sink never blocks the loop, and every message is accounted for.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use async_trait::async_trait;
use creative_feedback_core::{Config, CreativeLoop, State};
use creative_feedback_stream::{Dispatcher, Message, Sink, SinkError};

/// A sink that never finishes a send.
struct Hanging;

#[async_trait]
impl Sink for Hanging {
    fn name(&self) -> &str {
        "hanging"
    }
    async fn send(&mut self, _: &Message) -> Result<(), SinkError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// A sink that sleeps on every message.
struct Slow;

#[async_trait]
impl Sink for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    async fn send(&mut self, _: &Message) -> Result<(), SinkError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

fn states(n: u64, seed: u64) -> Vec<State> {
    creative_feedback_sim::recorded_states(seed, n).unwrap()
}

/// The property, without a clock: with one sink that never returns and one that sleeps on every
/// message, the loop still completes every step (a blocking dispatch would hang here, and the
/// test's deadline only bounds that hang), the queues stay within their bound, and every
/// message is accounted for exactly: sent + errors + dropped + pending = produced, while it runs
/// and after shutdown (when the messages a stopped sink held count as dropped). How fast the loop runs meanwhile is a benchmark
/// (`stream/update_and_dispatch_hanging_and_slow_sinks`), not a test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_slow_sink_never_blocks_the_loop() {
    let states = states(100_000, 1);
    let mut dispatcher = Dispatcher::builder()
        .interval_steps(100)
        .unwrap()
        .queue_capacity(256)
        .unwrap()
        .sink(Hanging)
        .sink(Slow)
        .build()
        .unwrap();
    let run = tokio::task::spawn_blocking(move || {
        let mut l = CreativeLoop::new(Config::default()).unwrap();
        let mut events = 0u64;
        for s in &states {
            let _ = l.update(s);
            events += l.pending_events().len() as u64;
            dispatcher.dispatch(&mut l);
        }
        // Dispatched after every step, a snapshot goes out at every multiple of the interval.
        let snapshots = l.steps() / 100;
        (l, dispatcher, events, snapshots)
    });
    let (l, dispatcher, events, snapshots) = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("a sink blocked the loop")
        .unwrap();
    assert_eq!(l.steps(), 100_000, "every step completed");
    let produced = events + snapshots;
    let stats = dispatcher.stats();
    for s in &stats {
        // The queue's bound, plus at most one queue's worth taken by the sink's task.
        assert!(s.pending <= 2 * 256, "{s:?}");
        assert!(s.dropped() > 0, "the queue overflowed: {s:?}");
        // The slow sink is still sending: the one message it is finishing may, for an instant,
        // be counted as both sent and pending, or as neither.
        let accounted = s.sent + s.errors + s.dropped() + s.pending as u64;
        assert!(
            accounted.abs_diff(produced) <= 1,
            "{accounted} vs {produced}: {s:?}"
        );
    }
    let report = dispatcher.shutdown(Duration::from_millis(200)).await;
    let hanging = &report[0];
    assert_eq!(hanging.sent, 0);
    assert_eq!(
        hanging.pending, 0,
        "leftovers are counted as dropped at shutdown"
    );
    for s in &report {
        assert_eq!(s.pending, 0, "{s:?}");
        assert_eq!(s.sent + s.errors + s.dropped(), produced, "{s:?}");
    }
}
