//! The service behind the routes: a pool of sessions sharing one learning (the session
//! `default` is the single loop of the unversioned routes), its streaming, its persistence,
//! its policies.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use creative_feedback_core::{
    Config, CreativeLoop, Decision, ExplorationRecord, LoopBuilder, Metrics, OutcomeKind,
    QualityModel, ReadState, Rejected, Trajectory,
};
use creative_feedback_rollout::{Experiment, Rollout};
use creative_feedback_sessions::{Pool, PoolConfig, SessionStore, Stepped};
use creative_feedback_stream::{
    session_envelope_json, Clock, Dispatcher, PrometheusExporter, PrometheusSink, SinkStats,
    StatsHandle, SystemClock, TracingSink,
};
use serde::Serialize;

use crate::live::{BroadcastSink, LiveStream, StepSample, Watchers};
use crate::persist::{HistoryCheck, Job, Loaded, PersistStatus, StateDir, Writer};
use crate::Error;

/// The session the unversioned routes (`/v1/update`, `/v1/metrics`, …) drive.
pub const PRIMARY_SESSION: &str = "default";

/// Settings of a [`Service`]. `ServiceConfig::new(config)` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The loop's configuration (ignored when a snapshot is restored: the snapshot has its own).
    pub config: Config,
    /// A pre-trained model to start from (ignored when a snapshot is restored).
    pub model: Option<QualityModel>,
    /// Where the snapshot and the history live; `None` keeps nothing across restarts.
    pub state_dir: Option<PathBuf>,
    /// Write the snapshot (the shared learning with the session `default`) every this many
    /// accepted steps of all sessions, and each other session's own snapshot every this many
    /// of its steps (default 1000); all of them at shutdown.
    pub snapshot_every: u64,
    /// Most sessions in memory (default 100,000); see [`PoolConfig::max_sessions`].
    pub max_sessions: usize,
    /// A session idle this long leaves memory (saved first with a state folder; default one
    /// hour; `None` keeps idle sessions until room is needed).
    pub idle_ttl: Option<Duration>,
    /// Ended explorations kept per session other than `default` (default 10).
    pub session_history: u32,
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
    /// Learn as one fleet with the other sidecars on a Redis server (see
    /// [`Fleet::connect`](crate::Fleet::connect)); `None` learns alone.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fleet: Option<Arc<crate::Fleet>>,
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
            max_sessions: 100_000,
            idle_ttl: Some(Duration::from_secs(3600)),
            session_history: 10,
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
            #[cfg(feature = "redis")]
            fleet: None,
        }
    }
}

/// What only the primary session's updates touch: its step samples for `GET /v1/samples`.
struct Primary {
    last_sample_ms: u64,
    samples: VecDeque<StepSample>,
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
    /// The session could not be stepped: an invalid id (400), a full pool (503), its saved
    /// state unreadable (500), or, from a session route, an invalid state (422).
    #[error(transparent)]
    Session(#[from] creative_feedback_sessions::Error),
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

/// One loop behind an HTTP API: updates, metrics, health, streaming and persistence.
pub struct Service {
    pub(crate) pool: Pool,
    /// `None` once shutting down. Updates take it for reading only, so they never wait on
    /// each other here.
    pub(crate) dispatcher: RwLock<Option<Dispatcher>>,
    primary: Mutex<Primary>,
    primary_id: Arc<str>,
    /// The primary session's steps when its metrics last went to the sinks.
    last_metrics_step: AtomicU64,
    /// Accepted steps of all sessions since the snapshot was last queued.
    since_snapshot: AtomicU64,
    pub(crate) watchers: Arc<Watchers>,
    pub(crate) exporter: Arc<PrometheusExporter>,
    pub(crate) stats: StatsHandle,
    stream: Arc<LiveStream>,
    rollout: Option<Rollout>,
    pub(crate) experiment: Option<Experiment>,
    writer: Option<Writer>,
    settings: ServiceConfig,
    clock: SystemClock,
    restored_steps: Option<u64>,
    start_report: Loaded,
    history_at_start: Option<HistoryCheck>,
    #[cfg(feature = "redis")]
    pub(crate) fleet: Option<Arc<crate::Fleet>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read_body(body: &[u8]) -> Result<ReadState, UpdateError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| UpdateError::Unreadable("the body is not UTF-8 text".into()))?;
    ReadState::from_json(text).map_err(|e| UpdateError::Unreadable(e.to_string()))
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
        #[cfg(feature = "redis")]
        if let Some(fleet) = &settings.fleet {
            builder = crate::fleet::warm(fleet, builder)?;
        }
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

        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut store: Option<Arc<dyn SessionStore>> = match &dir {
            Some(d) => Some(Arc::new(d.session_store()?)),
            None => None,
        };
        #[cfg(feature = "redis")]
        if let Some(fleet) = &settings.fleet {
            store = Some(fleet.store());
        }
        if let Some(d) = &dir {
            d.write_layout()?;
        }
        let metrics = feedback.metrics();
        let pool = Pool::new(
            feedback,
            PoolConfig {
                max_sessions: settings.max_sessions,
                idle_ttl_ms: settings
                    .idle_ttl
                    .map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                snapshot_every: settings.snapshot_every,
                session_history: settings.session_history,
                primary: PRIMARY_SESSION.to_owned(),
                ..PoolConfig::default()
            },
            store,
        )?;
        let exporter = Arc::new(PrometheusExporter::new()?);
        let stream = Arc::new(LiveStream::new());
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
        exporter.record_metrics(&metrics);
        let stats = dispatcher.stats_handle();
        #[cfg(feature = "redis")]
        let fleet = settings.fleet.clone();
        let service = Arc::new(Self {
            pool,
            dispatcher: RwLock::new(Some(dispatcher)),
            primary: Mutex::new(Primary {
                last_sample_ms: 0,
                samples: VecDeque::with_capacity(KEPT_SAMPLES),
            }),
            primary_id: Arc::from(PRIMARY_SESSION),
            last_metrics_step: AtomicU64::new(metrics.steps),
            since_snapshot: AtomicU64::new(0),
            watchers: Arc::default(),
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
            #[cfg(feature = "redis")]
            fleet,
        });
        crate::sessions::start_sweeper(&service);
        #[cfg(feature = "redis")]
        if let Some(fleet) = &service.fleet {
            crate::fleet::start(fleet, &service);
        }
        Ok(service)
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
        self.pool.config().clone()
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
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<(Option<Arc<str>>, Arc<str>)> {
        self.stream.tx.subscribe()
    }

    /// One step: reads the state, updates the loop, streams and persists what happened.
    ///
    /// # Errors
    ///
    /// [`UpdateError::Unreadable`] for a body that is not a JSON object;
    /// [`UpdateError::Rejected`] for an invalid state (the loop did not advance).
    pub fn update(&self, body: &[u8]) -> Result<Decision, UpdateError> {
        let read = read_body(body)?;
        self.step(PRIMARY_SESSION, &read).map_err(|e| match e {
            creative_feedback_sessions::Error::Rejected { rejected, .. } => {
                UpdateError::Rejected(rejected)
            }
            other => UpdateError::Session(other),
        })
    }

    /// One step of a session: the pool decides; under the session's lock, its events go to
    /// the sinks, its ended exploration to the history and its step sample to the stream, so
    /// that each session's messages keep the order of its steps.
    pub(crate) fn step(
        &self,
        id: &str,
        read: &ReadState,
    ) -> Result<Decision, creative_feedback_sessions::Error> {
        let now = self.clock.now_ms();
        let decision = self.decide(id, read, now)?;
        if self.writer.is_some() {
            let every = self.settings.snapshot_every;
            let due = self
                .since_snapshot
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(if n + 1 >= every { 0 } else { n + 1 })
                })
                .is_ok_and(|n| n + 1 >= every);
            if due {
                self.queue_snapshot();
            }
        }
        Ok(decision)
    }

    /// The pool's step with what follows it; in a fleet, the step's lesson goes to the
    /// stream, to be learned when it comes back, in the stream's order.
    fn decide(
        &self,
        id: &str,
        read: &ReadState,
        now: u64,
    ) -> Result<Decision, creative_feedback_sessions::Error> {
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            let mut lessons = Vec::new();
            let decision =
                self.pool
                    .update_deferred_with(id, read, now, &mut lessons, |stepped, t| {
                        self.publish(id, read, stepped, t, now)
                    })?;
            for lesson in &lessons {
                fleet.send(lesson, now);
            }
            return Ok(decision);
        }
        self.pool.update_with(id, read, now, |stepped, t| {
            self.publish(id, read, stepped, t, now)
        })
    }

    /// What follows a step, under the session's lock.
    fn publish(
        &self,
        id: &str,
        read: &ReadState,
        stepped: Stepped,
        t: &Trajectory,
        now: u64,
    ) -> Decision {
        let primary = id == PRIMARY_SESSION;
        let interval = self.settings.interval_steps;
        let metrics_due =
            primary && stepped.steps >= self.last_metrics_step.load(Ordering::Relaxed) + interval;
        // Most steps of most sessions have nothing to stream: they take no lock here and
        // allocate nothing.
        let watch = (!primary).then(|| self.watchers.get(id)).flatten();
        let session: Option<Arc<str>> =
            (!stepped.events.is_empty() || metrics_due || watch.is_some() || primary).then(|| {
                if primary {
                    Arc::clone(&self.primary_id)
                } else {
                    Arc::from(id)
                }
            });
        if let (Some(session), true) = (&session, !stepped.events.is_empty() || metrics_due) {
            if let Some(d) = self
                .dispatcher
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
            {
                for event in stepped.events {
                    d.publish_session_event(session, event);
                }
                if metrics_due {
                    self.last_metrics_step
                        .store(stepped.steps - stepped.steps % interval, Ordering::Relaxed);
                    d.publish_session_snapshot(session, self.pool.with_learning(|l| t.metrics(l)));
                }
            }
        }
        if let (Some(writer), Some(record)) = (&self.writer, &stepped.ended) {
            if record.outcome != OutcomeKind::Aborted {
                if let Ok(line) = serde_json::to_string(record) {
                    writer.send(Job::History(line));
                }
            }
        }
        let Some(session) = session else {
            return stepped.decision;
        };
        let interval = u64::try_from(self.settings.sample_interval.as_millis()).unwrap_or(u64::MAX);
        let sample = || StepSample::new(now, stepped.steps, &read.state, &stepped.decision);
        if primary {
            let mut p = lock(&self.primary);
            if now.saturating_sub(p.last_sample_ms) >= interval {
                p.last_sample_ms = now;
                let data = sample();
                if p.samples.len() == KEPT_SAMPLES {
                    p.samples.pop_front();
                }
                p.samples.push_back(data.clone());
                drop(p);
                self.stream.publish(now, Some(&session), |at| {
                    session_envelope_json(at, Some(&session), &data)
                });
            }
        } else if let Some(watch) = watch {
            let last = watch.last_sample_ms.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= interval {
                watch.last_sample_ms.store(now, Ordering::Relaxed);
                let data = sample();
                self.stream.publish(now, Some(&session), |at| {
                    session_envelope_json(at, Some(&session), &data)
                });
            }
        }
        stepped.decision
    }

    /// Queues the snapshot: the config, the shared learning and the session `default`.
    fn queue_snapshot(&self) {
        if let (Some(writer), Some(snapshot)) =
            (&self.writer, self.pool.loop_snapshot(PRIMARY_SESSION))
        {
            writer.send(Job::Snapshot(Box::new(snapshot)));
        }
    }

    /// The primary session's metrics.
    pub(crate) fn primary_metrics(&self) -> Metrics {
        self.pool
            .with_session(PRIMARY_SESSION, |t| {
                self.pool.with_learning(|l| t.metrics(l))
            })
            .unwrap_or_else(|| {
                // The primary session cannot be removed; a fresh trajectory's metrics stand in.
                let t = Trajectory::new(self.pool.config(), self.pool.config().seed);
                self.pool.with_learning(|l| t.metrics(l))
            })
    }

    /// The metrics snapshot and the sinks' statistics.
    #[must_use]
    pub fn metrics(&self) -> MetricsReport {
        let metrics = self.primary_metrics();
        MetricsReport {
            metrics,
            stream: self.stats.stats(),
        }
    }

    /// The most recent step samples (at most 600, one per sample interval), oldest first.
    #[must_use]
    pub fn samples(&self) -> Vec<StepSample> {
        lock(&self.primary).samples.iter().cloned().collect()
    }

    /// The most recent ended explorations, oldest first.
    #[must_use]
    pub fn history(&self, limit: usize) -> Vec<ExplorationRecord> {
        self.session_history(PRIMARY_SESSION, limit)
            .unwrap_or_default()
    }

    /// The most recent ended explorations of a resident session, oldest first.
    #[must_use]
    pub fn session_history(&self, id: &str, limit: usize) -> Option<Vec<ExplorationRecord>> {
        self.pool.with_session(id, |t| {
            let n = t.history().len();
            t.history().skip(n.saturating_sub(limit)).cloned().collect()
        })
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

    /// Stops streaming (flushing the sinks within `deadline`) and writes the final snapshot,
    /// saying whether it reached the disk. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) -> Saved {
        let dispatcher = self
            .dispatcher
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(d) = dispatcher {
            let stats = d.shutdown(deadline).await;
            self.exporter.record_stream_stats(&stats);
        }
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            if !fleet.close(self, deadline).await {
                tracing::warn!(target: "creative_feedback", "not everything reached Redis before the shutdown deadline");
            }
        }
        let Some(writer) = &self.writer else {
            return Saved::NoStateDir;
        };
        let sessions = self.pool.save_all();
        let Some(snapshot) = self.pool.loop_snapshot(PRIMARY_SESSION) else {
            return Saved::Failed("the session `default` is not in memory".to_owned());
        };
        let steps = snapshot.steps();
        writer.send(Job::Snapshot(Box::new(snapshot)));
        writer.finish();
        let status = writer.status();
        match sessions {
            Err(e) => Saved::Failed(e.to_string()),
            Ok(_) if status.saved_steps() == Some(steps) => Saved::Saved { steps },
            Ok(_) => Saved::Failed(
                status
                    .failing()
                    .unwrap_or_else(|| "the final snapshot was not written".to_owned()),
            ),
        }
    }
}
