//! Criterion benches for the `stream` group: the dispatcher's hand-off of an event to a null sink,
//! and `update` plus `dispatch` against bare `update` on the same stream, with a null sink and
//! with a sink that never returns beside one that sleeps on every message.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use async_trait::async_trait;
use creative_feedback_core::{Config, CreativeLoop, Event, Mode, State};
use creative_feedback_stream::{Dispatcher, Message, Sink, SinkError};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

struct Null;

/// Never finishes a send.
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

/// Sleeps 5 ms on every message.
struct Slow;

#[async_trait]
impl Sink for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    async fn send(&mut self, _: &Message) -> Result<(), SinkError> {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        Ok(())
    }
}

#[async_trait]
impl Sink for Null {
    fn name(&self) -> &str {
        "null"
    }
    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        black_box(message);
        Ok(())
    }
}

fn states(n: u64) -> Vec<State> {
    creative_feedback_sim::recorded_states(1, n).unwrap()
}

fn stream(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("stream");

    let dispatcher = Dispatcher::builder()
        .queue_capacity(1 << 16)
        .unwrap()
        .sink(Null)
        .build_on(rt.handle());
    group.throughput(Throughput::Elements(1));
    let mut step = 0u64;
    group.bench_function("handoff_event_null_sink", |b| {
        b.iter(|| {
            step += 1;
            dispatcher.publish_event(black_box(Event::ModeChanged {
                step,
                from: Mode::Stable,
                to: Mode::Exploring,
                cumulative_gain: 0.0,
            }));
        });
    });
    let stats = dispatcher.stats();
    eprintln!(
        "hand-off: {} queued, {} sent, {} dropped",
        stats[0].queued,
        stats[0].sent,
        stats[0].dropped()
    );

    // 10,000 states (about 1.5 MB) stay in cache, as the state a host has just built does.
    let states = states(10_000);
    let mut bare = CreativeLoop::new(Config::default()).unwrap();
    let mut i = 0usize;
    group.bench_function("update_bare", |b| {
        b.iter(|| {
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let d = bare.update(black_box(&states[i]));
            bare.drain_events().for_each(drop);
            black_box(d)
        });
    });
    let mut feedback = CreativeLoop::new(Config::default()).unwrap();
    let mut dispatcher = Dispatcher::builder()
        .interval_steps(10)
        .unwrap()
        .sink(Null)
        .build_on(rt.handle());
    group.bench_function("update_and_dispatch_interval_10", |b| {
        b.iter(|| {
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let d = feedback.update(black_box(&states[i]));
            dispatcher.dispatch(&mut feedback);
            black_box(d)
        });
    });
    let mut feedback = CreativeLoop::new(Config::default()).unwrap();
    let mut stuck = Dispatcher::builder()
        .interval_steps(100)
        .unwrap()
        .queue_capacity(256)
        .unwrap()
        .sink(Hanging)
        .sink(Slow)
        .build_on(rt.handle());
    group.bench_function("update_and_dispatch_hanging_and_slow_sinks", |b| {
        b.iter(|| {
            i += 1;
            if i == states.len() {
                i = 0;
            }
            let d = feedback.update(black_box(&states[i]));
            stuck.dispatch(&mut feedback);
            black_box(d)
        });
    });
    group.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
