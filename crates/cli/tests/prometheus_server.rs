//! A real Prometheus server scrapes a live `crefl serve` with the shipped alert rules loaded:
//! the Grafana dashboard's queries return what `/v1/metrics` says, and no alert is pending on a
//! healthy run. Everything listens on 127.0.0.1; every wait is bounded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::http;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs an instant query; the value of its first result, if any.
fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let mut encoded = String::new();
    for b in promql.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let (status, body) = http(
        prometheus,
        "GET",
        &format!("/api/v1/query?query={encoded}"),
        "",
    );
    assert_eq!(status, 200, "{promql}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen within 60 s");
}

#[test]
fn grafana_queries_agree_with_the_sidecar_and_no_alert_is_pending() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip_unless_ci(
            "the prometheus server is not installed (Debian package prometheus)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (crefl, sidecar) = common::spawn_serve(|cmd| {
        cmd.args(["--bind", "127.0.0.1:0", "--interval-steps", "1"]);
    });
    let _crefl = Killed(crefl);

    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prometheus/alerts.yml"
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: crefl\n    static_configs:\n      - targets: ['{sidecar}']\n"
        ),
    )
    .unwrap();
    let prometheus = format!("127.0.0.1:{}", free_port());
    let server = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prometheus}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(server);
    // Prometheus accepts connections before it answers queries (503 until its storage is up).
    wait_until("Prometheus ready", || {
        std::net::TcpStream::connect(&prometheus).is_ok()
            && http(&prometheus, "GET", "/-/ready", "").0 == 200
    });

    // Every series is scraped before the first step, so `increase` sees the whole run.
    wait_until("a first scrape", || {
        query(&prometheus, "creative_feedback_steps_total") == Some(0.0)
    });

    // A healthy run whose gains have both signs (trigger performance 0.65; after-states 0.75
    // or 0.575): a histogram's `_sum` would go down and read as counter resets.
    let post = |body: &str| http(&sidecar, "POST", "/v1/update", body);
    for round in 0..15 {
        for _ in 0..40 {
            post(r#"{"novelty": 0.5, "aesthetic_score": 0.5}"#);
        }
        post(r#"{"novelty": 0.9, "aesthetic_score": 0.4}"#);
        let after = if round % 2 == 0 {
            r#"{"novelty": 0.9, "aesthetic_score": 0.6}"#
        } else {
            r#"{"novelty": 0.6, "aesthetic_score": 0.55}"#
        };
        for _ in 0..(205 + round) {
            post(after);
        }
    }
    let (_, body) = http(&sidecar, "GET", "/v1/metrics", "");
    let m: serde_json::Value = serde_json::from_str(&body).unwrap();
    let steps = m["steps"].as_f64().unwrap();
    let ended = m["counters"]["completed"].as_f64().unwrap()
        + m["counters"]["pruned"].as_f64().unwrap()
        + m["counters"]["aborted"].as_f64().unwrap();
    let gain = m["cumulative_gain"].as_f64().unwrap();
    assert!(
        ended > 10.0 && gain > 0.1,
        "a healthy run: {ended} ended, gain {gain}"
    );
    wait_until("a scrape of the last step", || {
        query(&prometheus, "creative_feedback_steps_total") == Some(steps)
    });

    let close = |promql: &str, expected: f64| {
        let got = query(&prometheus, promql).unwrap_or(f64::NAN);
        assert!(
            (got - expected).abs() < 1e-6,
            "{promql}: {got} vs {expected}"
        );
    };
    close("creative_feedback_cumulative_gain", gain);
    close("creative_feedback_emergency_stops_total", 0.0);
    let mode = m["mode"].as_str().unwrap();
    close(
        &format!("creative_feedback_mode{{mode=\"{mode}\"}} == 1"),
        1.0,
    );
    // The dashboard's mean gain: the same value as the sidecar's, whatever the signs.
    close(
        "(sum(increase(creative_feedback_gain_positive[15m])) - sum(increase(creative_feedback_gain_negative[15m]))) / sum(increase(creative_feedback_explorations_ended_total[15m]))",
        gain / ended,
    );
    // The dashboard's per-profile gains add up to the whole (as a ratio, which cancels
    // `increase`'s extrapolation to the window's edges).
    close(
        "(sum(increase(creative_feedback_profile_gain_positive[15m])) - sum(increase(creative_feedback_profile_gain_negative[15m]))) / sum(increase(creative_feedback_explorations_ended_total[15m]))",
        gain / ended,
    );
    let per_minute = query(
        &prometheus,
        "sum(sum by (profile, outcome) (rate(creative_feedback_explorations_total[5m])) * 60)",
    );
    assert!(per_minute.is_some_and(|v| v > 0.0), "{per_minute:?}");
    let p50 = query(
        &prometheus,
        "histogram_quantile(0.5, sum by (le) (rate(creative_feedback_exploration_entropy_steps_bucket[15m])))",
    )
    .unwrap();
    assert!((50.0..=300.0).contains(&p50), "median length {p50}");
    close(
        "sum(increase(creative_feedback_stream_dropped_total{kind=\"event\"}[5m]))",
        0.0,
    );

    // The rules are loaded, and none is pending or firing on this healthy run.
    let (_, rules_body) = http(&prometheus, "GET", "/api/v1/rules", "");
    assert_eq!(
        rules_body.matches("\"type\":\"alerting\"").count(),
        6,
        "{rules_body}"
    );
    let (_, alerts) = http(&prometheus, "GET", "/api/v1/alerts", "");
    let v: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    assert_eq!(
        v["data"]["alerts"].as_array().map(Vec::len),
        Some(0),
        "{alerts}"
    );
    assert!(Path::new(rules).exists());
}
