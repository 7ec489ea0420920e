//! deploy/openapi/crefl.json stays true: every documented operation answers, and every status
//! a battery of good and bad requests gets is one the document lists for that operation.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use creative_feedback_core::Config;
use creative_feedback_server::ServiceConfig;

mod common;
use common::{request, serve};

type Seen = BTreeMap<(String, String), BTreeSet<u16>>;

/// One request of the battery: server, method, path, headers, body.
type Case<'a> = (
    std::net::SocketAddr,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a [u8],
);

fn documented() -> BTreeMap<(String, String), BTreeSet<u16>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/openapi/crefl.json"
    ))
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let statuses = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            out.insert((method.to_uppercase(), path.clone()), statuses);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_status_is_in_the_openapi_document() {
    let docs = documented();
    let mut seen: Seen = BTreeMap::new();
    let mut record = |method: &str, path: &str, status: u16| {
        let route = path.split('?').next().unwrap();
        // A session's routes are documented with `{id}` in place of the id.
        let route = match route.strip_prefix("/v1/sessions/") {
            Some(rest) => match rest.split_once('/') {
                Some((_, tail)) => format!("/v1/sessions/{{id}}/{tail}"),
                None => "/v1/sessions/{id}".to_owned(),
            },
            None => route.to_owned(),
        };
        seen.entry((method.to_owned(), route))
            .or_default()
            .insert(status);
    };

    // A server with a token and a rollout, and a plain one with an experiment.
    let mut with_rollout = ServiceConfig::new(Config::default());
    with_rollout.token = Some("t".into());
    with_rollout.rollout = Some(("g".into(), 50));
    with_rollout.body_limit = 1024;
    with_rollout.max_sessions = 3;
    with_rollout.idle_ttl = None;
    let (a, _, task_a) = serve(with_rollout).await;
    let mut with_ab = ServiceConfig::new(Config::default());
    with_ab.experiment = Some("ab".into());
    let (b, _, task_b) = serve(with_ab).await;

    let auth = ("Authorization", "Bearer t");
    let json = ("Content-Type", "application/json");
    let text = ("Content-Type", "text/plain");
    let foreign = ("Host", "evil.example");
    let state: &[u8] = br#"{"novelty": 0.9, "aesthetic_score": 0.6}"#;
    let big = vec![b' '; 4096];
    let cases: Vec<Case<'_>> = vec![
        (a, "POST", "/v1/update", vec![auth, json], state),
        (a, "POST", "/v1/update", vec![auth], b"not json"),
        (a, "POST", "/v1/update", vec![], state),
        (a, "POST", "/v1/update", vec![auth], &big),
        (a, "POST", "/v1/update", vec![auth, text], state),
        (a, "POST", "/v1/update", vec![auth], br#"{"novelty": NaN}"#),
        (a, "POST", "/v1/update", vec![auth, foreign], state),
        (a, "DELETE", "/v1/update", vec![auth], b""),
        (a, "GET", "/v1/metrics", vec![], b""),
        (a, "GET", "/v1/samples", vec![], b""),
        (a, "GET", "/v1/history", vec![], b""),
        (a, "GET", "/v1/history?limit=x", vec![], b""),
        (a, "GET", "/v1/report", vec![], b""),
        (b, "GET", "/v1/report", vec![], b""),
        (a, "GET", "/v1/rollout", vec![], b""),
        (b, "GET", "/v1/rollout", vec![], b""),
        (a, "PUT", "/v1/rollout", vec![auth], br#"{"percent": 60}"#),
        (a, "PUT", "/v1/rollout", vec![auth], br#"{"percent": "x"}"#),
        (a, "PUT", "/v1/rollout", vec![], br#"{"percent": 60}"#),
        (a, "PUT", "/v1/rollout", vec![auth], br#"{"percent": 101}"#),
        (
            a,
            "PUT",
            "/v1/rollout",
            vec![auth, text],
            br#"{"percent": 60}"#,
        ),
        (b, "PUT", "/v1/rollout", vec![], br#"{"percent": 60}"#),
        (a, "GET", "/v1/stream", vec![], b""),
        (a, "GET", "/v1/stream?session=a%2Fb", vec![], b""),
        (a, "POST", "/v1/sessions/s1/update", vec![auth, json], state),
        (a, "POST", "/v1/sessions/s1/update", vec![auth], b"not json"),
        (a, "POST", "/v1/sessions/a%20b/update", vec![auth], state),
        (a, "POST", "/v1/sessions/s1/update", vec![], state),
        (a, "POST", "/v1/sessions/s1/update", vec![auth], &big),
        (a, "POST", "/v1/sessions/s1/update", vec![auth, text], state),
        (
            a,
            "POST",
            "/v1/sessions/s1/update",
            vec![auth],
            br#"{"novelty": NaN}"#,
        ),
        (a, "POST", "/v1/sessions/s2/update", vec![auth], state),
        (a, "POST", "/v1/sessions/s3/update", vec![auth], state),
        (a, "GET", "/v1/sessions/s1/update", vec![], b""),
        (a, "GET", "/v1/sessions/s1", vec![], b""),
        (a, "GET", "/v1/sessions/nobody", vec![], b""),
        (a, "GET", "/v1/sessions/.x", vec![], b""),
        (a, "DELETE", "/v1/sessions/s2", vec![], b""),
        (a, "DELETE", "/v1/sessions/s2", vec![auth], b""),
        (a, "DELETE", "/v1/sessions/s2", vec![auth], b""),
        (a, "DELETE", "/v1/sessions/default", vec![auth], b""),
        (a, "DELETE", "/v1/sessions/a%20b", vec![auth], b""),
        (a, "PUT", "/v1/sessions/s1", vec![auth], b""),
        (a, "GET", "/v1/sessions", vec![], b""),
        (a, "GET", "/v1/sessions?limit=2&offset=1", vec![], b""),
        (a, "GET", "/v1/sessions?limit=5000", vec![], b""),
        (a, "GET", "/v1/sessions?limit=x", vec![], b""),
        (a, "GET", "/v1/pool", vec![], b""),
        (a, "GET", "/v1/fleet", vec![], b""),
        (a, "GET", "/metrics", vec![], b""),
        (a, "GET", "/health/creativity", vec![], b""),
        (a, "GET", "/healthz", vec![], b""),
        (a, "GET", "/readyz", vec![], b""),
        (a, "GET", "/", vec![], b""),
    ];
    for (addr, method, path, headers, body) in &cases {
        let r = request(*addr, method, path, headers, body).await;
        record(method, path, r.status);
    }
    let (ws, upgrade) = tokio_tungstenite::connect_async(format!("ws://{a}/v1/stream"))
        .await
        .unwrap();
    record("GET", "/v1/stream", upgrade.status().as_u16());
    drop(ws);
    let unknown = request(a, "GET", "/no/such/path", &[], b"").await;
    assert_eq!(unknown.status, 404);

    for ((method, path), statuses) in &seen {
        let Some(listed) = docs.get(&(method.clone(), path.clone())) else {
            // A method the document does not list for a path it does list: 405.
            assert!(
                docs.keys().any(|(_, p)| p == path),
                "{path} is not documented"
            );
            assert_eq!(
                statuses.iter().copied().collect::<Vec<_>>(),
                [405],
                "{method} {path}"
            );
            continue;
        };
        for status in statuses {
            assert!(
                listed.contains(status),
                "{method} {path} answered {status}, which the document does not list ({listed:?})"
            );
        }
    }
    for (method, path) in docs.keys() {
        assert!(
            seen.contains_key(&(method.clone(), path.clone())),
            "{method} {path} is documented but not exercised here"
        );
    }
    task_a.abort();
    task_b.abort();
}
