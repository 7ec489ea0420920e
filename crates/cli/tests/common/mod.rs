//! Helpers shared by `crefl`'s test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 request. The body is read by its Content-Length (chromedriver keeps
/// connections open whatever the request says).
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    let _ = reader.read_line(&mut status_line);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        out.resize(n, 0);
        let _ = reader.read_exact(&mut out);
    } else {
        let _ = reader.read_to_end(&mut out);
    }
    (status, String::from_utf8_lossy(&out).into_owned())
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

/// Starts `crefl serve` with `configure` applied to its command (arguments such as `--bind
/// 127.0.0.1:0`, environment, stderr), and returns the child with the address from its first
/// line of output.
pub fn spawn_serve(
    configure: impl FnOnce(&mut std::process::Command),
) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crefl"));
    cmd.arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    configure(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    (child, addr)
}

/// Runs the `n`-th Python block of docs/sidecar.md (1-based) with `CREFL_URL` set to `url`;
/// `None` when python3 is missing outside CI (under `CI=true` that fails).
pub fn run_sidecar_snippet(n: usize, url: &str) -> Option<std::process::Output> {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_unless_ci("python3 is not installed");
        return None;
    }
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/sidecar.md"
    ))
    .unwrap();
    let code = doc
        .split("```python\n")
        .nth(n)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/sidecar.md has no Python block {n}"));
    Some(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(code)
            .env("CREFL_URL", url)
            .output()
            .unwrap(),
    )
}

/// Polls a snapshot file (a loop's or a session's) until it holds at least `steps` (writers run
/// on their own threads); the deadline, 30 s, only bounds a hang.
pub fn wait_for_saved_steps(path: &std::path::Path, steps: u64) {
    for _ in 0..1_200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let saved = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["state"]["steps"].as_u64());
        if saved.is_some_and(|s| s >= steps) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{} did not reach step {steps} within 30 s", path.display());
}
