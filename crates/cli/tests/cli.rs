//! End-to-end tests of every `crefl` command: exit codes, output shape, bad and missing files.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

fn crefl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(args)
        .output()
        .expect("crefl runs")
}

fn crefl_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crefl starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input written");
    child.wait_with_output().expect("crefl ends")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn simulate_prints_a_readable_summary() {
    let o = crefl(&["simulate", "--steps", "20000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "Time in each mode",
        "exploring",
        "Explorations:",
        "profile",
        "Cumulative gain:",
        "Emergencies:",
        "Quality model:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn simulate_is_deterministic_for_a_seed() {
    let run = |seed: &str| {
        let o = crefl(&["simulate", "--steps", "30000", "--seed", seed, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let (a, b) = (run("5"), run("5"));
    assert_eq!(a, b);
    assert_ne!(a, run("6"));
    let v: serde_json::Value = serde_json::from_str(&a).expect("JSON summary");
    assert_eq!(v["steps"], 30000);
    assert!(v["mode_share"]["stable"].as_f64().is_some());
    assert!(v["profiles"].as_array().is_some_and(|p| !p.is_empty()));
}

#[test]
fn exported_history_pretrains_a_model_that_simulate_and_replay_accept() {
    let dir = tempfile::tempdir().unwrap();
    let history = path(dir.path(), "history.jsonl");
    let model = path(dir.path(), "model.json");
    let plot = path(dir.path(), "timeline.svg");
    let o = crefl(&[
        "simulate",
        "--steps",
        "40000",
        "--export-history",
        &history,
        "--plot",
        &plot,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = fs::read_to_string(&history).unwrap();
    assert!(lines.lines().count() > 20);
    let svg = fs::read_to_string(&plot).unwrap();
    for needle in [
        "<svg",
        ">\nstep\n<",
        ">\nvalue\n<",
        "novelty",
        "aesthetic score",
        "entropy factor",
        "mode: exploring",
    ] {
        assert!(svg.contains(needle), "plot lacks {needle:?}");
    }

    let o = crefl(&["pretrain", "--history", &history, "--out", &model]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("pre-trained on") && text.contains("0 skipped") && text.contains("intercept"),
        "{text}"
    );

    let o = crefl(&["simulate", "--steps", "5000", "--model", &model, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["quality"]["trained"], true);

    let o = crefl_stdin(
        &["replay", "--model", &model],
        "{\"novelty\": 0.9, \"aesthetic_score\": 0.6}\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let predicted = d["predicted_gain"]
        .as_f64()
        .expect("a trained model predicts");
    // The gate (on by default at 0.03) refuses what the model expects to pay less.
    if predicted < 0.03 {
        assert_eq!(
            (&d["action"], &d["reason"]),
            (&"maintain".into(), &"low_predicted_gain".into())
        );
    } else {
        assert_eq!(d["action"], "inject_entropy");
    }
}

#[test]
fn replay_turns_each_state_into_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let states = path(dir.path(), "states.jsonl");
    let out = path(dir.path(), "decisions.jsonl");
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!(
            "{{\"novelty\": {}, \"aesthetic_score\": 0.6, \"user_id\": \"u1\"}}\n",
            0.3 + 0.008 * f64::from(i)
        ));
    }
    text.push('\n');
    text.push_str("{\"novelty\": 0.95, \"aesthetic_score\": 0.6}\n");
    fs::write(&states, &text).unwrap();
    let o = crefl(&["replay", "--states", &states, "--out", &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let decisions = fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = decisions
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 51);
    assert_eq!(lines[0]["action"], "maintain");
    assert_eq!(lines[50]["action"], "inject_entropy");
    assert!(
        stderr(&o).contains("replayed 51 states: 51 decisions, 0 invalid"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn replay_stops_at_a_bad_line_naming_it_and_its_field() {
    let input = "{\"novelty\": 0.5, \"aesthetic_score\": 0.5}\n{\"novelty\": NaN, \"aesthetic_score\": \"high\"}\n{\"novelty\": 0.5}\n";
    let o = crefl_stdin(&["replay"], input);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("line 2") && err.contains("novelty") && err.contains("aesthetic_score"),
        "{err}"
    );
    assert_eq!(
        stdout(&o).lines().count(),
        1,
        "decisions before the bad line are kept"
    );
}

#[test]
fn replay_skip_invalid_continues_and_counts() {
    let input = "{\"novelty\": 0.5, \"aesthetic_score\": 0.5}\nnot json\n{\"novelty\": 0.5, \"novelty\": 0.6}\n{\"novelty\": 0.5, \"aesthetic_score\": 0.5}\n{\"novelty\": 0.5, \"aesth";
    let o = crefl_stdin(&["replay", "--skip-invalid"], input);
    assert!(o.status.success(), "{}", stderr(&o));
    let out: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 5);
    assert_eq!(out[1]["error"], "invalid JSON");
    assert_eq!(out[1]["line"], 2);
    assert_eq!(
        out[2]["error"], "invalid JSON",
        "duplicate keys are reader errors"
    );
    assert_eq!(
        out[4]["line"], 5,
        "a truncated last line is an invalid line"
    );
    assert!(
        stderr(&o).contains("2 decisions, 3 invalid (skipped)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn replay_of_missing_and_empty_files() {
    let o = crefl(&["replay", "--states", "/nonexistent/states.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot open states file"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = path(dir.path(), "empty.jsonl");
    fs::write(&empty, "").unwrap();
    let o = crefl(&["replay", "--states", &empty]);
    assert!(o.status.success());
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("replayed 0 states"));
}

#[test]
fn pretrain_reports_skipped_records_and_refuses_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = path(dir.path(), "h.jsonl");
    let model = path(dir.path(), "m.json");
    fs::write(
        &history,
        "{\"initial_state\": {\"novelty\": 0.8, \"aesthetic_score\": 0.6}, \"entropy_factor\": 0.5, \"duration\": 120, \"creative_gain\": 0.2}\n\
         {\"initial_state\": {\"novelty\": 0.8}, \"entropy_factor\": 0.5, \"duration\": 120, \"creative_gain\": 0.2}\n\
         {\"initial_state\": {\"novelty\": 0.8, \"aesth",
    )
    .unwrap();
    let o = crefl(&["pretrain", "--history", &history, "--out", &model]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("skipped line 2: initial_state.aesthetic_score"),
        "{err}"
    );
    assert!(err.contains("skipped line 3"), "{err}");
    assert!(stdout(&o).contains("pre-trained on 1 records (2 skipped)"));
    assert!(Path::new(&model).exists());

    fs::write(&history, "").unwrap();
    let o = crefl(&[
        "pretrain",
        "--history",
        &history,
        "--out",
        &path(dir.path(), "n.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no usable record"));
    let o = crefl(&[
        "pretrain",
        "--history",
        "/nonexistent.jsonl",
        "--out",
        &model,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = crefl(&["simulate", "--model", &history]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a model"), "{}", stderr(&o));
}

#[test]
fn profiles_prints_and_draws_every_shape() {
    let o = crefl(&["profiles"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for name in ["constant", "cosine_ramp", "exponential_decay", "pulse"] {
        assert!(text.contains(name), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let svg = path(dir.path(), "p.svg");
    let o = crefl(&["profiles", "--plot", &svg]);
    assert!(o.status.success());
    let drawn = fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("progress k / duration") && drawn.contains("pulse"));
}

#[test]
fn config_defaults_print_and_bad_files_name_the_key() {
    let o = crefl(&["config", "--print-default"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("stability_threshold = 0.8")
            && text.contains("[quality]")
            && text.contains("# ")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path(), "c.toml");
    fs::write(&file, &text).unwrap();
    let o = crefl(&["config", "--check", &file]);
    assert!(o.status.success(), "{}", stderr(&o));

    fs::write(&file, "stability_treshold = 0.9\n").unwrap();
    let o = crefl(&["simulate", "--config", &file]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stability_treshold"), "{}", stderr(&o));

    fs::write(&file, "[quality]\nregularization = -1.0\n").unwrap();
    let o = crefl(&["replay", "--config", &file]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quality.regularization"),
        "{}",
        stderr(&o)
    );

    fs::write(&file, "recovery_steps = \"many\"\n").unwrap();
    let o = crefl(&["simulate", "--config", &file]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("recovery_steps"), "{}", stderr(&o));

    let o = crefl(&["simulate", "--config", "/nonexistent.toml"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn compare_reports_every_policy() {
    let o = crefl(&["simulate", "--compare", "--seeds", "3", "--steps", "20000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for name in [
        "constant_only",
        "adaptive",
        "adaptive_with_model",
        "95% CI",
        "low-value",
    ] {
        assert!(text.contains(name), "{text}");
    }
    // Fewer than two seeds give no confidence interval: a usage error.
    let o = crefl(&["simulate", "--compare", "--seeds", "1"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rollout_bucket_prints_text_and_json() {
    let o = crefl(&[
        "rollout",
        "bucket",
        "--group",
        "AB12A",
        "--user",
        "122",
        "--percent",
        "50",
    ]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("inside a 50% rollout"),
        "{}",
        stdout(&o)
    );
    let o = crefl(&[
        "rollout",
        "bucket",
        "--group",
        "AB12A",
        "--user",
        "155",
        "--percent",
        "50",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["group"], "AB12A");
    assert_eq!(v["user"], "155");
    assert!(v["bucket"]
        .as_u64()
        .is_some_and(|b| (51..=100).contains(&b)));
    assert_eq!(v["enabled"], false);
    let o = crefl(&["rollout", "bucket", "--group", "g", "--user", "u", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["enabled"].is_null());
    let o = crefl(&[
        "rollout",
        "bucket",
        "--group",
        "g",
        "--user",
        "u",
        "--percent",
        "101",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn simulate_ab_prints_the_report() {
    let o = crefl(&["simulate", "--ab", "--steps", "60000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("control")
            && text.contains("treatment")
            && text.contains("treatment vs control"),
        "{text}"
    );
    let o = crefl(&["simulate", "--ab", "--steps", "60000", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["arms"].as_array().map(Vec::len), Some(2));
    assert!(v["comparisons"][0]["comparison"]["result"].is_string());
}

#[test]
fn metrics_out_writes_a_prometheus_textfile() {
    let dir = tempfile::tempdir().unwrap();
    let prom = path(dir.path(), "crefl.prom");
    let o = crefl(&["simulate", "--steps", "20000", "--metrics-out", &prom]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains("# TYPE creative_feedback_cumulative_gain gauge"));
    assert!(text.contains("creative_feedback_steps_total 20000"));
    let promtool = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if let Some(promtool) = promtool {
        let check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(fs::File::open(&prom).unwrap())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    } else {
        common::skip_unless_ci("promtool is not on the PATH (Debian package prometheus)");
    }
    let replayed = path(dir.path(), "replay.prom");
    let o = crefl_stdin(
        &["replay", "--metrics-out", &replayed],
        "{\"novelty\": 0.9, \"aesthetic_score\": 0.6}\n",
    );
    assert!(o.status.success());
    let text = fs::read_to_string(&replayed).unwrap();
    assert!(
        text.contains("creative_feedback_explorations_started_total{profile=\"constant\"} 1"),
        "{text}"
    );
}

/// A line that is not UTF-8 is refused by `replay`, as the sidecar refuses it: never decoded
/// lossily into something the host did not send.
#[test]
fn replay_refuses_a_line_that_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let states = dir.path().join("states.jsonl");
    let mut bytes = b"{\"novelty\": 0.5, \"aesthetic_score\": 0.6}\n".to_vec();
    bytes.extend_from_slice(b"{\"novelty\": 0.5, \"user_id\": \"\xff\xfe\"}\n");
    fs::write(&states, bytes).unwrap();
    let o = crefl(&[
        "replay",
        "--skip-invalid",
        "--states",
        &states.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let second: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["line"], 2);
    assert!(second["fields"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not UTF-8"));
}

/// Sizes beyond what any configuration allows are usage errors, not allocation aborts.
#[test]
fn absurd_sizes_are_usage_errors() {
    for args in [
        vec!["profiles", "--duration", "4294967295"],
        vec!["serve", "--body-limit", "18446744073709551615"],
        vec!["serve", "--timeout-ms", "18446744073709551615"],
        vec!["simulate", "--steps", "18446744073709551615"],
        vec!["simulate", "--compare", "--seeds", "18446744073709551615"],
    ] {
        let o = crefl(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("crefl.toml");
    fs::write(&config, "trend_window = 4000000000\n").unwrap();
    let o = crefl(&["config", "--check", &config.to_string_lossy()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("trend_window"), "{}", stderr(&o));
}

#[test]
fn simulate_learns_with_the_learned_selector_and_compares_it_with_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let config = path(dir.path(), "learned.toml");
    std::fs::write(&config, "[selector]\nkind = \"learned\"\n").unwrap();
    let o = crefl(&[
        "simulate",
        "--config",
        &config,
        "--scenario",
        "attribute",
        "--steps",
        "20000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "scenario attribute",
        "out-of-sample R²",
        "Learned selector",
        "exponential_decay",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    let o = crefl(&[
        "simulate",
        "--compare",
        "--scenario",
        "drifting",
        "--seeds",
        "2",
        "--steps",
        "5000",
        "--policies",
        "adaptive,learned",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The oracle runs too, as the reference, and its table is printed.
    for needle in ["of oracle", "learned", "oracle ", "overheated"] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    let o = crefl(&["simulate", "--compare", "--policies", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("expected one of constant_only"),
        "{}",
        stderr(&o)
    );
    let o = crefl(&["simulate", "--scenario", "mars"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("current, attribute or drifting"));
}
