//! The dashboard in real headless Chromium (driven through chromedriver's WebDriver API): the
//! page loads, connects to the live stream, and within a few seconds shows the mode and a chart
//! with data while updates are being posted. It saves a screenshot.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

mod common;
use common::http;

fn webdriver(addr: &str, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, text) = http(addr, method, path, &body);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"));
    assert_eq!(status, 200, "{method} {path}: {text}");
    v["value"].clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_dashboard_shows_live_data_in_headless_chromium() {
    let (chromium, driver) = (
        Path::new("/usr/bin/chromium"),
        Path::new("/usr/bin/chromedriver"),
    );
    if !chromium.exists() || !driver.exists() {
        common::skip_unless_ci("chromium and chromedriver are not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("crefl.toml");
    std::fs::write(&config, "[selector]\nkind = \"learned\"\n").unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Kill(server);
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let server_addr = url.trim_start_matches("http://").to_owned();

    let port = free_port();
    let driver_addr = format!("127.0.0.1:{port}");
    let _driver = Kill(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Bounded in count, not by the clock: at most 600 tries 50 ms apart.
    let started = (0..600).any(|_| {
        let up = TcpStream::connect(&driver_addr).is_ok();
        if !up {
            std::thread::sleep(Duration::from_millis(50));
        }
        up
    });
    assert!(started, "chromedriver did not start");

    // History before the page opens: explorations ended, samples taken.
    for i in 0..1_500u32 {
        let novelty = if i % 150 == 0 { 0.9 } else { 0.5 };
        http(
            &server_addr,
            "POST",
            "/v1/update",
            &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#),
        );
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(110)); // a step sample at least every 100
        }
    }

    let profile = tempfile::tempdir().unwrap();
    let session = webdriver(
        &driver_addr,
        "POST",
        "/session",
        serde_json::json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
        }}}}),
    );
    let id = session["sessionId"].as_str().unwrap().to_owned();
    webdriver(
        &driver_addr,
        "POST",
        &format!("/session/{id}/url"),
        serde_json::json!({ "url": url }),
    );

    // Before any new step, the page shows what already happened: the ended explorations, a
    // chart drawn from the recent samples, and the step count of the loop.
    let backfilled = "return [document.querySelectorAll('#explorations-table tbody tr').length, \
                      document.getElementById('points').textContent, document.getElementById('steps').textContent];";
    let mut seen = serde_json::Value::Null;
    for _ in 0..150 {
        seen = webdriver(
            &driver_addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            serde_json::json!({ "script": backfilled, "args": [] }),
        );
        if seen[0].as_u64().unwrap_or(0) > 0 && seen[2] == "step 1500" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        seen[0].as_u64().unwrap_or(0) >= 5,
        "the table is empty before new steps: {seen}"
    );
    assert_eq!(seen[2], "step 1500", "{seen}");
    let span = seen[1].as_str().unwrap_or_default();
    assert!(
        span.contains("points over steps") && !span.starts_with("0 "),
        "{seen}"
    );

    // Post updates in the background, bounded in count and time.
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (stop, addr) = (Arc::clone(&stop), server_addr.clone());
        std::thread::spawn(move || {
            for i in 0..20_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let novelty = if i % 150 == 0 {
                    0.9
                } else {
                    0.45 + 0.1 * f64::from(i % 7) / 7.0
                };
                http(
                    &addr,
                    "POST",
                    "/v1/update",
                    &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#),
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let script = "return [document.getElementById('connection').textContent, document.getElementById('mode').textContent, \
                  document.getElementById('points').textContent, document.getElementById('health').textContent, \
                  document.getElementById('arms-table').tBodies[0].rows.length, document.getElementById('r2').textContent];";
    let mut last = serde_json::Value::Null;
    let mut shown = false;
    // At most 150 looks, 200 ms apart.
    for _ in 0..150 {
        last = webdriver(
            &driver_addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            serde_json::json!({ "script": script, "args": [] }),
        );
        let connection = last[0].as_str().unwrap_or("");
        let mode = last[1].as_str().unwrap_or("");
        let points: u64 = last[2]
            .as_str()
            .unwrap_or("0")
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let arms = last[4].as_u64().unwrap_or(0);
        let r2 = last[5].as_str().unwrap_or("");
        if connection == "live"
            && ["stable", "exploring", "recovering", "emergency"].contains(&mode)
            && points >= 10
            && arms == 4
            && r2.starts_with("out-of-sample R²")
        {
            shown = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    poster.join().unwrap();
    assert!(
        shown,
        "the dashboard did not show live data after 150 looks: {last}"
    );

    // Another session: it appears in the sessions table, and choosing it shows its timeline.
    for i in 0..400u32 {
        let novelty = if i % 150 == 0 { 0.9 } else { 0.5 };
        http(
            &server_addr,
            "POST",
            "/v1/sessions/bob/update",
            &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#),
        );
    }
    let choose = "const row = document.querySelector('#sessions-table tr[data-session=\"bob\"]'); \
                  if (row) row.click(); \
                  return [!!row, document.getElementById('session').textContent, document.getElementById('steps').textContent, \
                          document.querySelectorAll('#explorations-table tbody tr').length, \
                          document.getElementById('pool').textContent];";
    let mut chosen = serde_json::Value::Null;
    for _ in 0..150 {
        chosen = webdriver(
            &driver_addr,
            "POST",
            &format!("/session/{id}/execute/sync"),
            serde_json::json!({ "script": choose, "args": [] }),
        );
        if chosen[1] == "bob" && chosen[2] == "step 400" && chosen[3].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(chosen[1], "bob", "{chosen}");
    assert_eq!(chosen[2], "step 400", "{chosen}");
    assert!(
        chosen[3].as_u64().unwrap_or(0) > 0,
        "bob's explorations: {chosen}"
    );
    assert!(
        chosen[4].as_str().unwrap_or("").starts_with("2 in memory"),
        "{chosen}"
    );

    let shot = webdriver(
        &driver_addr,
        "GET",
        &format!("/session/{id}/screenshot"),
        serde_json::Value::Null,
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot saved to {}", path.display());
    let _ = http(&driver_addr, "DELETE", &format!("/session/{id}"), "");
    assert!(png.starts_with(b"\x89PNG"));
}
