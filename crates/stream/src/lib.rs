//! Metric streaming for the creative feedback loop: never blocking the loop, never losing a
//! transition.
//!
//! The guide's `enable_metric_streaming(callback, interval_steps)` sampled the loop every
//! `interval_steps`, so an exploration that started and ended between two samples was never
//! seen — hence its advice to stream every step "for accurate metrics". Here the loop's
//! [`Event`](creative_feedback_core::Event)s (mode changes, explorations started and ended, input
//! corrections) go to every sink **every time, exactly once, in order**, and metrics snapshots go
//! out every `interval_steps` accepted steps.
//!
//! The [`Dispatcher`] hands each message to every sink without waiting: each sink runs in its own
//! Tokio task behind a bounded queue. When a queue is full, snapshots are dropped before events,
//! and every drop and every sink error is counted ([`Dispatcher::stats`]) and shows in
//! [`Dispatcher::health`]. [`Dispatcher::shutdown`] flushes what is queued, with a deadline.
//!
//! Sinks: [`CallbackSink`] (plain or async closures), [`TracingSink`] (structured logs),
//! `PrometheusSink` (feature `prometheus`), `WebSocketSink` (feature `websocket`); or implement
//! [`Sink`].
//!
//! # Example
//!
//! ```
//! use creative_feedback_core::{Config, CreativeLoop, State};
//! use creative_feedback_stream::{CallbackSink, Dispatcher, Payload};
//! use std::sync::{Arc, Mutex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&seen);
//! let mut dispatcher = Dispatcher::builder()
//!     .interval_steps(10)?
//!     .sink(CallbackSink::new("collector", move |m| {
//!         if let Payload::Event(e) = &m.payload {
//!             log.lock().map_err(|e| e.to_string())?.push(e.name());
//!         }
//!         Ok(())
//!     }))
//!     .build()?;
//! let mut feedback = CreativeLoop::new(Config::default())?;
//! feedback.update(&State::new(0.9, 0.6))?; // momentum: an exploration starts
//! dispatcher.dispatch(&mut feedback);
//! let stats = dispatcher.shutdown(std::time::Duration::from_secs(1)).await;
//! assert_eq!(stats[0].sent, 2);
//! assert_eq!(*seen.lock().map_err(|e| e.to_string())?, ["exploration_started", "mode_changed"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | flag | default | enables |
//! |---|---|---|
//! | `prometheus` | no | `PrometheusExporter` and `PrometheusSink` (`metrics` + `metrics-exporter-prometheus`) |
//! | `websocket` | no | `WebSocketSink`, a reconnecting client (`tokio-tungstenite`) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

mod clock;
mod dispatcher;
mod message;
mod queue;
mod sinks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dispatcher::{Dispatcher, DispatcherBuilder, Sink, SinkStats, StatsHandle};
pub use message::{envelope_json, session_envelope_json, Message, Payload};
pub use sinks::callback::CallbackSink;
#[cfg(feature = "prometheus")]
pub use sinks::prometheus::{PrometheusExporter, PrometheusSink, DEFAULT_PREFIX, METRIC_SUFFIXES};
pub use sinks::tracing::{log as log_message, TracingSink};
#[cfg(feature = "websocket")]
pub use sinks::websocket::{WebSocketConfig, WebSocketSink, WebSocketStats};

/// Errors of the streaming setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The dispatcher was built outside a Tokio runtime.
    #[error("no Tokio runtime: build the dispatcher inside one, or pass a handle to build_on")]
    NoRuntime,
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
    /// The Prometheus recorder could not be built.
    #[error("cannot set up Prometheus metrics: {0}")]
    Prometheus(String),
}

/// A sink's failure to deliver a message; counted, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

impl SinkError {
    /// A sink error with this message.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<String> for SinkError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for SinkError {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}
