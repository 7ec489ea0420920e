//! Serving the router on a TCP listener with the limits a sidecar exposed to careless or hostile
//! clients needs: a deadline for request headers (which also closes idle keep-alive
//! connections), a cap on open connections, and a shutdown that waits for in-flight requests
//! only as long as it is told to.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Limits of [`serve`]. `ServeOptions::default()` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Longest a client may take to send a request's headers, and longest a keep-alive
    /// connection may sit idle between requests (default 10 s).
    pub header_read_timeout: Duration,
    /// Connections open at once; one more is answered `503` with `Retry-After` and closed
    /// (default 1,000).
    pub max_connections: usize,
    /// After the shutdown signal, how long in-flight requests may take before every connection
    /// is closed (default 10 s).
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1_000,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Connections still open when the shutdown timeout ran out, closed without waiting.
    pub cut_off: usize,
    /// Connections refused over the cap while serving.
    pub refused: u64,
}

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 79\r\n\r\n\
{\"error\": \"too many open connections; retry later, or raise --max-connections\"}";

/// Serves `app` on `listener` until `signal` completes, then lets in-flight requests finish
/// for at most `shutdown_timeout`.
///
/// # Errors
///
/// Never for a client's doing; the `Result` is kept for listener failures a future version
/// may report. Accept errors (e.g. out of file descriptors) are retried after a short pause.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    signal: impl Future<Output = ()>,
) -> std::io::Result<Served> {
    let max = options.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let mut refused = 0u64;
    tokio::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors or a reset before accept: pause rather than spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            refused += 1;
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stopping.clone();
        let timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(options.shutdown_timeout, permits.acquire_many(all)).await;
    let cut_off = match drained {
        Ok(_) => 0,
        Err(_) => max - permits.available_permits(),
    };
    Ok(Served { cut_off, refused })
}

/// Answers a connection over the cap with a `503` and closes it, without waiting on the client.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(OVER_CAPACITY)).await;
    let _ = stream.shutdown().await;
}
