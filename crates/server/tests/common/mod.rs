//! Helpers shared by the server's test binaries: a minimal HTTP client, a server on a free
//! port, and the rule for missing tools.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use creative_feedback_server::{router, Service, ServiceConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// A minimal HTTP/1.1 client: one request per connection, bounded in time.
pub async fn request(
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

pub async fn post(addr: SocketAddr, body: &str) -> Response {
    request(
        addr,
        "POST",
        "/v1/update",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// `POST /v1/sessions/{id}/update` with a JSON body.
pub async fn post_session(addr: SocketAddr, id: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        &format!("/v1/sessions/{id}/update"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"").await
}

pub async fn serve(
    settings: ServiceConfig,
) -> (SocketAddr, Arc<Service>, tokio::task::JoinHandle<()>) {
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
pub fn promtool_check(exposition: &str) {
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

pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// A missing tool fails the test under `CI=true` (`.ci/run` installs it) and skips it elsewhere.
pub fn skip_unless_ci(missing: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "{missing}: .ci/run installs it, so under CI=true this is a failure"
    );
    eprintln!("{missing}; skipping (CI installs it)");
}

/// A loop that explores often: explorations of 10 steps, 2 of recovery, the learned selector.
pub fn short_config() -> creative_feedback_core::Config {
    let mut config = creative_feedback_core::Config {
        max_exploration_steps: 10,
        min_exploration_steps: 10,
        recovery_steps: 2,
        ..creative_feedback_core::Config::default()
    };
    config.selector.kind = creative_feedback_core::SelectorKind::Learned;
    config
}

/// The `i`-th state of a stream that triggers explorations every 60 steps, as JSON with the
/// extra top-level text `extra` (e.g. an attribute).
pub fn state_json(i: u32, extra: &str) -> String {
    let novelty = [0.9, 0.5, 0.1][(i / 20 % 3) as usize];
    let aesthetic = 0.5 + 0.1 * f64::from(i % 7) / 7.0;
    format!(r#"{{"novelty": {novelty}, "aesthetic_score": {aesthetic}{extra}}}"#)
}
