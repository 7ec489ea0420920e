//! End-to-end runs of the loop against the simulated host, through the facade.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use creative_feedback::sim::{run, Host, HostConfig, RunOptions};
use creative_feedback::{Config, CreativeLoop, LoopBuilder, Snapshot};

#[test]
fn a_long_run_visits_every_mode_and_learns() {
    let mut l = CreativeLoop::new(Config::default()).unwrap();
    let mut host = Host::new(HostConfig::seeded(11)).unwrap();
    let out = run(&mut l, &mut host, 200_000, RunOptions::default(), |_| {});
    let s = out.summary;
    assert!(s.mode_share.stable > 0.0 && s.mode_share.exploring > 0.0);
    assert!(s.mode_share.recovering > 0.0 && s.mode_share.emergency > 0.0);
    assert!(s.completed > 0 && s.pruned > 0 && s.aborted > 0);
    assert!(s.quality.trained);
    assert_eq!(
        s.profiles.len(),
        4,
        "every built-in profile is chosen somewhere"
    );
    assert!(l.metrics().counters.rejected_inputs == 0);
}

#[test]
fn a_snapshot_mid_run_continues_exactly() {
    let mut a = CreativeLoop::new(Config::default()).unwrap();
    let mut host = Host::new(HostConfig::seeded(3)).unwrap();
    run(&mut a, &mut host, 12_345, RunOptions::default(), |_| {});
    let json = a.snapshot().to_json().unwrap();
    let mut b = LoopBuilder::from_snapshot(Snapshot::from_json(&json).unwrap())
        .build()
        .unwrap();
    let mut host_b = host.clone();
    let out_a = run(
        &mut a,
        &mut host,
        20_000,
        RunOptions {
            trace_every: 1,
            keep_history: true,
        },
        |_| {},
    );
    let out_b = run(
        &mut b,
        &mut host_b,
        20_000,
        RunOptions {
            trace_every: 1,
            keep_history: true,
        },
        |_| {},
    );
    assert_eq!(out_a, out_b);
    assert_eq!(a.snapshot(), b.snapshot());
}

#[test]
fn a_snapshot_with_an_unregistered_custom_profile_is_refused_naming_it() {
    use creative_feedback::{Params, Profile, ProfileSelector, Selection, SelectionContext, State};
    struct Sinus;
    impl ProfileSelector for Sinus {
        fn select(&mut self, _: &SelectionContext<'_>) -> Selection {
            Profile::custom("sinusoidal", Params::new().with("amplitude", 0.3)).into()
        }
    }
    let shape = |b: f64, _: u32, _: u32, _: &Params| b;
    let mut l = CreativeLoop::builder(Config::default())
        .profile("sinusoidal", shape)
        .unwrap()
        .selector(Sinus)
        .build()
        .unwrap();
    l.update(&State::new(0.9, 0.6)).unwrap();
    let snapshot = l.snapshot();
    let err = LoopBuilder::from_snapshot(snapshot.clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("sinusoidal"), "{err}");
    let restored = LoopBuilder::from_snapshot(snapshot)
        .profile("sinusoidal", shape)
        .unwrap()
        .build();
    assert!(restored.is_ok());
}

#[test]
fn a_snapshot_of_another_format_is_refused() {
    let l = CreativeLoop::new(Config::default()).unwrap();
    let json = l
        .snapshot()
        .to_json()
        .unwrap()
        .replacen("\"format\":2", "\"format\":3", 1);
    let err = LoopBuilder::from_snapshot(Snapshot::from_json(&json).unwrap())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("format 3"), "{err}");
}

#[test]
fn a_format_1_snapshot_keeps_the_defaults_it_was_written_under() {
    // Format 1 left an unset gate out and had adjust_down 0.7 by default: a loop restored
    // from one decides as the loop that wrote it did.
    let l = CreativeLoop::new(Config::default()).unwrap();
    let mut value: serde_json::Value =
        serde_json::from_str(&l.snapshot().to_json().unwrap()).unwrap();
    value["format"] = 1.into();
    let quality = value["config"]["quality"].as_object_mut().unwrap();
    quality.remove("min_predicted_gain");
    quality.insert("adjust_down".into(), 0.7.into());
    let snapshot = Snapshot::from_json(&value.to_string()).unwrap();
    assert_eq!(snapshot.format(), Snapshot::FORMAT);
    let restored = LoopBuilder::from_snapshot(snapshot).build().unwrap();
    assert_eq!(restored.config().quality.min_predicted_gain, None);
    assert_eq!(restored.config().quality.adjust_down, 0.7);
}
