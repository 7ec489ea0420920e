//! The pool's promises: one learning taught by every session, determinism for a given order,
//! eviction and reload that change no decision, and bad input that changes nothing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use creative_feedback_core::{
    Config, CreativeLoop, Decision, Mode, ReadState, SelectorKind, State,
};
use creative_feedback_sessions::{DirStore, Error, MemoryStore, Pool, PoolConfig, SessionStore};
use creative_feedback_sim::{Host, HostConfig};

fn learned_config() -> Config {
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    config
}

/// A pool whose sessions are evicted to a store in memory, and the store.
fn stored(config: Config, settings: PoolConfig) -> (Pool, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (pool(config, settings, Some(store.clone())), store)
}

/// A pool with a memory store whose sessions go after `ttl_ms` idle.
fn idle_after(ttl_ms: u64) -> (Pool, Arc<MemoryStore>) {
    stored(
        Config::default(),
        PoolConfig {
            idle_ttl_ms: Some(ttl_ms),
            ..PoolConfig::default()
        },
    )
}

fn pool(config: Config, settings: PoolConfig, store: Option<Arc<dyn SessionStore>>) -> Pool {
    Pool::new(CreativeLoop::new(config).unwrap(), settings, store).unwrap()
}

/// Drives `sessions` simulated hosts round-robin for `rounds` rounds, one update each per
/// round, and returns every decision in order.
fn drive(pool: &Pool, sessions: usize, rounds: usize) -> Vec<(String, Decision)> {
    let mut hosts: Vec<Host> = (0..sessions)
        .map(|i| Host::new(HostConfig::seeded(i as u64)).unwrap())
        .collect();
    let mut out = Vec::with_capacity(sessions * rounds);
    for round in 0..rounds {
        for (i, host) in hosts.iter_mut().enumerate() {
            let id = format!("s{i}");
            let stepped = pool
                .update_state(&id, &host.observe(), round as u64)
                .unwrap();
            host.apply(&stepped.decision);
            out.push((id, stepped.decision));
        }
    }
    out
}

#[test]
fn every_session_teaches_the_one_shared_model_and_selector() {
    let pool = pool(learned_config(), PoolConfig::default(), None);
    drive(&pool, 8, 3000);
    let stats = pool.stats();
    let ended: u64 = (0..8)
        .map(|i| {
            pool.with_session(&format!("s{i}"), |t| {
                t.counters().completed + t.counters().pruned
            })
            .unwrap()
        })
        .sum();
    let with_aborted: u64 = (0..8)
        .map(|i| {
            pool.with_session(&format!("s{i}"), |t| t.counters().ended())
                .unwrap()
        })
        .sum();
    assert!(ended > 8, "the hosts explored ({ended} explorations)");
    // The model learns from completed and pruned explorations, the selector from all.
    assert_eq!(stats.model_samples, ended);
    let pulls: u64 = stats
        .learned_arms
        .unwrap()
        .iter()
        .map(|a| a.explorations)
        .sum();
    assert_eq!(
        pulls, with_aborted,
        "the selector learned every session's outcomes"
    );
    assert_eq!(stats.resident, 9);
    assert_eq!(stats.tallies.created, 8);
    assert_eq!(stats.tallies.updates, 8 * 3000);
}

#[test]
fn the_same_order_of_updates_gives_the_same_decisions_and_learning() {
    let a = pool(learned_config(), PoolConfig::default(), None);
    let b = pool(learned_config(), PoolConfig::default(), None);
    assert_eq!(drive(&a, 5, 2000), drive(&b, 5, 2000));
    assert_eq!(
        a.learning_snapshot().to_json().unwrap(),
        b.learning_snapshot().to_json().unwrap()
    );
}

#[test]
fn the_primary_session_decides_as_a_single_loop_would() {
    let pool = pool(learned_config(), PoolConfig::default(), None);
    let mut single = CreativeLoop::new(learned_config()).unwrap();
    let mut host = Host::new(HostConfig::seeded(3)).unwrap();
    for step in 0..5000 {
        let state = host.observe();
        let from_pool = pool.update_state("default", &state, step).unwrap().decision;
        assert_eq!(from_pool, single.update(&state).unwrap(), "step {step}");
        host.apply(&from_pool);
    }
    assert_eq!(
        pool.loop_snapshot("default").unwrap().to_json().unwrap(),
        single.snapshot().to_json().unwrap()
    );
}

#[test]
fn sessions_evicted_and_reloaded_decide_as_if_they_had_stayed() {
    let roomy = pool(learned_config(), PoolConfig::default(), None);
    let (tight, store) = stored(
        learned_config(),
        PoolConfig {
            max_sessions: 3, // the primary and two of the six sessions
            ..PoolConfig::default()
        },
    );
    assert_eq!(drive(&roomy, 6, 600), drive(&tight, 6, 600));
    let stats = tight.stats();
    assert!(stats.tallies.evicted > 1000, "{:?}", stats.tallies);
    assert_eq!(stats.tallies.reloaded, stats.tallies.evicted - 4);
    assert_eq!(stats.resident, 3);
    assert_eq!(store.len(), 6, "every session was evicted at least once");
    assert_eq!(
        roomy.learning_snapshot().to_json().unwrap(),
        tight.learning_snapshot().to_json().unwrap()
    );
}

#[test]
fn without_a_store_only_sessions_idle_past_the_ttl_make_room() {
    let pool = pool(
        Config::default(),
        PoolConfig {
            max_sessions: 2,
            idle_ttl_ms: Some(1000),
            ..PoolConfig::default()
        },
        None,
    );
    let state = State::new(0.5, 0.6);
    pool.update_state("a", &state, 0).unwrap();
    let full = pool.update_state("b", &state, 999).unwrap_err();
    assert!(matches!(full, Error::Full { max_sessions: 2 }), "{full}");
    assert!(full.to_string().contains("retry later"));
    assert_eq!(pool.stats().tallies.refused, 1);
    // At the TTL, `a` may be dropped for `b`.
    pool.update_state("b", &state, 1000).unwrap();
    assert!(matches!(pool.get("a"), Err(Error::Unknown { .. })));
    assert_eq!(pool.stats().tallies.evicted, 1);
}

#[test]
fn idle_sessions_are_saved_and_evicted_and_the_primary_stays() {
    let (pool, _store) = idle_after(60_000);
    let state = State::new(0.9, 0.6);
    pool.update_state("default", &state, 0).unwrap();
    pool.update_state("old", &state, 0).unwrap();
    pool.update_state("new", &state, 30_000).unwrap();
    assert_eq!(pool.evict_idle(59_999), 0);
    assert_eq!(pool.evict_idle(60_000), 1);
    assert_eq!(pool.stats().tallies.expired, 1);
    assert_eq!(pool.stats().resident, 2);
    let info = pool.get("old").unwrap();
    assert!(!info.resident);
    assert_eq!(info.metrics.steps, 1);
    assert_eq!(info.metrics.mode, Mode::Exploring);
    // The next update reloads it where it was.
    let stepped = pool.update_state("old", &state, 70_000).unwrap();
    assert!(stepped.reloaded);
    assert_eq!(stepped.steps, 2);
}

#[test]
fn an_invalid_state_changes_nothing_in_any_session() {
    let pool = pool(learned_config(), PoolConfig::default(), None);
    drive(&pool, 3, 500);
    let before = pool.learning_snapshot().to_json().unwrap();
    let list_before = pool.list(10, 0);
    let read = ReadState::from_json(r#"{"novelty": "x", "aesthetic_score": "y"}"#).unwrap();
    let err = pool.update("s1", &read, 9).unwrap_err();
    let Error::Rejected { id, rejected } = &err else {
        panic!("{err}");
    };
    assert_eq!(id, "s1");
    let fields: Vec<&str> = rejected.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["novelty", "aesthetic_score"]);
    assert_eq!(pool.learning_snapshot().to_json().unwrap(), before);
    assert_eq!(pool.list(10, 0), list_before);
    assert_eq!(pool.stats().tallies.rejected, 1);
}

#[test]
fn ids_are_checked_and_unknown_sessions_are_named() {
    let pool = pool(Config::default(), PoolConfig::default(), None);
    let state = State::new(0.5, 0.6);
    for bad in ["", "../etc", "a b", &"x".repeat(129)] {
        let err = pool.update_state(bad, &state, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidId { .. }), "{bad:?}: {err}");
    }
    assert_eq!(pool.stats().resident, 1);
    let err = pool.get("nobody").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no session \"nobody\"; a session is created by its first update"
    );
    pool.update_state("gone", &state, 0).unwrap();
    assert!(pool.remove("gone").unwrap());
    assert!(!pool.remove("gone").unwrap());
    assert!(matches!(pool.get("gone"), Err(Error::Unknown { .. })));
    assert_eq!(pool.stats().tallies.removed, 1);
}

#[test]
fn the_list_pages_sessions_most_recent_first() {
    let pool = pool(Config::default(), PoolConfig::default(), None);
    let state = State::new(0.5, 0.6);
    for (i, id) in ["c", "a", "b"].iter().enumerate() {
        pool.update_state(id, &state, 10 + i as u64).unwrap();
    }
    let page = pool.list(2, 0);
    assert_eq!(page.total, 4);
    let ids: Vec<&str> = page.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    let rest: Vec<String> = pool
        .list(10, 2)
        .sessions
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(rest, ["c", "default"]);
}

#[test]
fn a_folder_store_keeps_sessions_across_pools_and_refuses_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn SessionStore> = Arc::new(DirStore::open(dir.path()).unwrap());
    let settings = PoolConfig {
        snapshot_every: 100,
        ..PoolConfig::default()
    };
    let first = pool(learned_config(), settings.clone(), Some(store.clone()));
    drive(&first, 2, 250);
    // Saved at steps 100 and 200: a crash now loses 50 steps of each.
    let saved = store.load("s0").unwrap().unwrap();
    assert_eq!(saved.steps(), 200);
    assert_eq!(first.save_all().unwrap(), 2);
    assert_eq!(store.load("s1").unwrap().unwrap().steps(), 250);

    std::fs::write(dir.path().join("s1.json"), "{not json").unwrap();
    let second = pool(learned_config(), settings, Some(store));
    let err = second
        .update_state("s1", &State::new(0.5, 0.6), 0)
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("DELETE the session"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s1.json")).unwrap(),
        "{not json"
    );
    assert_eq!(
        second
            .update_state("s0", &State::new(0.5, 0.6), 0)
            .unwrap()
            .steps,
        251
    );
    assert_eq!(second.stats().resident, 2);
}

#[test]
fn sessions_on_many_threads_all_reach_the_shared_learning() {
    let pool = Arc::new(pool(learned_config(), PoolConfig::default(), None));
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                for i in 0..4 {
                    let id = format!("t{thread}-{i}");
                    let mut host = Host::new(HostConfig::seeded(thread * 10 + i)).unwrap();
                    for step in 0..1500 {
                        let d = pool.update_state(&id, &host.observe(), step).unwrap();
                        host.apply(&d.decision);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let list = pool.list(100, 0);
    assert_eq!(list.total, 17);
    let ended: u64 = list
        .sessions
        .iter()
        .filter(|s| s.id != "default")
        .map(|s| {
            pool.with_session(&s.id, |t| t.counters().completed + t.counters().pruned)
                .unwrap()
        })
        .sum();
    assert_eq!(pool.stats().model_samples, ended);
    assert_eq!(pool.stats().tallies.updates, 16 * 1500);
    let modes: usize = pool.stats().by_mode.values().sum();
    assert_eq!(modes, 17);
}

#[test]
fn the_least_recently_used_session_is_evicted_first() {
    let (pool, store) = stored(
        Config::default(),
        PoolConfig {
            max_sessions: 3,
            ..PoolConfig::default()
        },
    );
    let state = State::new(0.5, 0.6);
    // The order of last use is kept to the second.
    pool.update_state("a", &state, 0).unwrap();
    pool.update_state("b", &state, 2_000).unwrap();
    pool.update_state("a", &state, 4_000).unwrap();
    pool.update_state("c", &state, 6_000).unwrap();
    assert!(pool.get("a").unwrap().resident);
    assert!(
        !pool.get("b").unwrap().resident,
        "b was the least recently used"
    );
    assert!(pool.get("c").unwrap().resident);
    assert_eq!(store.len(), 1);
    // The primary is never a candidate, however old.
    pool.update_state("d", &state, 8_000).unwrap();
    assert!(pool.get("default").unwrap().resident);
    assert!(!pool.get("a").unwrap().resident);
}

#[test]
fn settings_that_cannot_work_are_refused_by_name() {
    let cases = [
        (
            PoolConfig {
                max_sessions: 0,
                ..PoolConfig::default()
            },
            "max_sessions",
        ),
        (
            PoolConfig {
                session_history: 0,
                ..PoolConfig::default()
            },
            "session_history",
        ),
        (
            PoolConfig {
                shards: 0,
                ..PoolConfig::default()
            },
            "shards",
        ),
        (
            PoolConfig {
                shards: 5000,
                ..PoolConfig::default()
            },
            "shards",
        ),
        (
            PoolConfig {
                idle_ttl_ms: Some(0),
                ..PoolConfig::default()
            },
            "idle_ttl",
        ),
    ];
    for (settings, key) in cases {
        let err = Pool::new(
            CreativeLoop::new(Config::default()).unwrap(),
            settings,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidSetting { key: k, .. } if *k == key),
            "{key}: {err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
    let bad_primary = PoolConfig {
        primary: "a b".into(),
        ..PoolConfig::default()
    };
    let err = Pool::new(
        CreativeLoop::new(Config::default()).unwrap(),
        bad_primary,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidId { .. }), "{err}");
}

#[test]
fn the_pool_reports_its_config_and_itself() {
    let config = Config {
        max_exploration_steps: 77,
        ..Config::default()
    };
    let settings = PoolConfig {
        max_sessions: 123,
        ..PoolConfig::default()
    };
    let pool = pool(config, settings, None);
    assert_eq!(pool.config().max_exploration_steps, 77);
    assert_eq!(pool.settings().max_sessions, 123);
    let shown = format!("{pool:?}");
    assert!(shown.contains("resident: 1"), "{shown}");
}

#[test]
fn sessions_used_in_the_same_second_are_evicted_in_the_order_of_use() {
    // Within a second the order is the shard's own order of use: one shard holds them all.
    let (pool, _store) = stored(
        Config::default(),
        PoolConfig {
            max_sessions: 3,
            shards: 1,
            ..PoolConfig::default()
        },
    );
    let state = State::new(0.5, 0.6);
    pool.update_state("a", &state, 0).unwrap();
    pool.update_state("b", &state, 0).unwrap();
    pool.update_state("c", &state, 0).unwrap();
    assert!(!pool.get("a").unwrap().resident, "a was used first");
    assert!(pool.get("b").unwrap().resident);
}

#[test]
fn a_use_a_whole_second_later_moves_a_session_up() {
    let (pool, _store) = stored(
        Config::default(),
        PoolConfig {
            max_sessions: 3,
            ..PoolConfig::default()
        },
    );
    let state = State::new(0.5, 0.6);
    pool.update_state("a", &state, 0).unwrap();
    pool.update_state("b", &state, 500).unwrap();
    pool.update_state("a", &state, 1_000).unwrap(); // exactly the resolution later
    pool.update_state("c", &state, 1_500).unwrap();
    assert!(pool.get("a").unwrap().resident);
    assert!(
        !pool.get("b").unwrap().resident,
        "b is now the least recently used"
    );
}

#[test]
fn with_snapshot_every_zero_sessions_are_saved_only_when_asked_or_evicted() {
    let (pool, store) = stored(
        Config::default(),
        PoolConfig {
            snapshot_every: 0,
            ..PoolConfig::default()
        },
    );
    for step in 0..50 {
        pool.update_state("a", &State::new(0.5, 0.6), step).unwrap();
    }
    assert!(store.is_empty());
    assert_eq!(pool.save_all().unwrap(), 1);
    assert_eq!(store.load("a").unwrap().unwrap().steps(), 50);
}

#[test]
fn idle_eviction_reads_the_exact_time_of_the_last_use() {
    let (pool, _store) = idle_after(10_000);
    let state = State::new(0.5, 0.6);
    pool.update_state("a", &state, 0).unwrap();
    // Within the order's resolution: the shard keeps 0, the session knows 900.
    pool.update_state("a", &state, 900).unwrap();
    assert_eq!(pool.evict_idle(10_000), 0, "idle for 9.1 s only");
    assert_eq!(pool.evict_idle(10_900), 1);
}

/// A store in memory whose writes fail while `failing` is set, and take `delay` (a disk's
/// time) when it is not zero.
#[derive(Default)]
struct TestStore {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
    delay: std::time::Duration,
}

impl SessionStore for TestStore {
    fn load(&self, id: &str) -> Result<Option<creative_feedback_core::TrajectorySnapshot>, Error> {
        self.inner.load(id)
    }
    fn save(
        &self,
        id: &str,
        snapshot: &creative_feedback_core::TrajectorySnapshot,
    ) -> Result<(), Error> {
        std::thread::sleep(self.delay);
        if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Store {
                id: id.to_owned(),
                message: "disk full".into(),
            });
        }
        self.inner.save(id, snapshot)
    }
    fn remove(&self, id: &str) -> Result<bool, Error> {
        self.inner.remove(id)
    }
}

#[test]
fn a_session_that_cannot_be_saved_is_not_evicted_and_the_failure_is_reported() {
    let store = Arc::new(TestStore::default());
    let pool = pool(
        Config::default(),
        PoolConfig {
            max_sessions: 2,
            ..PoolConfig::default()
        },
        Some(store.clone()),
    );
    let state = State::new(0.5, 0.6);
    pool.update_state("a", &state, 0).unwrap();
    store
        .failing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = pool.update_state("b", &state, 5_000).unwrap_err();
    assert!(matches!(err, Error::Full { .. }), "{err}");
    assert!(
        pool.get("a").unwrap().resident,
        "a was kept: it could not be saved"
    );
    let failing = pool.store_failing().unwrap();
    assert!(failing.contains("disk full"), "{failing}");
    assert!(pool.stats().tallies.store_errors >= 1);
    // The disk recovers: the next write succeeds and clears the failure.
    store
        .failing
        .store(false, std::sync::atomic::Ordering::Relaxed);
    pool.update_state("b", &state, 6_000).unwrap();
    assert!(!pool.get("a").unwrap().resident);
    assert_eq!(pool.store_failing(), None);
}

#[test]
fn threads_taking_turns_at_a_full_pool_are_never_refused() {
    // Four threads, two conversations each in turns, room for one each (and the primary): at
    // every turn each thread needs a place while the others are mid-update, or mid-save, as
    // saves to disk take a while.
    let store = Arc::new(TestStore {
        delay: std::time::Duration::from_millis(1),
        ..TestStore::default()
    });
    let pool = Arc::new(pool(
        Config::default(),
        PoolConfig {
            max_sessions: 5,
            ..PoolConfig::default()
        },
        Some(store),
    ));
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let mut hosts =
                    [thread * 2, thread * 2 + 1].map(|i| Host::new(HostConfig::seeded(i)).unwrap());
                for turn in 0..100u64 {
                    let i = (turn % 2) as usize;
                    let id = format!("conversation-{}", thread * 2 + i as u64);
                    for step in 0..5u64 {
                        let now = (turn * 5 + step) * 10;
                        let stepped = pool
                            .update_state(&id, &hosts[i].observe(), now)
                            .unwrap_or_else(|e| panic!("{id} at turn {turn}: {e}"));
                        hosts[i].apply(&stepped.decision);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.tallies.updates, 4 * 100 * 5);
    assert_eq!(stats.tallies.refused, 0);
    assert!(stats.resident <= 5);
}
