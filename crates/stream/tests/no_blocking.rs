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
    let bare = time_run(&states, &mut None, 5);
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
    let slowed = time_run(&states, &mut with, 5);
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
