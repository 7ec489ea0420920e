//! A WebSocket client sink: the guide's `WebSocketMetricStreamer`, with reconnection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::SinkExt;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::dispatcher::Sink;
use crate::message::Message;
use crate::SinkError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Settings of a [`WebSocketSink`].
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketConfig {
    /// The server, e.g. `ws://localhost:8765/creativity`.
    pub url: String,
    /// First reconnection delay (default 100 ms); it doubles after each failure.
    pub initial_backoff: Duration,
    /// Longest reconnection delay (default 10 s).
    pub max_backoff: Duration,
    /// Each delay is scaled by a random factor in [1 − jitter, 1 + jitter] (default 0.5).
    pub jitter: f64,
    /// Messages kept while disconnected (default 1024); beyond that the oldest snapshot, else
    /// the oldest message, is dropped and counted.
    pub buffer: usize,
    /// Time allowed for one connection attempt or one send (default 2 s).
    pub timeout: Duration,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl WebSocketConfig {
    /// The defaults for `url`.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            jitter: 0.5,
            buffer: 1024,
            timeout: Duration::from_secs(2),
            seed: 0,
        }
    }
}

/// What a WebSocket sink has done, readable while it runs.
#[derive(Debug, Default)]
pub struct WebSocketStats {
    /// Messages written to the socket.
    pub sent: AtomicU64,
    /// Messages dropped: buffer overflow while disconnected, or still buffered at close.
    pub dropped: AtomicU64,
    /// Successful connections (the first one included).
    pub connections: AtomicU64,
    /// Failed connection attempts and broken connections.
    pub failures: AtomicU64,
}

/// Streams every message as `{"type": "creativity_metric", "timestamp": …, "data": {…}}` text
/// frames. While disconnected it buffers a bounded number of messages and reconnects with
/// exponential backoff and jitter; `sent + dropped` always equals the messages it was given
/// once it is closed.
pub struct WebSocketSink {
    config: WebSocketConfig,
    socket: Option<Socket>,
    buffer: VecDeque<String>,
    buffer_events: VecDeque<bool>,
    backoff: Duration,
    next_attempt: Instant,
    rng: Xoshiro256PlusPlus,
    stats: Arc<WebSocketStats>,
}

impl std::fmt::Debug for WebSocketSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSink")
            .field("url", &self.config.url)
            .field("connected", &self.socket.is_some())
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl WebSocketSink {
    /// A sink for `config.url`; it connects on the first message.
    #[must_use]
    pub fn new(config: WebSocketConfig) -> Self {
        Self {
            backoff: config.initial_backoff,
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed),
            buffer: VecDeque::with_capacity(config.buffer.min(4096)),
            buffer_events: VecDeque::with_capacity(config.buffer.min(4096)),
            config,
            socket: None,
            next_attempt: Instant::now(),
            stats: Arc::new(WebSocketStats::default()),
        }
    }

    /// Its statistics, shared.
    #[must_use]
    pub fn stats(&self) -> Arc<WebSocketStats> {
        Arc::clone(&self.stats)
    }

    fn buffer_push(&mut self, text: String, is_event: bool) {
        if self.buffer.len() >= self.config.buffer.max(1) {
            let victim = self.buffer_events.iter().position(|e| !e).unwrap_or(0);
            self.buffer.remove(victim);
            self.buffer_events.remove(victim);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.buffer.push_back(text);
        self.buffer_events.push_back(is_event);
    }

    fn failed(&mut self) {
        self.socket = None;
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + self.config.jitter.clamp(0.0, 1.0) * (2.0 * unit - 1.0);
        self.next_attempt = Instant::now() + self.backoff.mul_f64(factor.max(0.0));
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
    }

    async fn connect(&mut self) {
        if self.socket.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        let attempt = tokio::time::timeout(
            self.config.timeout,
            tokio_tungstenite::connect_async(self.config.url.as_str()),
        )
        .await;
        match attempt {
            Ok(Ok((socket, _))) => {
                self.socket = Some(socket);
                self.backoff = self.config.initial_backoff;
                self.stats.connections.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.failed(),
        }
    }

    /// Writes the buffer out while connected; stops at the first failure (the message that
    /// failed stays buffered for the next connection).
    async fn flush_buffer(&mut self) {
        while let (Some(text), Some(socket)) = (self.buffer.front(), self.socket.as_mut()) {
            let frame = WsMessage::text(text.clone());
            match tokio::time::timeout(self.config.timeout, socket.send(frame)).await {
                Ok(Ok(())) => {
                    self.buffer.pop_front();
                    self.buffer_events.pop_front();
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    self.failed();
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl Sink for WebSocketSink {
    fn name(&self) -> &str {
        "websocket"
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        self.buffer_push(message.to_json(), message.is_event());
        self.connect().await;
        self.flush_buffer().await;
        if self.socket.is_none() {
            return Err(SinkError::new(format!(
                "not connected to {}; {} messages buffered",
                self.config.url,
                self.buffer.len()
            )));
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        self.next_attempt = Instant::now();
        self.connect().await;
        self.flush_buffer().await;
        let left = self.buffer.len() as u64;
        self.buffer.clear();
        self.buffer_events.clear();
        self.stats.dropped.fetch_add(left, Ordering::Relaxed);
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(self.config.timeout, socket.close(None)).await;
        }
        Ok(())
    }
}
