//! Many sessions behind one sidecar: the session routes, their errors as JSON, the stream's
//! filter, the pool's Prometheus aggregates, and persistence of every session across a
//! restart, with a single-loop state folder upgraded in place.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use creative_feedback_server::{Saved, Service, ServiceConfig, StateDir};
use futures_util::StreamExt;

mod common;
use common::{get, json, post, promtool_check, request, serve};

use common::short_config as config;

fn state(i: u32) -> String {
    common::state_json(i, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_created_on_first_use_and_share_one_model() {
    let (addr, service, task) = serve(ServiceConfig::new(config())).await;
    for i in 0..300 {
        for id in ["alice", "bob"] {
            let r = common::post_session(addr, id, &state(i)).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        assert_eq!(post(addr, &state(i)).await.status, 200);
    }
    let alice = json(&get(addr, "/v1/sessions/alice").await);
    assert_eq!(alice["id"], "alice");
    assert_eq!(alice["resident"], true);
    assert_eq!(alice["metrics"]["steps"], 300);
    assert!(!alice["history"].as_array().unwrap().is_empty());
    // The model learns from all three sessions' explorations.
    let ended: u64 = ["alice", "bob", "default"]
        .iter()
        .map(|id| service.session(id).unwrap().metrics.counters.completed)
        .sum::<u64>()
        + ["alice", "bob", "default"]
            .iter()
            .map(|id| service.session(id).unwrap().metrics.counters.pruned)
            .sum::<u64>();
    assert_eq!(
        alice["metrics"]["quality"]["samples_seen"]
            .as_u64()
            .unwrap(),
        ended
    );
    let list = json(&get(addr, "/v1/sessions?limit=2").await);
    assert_eq!(list["total"], 3);
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    let pool = json(&get(addr, "/v1/pool").await);
    assert_eq!(pool["resident"], 3);
    assert_eq!(pool["created"], 2);
    assert_eq!(pool["updates"], 900);
    assert_eq!(pool["learned_arms"].as_array().unwrap().len(), 4);
    // The unversioned routes are the session `default`.
    assert_eq!(
        json(&get(addr, "/v1/metrics").await)["steps"],
        json(&get(addr, "/v1/sessions/default").await)["metrics"]["steps"]
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_unknown_sessions_and_invalid_states_get_json_answers() {
    let mut settings = ServiceConfig::new(config());
    settings.max_sessions = 2;
    settings.idle_ttl = None;
    let (addr, service, task) = serve(settings).await;
    assert_eq!(
        common::post_session(addr, "one", &state(0)).await.status,
        200
    );

    let long = "x".repeat(129);
    for (path, status) in [
        ("/v1/sessions/a%20b/update", 400),
        (&format!("/v1/sessions/{long}/update") as &str, 400),
        ("/v1/sessions/.hidden/update", 400),
    ] {
        let r = request(addr, "POST", path, &[], state(0).as_bytes()).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(json(&r)["error"]
            .as_str()
            .unwrap()
            .contains("invalid session id"));
    }
    let r = get(addr, "/v1/sessions/nobody").await;
    assert_eq!(r.status, 404);
    assert!(json(&r)["error"].as_str().unwrap().contains("nobody"));

    // Full, and nothing can be evicted (no state folder, no idle TTL): 503 with Retry-After.
    let r = common::post_session(addr, "two", &state(0)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.to_ascii_lowercase().contains("retry-after: 1"));
    assert!(json(&r)["error"].as_str().unwrap().contains("max_sessions"));

    // An invalid state: 422 naming the session and the field; nothing else changes.
    let before = json(&get(addr, "/v1/pool").await);
    let r = common::post_session(
        addr,
        "one",
        r#"{"novelty": "high", "aesthetic_score": 0.5}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let body = json(&r);
    assert_eq!(body["session"], "one");
    assert_eq!(body["fields"][0]["field"], "novelty");
    assert_eq!(
        service.session("one").unwrap().metrics.steps,
        1,
        "the session did not advance"
    );
    let after = json(&get(addr, "/v1/pool").await);
    assert_eq!(after["updates"], before["updates"]);
    assert_eq!(after["rejected"], 1);

    let r = request(addr, "DELETE", "/v1/sessions/default", &[], b"").await;
    assert_eq!(r.status, 409);
    let r = request(addr, "DELETE", "/v1/sessions/one", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(json(&r)["removed"], "one");
    assert_eq!(
        request(addr, "DELETE", "/v1/sessions/one", &[], b"")
            .await
            .status,
        404
    );
    assert_eq!(get(addr, "/v1/sessions?limit=5000").await.status, 400);
    // With the room freed, a new session is welcome.
    assert_eq!(
        common::post_session(addr, "two", &state(0)).await.status,
        200
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_can_follow_one_session() {
    let (addr, _service, task) = serve(ServiceConfig::new(config())).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream?session=bob"))
            .await
            .unwrap();
    // Both explore at once: only bob's messages arrive.
    for i in 0..30 {
        assert_eq!(
            common::post_session(addr, "alice", &state(i)).await.status,
            200
        );
        assert_eq!(
            common::post_session(addr, "bob", &state(i)).await.status,
            200
        );
    }
    let mut seen = 0;
    while seen < 3 {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(value["session"], "bob", "{value}");
        seen += 1;
    }
    let bad = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream?session=a/b")).await;
    assert!(bad.is_err(), "an invalid id is refused before the upgrade");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gets_pool_aggregates_without_a_label_per_session() {
    let (addr, _service, task) = serve(ServiceConfig::new(config())).await;
    for i in 0..40 {
        for s in 0..20 {
            assert_eq!(
                common::post_session(addr, &format!("user-{s}"), &state(i))
                    .await
                    .status,
                200
            );
        }
    }
    let text = get(addr, "/metrics").await.body;
    assert!(
        text.contains("creative_feedback_sessions{mode=\"all\"} 21"),
        "{text}"
    );
    assert!(text.contains("creative_feedback_sessions_created_total 20"));
    assert!(text.contains("creative_feedback_session_updates_total 800"));
    assert!(text.contains("creative_feedback_shared_model_samples "));
    let labelled: Vec<&str> = text.lines().filter(|l| l.contains("\"user-")).collect();
    assert!(labelled.is_empty(), "no per-session label: {labelled:?}");
    promtool_check(&text);
    // Every pool metric the Grafana dashboard charts is exported.
    let grafana = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/creative-feedback.json"
    ))
    .unwrap();
    let charted: std::collections::BTreeSet<&str> = grafana
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.starts_with("creative_feedback_session")
                || w.starts_with("creative_feedback_shared_model")
        })
        .collect();
    assert!(charted.len() >= 6, "{charted:?}");
    for name in charted {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{'])),
            "the dashboard charts {name}, which /metrics does not export"
        );
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_survives_a_graceful_restart_and_a_single_loop_folder_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    // A layout-1 folder: what a single-loop sidecar left (no layout.json, no sessions/).
    {
        let mut settings = ServiceConfig::new(config());
        settings.state_dir = Some(dir.path().to_path_buf());
        let (addr, service, task) = serve(settings).await;
        for i in 0..50 {
            assert_eq!(post(addr, &state(i)).await.status, 200);
        }
        assert_eq!(
            service.shutdown(Duration::from_secs(1)).await,
            Saved::Saved { steps: 50 }
        );
        task.abort();
        std::fs::remove_file(dir.path().join("layout.json")).unwrap();
        std::fs::remove_dir(dir.path().join("sessions")).unwrap();
    }
    let mut settings = ServiceConfig::new(config());
    settings.state_dir = Some(dir.path().to_path_buf());
    let (addr, service, task) = serve(settings.clone()).await;
    assert_eq!(service.restored_steps(), Some(50));
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("layout.json")).unwrap())
            .unwrap();
    assert_eq!(layout["layout"], 2);
    for i in 0..120 {
        for id in ["a", "b", "c"] {
            assert_eq!(common::post_session(addr, id, &state(i)).await.status, 200);
        }
    }
    let mut before = Vec::new();
    for id in ["a", "b", "c", "default"] {
        before.push(json(&get(addr, &format!("/v1/sessions/{id}")).await)["metrics"].clone());
    }
    let learning = service.pool().learning_snapshot().to_json().unwrap();
    assert!(matches!(
        service.shutdown(Duration::from_secs(1)).await,
        Saved::Saved { steps: 50 }
    ));
    task.abort();
    drop(service);

    let (addr, service, task) = serve(settings).await;
    assert_eq!(
        service.pool().learning_snapshot().to_json().unwrap(),
        learning
    );
    for (id, before) in ["a", "b", "c", "default"].iter().zip(&before) {
        let after = json(&get(addr, &format!("/v1/sessions/{id}")).await);
        assert_eq!(&after["metrics"], before, "session {id}");
    }
    // They continue where they were.
    let r = common::post_session(addr, "b", &state(120)).await;
    assert_eq!(r.status, 200);
    assert_eq!(service.session("b").unwrap().metrics.steps, 121);
    assert_eq!(service.pool().stats().tallies.reloaded, 1);
    let files = StateDir::open(dir.path())
        .unwrap()
        .session_store()
        .unwrap()
        .ids()
        .unwrap();
    assert_eq!(files, ["a", "b", "c"]);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_leave_memory_and_come_back_on_their_next_update() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(config());
    settings.state_dir = Some(dir.path().to_path_buf());
    settings.idle_ttl = Some(Duration::from_millis(200));
    let (addr, service, task) = serve(settings).await;
    for i in 0..30 {
        assert_eq!(
            common::post_session(addr, "sleepy", &state(i)).await.status,
            200
        );
    }
    // The sweep runs every 50 ms here: wait for it, bounded.
    for _ in 0..100 {
        if service.pool().stats().tallies.expired == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(service.pool().stats().tallies.expired, 1);
    let info = json(&get(addr, "/v1/sessions/sleepy").await);
    assert_eq!(info["resident"], false);
    assert_eq!(info["metrics"]["steps"], 30);
    assert_eq!(
        common::post_session(addr, "sleepy", &state(30))
            .await
            .status,
        200
    );
    assert_eq!(service.session("sleepy").unwrap().metrics.steps, 31);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_session_file_fails_that_session_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(config());
    settings.state_dir = Some(dir.path().to_path_buf());
    let service = Service::start(settings.clone()).unwrap();
    std::fs::write(dir.path().join("sessions/broken.json"), "{\"format\": 2").unwrap();
    drop(service);
    let (addr, _service, task) = serve(settings).await;
    let r = common::post_session(addr, "broken", &state(0)).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(json(&r)["error"]
        .as_str()
        .unwrap()
        .contains("DELETE the session"));
    assert_eq!(
        common::post_session(addr, "fine", &state(0)).await.status,
        200
    );
    assert_eq!(
        request(addr, "DELETE", "/v1/sessions/broken", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(
        common::post_session(addr, "broken", &state(0)).await.status,
        200
    );
    task.abort();
}
