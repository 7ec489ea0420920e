//! Every endpoint over real HTTP on 127.0.0.1 (ephemeral port): answers, bad input, auth,
//! limits, restarts with persistence, and the live WebSocket stream.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop, LoopBuilder, ReadState, Snapshot};
use creative_feedback_server::{router, Saved, Service, ServiceConfig};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Response {
    status: u16,
    headers: String,
    body: String,
}

/// A minimal HTTP/1.1 client: one request per connection, bounded in time.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers: head.to_owned(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

async fn post(addr: SocketAddr, body: &str) -> Response {
    request(
        addr,
        "POST",
        "/v1/update",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"").await
}

async fn serve(settings: ServiceConfig) -> (SocketAddr, Arc<Service>, tokio::task::JoinHandle<()>) {
    let service = Service::start(settings).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(Arc::clone(&service));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, service, task)
}

/// `promtool check metrics` finds nothing, when promtool is on the PATH (CI installs it).
fn promtool_check(exposition: &str) {
    use std::io::Write as _;
    let Some(promtool) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    }) else {
        skip_unless_ci("promtool is not on the PATH (Debian package prometheus)");
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "promtool: {findings}"
    );
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_answers_decisions_and_refuses_bad_input() {
    let (addr, _service, task) = serve(ServiceConfig::new(Config::default())).await;
    let r = post(
        addr,
        r#"{"novelty": 0.85, "aesthetic_score": 0.6, "user_id": "u1"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = json(&r);
    assert_eq!(d["action"], "inject_entropy");
    assert_eq!(d["exploration"]["profile"], "constant");
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("content-type: application/json"));

    let r = post(addr, r#"{"novelty": 1.4, "aesthetic_score": 0.6}"#).await;
    assert_eq!(json(&r)["warnings"][0]["field"], "novelty");

    let cases: &[(&str, u16, &[&str])] = &[
        ("not json", 400, &[]),
        (r#"{"novelty": 0.5,"#, 400, &[]),
        (r#"{"novelty": 0.5, "novelty": 0.6}"#, 400, &[]),
        ("[1, 2]", 400, &[]),
        (
            r#"{"novelty": "0.5", "aesthetic_score": 0.5}"#,
            422,
            &["novelty"],
        ),
        (
            r#"{"novelty": "NaN", "aesthetic_score": "Infinity"}"#,
            422,
            &["novelty", "aesthetic_score"],
        ),
        (
            r#"{"novelty": NaN, "aesthetic_score": Infinity}"#,
            422,
            &["novelty", "aesthetic_score"],
        ),
        (
            r#"{"novelty": 1e400, "aesthetic_score": 0.5}"#,
            422,
            &["novelty"],
        ),
        (
            r#"{"novelty": 0.5, "aesthetic_score": 0.5, "coherence": "chaotic"}"#,
            422,
            &["coherence"],
        ),
        (
            r#"{"novelty": 0.5, "aesthetic_score": 0.5, "emergency_override": "yes"}"#,
            422,
            &["emergency_override"],
        ),
        (
            r#"{"novelty": 0.5, "aesthetic_score": 0.5, "attributes": {"x": [1]}}"#,
            422,
            &["attributes.x"],
        ),
    ];
    let before = json(&get(addr, "/v1/metrics").await)["steps"].clone();
    for (body, status, fields) in cases {
        let r = post(addr, body).await;
        assert_eq!(r.status, *status, "{body} → {}", r.body);
        let e = json(&r);
        assert!(e["error"].is_string(), "{}", r.body);
        for field in *fields {
            assert!(
                e["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["field"] == *field),
                "{body}: {}",
                r.body
            );
        }
    }
    let after = json(&get(addr, "/v1/metrics").await);
    assert_eq!(after["steps"], before, "bad input never advances the loop");
    assert_eq!(after["counters"]["rejected_inputs"], 7);

    let big = format!(
        r#"{{"novelty": 0.5, "aesthetic_score": 0.5, "pad": "{}"}}"#,
        "x".repeat(70_000)
    );
    assert_eq!(post(addr, &big).await.status, 413);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_endpoints_answer() {
    let mut settings = ServiceConfig::new(Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 2,
        ..Config::default()
    });
    settings.experiment = Some("ab".into());
    let (addr, _service, task) = serve(settings).await;
    for i in 0..200 {
        let novelty = if i % 20 == 0 { 0.9 } else { 0.5 };
        post(
            addr,
            &format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6, "user_id": "u{i}"}}"#),
        )
        .await;
    }
    let m = json(&get(addr, "/v1/metrics").await);
    assert_eq!(m["steps"], 200);
    assert!(m["stream"].as_array().is_some_and(|s| s.len() == 2));
    let h = get(addr, "/v1/history?limit=3").await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&h).as_array().map(Vec::len), Some(3));
    assert!(json(&h)[2]["creative_gain"].is_number());
    let health = json(&get(addr, "/health/creativity").await);
    for key in [
        "status",
        "mode",
        "cumulative_gain",
        "exploration_count",
        "quality_model_trained",
        "last_exploration",
    ] {
        assert!(health.get(key).is_some(), "health lacks {key}");
    }
    assert_eq!(health["status"], "healthy");
    assert!(health["last_exploration"]["profile"].is_string());
    let live = get(addr, "/healthz").await;
    assert_eq!((live.status, live.body.trim()), (200, "ok"));
    let report = json(&get(addr, "/v1/report").await);
    assert_eq!(report["arms"].as_array().map(Vec::len), Some(2));
    assert_eq!(get(addr, "/v1/rollout").await.status, 404);
    let prom = get(addr, "/metrics").await;
    assert_eq!(prom.status, 200);
    let steps: f64 = prom
        .body
        .lines()
        .find_map(|l| l.strip_prefix("creative_feedback_steps_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    // Snapshots reach the exporter every 10 steps, within its sink's flush interval.
    assert!((100.0..=200.0).contains(&steps), "{}", prom.body);
    // The A/B statistics, labelled by arm.
    assert!(
        prom.body
            .contains("creative_feedback_ab_explorations{arm=\"control\"}"),
        "{}",
        prom.body
    );
    assert!(prom
        .body
        .contains("creative_feedback_ab_explorations{arm=\"treatment\"}"));
    promtool_check(&prom.body);
    let page = get(addr, "/").await;
    assert!(
        page.status == 200
            && page.body.contains("<canvas id=\"timeline\"")
            && !page.body.contains("http://cdn")
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_endpoints_need_the_token() {
    let mut settings = ServiceConfig::new(Config::default());
    settings.token = Some("s3cret".into());
    settings.rollout = Some(("g".into(), 10));
    let (addr, _service, task) = serve(settings).await;
    let body = br#"{"novelty": 0.5, "aesthetic_score": 0.5}"#;
    let r = request(addr, "POST", "/v1/update", &[], body).await;
    assert_eq!(r.status, 401);
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("www-authenticate: bearer"));
    assert_eq!(
        request(
            addr,
            "POST",
            "/v1/update",
            &[("Authorization", "Bearer wrong")],
            body
        )
        .await
        .status,
        401
    );
    assert_eq!(
        request(
            addr,
            "POST",
            "/v1/update",
            &[("Authorization", "Bearer s3cret")],
            body
        )
        .await
        .status,
        200
    );
    assert_eq!(
        request(addr, "PUT", "/v1/rollout", &[], br#"{"percent": 50}"#)
            .await
            .status,
        401
    );
    let r = request(
        addr,
        "PUT",
        "/v1/rollout",
        &[("Authorization", "Bearer s3cret")],
        br#"{"percent": 50}"#,
    )
    .await;
    assert_eq!((r.status, json(&r)["percent"].as_u64()), (200, Some(50)));
    assert_eq!(json(&get(addr, "/v1/rollout").await)["percent"], 50);
    let bad = request(
        addr,
        "PUT",
        "/v1/rollout",
        &[("Authorization", "Bearer s3cret")],
        br#"{"percent": 150}"#,
    )
    .await;
    assert_eq!(bad.status, 422);
    let bad = request(
        addr,
        "PUT",
        "/v1/rollout",
        &[("Authorization", "Bearer s3cret")],
        b"fifty",
    )
    .await;
    assert_eq!(bad.status, 400);
    // Reads stay open.
    assert_eq!(get(addr, "/v1/metrics").await.status, 200);
    task.abort();
}

fn states(n: usize) -> Vec<String> {
    creative_feedback_sim::recorded_states(5, n as u64)
        .unwrap()
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_keeps_metrics_model_and_next_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(Config::default());
    settings.state_dir = Some(dir.path().to_path_buf());
    settings.snapshot_every = 500;
    let states = states(3_000);
    let mut reference = CreativeLoop::new(Config::default()).unwrap();

    let (addr, service, task) = serve(settings.clone()).await;
    for s in &states[..2_000] {
        assert_eq!(post(addr, s).await.status, 200);
        reference
            .update_read(&ReadState::from_json(s).unwrap())
            .unwrap();
        reference.drain_events().for_each(drop);
    }
    let before = json(&get(addr, "/v1/metrics").await);
    task.abort();
    service.shutdown(Duration::from_secs(2)).await;

    let (addr, service, task) = serve(settings).await;
    assert_eq!(service.restored_steps(), Some(2_000));
    let after = json(&get(addr, "/v1/metrics").await);
    for key in [
        "steps",
        "cumulative_gain",
        "counters",
        "quality",
        "mode",
        "trend",
    ] {
        assert_eq!(after[key], before[key], "{key} changed across the restart");
    }
    for s in &states[2_000..] {
        let r = post(addr, s).await;
        let expected = reference
            .update_read(&ReadState::from_json(s).unwrap())
            .unwrap();
        reference.drain_events().for_each(drop);
        assert_eq!(r.body, serde_json::to_string(&expected).unwrap());
    }
    task.abort();
    service.shutdown(Duration::from_secs(2)).await; // the writer has appended everything
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    let c = reference.counters();
    assert_eq!(history.lines().count() as u64, c.completed + c.pruned);
    let mut pretrain = CreativeLoop::new(Config::default()).unwrap();
    assert_eq!(pretrain.pretrain_jsonl(&history).skipped.len(), 0);
}

/// Start-up resumes from the newest snapshot file that is valid, saying which files it passed
/// over; with none valid it refuses to start afresh unless told to, and then moves the damaged
/// files aside instead of deleting them.
#[tokio::test]
async fn start_up_recovers_from_the_newest_valid_snapshot_and_never_starts_afresh_silently() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut settings = ServiceConfig::new(Config::default());
    settings.state_dir = Some(dir.path().to_path_buf());
    let service = Service::start(settings.clone()).unwrap();
    service
        .update(br#"{"novelty": 0.9, "aesthetic_score": 0.6}"#)
        .unwrap();
    assert_eq!(
        service.shutdown(Duration::from_secs(1)).await,
        Saved::Saved { steps: 1 }
    );
    let service = Service::start(settings.clone()).unwrap();
    service
        .update(br#"{"novelty": 0.5, "aesthetic_score": 0.6}"#)
        .unwrap();
    service.shutdown(Duration::from_secs(1)).await;
    let good = std::fs::read_to_string(path("snapshot.prev.json")).unwrap();
    assert_eq!(Snapshot::from_json(&good).unwrap().steps(), 1);

    // A damaged snapshot.json: the previous one is used, and the damaged file is named.
    std::fs::write(path("snapshot.json"), "{\"format\": 1, \"conf").unwrap();
    let service = Service::start(settings.clone()).unwrap();
    assert_eq!(service.restored_steps(), Some(1));
    let report = service.start_report();
    assert_eq!(
        report.from.as_deref(),
        Some(path("snapshot.prev.json").as_path())
    );
    assert_eq!(report.passed_over[0].0, path("snapshot.json"));
    drop(service);

    // A crash just before the final rename left a complete temporary file: it is the newest.
    let mut newer: serde_json::Value = serde_json::from_str(&good).unwrap();
    newer["state"]["steps"] = 7.into();
    std::fs::write(path("snapshot.json.tmp"), newer.to_string()).unwrap();
    let service = Service::start(settings.clone()).unwrap();
    assert_eq!(service.restored_steps(), Some(7));
    drop(service);

    // Another format, non-UTF-8 bytes, damage: nothing to resume from, so no start.
    let mut other: serde_json::Value = serde_json::from_str(&good).unwrap();
    other["format"] = 2.into();
    std::fs::write(path("snapshot.json.tmp"), other.to_string()).unwrap();
    std::fs::write(path("snapshot.prev.json"), [0xff, 0xfe, 0x00]).unwrap();
    let err = Service::start(settings.clone()).unwrap_err().to_string();
    for needle in [
        "snapshot.json:",
        "snapshot.json.tmp: snapshot format 2, but this version reads format 1",
        "snapshot.prev.json: not UTF-8 text",
        "--fresh",
    ] {
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
    assert!(
        path("snapshot.json").exists(),
        "the damaged files are left for inspection"
    );

    // Told to start afresh: the files are moved aside, not deleted.
    settings.fresh = true;
    let service = Service::start(settings).unwrap();
    assert_eq!(service.restored_steps(), None);
    assert_eq!(service.start_report().discarded.len(), 3);
    assert!(path("snapshot.json.discarded").exists());
    assert!(!path("snapshot.json").exists());
}

/// Restores with LoopBuilder from a snapshot written by the service (the files are the loop's
/// own format).
#[tokio::test]
async fn the_service_writes_snapshots_the_loop_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(Config::default());
    settings.state_dir = Some(dir.path().to_path_buf());
    let service = Service::start(settings).unwrap();
    service
        .update(br#"{"novelty": 0.9, "aesthetic_score": 0.6}"#)
        .unwrap();
    service.shutdown(Duration::from_secs(1)).await;
    let text = std::fs::read_to_string(dir.path().join("snapshot.json")).unwrap();
    let restored = LoopBuilder::from_snapshot(Snapshot::from_json(&text).unwrap())
        .build()
        .unwrap();
    assert_eq!(restored.steps(), 1);
}

/// A state folder the service cannot write to: every failure is counted on /metrics, health
/// turns degraded with the reason, and shutdown says the final snapshot was not saved.
#[tokio::test]
async fn persistence_failures_are_counted_reported_and_never_called_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(Config::default());
    settings.state_dir = Some(dir.path().to_path_buf());
    settings.snapshot_every = 1;
    let service = Service::start(settings).unwrap();
    // The snapshot's temporary file is a folder: every write fails, as on a full or read-only
    // disk, whoever runs the test (root included).
    std::fs::create_dir(dir.path().join("snapshot.json.tmp")).unwrap();
    for _ in 0..3 {
        service
            .update(br#"{"novelty": 0.5, "aesthetic_score": 0.6}"#)
            .unwrap();
    }
    let saved = service.shutdown(Duration::from_secs(1)).await;
    let Saved::Failed(why) = saved else {
        panic!("reported as saved: {saved:?}");
    };
    assert!(why.contains("snapshot.json.tmp"), "{why}");
    let status = service.persistence().unwrap();
    assert!(status.errors() >= 1, "{}", status.errors());
    let health = service.health();
    assert_eq!(health.status, "degraded");
    assert!(
        health
            .reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("persistence failing"),
        "{:?}",
        health.reason
    );
    let exposition = service.prometheus();
    let line = exposition
        .lines()
        .find(|l| l.starts_with("creative_feedback_persist_errors_total"))
        .unwrap_or_default();
    assert_eq!(
        line,
        format!("creative_feedback_persist_errors_total {}", status.errors())
    );
    assert!(!dir.path().join("snapshot.json").exists());
}

/// Updates sent while the stream runs, and what the stalled client is shown: a metrics snapshot
/// each step (about 1.5 KB) makes some 15 MB, more than the 4 MiB a Linux socket's send buffer
/// grows to, so a client that never reads really stalls the server's writes to it.
const STREAMED_UPDATES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_delivers_events_in_order_and_drops_a_stalled_client() {
    let mut settings = ServiceConfig::new(Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 2,
        plateau_steps: Some(5),
        ..Config::default()
    });
    settings.sample_interval = Duration::from_millis(1);
    settings.interval_steps = 1;
    let (addr, _service, task) = serve(settings).await;
    let (mut reader, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream"))
        .await
        .unwrap();
    // A client that connects and never reads, with a small receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/v1/stream"),
        socket.connect(addr).await.unwrap(),
    )
    .await
    .unwrap();

    // The reading client reads as the updates go in; it keeps the exploration events' steps.
    let reading = tokio::spawn(async move {
        let mut steps = Vec::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(5), reader.next()).await
        {
            let Ok(text) = frame.into_text() else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            assert_eq!(v["type"], "creativity_metric");
            let event = &v["data"]["event"];
            if event == "exploration_started" || event == "exploration_ended" {
                steps.push(v["data"]["step"].as_u64().unwrap());
            }
        }
        steps
    });

    let big = format!(
        r#"{{"novelty": 0.5, "aesthetic_score": 0.6, "note": "{}"}}"#,
        "y".repeat(8_000)
    );
    for i in 0..STREAMED_UPDATES {
        let body = if i % 50 == 0 {
            big.clone()
        } else {
            r#"{"novelty": 0.5, "aesthetic_score": 0.6}"#.to_owned()
        };
        assert_eq!(post(addr, &body).await.status, 200, "update {i}");
    }

    let steps = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("the reading client finished")
        .unwrap();
    assert!(
        steps.len() >= 20,
        "only {} exploration events arrived",
        steps.len()
    );
    assert!(
        steps.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {steps:?}"
    );

    // Every update was answered while the stalled client held its socket; that client now
    // finds it was disconnected: what it left unread ends in a close or the end of the stream,
    // long before it could have caught up.
    let mut unread = 0usize;
    let dropped = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = stalled.next().await {
            match frame {
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => break,
                Ok(_) => unread += 1,
            }
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "the stalled client was never disconnected ({unread} frames read)"
    );
    assert!(
        unread < STREAMED_UPDATES,
        "the stalled client received {unread} frames"
    );
    task.abort();
}

/// Every error answer is `{"error": …}` as JSON, whoever makes it: the service, the router's
/// fallback, or axum's own refusals (wrong method, body too large, bad query string).
#[tokio::test]
async fn every_error_status_answers_json_with_an_error_key() {
    let mut settings = ServiceConfig::new(Config::default());
    settings.body_limit = 1024;
    settings.token = Some("secret".into());
    let (addr, service, server) = serve(settings).await;
    let big = vec![b' '; 4096];
    let auth = [("Authorization", "Bearer secret")];
    let cases: Vec<(u16, Response)> = vec![
        (
            400,
            request(addr, "POST", "/v1/update", &auth, b"not json").await,
        ),
        (401, request(addr, "POST", "/v1/update", &[], b"{}").await),
        (404, get(addr, "/no/such/route").await),
        (404, get(addr, "/v1/report").await),
        (405, request(addr, "DELETE", "/v1/update", &auth, b"").await),
        (413, request(addr, "POST", "/v1/update", &auth, &big).await),
        (400, get(addr, "/v1/history?limit=many").await),
        (
            422,
            request(addr, "POST", "/v1/update", &auth, br#"{"novelty": NaN}"#).await,
        ),
        (
            415,
            request(
                addr,
                "POST",
                "/v1/update",
                &[auth[0], ("Content-Type", "text/plain")],
                br#"{"novelty": 0.9}"#,
            )
            .await,
        ),
        (
            403,
            request(
                addr,
                "POST",
                "/v1/update",
                &[auth[0], ("Host", "evil.example")],
                br#"{"novelty": 0.9}"#,
            )
            .await,
        ),
    ];
    for (status, r) in &cases {
        assert_eq!(r.status, *status, "{}", r.body);
        assert!(
            r.headers
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{status}: {}",
            r.headers
        );
        let body = json(r);
        assert!(body["error"].is_string(), "{status}: {}", r.body);
    }
    assert_eq!(
        service.metrics().metrics.steps,
        0,
        "no error advanced the loop"
    );
    server.abort();
}

/// A missing tool fails the test under `CI=true` (`.ci/run` installs it) and skips it elsewhere.
fn skip_unless_ci(missing: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "{missing}: .ci/run installs it, so under CI=true this is a failure"
    );
    eprintln!("{missing}; skipping (CI installs it)");
}

/// What a web page could send to a loopback sidecar is refused: a foreign Host (DNS
/// rebinding), a body declared as text or form data, a WebSocket from another origin; the
/// bearer scheme is matched case-insensitively; JSON with a charset is fine.
#[tokio::test]
async fn requests_a_web_page_could_forge_are_refused() {
    let mut settings = ServiceConfig::new(Config::default());
    settings.allowed_hosts = vec!["sidecar.internal".into()];
    settings.token = Some("secret".into());
    let (addr, service, server) = serve(settings).await;
    let state = br#"{"novelty": 0.5, "aesthetic_score": 0.6}"#;
    let lower = ("Authorization", "bearer secret");
    let ok = request(addr, "POST", "/v1/update", &[lower], state).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let json = ("Content-Type", "application/json; charset=utf-8");
    assert_eq!(
        request(addr, "POST", "/v1/update", &[lower, json], state)
            .await
            .status,
        200
    );
    for host in [
        "localhost",
        "[::1]:9",
        "sidecar.internal",
        "sidecar.internal:8080",
    ] {
        let r = request(addr, "POST", "/v1/update", &[lower, ("Host", host)], state).await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
    for (headers, status) in [
        (vec![lower, ("Host", "evil.example")], 403),
        (vec![lower, ("Host", "127.0.0.1.evil.example")], 403),
        (vec![lower, ("Content-Type", "text/plain")], 415),
        (
            vec![lower, ("Content-Type", "application/x-www-form-urlencoded")],
            415,
        ),
    ] {
        let r = request(addr, "POST", "/v1/update", &headers, state).await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.body);
    }
    assert_eq!(
        service.metrics().metrics.steps,
        6,
        "no refused request advanced the loop"
    );

    let url = format!("ws://{addr}/v1/stream");
    let with_origin = |origin: &str| {
        let mut r = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .unwrap();
        r.headers_mut().insert("Origin", origin.parse().unwrap());
        r
    };
    assert!(
        tokio_tungstenite::connect_async(with_origin("https://evil.example"))
            .await
            .is_err()
    );
    let same = format!("http://{addr}");
    let (mut client, _) = tokio_tungstenite::connect_async(with_origin(&same))
        .await
        .unwrap();

    // The stream is server-to-client: a large inbound message ends the connection.
    use futures_util::SinkExt as _;
    let big = tokio_tungstenite::tungstenite::Message::text("x".repeat(64 * 1024));
    let _ = client.send(big).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = client.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a 64 KiB inbound message did not end the connection"
    );
    server.abort();
}

/// A history line that is not UTF-8 does not stop the server from starting (it is skipped); a
/// snapshot that reads but cannot be resumed from is refused naming the file and the way out.
#[tokio::test]
async fn damaged_state_files_get_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(Config::default());
    settings.state_dir = Some(dir.path().to_path_buf());
    let service = Service::start(settings.clone()).unwrap();
    service
        .update(br#"{"novelty": 0.5, "aesthetic_score": 0.6}"#)
        .unwrap();
    service.shutdown(Duration::from_secs(1)).await;
    std::fs::write(dir.path().join("history.jsonl"), b"\xff\xfe not a record\n").unwrap();
    let service = Service::start(settings.clone()).unwrap();
    assert_eq!(service.history_at_start().unwrap().records, 0);
    drop(service);

    let path = dir.path().join("snapshot.json");
    let mut snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    snapshot["state"]["mode"] = "exploring".into();
    std::fs::write(&path, snapshot.to_string()).unwrap();
    std::fs::remove_file(dir.path().join("snapshot.prev.json")).ok();
    let err = Service::start(settings).unwrap_err().to_string();
    for needle in [
        "snapshot.json cannot be resumed from",
        "disagree",
        "--fresh",
    ] {
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
}
