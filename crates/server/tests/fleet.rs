//! Sidecars learning as one fleet through a real `redis-server`: one order of learning, a
//! warm start from the checkpoint, outcomes crossing sidecars, leases, and Redis killed and
//! restarted under load.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/redis.rs"]
mod redis;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{json, request, serve, short_config, state_json};
use creative_feedback_server::{Fleet, FleetConfig, FleetStatus, Service, ServiceConfig};
use redis::RedisServer;

/// The short-exploration config with a model that predicts after 3 samples and no gate, so
/// that explorations end often and every one teaches.
fn config() -> creative_feedback_core::Config {
    let mut config = short_config();
    config.quality.min_samples = 3;
    config.quality.min_predicted_gain = None;
    config
}

fn fleet_config(redis: &RedisServer, sidecar: &str) -> FleetConfig {
    let mut cfg = FleetConfig::new(redis.url());
    cfg.sidecar = sidecar.to_owned();
    cfg.lease = Duration::from_secs(2);
    cfg.checkpoint_every = 25;
    cfg
}

async fn sidecar(cfg: FleetConfig) -> (SocketAddr, Arc<Service>) {
    let mut settings = ServiceConfig::new(config());
    settings.fleet = Some(Fleet::connect(cfg).await.unwrap());
    let (addr, service, _task) = serve(settings).await;
    (addr, service)
}

/// Whether deploy/openapi/crefl.json lists `status` for the operation.
fn documented(method: &str, path: &str, status: u16) -> bool {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/openapi/crefl.json"
    ))
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["paths"][path][method]["responses"]
        .get(status.to_string())
        .is_some()
}

fn status(service: &Service) -> FleetStatus {
    service.fleet_status().unwrap()
}

/// Waits until every sidecar has published all it produced and learned the whole stream.
async fn settle(redis: &RedisServer, sidecars: &[&Service]) {
    for _ in 0..400 {
        let published = sidecars.iter().all(|s| {
            let st = status(s);
            st.lessons.waiting == 0
                && st.lessons.published + st.lessons.dropped == st.lessons.produced
        });
        let last = redis.last_id("crefl:lessons");
        let settled = published && sidecars.iter().all(|s| status(s).read_id == last);
        if settled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the fleet did not settle: {:?}",
        sidecars.iter().map(|s| status(s)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_that_read_the_stream_to_the_same_id_hold_identical_learnings() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a_addr, a) = sidecar(fleet_config(&redis, "a")).await;
    let (b_addr, b) = sidecar(fleet_config(&redis, "b")).await;
    // Both sidecars at once, several sessions each: the stream interleaves their lessons.
    let drive = |addr: SocketAddr, prefix: &'static str| async move {
        for i in 0..600 {
            let r =
                common::post_session(addr, &format!("{prefix}{}", i % 3), &state_json(i, "")).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    tokio::join!(drive(a_addr, "a"), drive(b_addr, "b"));
    settle(&redis, &[&a, &b]).await;
    let (sa, sb) = (status(&a), status(&b));
    assert!(
        sa.lessons.produced > 10 && sb.lessons.produced > 10,
        "{sa:?} {sb:?}"
    );
    assert_eq!(
        sa.lessons.learned,
        sa.lessons.produced + sb.lessons.produced
    );
    assert_eq!(sa.read_id, sb.read_id);
    assert_eq!(a.pool().learning_snapshot(), b.pool().learning_snapshot());
    assert_eq!(sa.learning_digest, sb.learning_digest);
    assert!(sa.checkpoints + sb.checkpoints > 0);

    // A second copy of a lesson (an append that timed out but went through, then retried)
    // is skipped by every sidecar alike: the learnings stay equal.
    redis.command(&[
        "XADD",
        "crefl:lessons",
        "*",
        "s",
        "a",
        "n",
        "1",
        "t",
        "0",
        "l",
        "{}",
    ]);
    settle(&redis, &[&a, &b]).await;
    for s in [&a, &b] {
        assert_eq!(status(s).lessons.duplicates, 1);
        assert_eq!(status(s).lessons.learned, sa.lessons.learned);
    }
    assert_eq!(a.pool().learning_snapshot(), b.pool().learning_snapshot());

    // A third sidecar starts warm from the checkpoint and catches up to the same learning.
    let (_c_addr, c) = sidecar(fleet_config(&redis, "c")).await;
    settle(&redis, &[&a, &b, &c]).await;
    let sc = status(&c);
    assert!(
        sc.lessons.learned < sa.lessons.learned,
        "c learned {} lessons: it should have started from the checkpoint",
        sc.lessons.learned
    );
    assert_eq!(c.pool().learning_snapshot(), a.pool().learning_snapshot());

    // The fleet's series are in the exposition.
    let metrics = request(a_addr, "GET", "/metrics", &[], b"").await.body;
    for series in [
        "creative_feedback_fleet_connected 1",
        "creative_feedback_fleet_lessons_published_total",
        "creative_feedback_fleet_lessons_learned_total",
        // The alert rules' series (deploy/prometheus/alerts.yml).
        "creative_feedback_fleet_lessons_dropped_total",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    common::promtool_check(&metrics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_on_one_sidecar_changes_the_others_predictions() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a_addr, a) = sidecar(fleet_config(&redis, "a")).await;
    let (_b_addr, b) = sidecar(fleet_config(&redis, "b")).await;
    let predict = |s: &Service| {
        s.pool().with_learning(|l| {
            let mut features = l.model().weights();
            features.fill(0.5);
            l.model().predict(&features)
        })
    };
    let mut i = 0;
    // Until the shared model predicts, then through one more ended exploration.
    let mut before = None;
    for _ in 0..50 {
        let produced = status(&a).lessons.produced;
        while status(&a).lessons.produced == produced && i < 20_000 {
            let r = common::post_session(a_addr, "host", &state_json(i, "")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            i += 1;
        }
        settle(&redis, &[&a, &b]).await;
        if let Some(p) = predict(&b) {
            before = Some((p, status(&b).lessons.learned));
            break;
        }
    }
    let (p0, learned0) = before.expect("the shared model never predicted");
    // B is not asked anything: A's next outcome reaches it through the stream.
    let produced = status(&a).lessons.produced;
    while status(&a).lessons.produced == produced && i < 40_000 {
        common::post_session(a_addr, "host", &state_json(i, "")).await;
        i += 1;
    }
    // Polled, never timed here: how fast it travels is a figure (`propagation_ms`,
    // docs/fleet.md), not an assertion.
    let mut changed = false;
    for _ in 0..400 {
        if predict(&b) != Some(p0) {
            changed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(changed, "B's prediction never changed after A's outcome");
    assert_eq!(status(&b).lessons.learned, learned0 + 1);
    assert_eq!(predict(&a), predict(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_driven_by_one_sidecar_at_a_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a_addr, a) = sidecar(fleet_config(&redis, "a")).await;
    let (b_addr, b) = sidecar(fleet_config(&redis, "b")).await;
    for i in 0..30 {
        assert_eq!(
            common::post_session(a_addr, "s", &state_json(i, ""))
                .await
                .status,
            200
        );
    }
    let refused = common::post_session(b_addr, "s", &state_json(30, "")).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(json(&refused)["error"]
        .as_str()
        .unwrap()
        .contains("driven by sidecar \"a\""));
    assert!(refused
        .headers
        .to_ascii_lowercase()
        .contains("retry-after:"));
    let read = request(b_addr, "GET", "/v1/sessions/s", &[], b"").await;
    assert_eq!(read.status, 409);
    assert!(documented("post", "/v1/sessions/{id}/update", 409));
    assert!(documented("get", "/v1/sessions/{id}", 409));
    assert!(documented("get", "/v1/fleet", 200));
    // A lets the session go (evicted, saved, lease released): B resumes it where A left it.
    a.pool().evict_idle(u64::MAX);
    for _ in 0..200 {
        if status(&a).sessions.leased == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let resumed = common::post_session(b_addr, "s", &state_json(30, "")).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert_eq!(b.session("s").unwrap().metrics.steps, 31);
    // The primary session is each sidecar's own: never leased.
    assert_eq!(
        request(
            b_addr,
            "POST",
            "/v1/update",
            &[("Content-Type", "application/json")],
            state_json(0, "").as_bytes()
        )
        .await
        .status,
        200
    );
    let fleet = json(&request(b_addr, "GET", "/v1/fleet", &[], b"").await);
    assert_eq!(fleet["sidecar"], "b");
    assert_eq!(fleet["sessions"]["conflicts"], 2);
    assert_eq!(status(&a).sessions.conflicts, 0);
    assert!(status(&b).sessions.claims >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_nothing_beyond_the_counted_buffer() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mut cfg = fleet_config(&redis, "a");
    cfg.buffer = 8;
    let (addr, a) = sidecar(cfg).await;
    let sessions = ["s0", "s1", "s2", "s3"];
    let mut i = 0;
    let mut run = |n: u32| {
        let start = i;
        i += n;
        async move {
            for j in start..start + n {
                let r = common::post_session(addr, sessions[(j % 4) as usize], &state_json(j, ""))
                    .await;
                assert!(r.status < 500, "update {j}: {} {}", r.status, r.body);
                assert_eq!(r.status, 200, "{}", r.body);
            }
        }
    };
    run(400).await;
    settle(&redis, &[&a]).await;
    redis.kill();
    run(2000).await;
    let health = json(&request(addr, "GET", "/health/creativity", &[], b"").await);
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["reason"]
        .as_str()
        .unwrap()
        .contains("Redis unreachable"));
    let outage = status(&a);
    assert!(!outage.connected);
    assert_eq!(outage.lessons.waiting, 8, "{outage:?}");
    assert!(outage.lessons.dropped > 0, "{outage:?}");
    // A session not in memory cannot be claimed while Redis is down: 503, never a guess.
    let unknown = common::post_session(addr, "new", &state_json(0, "")).await;
    assert_eq!(unknown.status, 503);
    assert!(unknown
        .headers
        .to_ascii_lowercase()
        .contains("retry-after: 1"));
    assert!(documented("post", "/v1/sessions/{id}/update", 503));
    redis.restart();
    run(400).await;
    settle(&redis, &[&a]).await;
    let after = status(&a);
    assert!(after.connected);
    assert_eq!(
        after.lessons.published + after.lessons.dropped,
        after.lessons.produced,
        "{after:?}"
    );
    // Every lesson reported published is in the stream (it survived the kill).
    assert!(
        redis.integer(&["XLEN", "crefl:lessons"])
            >= i64::try_from(after.lessons.published).unwrap()
    );
    let health = json(&request(addr, "GET", "/health/creativity", &[], b"").await);
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(
        common::post_session(addr, "new", &state_json(0, ""))
            .await
            .status,
        200
    );
}
