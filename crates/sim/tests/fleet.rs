//! A fleet in one process: sidecars that learn one shared log in its order hold bit-identical
//! learnings once they have read it to the same place, and a fleet of one that reads the log
//! after every step decides exactly as a single loop.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback_core::{Config, CreativeLoop, SelectorKind};
use creative_feedback_sim::{Error, Fleet, Host, Scenario};

fn config() -> Config {
    let mut config = Config::default();
    config.selector.kind = SelectorKind::Learned;
    Scenario::Attribute.add_attributes(&mut config.selector.learned);
    config
}

#[test]
fn sidecars_that_read_the_log_to_the_same_place_hold_identical_learnings() {
    let mut fleet = Fleet::new(3, || CreativeLoop::new(config())).unwrap();
    let mut hosts: Vec<Host> = (0..3)
        .map(|i| Host::new(Scenario::Attribute.host(i)).unwrap())
        .collect();
    for step in 0..4_000usize {
        for (i, host) in hosts.iter_mut().enumerate() {
            let decision = fleet.step(i, &host.observe()).unwrap();
            host.apply(&decision);
            // Each sidecar reads the log on its own rhythm.
            if step % (10 + 7 * i) == 0 {
                fleet.sync(i);
            }
        }
    }
    assert!(fleet.log().len() > 30, "{} lessons", fleet.log().len());
    let snapshot = |fleet: &Fleet, i| fleet.learning_snapshot(i).unwrap();
    fleet.sync_all();
    assert!(
        snapshot(&fleet, 0) == snapshot(&fleet, 1),
        "sidecars 0 and 1 differ"
    );
    assert!(
        snapshot(&fleet, 1) == snapshot(&fleet, 2),
        "sidecars 1 and 2 differ"
    );
    assert_eq!(fleet.learn_errors(0), Some(0));
    // Every sidecar's explorations are in the log, and the model learned each completed or
    // pruned one.
    let samples = fleet.learning_snapshot(0).unwrap().model().samples_seen();
    let not_aborted = fleet
        .log()
        .iter()
        .filter(|l| l.record.outcome != creative_feedback_core::OutcomeKind::Aborted)
        .count() as u64;
    assert_eq!(samples, not_aborted);
}

/// Without text attributes: a text value a sidecar has not learned yet has no slot when it
/// chooses (a single loop gives it one at once), so with them the two differ by design.
#[test]
fn a_fleet_of_one_that_reads_after_every_step_decides_as_a_single_loop() {
    let config = || {
        let mut config = Config::default();
        config.selector.kind = SelectorKind::Learned;
        config
    };
    let mut fleet = Fleet::new(1, || CreativeLoop::new(config())).unwrap();
    let mut single = CreativeLoop::new(config()).unwrap();
    let mut host = Host::new(Scenario::Current.host(5)).unwrap();
    for step in 0..6_000 {
        let state = host.observe();
        let from_fleet = fleet.step(0, &state).unwrap();
        fleet.sync(0);
        assert_eq!(from_fleet, single.update(&state).unwrap(), "step {step}");
        host.apply(&from_fleet);
    }
    assert!(
        fleet.learning_snapshot(0).unwrap() == single.into_parts().1.snapshot(&config()),
        "the fleet of one learned what the loop learned"
    );
}

#[test]
fn bad_sidecars_and_states_are_named() {
    let mut fleet = Fleet::new(2, || CreativeLoop::new(Config::default())).unwrap();
    let state = creative_feedback_core::State::new(0.5, 0.6);
    let err = fleet.step(2, &state).unwrap_err();
    assert_eq!(err, Error::NoSidecar { index: 2, len: 2 });
    assert_eq!(err.to_string(), "no sidecar 2: the fleet has 2 (0 to 1)");
    let err = fleet
        .step(0, &creative_feedback_core::State::new(f64::NAN, 0.6))
        .unwrap_err();
    assert!(matches!(err, Error::Rejected(_)), "{err}");
    assert!(matches!(
        Fleet::new(0, || CreativeLoop::new(Config::default())),
        Err(Error::InvalidHost(_))
    ));
}
