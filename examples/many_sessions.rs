//! Many sessions, one shared model: eight conversations on four threads, every one its own
//! session of one pool, learning together which explorations pay. Each thread talks in turns
//! with its two conversations, and the pool holds at most five sessions in memory, so a
//! conversation that waits its turn is evicted to a folder and reloaded when it comes back,
//! deciding as if it had stayed.

use std::sync::Arc;

use creative_feedback::sessions::{DirStore, Pool, PoolConfig, SessionStore};
use creative_feedback::sim::{Host, Scenario};
use creative_feedback::{Config, CreativeLoop, SelectorKind};

const CONVERSATIONS: u64 = 8;
/// Steps per conversation, in turns of `TURN` steps.
const STEPS: u64 = 10_000;
const TURN: u64 = 1_000;

fn main() -> anyhow::Result<()> {
    let folder = std::env::temp_dir().join(format!("crefl-sessions-{}", std::process::id()));
    let store: Arc<dyn SessionStore> = Arc::new(DirStore::open(&folder)?);
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    Scenario::Attribute.add_attributes(&mut config.selector.learned);
    let pool = Arc::new(Pool::new(
        CreativeLoop::new(config)?,
        PoolConfig {
            max_sessions: 5, // the primary session and one conversation per thread
            ..PoolConfig::default()
        },
        Some(store),
    )?);

    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mine = [thread * 2, thread * 2 + 1];
                let mut hosts = mine
                    .iter()
                    .map(|i| Host::new(Scenario::Attribute.host(*i)))
                    .collect::<Result<Vec<_>, _>>()?;
                for turn in 0..2 * STEPS / TURN {
                    let (host, i) = (&mut hosts[(turn % 2) as usize], mine[(turn % 2) as usize]);
                    let id = format!("conversation-{i}");
                    for step in 0..TURN {
                        // Ten milliseconds a step: the pool reads no clock of its own.
                        let now = (turn * TURN + step) * 10;
                        let stepped = pool.update_state(&id, &host.observe(), now)?;
                        host.apply(&stepped.decision);
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a conversation thread panicked"))??;
    }

    let stats = pool.stats();
    let mut ended = 0;
    println!("{CONVERSATIONS} conversations × {STEPS} steps, at most 5 sessions in memory:");
    for i in 0..CONVERSATIONS {
        let info = pool.get(&format!("conversation-{i}"))?;
        let c = info.metrics.counters;
        ended += c.completed + c.pruned;
        println!(
            "  {:<16} {:>6} steps  {:>3} explorations  gain {:>7.3}  {}",
            info.id,
            info.metrics.steps,
            c.ended(),
            info.metrics.cumulative_gain,
            if info.resident {
                "in memory"
            } else {
                "in the folder"
            }
        );
    }
    println!(
        "evicted {} times, reloaded {} times; the shared model learned from {} explorations",
        stats.tallies.evicted, stats.tallies.reloaded, stats.model_samples
    );
    if let Some(arms) = &stats.learned_arms {
        for arm in arms {
            println!(
                "  {:<18} chosen {:>4}  mean gain {:+.4}",
                arm.profile, arm.explorations, arm.mean_gain
            );
        }
    }
    std::fs::remove_dir_all(&folder)?;
    anyhow::ensure!(
        stats.tallies.updates == CONVERSATIONS * STEPS,
        "every update was accepted"
    );
    anyhow::ensure!(
        stats.model_samples == ended,
        "one model learned from every conversation"
    );
    anyhow::ensure!(
        stats.tallies.reloaded > 0,
        "conversations came back from the folder"
    );
    Ok(())
}
