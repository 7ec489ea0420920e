//! Load generator for `crefl serve`, run as a second process:
//!
//! ```sh
//! cargo run --release -p crefl -- serve --bind 127.0.0.1:8080 &
//! cargo run --release -p creative-feedback-server --example load -- 127.0.0.1:8080 10 32
//! cargo run --release -p creative-feedback-server --example load -- 127.0.0.1:8080 10 32 10000
//! cargo run --release -p creative-feedback-server --example load -- 127.0.0.1:8081 10 32 1000 b
//! ```
//!
//! Arguments: the server's address (or `self` for a server started in this process on a free
//! port, which is how CI runs it), the duration in seconds (default 10, at most 120), the
//! number of keep-alive connections (default 32) and the number of sessions (default 0: every
//! update goes to `/v1/update`; N spreads them over `/v1/sessions/s0 … s{N-1}/update`) and
//! the sessions' name prefix (default `s`; give each sidecar of a fleet its own). It
//! exits non-zero if any update failed or none went through. While it posts states as fast
//! as the server answers, a WebSocket client stays connected to `/v1/stream` and `/metrics` is
//! scraped every second. It prints the requests per second and the latency percentiles.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Sends one request on a keep-alive connection and reads the answer by its Content-Length.
async fn roundtrip(
    stream: &mut BufReader<TcpStream>,
    request: &[u8],
    line: &mut String,
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.get_mut().write_all(request).await?;
    line.clear();
    stream.read_line(line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(line).await? == 0 || line == "\r\n" {
            break;
        }
        // Compared in place: the generator shares the machine with the server, so it keeps
        // its own work per request small.
        if line.len() > 15 && line.as_bytes()[..15].eq_ignore_ascii_case(b"content-length:") {
            length = line[15..].trim().parse().unwrap_or(0);
        }
    }
    body.resize(length, 0);
    stream.read_exact(body).await?;
    Ok(status)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr = if target == "self" {
        own_server().await?
    } else {
        target
    };
    let seconds: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(120);
    let connections: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
        .clamp(1, 512);
    let sessions: u64 = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(10_000_000);
    let prefix: Arc<str> = Arc::from(args.get(5).map_or("s", String::as_str));
    let stop = Arc::new(AtomicBool::new(false));

    // A WebSocket client on the live stream for the whole run.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream")).await?;
    let frames = Arc::new(AtomicU64::new(0));
    let ws_task = {
        let (frames, stop) = (Arc::clone(&frames), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                    Ok(Some(Ok(_))) => {
                        frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
        })
    };
    // /metrics scraped every second.
    let scraper = {
        let (addr, stop) = (addr.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut scrapes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = TcpStream::connect(&addr).await {
                    let mut s = BufReader::new(s);
                    let (mut line, mut body) = (String::new(), Vec::new());
                    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                    if roundtrip(&mut s, req.as_bytes(), &mut line, &mut body)
                        .await
                        .is_ok()
                    {
                        scrapes += 1;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            scrapes
        })
    };

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for c in 0..connections {
        let addr = addr.clone();
        let prefix = Arc::clone(&prefix);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(200_000);
            let mut errors = 0u64;
            let Ok(s) = TcpStream::connect(&addr).await else {
                return (latencies, 1);
            };
            let _ = s.set_nodelay(true);
            let mut s = BufReader::new(s);
            let (mut line, mut body) = (String::new(), Vec::new());
            let (mut state, mut req) = (String::new(), Vec::new());
            let mut i = c as u64 * 7919;
            while Instant::now() < deadline {
                i += 1;
                let novelty = if i.is_multiple_of(97) { 0.9 } else { 0.4 + (i % 13) as f64 * 0.02 };
                state.clear();
                let _ = write!(state, r#"{{"novelty": {novelty}, "aesthetic_score": 0.6, "volatility": 0.1, "lambda_max": 0.004, "user_id": "u{}"}}"#, i % 1000);
                req.clear();
                if sessions == 0 {
                    req.extend_from_slice(b"POST /v1/update");
                } else {
                    let k = (i * connections as u64 + c as u64) % sessions;
                    let _ = std::io::Write::write_fmt(&mut req, format_args!("POST /v1/sessions/{prefix}{k}/update"));
                }
                let _ = std::io::Write::write_fmt(&mut req, format_args!(
                    " HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{state}",
                    state.len()
                ));
                let start = Instant::now();
                match roundtrip(&mut s, &req, &mut line, &mut body).await {
                    Ok(200) => latencies.push(start.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let scrapes = scraper.await?;
    let _ = ws_task.await;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} updates in {elapsed:.1} s over {connections} connections and {} sessions: {:.0} per second; errors {errors}",
        all.len(),
        sessions.max(1),
        all.len() as f64 / elapsed
    );
    println!(
        "latency p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        all.last().copied().unwrap_or_default()
    );
    println!(
        "while: {} stream frames received, /metrics scraped {scrapes} times",
        frames.load(Ordering::Relaxed)
    );
    if errors > 0 || all.is_empty() {
        return Err(format!("{errors} updates failed, {} succeeded", all.len()).into());
    }
    Ok(())
}

/// A sidecar in this process, on a free port of 127.0.0.1, for the load to hit.
async fn own_server() -> Result<String, Box<dyn std::error::Error>> {
    use creative_feedback_server::{router, serve, ServeOptions, Service, ServiceConfig};
    let service = Service::start(ServiceConfig::new(creative_feedback_core::Config::default()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(serve(
        listener,
        router(service),
        ServeOptions::default(),
        std::future::pending(),
    ));
    Ok(addr)
}
