//! The sidecar under faults and hostile input: damaged and unwritable state folders, requests a
//! web page could forge, and the JSON shape of every error answer.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use creative_feedback_core::{Config, LoopBuilder, Snapshot};
use creative_feedback_server::{Saved, Service, ServiceConfig};
use futures_util::StreamExt;

mod common;
use common::{get, json, request, serve, Response};

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
    other["format"] = 3.into();
    std::fs::write(path("snapshot.json.tmp"), other.to_string()).unwrap();
    std::fs::write(path("snapshot.prev.json"), [0xff, 0xfe, 0x00]).unwrap();
    let err = Service::start(settings.clone()).unwrap_err().to_string();
    for needle in [
        "snapshot.json:",
        "snapshot.json.tmp: snapshot format 3, but this version reads format 2",
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
