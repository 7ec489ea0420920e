//! `crefl serve` with many sessions as a real process: a crash loses at most the snapshot
//! interval of each session, and the multi-session Python snippet of docs/sidecar.md runs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

mod common;
use common::http;

const SESSIONS: [&str; 3] = ["alpha", "beta", "gamma"];

fn update(addr: &str, id: &str, i: u64) -> u16 {
    let novelty = if i.is_multiple_of(250) { 0.9 } else { 0.5 };
    http(
        addr,
        "POST",
        &format!("/v1/sessions/{id}/update"),
        &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#),
    )
    .0
}

fn steps(addr: &str, id: &str) -> u64 {
    let (status, body) = http(addr, "GET", &format!("/v1/sessions/{id}"), "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["metrics"]["steps"].as_u64().unwrap()
}

#[test]
fn after_kill_9_each_session_loses_at_most_its_snapshot_interval() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_string_lossy().into_owned();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--snapshot-every",
        "100",
    ];
    let (mut child, addr) = common::spawn_serve(|cmd| {
        cmd.args(args).stderr(Stdio::null());
    });
    for i in 0..1_050 {
        for id in SESSIONS {
            assert_eq!(update(&addr, id, i), 200);
        }
    }
    for id in SESSIONS {
        common::wait_for_saved_steps(&dir.path().join(format!("sessions/{id}.json")), 1_000);
    }
    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    let _ = child.wait();

    let (mut child, addr) = common::spawn_serve(|cmd| {
        cmd.args(args).stderr(Stdio::null());
    });
    for id in SESSIONS {
        let restored = steps(&addr, id);
        assert!(
            (1_000..=1_050).contains(&restored),
            "{id}: restored {restored}"
        );
        assert_eq!(update(&addr, id, 0), 200, "{id} continues");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn the_multi_session_python_snippet_of_the_sidecar_guide_runs() {
    let (mut child, addr) = common::spawn_serve(|cmd| {
        cmd.args(["--bind", "127.0.0.1:0"]).stderr(Stdio::null());
    });
    let out = common::run_sidecar_snippet(2, &format!("http://{addr}"));
    child.kill().unwrap();
    let _ = child.wait();
    let Some(out) = out else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sessions 9"), "{stdout}");
}

#[test]
fn simulate_sessions_compares_shared_learning_with_learning_alone() {
    let run = [
        "--sessions",
        "3",
        "--steps",
        "3000",
        "--scenario",
        "attribute",
        "--json",
    ];
    let out = simulate(&run);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sessions"], 3);
    assert_eq!(report["scenario"], "attribute");
    let checkpoints = report["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 10);
    assert_eq!(checkpoints[9]["steps_per_session"], 3000);
    for c in checkpoints {
        assert!(c["shared"].is_f64() && c["isolated"].is_f64(), "{c}");
    }
    // Deterministic: the same run gives the same figures.
    assert_eq!(out.stdout, simulate(&run).stdout);
    let conflict = simulate(&["--sessions", "3", "--compare"]);
    assert_eq!(conflict.status.code(), Some(2));
    let one = simulate(&["--sessions", "1"]);
    assert_eq!(one.status.code(), Some(2), "at least two sessions");
}

#[test]
fn simulate_fleet_learns_one_log_and_every_sidecar_ends_with_the_same_learning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("learned.toml");
    std::fs::write(&config, "[selector]\nkind = \"learned\"\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = simulate(&[
        "--fleet",
        "3",
        "--sync-every",
        "25",
        "--steps",
        "3000",
        "--scenario",
        "attribute",
        "--config",
        &config,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "fleet");
    assert_eq!(report["sync_every"], 25);
    assert_eq!(report["selector"], "learned");
    assert_eq!(report["identical_learning"], true);
    assert_eq!(report["checkpoints"].as_array().unwrap().len(), 10);
    assert_eq!(
        simulate(&["--sync-every", "5"]).status.code(),
        Some(2),
        "needs --fleet"
    );
    assert_eq!(
        simulate(&["--fleet", "3", "--sync-every", "0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        simulate(&["--fleet", "3", "--sessions", "3"]).status.code(),
        Some(2)
    );
}

/// `crefl simulate` with these arguments, without a configuration from the environment.
fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crefl"))
        .arg("simulate")
        .args(args)
        .env_remove("CREFL_CONFIG")
        .output()
        .unwrap()
}
