//! Property tests of the pool: whatever the sequence of updates, idle sweeps and removals, a
//! pool that evicts (to a store) decides exactly as one that never does, and its counts add up.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use creative_feedback_core::{Config, CreativeLoop, SelectorKind, State};
use creative_feedback_sessions::{Error, MemoryStore, Pool, PoolConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Session `id` (of 6) sees a state, `gap` seconds after the previous operation.
    Update {
        id: u8,
        novelty: f64,
        aesthetic: f64,
        gap: u8,
    },
    /// The idle sweep runs.
    Sweep { gap: u8 },
    /// Session `id` is removed.
    Remove { id: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u8..6, 0.0f64..1.0, 0.2f64..0.9, 0u8..3).prop_map(|(id, novelty, aesthetic, gap)| {
            Op::Update { id, novelty, aesthetic, gap }
        }),
        1 => (0u8..40).prop_map(|gap| Op::Sweep { gap }),
        1 => (0u8..6).prop_map(|id| Op::Remove { id }),
    ]
}

fn config() -> Config {
    let mut config = Config {
        min_exploration_steps: 3,
        max_exploration_steps: 12,
        recovery_steps: 2,
        ..Config::default()
    };
    config.quality.min_samples = 3;
    config.selector.kind = SelectorKind::Learned;
    config
}

fn pool(settings: PoolConfig, store: Option<Arc<MemoryStore>>) -> Pool {
    let store = store.map(|s| s as Arc<dyn creative_feedback_sessions::SessionStore>);
    Pool::new(CreativeLoop::new(config()).unwrap(), settings, store).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn eviction_never_changes_a_decision(ops in prop::collection::vec(op(), 1..300), room in 2usize..5) {
        let roomy = pool(PoolConfig { idle_ttl_ms: Some(20_000), ..PoolConfig::default() }, None);
        let store = Arc::new(MemoryStore::new());
        let tight = pool(
            PoolConfig { max_sessions: room, idle_ttl_ms: Some(20_000), ..PoolConfig::default() },
            Some(Arc::clone(&store)),
        );
        let mut now = 0u64;
        let (mut updates, mut removed) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Update { id, novelty, aesthetic, gap } => {
                    now += u64::from(gap) * 1000;
                    let id = format!("s{id}");
                    let state = State::new(novelty, aesthetic);
                    let a = roomy.update_state(&id, &state, now).map(|s| s.decision);
                    let b = tight.update_state(&id, &state, now).map(|s| s.decision);
                    prop_assert_eq!(&a, &b);
                    updates += u64::from(a.is_ok());
                }
                Op::Sweep { gap } => {
                    now += u64::from(gap) * 1000;
                    // Without a store, an idle session is gone for good: sweep only the pool
                    // that can bring it back, and check that it does.
                    tight.evict_idle(now);
                }
                Op::Remove { id } => {
                    let id = format!("s{id}");
                    let a = roomy.remove(&id).unwrap();
                    let b = tight.remove(&id).unwrap();
                    prop_assert_eq!(a, b);
                    removed += u64::from(a);
                    let gone = matches!(tight.get(&id), Err(Error::Unknown { .. }));
                    prop_assert!(gone, "{id} is still known after its removal");
                }
            }
            let stats = tight.stats();
            prop_assert!(stats.resident <= room);
            prop_assert_eq!(stats.by_mode.values().sum::<usize>(), stats.resident);
        }
        prop_assert_eq!(
            roomy.learning_snapshot().to_json().unwrap(),
            tight.learning_snapshot().to_json().unwrap()
        );
        let (r, t) = (roomy.stats().tallies, tight.stats().tallies);
        prop_assert_eq!(r.updates, updates);
        prop_assert_eq!(t.updates, updates);
        prop_assert_eq!(t.removed, removed);
        prop_assert_eq!(r.created, t.created, "the same sessions were created anew");
    }
}
