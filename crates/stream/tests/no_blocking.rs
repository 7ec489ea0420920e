//! A slow, stalled or failing sink never slows the loop. Alone in its test binary, so that no
//! other test competes for the CPU while it measures.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

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

/// Seconds per pass over `states`, the best of `rounds`.
fn time_run(states: &[State], dispatcher: &mut Option<Dispatcher>, rounds: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let mut l = CreativeLoop::new(Config::default()).unwrap();
        let start = Instant::now();
        for s in states {
            let _ = l.update(s);
            match dispatcher {
                Some(d) => d.dispatch(&mut l),
                None => l.drain_events().for_each(drop),
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_slow_sink_never_slows_the_loop() {
    let states = states(100_000, 1);
    let mut with = Some(
        Dispatcher::builder()
            .interval_steps(100)
            .unwrap()
            .queue_capacity(256)
            .unwrap()
            .sink(Hanging)
            .sink(Slow)
            .build()
            .unwrap(),
    );
    // Alternate the two measurements and keep the best of each, so that a burst of load from
    // elsewhere on the machine cannot favour one side.
    let (mut bare, mut slowed) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..7 {
        bare = bare.min(time_run(&states, &mut None, 1));
        slowed = slowed.min(time_run(&states, &mut with, 1));
    }
    eprintln!(
        "bare {bare:.4} s, with a hanging and a slow sink {slowed:.4} s ({:.2}×)",
        slowed / bare
    );
    let dispatcher = with.take().unwrap();
    let stats = dispatcher.stats();
    assert!(
        stats.iter().all(|s| s.dropped() > 0),
        "the queues overflowed: {stats:?}"
    );
    assert!(stats.iter().all(|s| s.pending <= 256));
    assert!(
        slowed <= bare * 1.2,
        "with a hanging sink {slowed:.4} s vs {bare:.4} s bare"
    );
    let report = dispatcher.shutdown(Duration::from_millis(200)).await;
    let hanging = &report[0];
    assert_eq!(hanging.sent, 0);
    assert_eq!(
        hanging.pending, 0,
        "leftovers are counted as dropped at shutdown"
    );
}
