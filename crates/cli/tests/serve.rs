//! `crefl serve` as a real process: the address line, graceful and crash restarts, the
//! Python snippet of docs/sidecar.md, and refusing to expose an unprotected server.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};

mod common;
use common::http;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    url: String,
    addr: String,
}

fn start(args: &[&str]) -> Server {
    let (child, addr) = common::spawn_serve(|cmd| {
        cmd.args(args).stderr(Stdio::piped());
    });
    let url = format!("http://{addr}");
    Server { child, url, addr }
}

fn update(addr: &str, i: u64) -> u16 {
    let novelty = if i.is_multiple_of(250) { 0.9 } else { 0.5 };
    http(
        addr,
        "POST",
        "/v1/update",
        &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#),
    )
    .0
}

fn steps(addr: &str) -> u64 {
    let (_, body) = http(addr, "GET", "/v1/metrics", "");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["steps"].as_u64().unwrap()
}

fn stderr_of(mut child: Child) -> String {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

/// Waits for the process to exit; the deadline only bounds a hang.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..1_200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap();
    panic!("the server did not stop within 30 s");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_saves_the_state_and_a_restart_resumes_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_string_lossy().into_owned();
    let mut s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--snapshot-every",
        "100000",
    ]);
    for i in 0..700 {
        assert_eq!(update(&s.addr, i), 200);
    }
    sigterm(&s.child);
    let exit = wait(&mut s.child);
    assert!(exit.success(), "exit {exit:?}");
    let s = start(&["--bind", "127.0.0.1:0", "--state-dir", &state]);
    assert_eq!(
        steps(&s.addr),
        700,
        "the shutdown snapshot holds every step"
    );
    let mut child = s.child;
    child.kill().unwrap();
    let err = stderr_of(child);
    assert!(
        err.contains("restored the snapshot taken at step 700"),
        "{err}"
    );
}

#[test]
fn after_kill_9_at_most_the_steps_since_the_last_snapshot_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_string_lossy().into_owned();
    let mut s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--snapshot-every",
        "100",
    ]);
    for i in 0..1_050 {
        assert_eq!(update(&s.addr, i), 200);
    }
    common::wait_for_saved_steps(&Path::new(&state).join("snapshot.json"), 1_000);
    s.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    let _ = s.child.wait();
    // A crash in the middle of an append leaves a torn last line.
    let history = Path::new(&state).join("history.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&history)
        .unwrap();
    f.write_all(br#"{"initial_state": {"novelty": 0.9, "aesth"#)
        .unwrap();
    drop(f);

    let s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--snapshot-every",
        "100",
    ]);
    let restored = steps(&s.addr);
    assert!((1_000..=1_050).contains(&restored), "restored {restored}");
    for i in 0..260 {
        assert_eq!(update(&s.addr, i), 200);
    }
    // A graceful stop: the writer has appended every ended exploration when the process exits.
    let mut child = s.child;
    sigterm(&child);
    assert!(wait(&mut child).success());
    let err = stderr_of(child);
    assert!(err.contains("torn"), "{err}");

    // The history still pre-trains: the torn line is skipped, the records after it are read.
    let model = dir.path().join("model.json");
    let out = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args([
            "pretrain",
            "--history",
            &history.to_string_lossy(),
            "--out",
            &model.to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stderr);
    assert_eq!(report.matches("skipped line").count(), 1, "{report}");
}

#[test]
fn the_python_snippet_of_the_sidecar_guide_runs() {
    let s = start(&["--bind", "127.0.0.1:0"]);
    let out = common::run_sidecar_snippet(1, &s.url);
    let mut child = s.child;
    child.kill().unwrap();
    let Some(out) = out else {
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cumulative gain"));
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("CREFL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a token"));
}

/// A client that sent half a request does not hold the server up: after the grace period the
/// connection is cut, the final snapshot is written, and the server exits 0 saying so.
#[test]
fn sigterm_with_a_half_sent_request_still_saves_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_string_lossy().into_owned();
    let mut s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--shutdown-timeout",
        "1",
    ]);
    for i in 0..10 {
        assert_eq!(update(&s.addr, i), 200);
    }
    let mut half = std::net::TcpStream::connect(&s.addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Connections are accepted in order: once a later one is answered, the half-sent one is
    // in flight, so the shutdown has a connection to cut (and the step count stays at 10).
    assert_eq!(http(&s.addr, "GET", "/healthz", "").0, 200);
    sigterm(&s.child);
    let exit = wait(&mut s.child);
    let err = stderr_of(s.child);
    assert!(exit.success(), "exit {exit:?}: {err}");
    assert!(err.contains("state saved at step 10"), "{err}");
    assert!(err.contains("cut off"), "{err}");
    drop(half);
}

/// When the final snapshot cannot be written, `serve` says so and exits non-zero; every
/// failed write is logged to standard error whatever the flags.
#[test]
fn a_final_snapshot_that_fails_is_an_error_not_a_saved_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_string_lossy().into_owned();
    let mut s = start(&["--bind", "127.0.0.1:0", "--state-dir", &state]);
    assert_eq!(update(&s.addr, 1), 200);
    sigterm(&s.child);
    assert!(wait(&mut s.child).success());
    // The snapshot's temporary file is now a folder: every write fails, as on a full or
    // read-only disk, whoever runs the test (root included).
    std::fs::create_dir(dir.path().join("snapshot.json.tmp")).unwrap();
    let mut s = start(&["--bind", "127.0.0.1:0", "--state-dir", &state]);
    assert_eq!(update(&s.addr, 2), 200);
    sigterm(&s.child);
    let exit = wait(&mut s.child);
    let err = stderr_of(s.child);
    assert_eq!(exit.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("ERROR") && l.contains("cannot write the snapshot")),
        "{err}"
    );
    assert!(err.contains("NOT saved"), "{err}");
    assert!(!err.contains("state saved"), "{err}");
}

/// An empty token is a usage error (exit 2), from the flag or the environment; a token file
/// keeps the token out of `ps` and protects the mutating endpoints.
#[test]
fn tokens_are_never_empty_and_can_come_from_a_file() {
    for (args, env) in [
        (vec!["serve", "--token", ""], None),
        (vec!["serve"], Some("")),
        (vec!["serve", "--token", "  "], None),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crefl"));
        cmd.args(&args).env_remove("CREFL_TOKEN");
        if let Some(v) = env {
            cmd.env("CREFL_TOKEN", v);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?} {env:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("empty"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    let s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--token-file",
        &file.to_string_lossy(),
    ]);
    let body = r#"{"novelty": 0.5, "aesthetic_score": 0.6}"#;
    assert_eq!(http(&s.addr, "POST", "/v1/update", body).0, 401);
    let mut child = s.child;
    child.kill().unwrap();
    let _ = child.wait();
    std::fs::write(&file, "\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--token-file",
            &file.to_string_lossy(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is empty"));
}

/// A small tmpfs mounted for one test (CI runs as root and can mount; elsewhere the tests that
/// need one skip, and under `CI=true` they fail instead). Unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Self { dir })
        } else {
            common::skip_unless_ci("cannot mount a tmpfs (needs root)");
            None
        }
    }

    fn path(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }

    fn read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn persist_errors(addr: &str) -> u64 {
    let (_, text) = http(addr, "GET", "/metrics", "");
    text.lines()
        .find_map(|l| l.strip_prefix("creative_feedback_persist_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Drives the server until a write fails, then checks every place that must say so; the last
/// snapshot on disk is still whole.
fn a_failing_state_dir_is_never_silent(mut s: Server, fs: &Tmpfs) {
    let mut i = 0;
    while persist_errors(&s.addr) == 0 {
        assert!(i < 20_000, "no write failed after {i} updates");
        assert_eq!(update(&s.addr, i), 200);
        i += 1;
    }
    let (_, health) = http(&s.addr, "GET", "/health/creativity", "");
    assert!(health.contains("\"status\":\"degraded\""), "{health}");
    assert!(health.contains("persistence failing"), "{health}");
    sigterm(&s.child);
    let exit = wait(&mut s.child);
    let err = stderr_of(s.child);
    assert_eq!(exit.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("ERROR") && l.contains("cannot ")),
        "{err}"
    );
    assert!(err.contains("NOT saved"), "{err}");
    if let Ok(text) = std::fs::read_to_string(Path::new(&fs.path()).join("snapshot.json")) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["state"]["steps"].as_u64().is_some(), "a whole snapshot");
    }
}

#[test]
fn a_full_state_dir_is_reported_everywhere_and_at_exit() {
    let Some(fs) = Tmpfs::mount("64k") else {
        return;
    };
    let s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &fs.path(),
        "--snapshot-every",
        "1",
    ]);
    a_failing_state_dir_is_never_silent(s, &fs);
}

#[test]
fn a_read_only_state_dir_is_reported_everywhere_and_at_exit() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &fs.path(),
        "--snapshot-every",
        "10",
    ]);
    for i in 0..20 {
        assert_eq!(update(&s.addr, i), 200);
    }
    common::wait_for_saved_steps(&Path::new(&fs.path()).join("snapshot.json"), 20);
    fs.read_only();
    a_failing_state_dir_is_never_silent(s, &fs);
}

/// A restored snapshot keeps its own configuration; a different --config is reported, not
/// silently ignored.
#[test]
fn a_config_that_differs_from_the_restored_snapshot_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let config = dir.path().join("crefl.toml");
    std::fs::write(&config, "recovery_steps = 5\n").unwrap();
    let mut s = start(&["--bind", "127.0.0.1:0", "--state-dir", &state]);
    assert_eq!(update(&s.addr, 1), 200);
    sigterm(&s.child);
    assert!(wait(&mut s.child).success());
    let mut s = start(&[
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        &state,
        "--config",
        &config.to_string_lossy(),
    ]);
    assert_eq!(steps(&s.addr), 1);
    sigterm(&s.child);
    assert!(wait(&mut s.child).success());
    let err = stderr_of(s.child);
    assert!(
        err.contains("--config differs from the restored snapshot's configuration"),
        "{err}"
    );
}
