//! Criterion benches for the session pool: one update among 10,000 resident sessions, the same
//! on one and two threads (updates of different sessions share only the learning's short
//! sections), and an eviction with its reload.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use creative_feedback_core::{Config, CreativeLoop, SelectorKind, State};
use creative_feedback_sessions::{MemoryStore, Pool, PoolConfig};
use creative_feedback_sim::{Host, HostConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SESSIONS: usize = 10_000;
const STREAM: usize = 4096;

/// A recorded stream of host states (a simulated host driven by a single loop), replayed to
/// every session with an offset so that sessions are in different modes at any moment.
fn states() -> Vec<State> {
    let mut host = Host::new(HostConfig::seeded(1)).unwrap();
    let mut feedback = CreativeLoop::new(Config::default()).unwrap();
    (0..STREAM)
        .map(|_| {
            let state = host.observe();
            host.apply(&feedback.update(&state).unwrap());
            state
        })
        .collect()
}

fn warm_pool(settings: PoolConfig, store: Option<Arc<MemoryStore>>) -> (Pool, Vec<String>) {
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    let store = store.map(|s| s as Arc<dyn creative_feedback_sessions::SessionStore>);
    let pool = Pool::new(CreativeLoop::new(config).unwrap(), settings, store).unwrap();
    let ids: Vec<String> = (0..SESSIONS).map(|i| format!("session-{i}")).collect();
    let states = states();
    for round in 0..20 {
        for (i, id) in ids.iter().enumerate() {
            let now = (round * SESSIONS + i) as u64;
            pool.update_state(id, &states[(i * 7 + round) % STREAM], now)
                .unwrap();
        }
    }
    (pool, ids)
}

fn update(c: &mut Criterion) {
    let states = states();
    let (pool, ids) = warm_pool(PoolConfig::default(), None);
    let mut group = c.benchmark_group("pool");
    group.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    group.bench_function("update_one_of_10k_sessions", |b| {
        b.iter(|| {
            n += 1;
            let id = &ids[n % SESSIONS];
            black_box(pool.update_state(id, &states[(n / SESSIONS + n * 7) % STREAM], 0))
        });
    });
    group.finish();

    // The same updates spread over one or two threads, each with its own sessions.
    let pool = Arc::new(pool);
    let ids = Arc::new(ids);
    let states = Arc::new(states);
    let mut group = c.benchmark_group("pool/threads");
    const BATCH: u64 = 2000;
    group.throughput(Throughput::Elements(BATCH));
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads}_updating_{BATCH}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for iter in 0..iters {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let (pool, ids, states) =
                                (Arc::clone(&pool), Arc::clone(&ids), Arc::clone(&states));
                            std::thread::spawn(move || {
                                let per = BATCH as usize / threads;
                                for k in 0..per {
                                    let i = (t * SESSIONS / 2 + k) % SESSIONS;
                                    let s = &states[(iter as usize + k * 7) % STREAM];
                                    black_box(pool.update_state(&ids[i], s, 0).ok());
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().unwrap();
                    }
                    total += start.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

fn evict_and_reload(c: &mut Criterion) {
    let states = states();
    let store = Arc::new(MemoryStore::new());
    // Room for all but one: every update of a session not in memory evicts the least recently
    // used one and reloads its own.
    let (pool, ids) = warm_pool(
        PoolConfig {
            max_sessions: SESSIONS,
            ..PoolConfig::default()
        },
        Some(store),
    );
    let mut group = c.benchmark_group("pool");
    group.throughput(Throughput::Elements(1));
    // Times go on in whole seconds, the resolution of the order of last use, so that the
    // session updated next is always the least recently used one.
    let mut n = 0usize;
    group.bench_function("update_with_eviction_and_reload", |b| {
        b.iter(|| {
            n += 1;
            let id = &ids[n % SESSIONS];
            let now = 1_000_000_000 + n as u64 * 1000;
            black_box(pool.update_state(id, &states[n % STREAM], now))
        });
    });
    group.finish();
}

criterion_group!(benches, update, evict_and_reload);
criterion_main!(benches);
