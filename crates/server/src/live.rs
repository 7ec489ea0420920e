//! The live stream of `/v1/stream`: the sinks' messages and step samples, each tagged with its
//! session, and the sessions clients are watching.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use creative_feedback_core::{Action, Decision, Mode, ProfileName, State};
use creative_feedback_stream::{Message, Sink, SinkError};
use serde::Serialize;
use tokio::sync::broadcast;

/// One message of the stream: its session (if any) and its JSON text.
pub(crate) type Streamed = (Option<Arc<str>>, Arc<str>);

/// The `/v1/stream` broadcast. Messages from the sinks' task and step samples from request
/// threads meet here: each is stamped with the later of its own time and the last time sent,
/// under one lock, so that the stream's timestamps never go back.
#[derive(Debug)]
pub(crate) struct LiveStream {
    pub(crate) tx: broadcast::Sender<Streamed>,
    last_ms: Mutex<u64>,
}

impl LiveStream {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            last_ms: Mutex::new(0),
        }
    }

    pub(crate) fn publish(
        &self,
        at_ms: u64,
        session: Option<&Arc<str>>,
        render: impl FnOnce(u64) -> String,
    ) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut last = self.last_ms.lock().unwrap_or_else(PoisonError::into_inner);
        *last = at_ms.max(*last);
        let _ = self.tx.send((session.cloned(), Arc::from(render(*last))));
    }
}

/// Broadcasts every message, as JSON text, to the `/v1/stream` WebSocket clients.
pub(crate) struct BroadcastSink {
    pub(crate) stream: Arc<LiveStream>,
}

#[async_trait::async_trait]
impl Sink for BroadcastSink {
    fn name(&self) -> &str {
        "websocket_clients"
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        self.stream
            .publish(message.timestamp_ms, message.session.as_ref(), |at| {
                message.to_json_at(at)
            });
        Ok(())
    }
}

/// A per-step sample for the dashboard's live charts (sent at most every `sample_interval`
/// per session), in the stream's envelope as `{"event": "step", …}`; the primary session's
/// are kept for `GET /v1/samples`.
#[derive(Debug, Clone, Serialize)]
pub struct StepSample {
    event: &'static str,
    /// Unix time of the sample, in seconds.
    timestamp: f64,
    step: u64,
    novelty: Option<f64>,
    aesthetic_score: Option<f64>,
    entropy_factor: f64,
    mode: Mode,
    action: Action,
    profile: Option<ProfileName>,
    progress: Option<f64>,
}

impl StepSample {
    pub(crate) fn new(now_ms: u64, step: u64, state: &State, d: &Decision) -> Self {
        Self {
            event: "step",
            timestamp: now_ms as f64 / 1000.0,
            step,
            novelty: state.novelty,
            aesthetic_score: state.aesthetic_score,
            entropy_factor: d.entropy_factor,
            mode: d.mode,
            action: d.action,
            profile: d.exploration.as_ref().map(|e| e.profile.clone()),
            progress: d.exploration.as_ref().map(|e| e.progress),
        }
    }
}

/// A session some stream client filters on: its step samples are streamed too.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    clients: AtomicUsize,
    /// When its last step sample went out.
    pub(crate) last_sample_ms: AtomicU64,
}

/// The sessions stream clients watch (`/v1/stream?session=ID`). Updates read it without
/// waiting: a read lock, skipped altogether while nobody watches.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    count: AtomicUsize,
    sessions: RwLock<HashMap<Arc<str>, Arc<Watch>>>,
}

impl Watchers {
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Watch>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        sessions.get(id).cloned()
    }

    /// Registers a client of this session until the guard drops.
    pub(crate) fn watch(self: &Arc<Self>, id: &str) -> WatchGuard {
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let watch = sessions.entry(Arc::from(id)).or_default();
        watch.clients.fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        WatchGuard {
            watchers: Arc::clone(self),
            id: Arc::from(id),
        }
    }
}

/// Stops watching a session when the client leaves.
pub(crate) struct WatchGuard {
    watchers: Arc<Watchers>,
    id: Arc<str>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut sessions = self
            .watchers
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(watch) = sessions.get(&self.id) {
            if watch.clients.fetch_sub(1, Ordering::Relaxed) == 1 {
                sessions.remove(&self.id);
            }
        }
        self.watchers.count.fetch_sub(1, Ordering::Relaxed);
    }
}
