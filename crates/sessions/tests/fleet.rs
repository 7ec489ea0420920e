//! Pools that learn through one shared log (sidecars of a fleet): whatever sessions each
//! serves, two pools that have learned the log to the same place hold the same learning.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{Config, CreativeLoop, Findings, ReadState, SelectorKind};
use creative_feedback_sessions::{Pool, PoolConfig};
use creative_feedback_sim::{Host, Scenario};

fn pool() -> Pool {
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    Scenario::Attribute.add_attributes(&mut config.selector.learned);
    Pool::new(
        CreativeLoop::new(config).unwrap(),
        PoolConfig::default(),
        None,
    )
    .unwrap()
}

fn read(host: &Host) -> ReadState {
    ReadState {
        state: host.observe(),
        findings: Findings::default(),
    }
}

#[test]
fn pools_that_learned_the_log_to_the_same_place_hold_the_same_learning() {
    let sidecars = [pool(), pool()];
    let mut log = Vec::new();
    let mut read_to = [0usize; 2];
    // Each sidecar serves three sessions of its own.
    let mut hosts: Vec<Host> = (0..6)
        .map(|i| Host::new(Scenario::Attribute.host(i)).unwrap())
        .collect();
    for step in 0..3_000u64 {
        for (h, host) in hosts.iter_mut().enumerate() {
            let (sidecar, id) = (h % 2, format!("session-{h}"));
            let mut lessons = Vec::new();
            let stepped = sidecars[sidecar]
                .update_deferred(&id, &read(host), step, &mut lessons)
                .unwrap();
            host.apply(&stepped.decision);
            log.extend(lessons);
        }
        // Sidecar 0 reads the log every 20 steps, sidecar 1 every 35.
        for (s, every) in [(0, 20), (1, 35)] {
            if step % every == 0 {
                for lesson in &log[read_to[s]..] {
                    assert_eq!(sidecars[s].learn(lesson), 0);
                }
                read_to[s] = log.len();
            }
        }
    }
    assert!(log.len() > 20, "{} lessons", log.len());
    for s in 0..2 {
        for lesson in &log[read_to[s]..] {
            sidecars[s].learn(lesson);
        }
    }
    assert_eq!(
        sidecars[0].learning_snapshot().to_json().unwrap(),
        sidecars[1].learning_snapshot().to_json().unwrap()
    );
    // A deferred step teaches nothing at once: the model learned only from the log.
    let not_aborted = log
        .iter()
        .filter(|l| l.record.outcome != creative_feedback_core::OutcomeKind::Aborted)
        .count() as u64;
    assert_eq!(sidecars[0].stats().model_samples, not_aborted);
}
