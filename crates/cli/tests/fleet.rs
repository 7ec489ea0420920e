//! `crefl serve --redis`: sidecar processes around a real `redis-server`; one is killed with
//! SIGKILL and its session continues on another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../server/tests/common/redis.rs"]
mod redis;

use std::time::Duration;

use common::{http, spawn_serve};
use redis::RedisServer;

fn state(i: u32) -> String {
    let novelty = [0.9, 0.5, 0.1][(i / 20 % 3) as usize];
    format!(r#"{{"novelty": {novelty}, "aesthetic_score": 0.6}}"#)
}

fn sidecar(redis: &RedisServer, name: &str) -> (std::process::Child, String) {
    let url = redis.url();
    let name = name.to_owned();
    spawn_serve(move |c| {
        c.args(["--bind", "127.0.0.1:0", "--redis", &url, "--sidecar", &name])
            .args(["--lease-ms", "1000", "--snapshot-every", "5"]);
    })
}

fn fleet(addr: &str) -> serde_json::Value {
    serde_json::from_str(&http(addr, "GET", "/v1/fleet", "").1).unwrap()
}

#[test]
fn a_session_continues_on_another_sidecar_after_its_sidecar_is_killed() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (mut a, a_addr) = sidecar(&redis, "a");
    let (mut b, b_addr) = sidecar(&redis, "b");
    for i in 0..23 {
        let (status, body) = http(&a_addr, "POST", "/v1/sessions/s/update", &state(i));
        assert_eq!(status, 200, "{body}");
    }
    // The snapshots of steps 5 … 20 reach Redis (written behind the updates).
    for _ in 0..400 {
        let f = fleet(&a_addr);
        if f["sessions"]["snapshots_written"].as_u64() >= Some(4)
            && f["sessions"]["snapshots_waiting"] == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    a.kill().unwrap();
    a.wait().unwrap();
    // B refuses the session while A's lease runs (at most 1 s), then takes it over.
    let mut taken = None;
    for _ in 0..200 {
        let (status, body) = http(&b_addr, "POST", "/v1/sessions/s/update", &state(23));
        if status == 200 {
            taken = Some(body);
            break;
        }
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("sidecar \\\"a\\\""), "{body}");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(taken.is_some(), "B never took the session over");
    let (_, info) = http(&b_addr, "GET", "/v1/sessions/s", "");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    // Resumed from the snapshot at step 20: 3 steps lost, within the interval of 5.
    assert_eq!(info["metrics"]["steps"], 21, "{info}");
    assert_eq!(fleet(&b_addr)["sessions"]["claims"], 1);
    let _ = b.kill();
    let _ = b.wait();
}

#[test]
fn a_sidecar_started_while_redis_is_down_serves_degraded_and_links_up_later() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.kill();
    let (mut a, addr) = sidecar(&redis, "a");
    let (status, body) = http(&addr, "POST", "/v1/update", &state(0));
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value =
        serde_json::from_str(&http(&addr, "GET", "/health/creativity", "").1).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    let (status, _) = http(&addr, "POST", "/v1/sessions/x/update", &state(0));
    assert_eq!(status, 503);
    redis.restart();
    let mut linked = false;
    for _ in 0..200 {
        if fleet(&addr)["connected"] == true {
            linked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(linked, "the sidecar never linked up: {}", fleet(&addr));
    let (status, body) = http(&addr, "POST", "/v1/sessions/x/update", &state(0));
    assert_eq!(status, 200, "{body}");
    let _ = a.kill();
    let _ = a.wait();
}

#[test]
fn an_invalid_redis_url_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crefl"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--redis",
            "http://nowhere",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid Redis URL"), "{err}");
    assert!(err.contains("redis://127.0.0.1:6379/0"), "{err}");
}
