//! The service behind the routes: one loop, its streaming, its persistence, its policies.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use creative_feedback_core::{
    Action, Config, CreativeLoop, Decision, Event, ExplorationRecord, LoopBuilder, Metrics, Mode,
    OutcomeKind, ProfileName, QualityModel, ReadState, Rejected, State,
};
use creative_feedback_rollout::{Experiment, Rollout};
use creative_feedback_stream::{
    envelope_json, Clock, Dispatcher, Message, PrometheusExporter, PrometheusSink, Sink, SinkError,
    SinkStats, StatsHandle, SystemClock, TracingSink,
};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::persist::{HistoryCheck, Job, Loaded, PersistStatus, StateDir, Writer};
use crate::Error;

/// Settings of a [`Service`]. `ServiceConfig::new(config)` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The loop's configuration (ignored when a snapshot is restored: the snapshot has its own).
    pub config: Config,
    /// A pre-trained model to start from (ignored when a snapshot is restored).
    pub model: Option<QualityModel>,
    /// Where the snapshot and the history live; `None` keeps nothing across restarts.
    pub state_dir: Option<PathBuf>,
    /// Write the snapshot every this many accepted steps (default 1000), and at shutdown.
    pub snapshot_every: u64,
    /// Bearer token required by mutating endpoints; `None` requires none.
    pub token: Option<String>,
    /// Largest request body accepted (default 64 KiB).
    pub body_limit: usize,
    /// Longest a request may take (default 5 s).
    pub request_timeout: Duration,
    /// Metrics snapshots go to the sinks every this many steps (default 10).
    pub interval_steps: u64,
    /// A gradual rollout `(group, percent)`, changeable at run time with `PUT /v1/rollout`.
    pub rollout: Option<(String, u32)>,
    /// An A/B experiment (control: constant, treatment: adaptive) with this group id.
    pub experiment: Option<String>,
    /// How often a step sample goes to `/v1/stream` for the dashboard's charts (default 100 ms).
    pub sample_interval: Duration,
    /// Log transitions with the tracing sink.
    pub log_events: bool,
    /// Host names (with or without a port) requests may be addressed to besides loopback
    /// (`127.0.0.1`, `localhost`, `[::1]`), e.g. the name a load balancer uses.
    pub allowed_hosts: Vec<String>,
    /// Start a new loop even if the state folder holds snapshots none of which can be resumed
    /// from (they are moved aside as `*.json.discarded`, never deleted).
    pub fresh: bool,
}

impl ServiceConfig {
    /// The defaults around a loop configuration.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            model: None,
            state_dir: None,
            snapshot_every: 1000,
            token: None,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(5),
            interval_steps: 10,
            rollout: None,
            experiment: None,
            sample_interval: Duration::from_millis(100),
            log_events: false,
            fresh: false,
            allowed_hosts: Vec::new(),
        }
    }
}

/// The `/v1/stream` broadcast. Messages from the sinks' task and step samples from request
/// threads meet here: each is stamped with the later of its own time and the last time sent,
/// under one lock, so that the stream's timestamps never go back.
#[derive(Debug)]
struct LiveStream {
    tx: broadcast::Sender<Arc<str>>,
    last_ms: Mutex<u64>,
}

impl LiveStream {
    fn publish(&self, at_ms: u64, render: impl FnOnce(u64) -> String) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut last = self.last_ms.lock().unwrap_or_else(PoisonError::into_inner);
        *last = at_ms.max(*last);
        let _ = self.tx.send(Arc::from(render(*last)));
    }
}

/// Broadcasts every message, as JSON text, to the `/v1/stream` WebSocket clients.
struct BroadcastSink {
    stream: Arc<LiveStream>,
}

#[async_trait::async_trait]
impl Sink for BroadcastSink {
    fn name(&self) -> &str {
        "websocket_clients"
    }

    async fn send(&mut self, message: &Message) -> Result<(), SinkError> {
        self.stream
            .publish(message.timestamp_ms, |at| message.to_json_at(at));
        Ok(())
    }
}

struct Inner {
    feedback: CreativeLoop,
    dispatcher: Option<Dispatcher>,
    since_snapshot: u64,
    last_sample_ms: u64,
    /// The most recent step samples, so a dashboard that opens has a chart at once.
    samples: std::collections::VecDeque<StepSample>,
}

/// Step samples kept for `GET /v1/samples` (a minute at the default interval).
const KEPT_SAMPLES: usize = 600;

/// Why `POST /v1/update` gave no decision.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpdateError {
    /// The body is not UTF-8, not a JSON object, or has duplicate keys (HTTP 400).
    #[error("{0}")]
    Unreadable(String),
    /// The state is invalid (HTTP 422): every offending field is named.
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// `GET /v1/metrics`: the metrics snapshot and the sinks' statistics.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// The loop's metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Each sink's counters.
    pub stream: Vec<SinkStats>,
}

/// A per-step sample for the dashboard's live charts (sent at most every `sample_interval`),
/// in the stream's envelope as `{"event": "step", …}`, and kept for `GET /v1/samples`.
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
    fn new(now_ms: u64, step: u64, state: &State, d: &Decision) -> Self {
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

/// What [`Service::shutdown`] saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// No state folder: nothing is kept across restarts.
    NoStateDir,
    /// The final snapshot is on disk, taken at this step.
    Saved {
        /// Accepted steps in the snapshot.
        steps: u64,
    },
    /// The final snapshot could not be written: the state since the last good snapshot is lost.
    Failed(String),
}

/// The health check's answer (the guide's `/health/creativity`).
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `healthy` or `degraded`.
    pub status: &'static str,
    /// Why degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The current mode.
    pub mode: &'static str,
    /// Cumulative gain.
    pub cumulative_gain: f64,
    /// Ended explorations.
    pub exploration_count: u64,
    /// Whether the quality model is trained.
    pub quality_model_trained: bool,
    /// The last ended exploration.
    pub last_exploration: Option<LastExploration>,
    /// Accepted steps.
    pub steps: u64,
}

/// The last exploration in the health report.
#[derive(Debug, Clone, Serialize)]
pub struct LastExploration {
    /// Its profile.
    pub profile: String,
    /// Its gain.
    pub gain: f64,
    /// Its planned duration.
    pub duration: u32,
    /// How it ended.
    pub outcome: &'static str,
}

/// One loop behind an HTTP API: updates, metrics, health, streaming and persistence.
pub struct Service {
    inner: Mutex<Inner>,
    exporter: Arc<PrometheusExporter>,
    stats: StatsHandle,
    stream: Arc<LiveStream>,
    rollout: Option<Rollout>,
    experiment: Option<Experiment>,
    writer: Option<Writer>,
    settings: ServiceConfig,
    clock: SystemClock,
    restored_steps: Option<u64>,
    start_report: Loaded,
    history_at_start: Option<HistoryCheck>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Service {
    /// Starts the service on the current Tokio runtime: restores the snapshot from the state
    /// folder if there is one, checks the history file, starts the sinks and the writer.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptSnapshot`] for a damaged snapshot (never replaced silently);
    /// [`Error::Io`] for filesystem failures; [`Error::Loop`] / [`Error::Rollout`] /
    /// [`Error::Stream`] for invalid settings.
    pub fn start(settings: ServiceConfig) -> Result<Arc<Self>, Error> {
        let dir = settings
            .state_dir
            .as_deref()
            .map(StateDir::open)
            .transpose()?;
        let mut start_report = match &dir {
            Some(d) => d.load_snapshot(settings.fresh)?,
            None => Loaded::default(),
        };
        let snapshot = start_report.snapshot.take();
        let history_at_start = dir.as_ref().map(StateDir::check_history).transpose()?;
        if history_at_start.is_some_and(|h| h.torn_last_line) {
            tracing::warn!(target: "creative_feedback", "the last line of the history file is torn (an interrupted write); it is skipped");
        }
        let restored_steps = snapshot
            .as_ref()
            .map(creative_feedback_core::Snapshot::steps);
        let mut builder = match snapshot {
            Some(s) => LoopBuilder::from_snapshot(s),
            None => {
                let mut b = CreativeLoop::builder(settings.config.clone());
                if let Some(model) = settings.model.clone() {
                    b = b.model(model);
                }
                b
            }
        };
        let rollout = settings
            .rollout
            .as_ref()
            .map(|(group, percent)| Rollout::new(group, *percent))
            .transpose()?;
        let experiment = settings
            .experiment
            .as_deref()
            .map(Experiment::control_treatment)
            .transpose()?;
        if let Some(r) = &rollout {
            builder = r.install(builder);
        }
        if let Some(e) = &experiment {
            builder = e.install(builder);
        }
        let feedback = builder.build().map_err(|e| match &start_report.from {
            // Name the file and what else there is, so the operator knows what to do.
            Some(path) => Error::UnusableSnapshot {
                path: path.clone(),
                reason: e.to_string(),
            },
            None => Error::Loop(e),
        })?;

        let exporter = Arc::new(PrometheusExporter::new()?);
        let (tx, _) = broadcast::channel(1024);
        let stream = Arc::new(LiveStream {
            tx,
            last_ms: Mutex::new(0),
        });
        let mut dispatcher = Dispatcher::builder()
            .interval_steps(settings.interval_steps)?
            .sink(PrometheusSink::new(Arc::clone(&exporter)))
            .sink(BroadcastSink {
                stream: Arc::clone(&stream),
            });
        if settings.log_events {
            dispatcher = dispatcher.sink(TracingSink);
        }
        let dispatcher = dispatcher.build()?;
        exporter.record_metrics(&feedback.metrics());
        let stats = dispatcher.stats_handle();
        Ok(Arc::new(Self {
            inner: Mutex::new(Inner {
                feedback,
                dispatcher: Some(dispatcher),
                since_snapshot: 0,
                last_sample_ms: 0,
                samples: std::collections::VecDeque::with_capacity(KEPT_SAMPLES),
            }),
            exporter,
            stats,
            stream,
            rollout,
            experiment,
            writer: dir.map(Writer::start),
            settings,
            clock: SystemClock,
            restored_steps,
            start_report,
            history_at_start,
        }))
    }

    /// Whether a request may be addressed to `host` (a `Host` header or an origin's host, with
    /// or without a port): loopback names, or one of the allowed hosts.
    #[must_use]
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        loopback
            || self
                .settings
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(name))
    }

    /// The configuration of the loop being served (a restored snapshot's own).
    #[must_use]
    pub fn loop_config(&self) -> Config {
        lock(&self.inner).feedback.config().clone()
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &ServiceConfig {
        &self.settings
    }

    /// Steps of the snapshot restored at start, if one was.
    #[must_use]
    pub fn restored_steps(&self) -> Option<u64> {
        self.restored_steps
    }

    /// What start-up found in the state folder: the file resumed from, the snapshot files
    /// passed over and why, and those a fresh start moved aside.
    #[must_use]
    pub fn start_report(&self) -> &Loaded {
        &self.start_report
    }

    /// How persistence is going (`None` without a state folder).
    #[must_use]
    pub fn persistence(&self) -> Option<&PersistStatus> {
        self.writer.as_ref().map(|w| w.status().as_ref())
    }

    /// What the history file held at start.
    #[must_use]
    pub fn history_at_start(&self) -> Option<HistoryCheck> {
        self.history_at_start
    }

    /// A new subscriber to the live stream (JSON text messages).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.stream.tx.subscribe()
    }

    /// One step: reads the state, updates the loop, streams and persists what happened.
    ///
    /// # Errors
    ///
    /// [`UpdateError::Unreadable`] for a body that is not a JSON object;
    /// [`UpdateError::Rejected`] for an invalid state (the loop did not advance).
    pub fn update(&self, body: &[u8]) -> Result<Decision, UpdateError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| UpdateError::Unreadable("the body is not UTF-8 text".into()))?;
        let read =
            ReadState::from_json(text).map_err(|e| UpdateError::Unreadable(e.to_string()))?;
        let mut history_line = None;
        let mut snapshot = None;
        let mut sample = None;
        let result = {
            let mut inner = lock(&self.inner);
            let Inner {
                feedback,
                dispatcher,
                since_snapshot,
                last_sample_ms,
                samples,
            } = &mut *inner;
            let result = feedback.update_read(&read);
            let mut ended = false;
            if let Some(d) = dispatcher.as_mut() {
                d.dispatch_observed(feedback, |event| {
                    if let Event::ExplorationEnded { outcome, .. } = event {
                        ended = *outcome != OutcomeKind::Aborted;
                    }
                });
            }
            if let Ok(decision) = &result {
                if ended && self.writer.is_some() {
                    history_line = feedback
                        .history()
                        .last()
                        .and_then(|r| serde_json::to_string(r).ok());
                }
                *since_snapshot += 1;
                if self.writer.is_some() && *since_snapshot >= self.settings.snapshot_every {
                    *since_snapshot = 0;
                    snapshot = Some(Box::new(feedback.snapshot()));
                }
                let now = self.clock.now_ms();
                let interval =
                    u64::try_from(self.settings.sample_interval.as_millis()).unwrap_or(u64::MAX);
                if now.saturating_sub(*last_sample_ms) >= interval {
                    *last_sample_ms = now;
                    let data = StepSample::new(now, feedback.steps(), &read.state, decision);
                    if samples.len() == KEPT_SAMPLES {
                        samples.pop_front();
                    }
                    samples.push_back(data.clone());
                    sample = Some((now, data));
                }
            }
            result
        };
        if let Some(writer) = &self.writer {
            if let Some(line) = history_line {
                writer.send(Job::History(line));
            }
            if let Some(s) = snapshot {
                writer.send(Job::Snapshot(s));
            }
        }
        if let Some((at, data)) = sample {
            self.stream.publish(at, |at| envelope_json(at, &data));
        }
        Ok(result?)
    }

    /// The metrics snapshot and the sinks' statistics.
    #[must_use]
    pub fn metrics(&self) -> MetricsReport {
        let metrics = lock(&self.inner).feedback.metrics();
        MetricsReport {
            metrics,
            stream: self.stats.stats(),
        }
    }

    /// The most recent step samples (at most 600, one per sample interval), oldest first.
    #[must_use]
    pub fn samples(&self) -> Vec<StepSample> {
        lock(&self.inner).samples.iter().cloned().collect()
    }

    /// The most recent ended explorations, oldest first.
    #[must_use]
    pub fn history(&self, limit: usize) -> Vec<ExplorationRecord> {
        let inner = lock(&self.inner);
        let n = inner.feedback.history().len();
        inner
            .feedback
            .history()
            .skip(n.saturating_sub(limit))
            .cloned()
            .collect()
    }

    /// The A/B experiment, when configured.
    #[must_use]
    pub fn experiment(&self) -> Option<&Experiment> {
        self.experiment.as_ref()
    }

    /// The rollout, when configured.
    #[must_use]
    pub fn rollout(&self) -> Option<&Rollout> {
        self.rollout.as_ref()
    }

    /// The Prometheus exposition.
    #[must_use]
    pub fn prometheus(&self) -> String {
        self.exporter.record_stream_stats(&self.stats.stats());
        if let Some(status) = self.persistence() {
            self.exporter.set_counter(
                "persist_errors_total",
                "Failed writes of the snapshot or the history to the state folder.",
                status.errors(),
            );
        }
        if let Some(experiment) = &self.experiment {
            self.exporter
                .with_recorder(|| experiment.emit_metrics(self.exporter.prefix()));
        }
        let mut text = self.exporter.render();
        crate::process::build_info(self.exporter.prefix(), &mut text);
        crate::process::process_metrics(&mut text);
        text
    }

    /// Whether the service should get traffic (`/readyz`): `Err` with the reason while it is
    /// shutting down or its state folder cannot be written.
    ///
    /// # Errors
    ///
    /// The reason it is not ready.
    pub fn ready(&self) -> Result<(), String> {
        if lock(&self.inner).dispatcher.is_none() {
            return Err("shutting down".to_owned());
        }
        match self.persistence().and_then(PersistStatus::failing) {
            Some(why) => Err(format!("persistence failing: {why}")),
            None => Ok(()),
        }
    }

    /// The health report.
    #[must_use]
    pub fn health(&self) -> HealthReport {
        let inner = lock(&self.inner);
        let f = &inner.feedback;
        let health = match &inner.dispatcher {
            Some(d) => d.health(f),
            None => f.health(),
        };
        let m = f.metrics();
        let persist_failing = self.persistence().and_then(PersistStatus::failing);
        let (status, reason) = match (health.status, persist_failing) {
            (_, Some(why)) => ("degraded", Some(format!("persistence failing: {why}"))),
            (creative_feedback_core::HealthStatus::Healthy, None) => ("healthy", None),
            (creative_feedback_core::HealthStatus::Degraded, None) => {
                ("degraded", health.reason.map(|r| r.to_string()))
            }
        };
        HealthReport {
            status,
            reason,
            mode: m.mode.as_str(),
            cumulative_gain: m.cumulative_gain,
            exploration_count: m.counters.ended(),
            quality_model_trained: m.quality.trained,
            last_exploration: f.history().last().map(|r| LastExploration {
                profile: r.profile.name().to_string(),
                gain: r.creative_gain,
                duration: r.duration,
                outcome: r.outcome.as_str(),
            }),
            steps: m.steps,
        }
    }

    /// Stops streaming (flushing the sinks within `deadline`) and writes the final snapshot,
    /// saying whether it reached the disk. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) -> Saved {
        let (dispatcher, snapshot) = {
            let mut inner = lock(&self.inner);
            let snapshot = self
                .writer
                .as_ref()
                .map(|_| Box::new(inner.feedback.snapshot()));
            (inner.dispatcher.take(), snapshot)
        };
        if let Some(d) = dispatcher {
            let stats = d.shutdown(deadline).await;
            self.exporter.record_stream_stats(&stats);
        }
        let (Some(writer), Some(snapshot)) = (&self.writer, snapshot) else {
            return Saved::NoStateDir;
        };
        let steps = snapshot.steps();
        writer.send(Job::Snapshot(snapshot));
        writer.finish();
        let status = writer.status();
        if status.saved_steps() == Some(steps) {
            Saved::Saved { steps }
        } else {
            Saved::Failed(
                status
                    .failing()
                    .unwrap_or_else(|| "the final snapshot was not written".to_owned()),
            )
        }
    }
}
