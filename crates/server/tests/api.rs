//! Every endpoint over real HTTP on 127.0.0.1 (ephemeral port): answers, bad input, auth,
//! limits, restarts with persistence, and the live WebSocket stream.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use creative_feedback_core::{Config, CreativeLoop, ReadState};
use creative_feedback_server::ServiceConfig;
use futures_util::StreamExt;

mod common;
use common::{get, json, post, promtool_check, request, serve};

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
    assert_eq!(
        report["experiment"]["arms"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(report["quality"]["scored"].is_u64());
    assert!(
        report.get("learned").is_none(),
        "the default selector learns nothing"
    );
    assert_eq!(get(addr, "/v1/rollout").await.status, 404);
    // The exporter records the snapshot of step 200 on its sink's task: poll until it has.
    let mut prom = get(addr, "/metrics").await;
    for _ in 0..1_200 {
        if prom.body.contains("creative_feedback_steps_total 200\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        prom = get(addr, "/metrics").await;
    }
    assert_eq!(prom.status, 200);
    assert!(
        prom.body.contains("creative_feedback_steps_total 200\n"),
        "{}",
        prom.body
    );
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
        let mut last_timestamp = 0.0_f64;
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
            // Step samples, events and snapshots share one clock that never goes back.
            let timestamp = v["timestamp"].as_f64().unwrap();
            assert!(
                timestamp >= last_timestamp,
                "{timestamp} after {last_timestamp}"
            );
            last_timestamp = timestamp;
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

/// Documented details of the read and write endpoints: the history's default limit (20) and
/// order (oldest first), `PUT /v1/rollout` without a rollout (404), a request slower than
/// `--timeout-ms` (408, loop unchanged), and the step samples on the stream (their schema, at
/// most one per sample interval).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_endpoint_details_hold() {
    let mut settings = ServiceConfig::new(Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 1,
        ..Config::default()
    });
    settings.request_timeout = Duration::from_millis(300);
    settings.sample_interval = Duration::from_secs(3_600);
    let (addr, service, task) = serve(settings).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream"))
        .await
        .unwrap();
    for i in 0..400 {
        let novelty = if i % 12 == 0 { 0.9 } else { 0.5 };
        let body = format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#);
        assert_eq!(post(addr, &body).await.status, 200);
    }
    let history = json(&get(addr, "/v1/history").await);
    let records = history.as_array().unwrap();
    assert_eq!(records.len(), 20, "the default limit");
    let starts: Vec<u64> = records
        .iter()
        .map(|r| r["started_step"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {starts:?}"
    );
    let ended = service.metrics().metrics.counters.ended();
    assert!(ended > 20, "{ended}");

    let put = request(addr, "PUT", "/v1/rollout", &[], br#"{"percent": 5}"#).await;
    assert_eq!(put.status, 404, "{}", put.body);

    // Half a body: the request cannot finish, and times out with a JSON 408.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    slow.write_all(
        format!(
            "POST /v1/update HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{\"novelty\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), slow.read_exact(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 408");
    assert_eq!(
        service.metrics().metrics.steps,
        400,
        "the loop is unchanged"
    );

    // One step sample in the hour-long interval: the first, with its documented fields.
    let mut samples = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        let v: serde_json::Value = serde_json::from_str(&frame.into_text().unwrap()).unwrap();
        if v["data"]["event"] == "step" {
            samples.push(v);
        }
    }
    assert_eq!(samples.len(), 1, "{samples:?}");
    let data = &samples[0]["data"];
    for key in [
        "step",
        "novelty",
        "aesthetic_score",
        "entropy_factor",
        "mode",
        "action",
    ] {
        assert!(!data[key].is_null(), "a step sample lacks {key}: {data}");
    }
    assert_eq!(data["step"], 1);
    task.abort();
}

/// `/readyz` is distinct from `/healthz`: ready while serving, not ready (503, JSON) once
/// shutting down, while liveness stays 200. `/metrics` carries the build and the process.
#[tokio::test]
async fn readiness_build_info_and_process_metrics() {
    let (addr, service, task) = serve(ServiceConfig::new(Config::default())).await;
    let ready = get(addr, "/readyz").await;
    assert_eq!(
        (ready.status, json(&ready)["status"].as_str()),
        (200, Some("ready"))
    );
    let metrics = get(addr, "/metrics").await;
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        metrics.body.contains(&format!(
            "creative_feedback_build_info{{version=\"{version}\"}} 1"
        )),
        "{}",
        metrics.body
    );
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        let value: f64 = metrics
            .body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(value >= 0.0, "{name} {value}");
    }
    promtool_check(&metrics.body);
    service.shutdown(Duration::from_secs(1)).await;
    let not_ready = get(addr, "/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert!(json(&not_ready)["error"]
        .as_str()
        .unwrap()
        .contains("shutting down"));
    assert!(not_ready
        .headers
        .to_ascii_lowercase()
        .contains("retry-after: 5"));
    assert_eq!(get(addr, "/healthz").await.status, 200);
    task.abort();
}
