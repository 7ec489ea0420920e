//! Concrete promises of docs/cli.md and docs/sidecar.md that no other test pins: the example
//! lines of the docs produce what the docs print beside them, and the documented defaults hold.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

mod common;
use common::http;

fn crefl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(args)
        .output()
        .unwrap()
}

/// Every `crefl rollout bucket` line of docs/cli.md prints exactly the comment beside it.
#[test]
fn the_bucket_lines_of_the_docs_print_what_the_docs_say() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let lines: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("crefl rollout bucket"))
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    for line in lines {
        let (command, expected) = line.split_once("# ").unwrap();
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let o = crefl(&args);
        assert!(o.status.success(), "{line}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            expected.trim(),
            "{line}"
        );
    }
}

/// `config --check` prints the whole configuration in use, defaults filled in.
#[test]
fn config_check_prints_the_filled_in_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "recovery_steps = 5\n[quality]\nwindow = 64\n").unwrap();
    let o = crefl(&["config", "--check", &file.to_string_lossy()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for line in [
        "recovery_steps = 5",
        "window = 64",
        "stability_threshold = 0.8",
        "max_exploration_steps = 200",
        "[selector]",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
}

/// With `--skip-invalid`, a state the loop rejects (not only a line that is not JSON) gets its
/// error object, naming the fields, on its own line.
#[test]
fn skip_invalid_answers_rejected_states_with_their_fields() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(["replay", "--skip-invalid"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"{\"novelty\": NaN, \"aesthetic_score\": Infinity}\n{\"novelty\": 0.5, \"aesthetic_score\": 0.5}\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["error"], "invalid state");
    assert_eq!(lines[0]["line"], 1);
    let fields: Vec<&str> = lines[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["novelty", "aesthetic_score"]);
    assert_eq!(lines[1]["action"], "maintain");
}

/// `crefl serve` binds 127.0.0.1 by default.
#[test]
fn serve_binds_loopback_by_default() {
    let o = crefl(&["serve", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
}

/// A token from `CREFL_TOKEN` protects the mutating endpoints as `--token` does.
#[test]
fn crefl_token_from_the_environment_is_required_by_updates() {
    let (mut child, addr) = common::spawn_serve(|cmd| {
        cmd.args(["--bind", "127.0.0.1:0"])
            .env("CREFL_TOKEN", "from-env");
    });
    let body = r#"{"novelty": 0.5, "aesthetic_score": 0.6}"#;
    assert_eq!(http(&addr, "POST", "/v1/update", body).0, 401);
    assert_eq!(
        http(&addr, "GET", "/v1/metrics", "").0,
        200,
        "reads stay open"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

/// The tools operators expect: completion scripts for three shells, a manual page, JSON
/// reports, the log's format and level from the environment, and config discovery.
#[test]
fn completions_man_json_logging_and_config_discovery() {
    for shell in ["bash", "zsh", "fish"] {
        let o = crefl(&["completions", shell]);
        assert!(o.status.success() && o.stdout.len() > 500, "{shell}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("serve"),
            "{shell}"
        );
    }
    let man = crefl(&["man"]);
    assert!(String::from_utf8_lossy(&man.stdout).starts_with(".ie"));
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH crefl 1"));

    let profiles = crefl(&["profiles", "--json", "--duration", "10"]);
    let v: serde_json::Value = serde_json::from_slice(&profiles.stdout).unwrap();
    assert_eq!(
        v["profiles"][0]["factors"].as_array().map(Vec::len),
        Some(11)
    );

    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.jsonl");
    std::fs::write(
        &history,
        "{\"initial_state\": {\"novelty\": 0.8, \"aesthetic_score\": 0.6}, \"entropy_factor\": 0.5, \"duration\": 150, \"creative_gain\": 0.12}\n",
    )
    .unwrap();
    let model = dir.path().join("m.json");
    let o = crefl(&[
        "pretrain",
        "--history",
        &history.to_string_lossy(),
        "--out",
        &model.to_string_lossy(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["used"].as_u64(), v["samples_seen"].as_u64()),
        (Some(1), Some(1))
    );

    // RUST_LOG must be a level; the JSON log is one object per line.
    let o = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "chatty")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("RUST_LOG"));
    assert!(!o.status.success());
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("history.jsonl"), "{\"torn").unwrap();
    let (mut child, _) = common::spawn_serve(|cmd| {
        cmd.args([
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--state-dir",
        ])
        .arg(&state)
        .stderr(Stdio::piped());
    });
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let warning = log.lines().find(|l| l.contains("torn")).unwrap();
    let v: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(v["level"], "WARN");

    // ./crefl.toml is found and named; CREFL_CONFIG wins over it; --config over both.
    std::fs::write(dir.path().join("crefl.toml"), "recovery_steps = 3\n").unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "recovery_steps = 4\n").unwrap();
    let run = |env: Option<&std::path::Path>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crefl"));
        cmd.current_dir(dir.path())
            .args(["simulate", "--steps", "100"])
            .args(args);
        cmd.env_remove("CREFL_CONFIG");
        if let Some(path) = env {
            cmd.env("CREFL_CONFIG", path);
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stderr).into_owned()
    };
    assert!(run(None, &[]).contains("configuration: crefl.toml"));
    assert!(run(Some(&other), &[]).contains("other.toml"));
    let explicit = dir.path().join("explicit.toml");
    std::fs::write(&explicit, "").unwrap();
    assert!(
        run(Some(&other), &["--config", &explicit.to_string_lossy()]).contains("explicit.toml")
    );
}

/// The pictures in the docs are what the commands shown beside them draw, byte for byte.
#[test]
fn the_docs_pictures_are_drawn_by_the_commands_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/img");
    for (args, name) in [
        (vec!["simulate", "--plot"], "timeline.svg"),
        (vec!["profiles", "--plot"], "profiles.svg"),
    ] {
        let out = dir.path().join(name);
        let mut all = args.clone();
        let path = out.to_string_lossy().into_owned();
        all.push(&path);
        let o = crefl(&all);
        assert!(o.status.success(), "{args:?}");
        let drawn = std::fs::read(&out).unwrap();
        let committed = std::fs::read(format!("{img}/{name}")).unwrap();
        assert!(
            drawn == committed,
            "docs/img/{name} is stale: run `crefl {} docs/img/{name}`",
            args.join(" ")
        );
    }
}
