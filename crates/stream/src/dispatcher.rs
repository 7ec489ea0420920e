//! The dispatcher: hands events and snapshots to every sink without waiting.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use creative_feedback_core::{CreativeLoop, Event, Health, HealthReason, HealthStatus, Metrics};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::message::{Message, Payload};
use crate::queue::Queue;
use crate::Error;

/// A destination for streamed messages. Each sink runs in its own task behind a bounded queue,
/// so a slow or failing sink never slows the loop.
#[async_trait]
pub trait Sink: Send + 'static {
    /// The sink's name, used in statistics, metrics and health.
    fn name(&self) -> &str;

    /// Delivers one message.
    ///
    /// # Errors
    ///
    /// Any failure; it is counted and the sink is reported as failing until a send succeeds.
    async fn send(&mut self, message: &Message) -> Result<(), crate::SinkError>;

    /// Called once at shutdown, after the last message.
    ///
    /// # Errors
    ///
    /// Any failure; it is counted.
    async fn close(&mut self) -> Result<(), crate::SinkError> {
        Ok(())
    }
}

/// Statistics of one sink.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkStats {
    /// The sink.
    pub name: String,
    /// Messages accepted into its queue.
    pub queued: u64,
    /// Messages it delivered.
    pub sent: u64,
    /// Events dropped (only when its queue was full of events).
    pub dropped_events: u64,
    /// Snapshots dropped to make room.
    pub dropped_snapshots: u64,
    /// Failed sends.
    pub errors: u64,
    /// Whether its last send failed.
    pub failing: bool,
    /// Messages not yet delivered: waiting in its queue, or taken by the sink and not yet sent.
    /// Every message handed to the dispatcher ends up counted once in sent, errors, dropped or
    /// pending (exactly once the sink is idle or stopped; while it is sending, the message it is
    /// finishing may for an instant be counted twice or not at all).
    pub pending: usize,
}

impl SinkStats {
    /// Every message dropped.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped_events + self.dropped_snapshots
    }
}

struct SinkSlot {
    name: String,
    queue: Arc<Queue>,
    task: Option<JoinHandle<()>>,
}

/// Builds a [`Dispatcher`].
pub struct DispatcherBuilder {
    interval_steps: u64,
    flush_interval: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
    sinks: Vec<Box<dyn Sink>>,
}

impl std::fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("interval_steps", &self.interval_steps)
            .field("capacity", &self.capacity)
            .field(
                "sinks",
                &self
                    .sinks
                    .iter()
                    .map(|s| s.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for DispatcherBuilder {
    fn default() -> Self {
        Self {
            interval_steps: 10,
            flush_interval: Duration::from_millis(10),
            capacity: 1024,
            clock: Arc::new(SystemClock),
            sinks: Vec::new(),
        }
    }
}

impl DispatcherBuilder {
    /// Snapshots every `steps` accepted steps (default 10; at least 1). Events always go out.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for 0.
    pub fn interval_steps(mut self, steps: u64) -> Result<Self, Error> {
        if steps == 0 {
            return Err(Error::InvalidSetting("interval_steps must be at least 1"));
        }
        self.interval_steps = steps;
        Ok(self)
    }

    /// How long a snapshot may wait before its sink's task looks at the queue (default 10 ms).
    /// Events wake the task at once; snapshots do not, because waking a task costs more than
    /// a whole step of the loop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for zero.
    pub fn flush_interval(mut self, interval: Duration) -> Result<Self, Error> {
        if interval.is_zero() {
            return Err(Error::InvalidSetting("flush_interval must be positive"));
        }
        self.flush_interval = interval;
        Ok(self)
    }

    /// Messages each sink's queue holds (default 1024; at least 1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for 0.
    pub fn queue_capacity(mut self, capacity: usize) -> Result<Self, Error> {
        if capacity == 0 {
            return Err(Error::InvalidSetting("queue_capacity must be at least 1"));
        }
        self.capacity = capacity;
        Ok(self)
    }

    /// The clock that timestamps messages (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a sink.
    #[must_use]
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Starts each sink's task on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a Tokio runtime; use [`build_on`](Self::build_on) then.
    pub fn build(self) -> Result<Dispatcher, Error> {
        let handle = Handle::try_current().map_err(|_| Error::NoRuntime)?;
        Ok(self.build_on(&handle))
    }

    /// Starts each sink's task on the given runtime.
    #[must_use]
    pub fn build_on(self, runtime: &Handle) -> Dispatcher {
        let slots = self
            .sinks
            .into_iter()
            .map(|sink| {
                let name = sink.name().to_owned();
                let queue = Arc::new(Queue::new(self.capacity));
                let task = runtime.spawn(run_sink(sink, Arc::clone(&queue), self.flush_interval));
                SinkSlot {
                    name,
                    queue,
                    task: Some(task),
                }
            })
            .collect();
        Dispatcher {
            slots,
            interval_steps: self.interval_steps,
            last_snapshot_step: 0,
            clock: self.clock,
        }
    }
}

async fn run_sink(mut sink: Box<dyn Sink>, queue: Arc<Queue>, flush: Duration) {
    let mut batch = Vec::with_capacity(64);
    loop {
        queue.take_all(&mut batch);
        if batch.is_empty() {
            if queue.closing.load(Ordering::Acquire) {
                break;
            }
            tokio::select! {
                () = queue.notify.notified() => {}
                () = tokio::time::sleep(flush) => {}
            }
            continue;
        }
        for message in batch.drain(..) {
            let c = &queue.counters;
            match sink.send(&message).await {
                Ok(()) => {
                    c.sent.fetch_add(1, Ordering::Relaxed);
                    c.failing.store(false, Ordering::Relaxed);
                }
                Err(_) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    c.failing.store(true, Ordering::Relaxed);
                }
            }
            c.done(&message);
        }
    }
    if sink.close().await.is_err() {
        queue.counters.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Hands the loop's events and periodic snapshots to every sink, exactly once and in order,
/// without ever waiting for a sink. Create it with [`Dispatcher::builder`].
pub struct Dispatcher {
    slots: Vec<SinkSlot>,
    interval_steps: u64,
    last_snapshot_step: u64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field(
                "sinks",
                &self.slots.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("interval_steps", &self.interval_steps)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A builder with the defaults (snapshots every 10 steps, queues of 1024, system clock).
    #[must_use]
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::default()
    }

    /// Call after every `update`: drains the loop's events to every sink, and sends a metrics
    /// snapshot whenever another `interval_steps` accepted steps have passed. Never waits.
    pub fn dispatch(&mut self, feedback: &mut CreativeLoop) {
        self.dispatch_observed(feedback, |_| {});
    }

    /// [`dispatch`](Self::dispatch), showing each event to `observe` before it is published
    /// (e.g. to feed an A/B experiment).
    pub fn dispatch_observed(
        &mut self,
        feedback: &mut CreativeLoop,
        mut observe: impl FnMut(&Event),
    ) {
        for event in feedback.drain_events() {
            observe(&event);
            self.publish_event(event);
        }
        let steps = feedback.steps();
        if steps >= self.last_snapshot_step + self.interval_steps {
            self.last_snapshot_step = steps - steps % self.interval_steps;
            self.publish_snapshot(feedback.metrics());
        }
    }

    /// Hands one event to every sink.
    pub fn publish_event(&self, event: Event) {
        self.publish(None, Payload::Event(event));
    }

    /// Hands one snapshot to every sink.
    pub fn publish_snapshot(&self, metrics: Metrics) {
        self.publish(None, Payload::Snapshot(Box::new(metrics)));
    }

    /// Hands one event of a session to every sink (a server running many sessions; the
    /// message carries the session's id). Takes `&self`: threads updating different sessions
    /// publish side by side.
    pub fn publish_session_event(&self, session: &Arc<str>, event: Event) {
        self.publish(Some(Arc::clone(session)), Payload::Event(event));
    }

    /// Hands one snapshot of a session's metrics to every sink.
    pub fn publish_session_snapshot(&self, session: &Arc<str>, metrics: Metrics) {
        self.publish(
            Some(Arc::clone(session)),
            Payload::Snapshot(Box::new(metrics)),
        );
    }

    fn publish(&self, session: Option<Arc<str>>, payload: Payload) {
        if self.slots.is_empty() {
            return;
        }
        let message = Arc::new(Message {
            timestamp_ms: self.clock.now_ms(),
            session,
            payload,
        });
        for slot in &self.slots {
            slot.queue.push(Arc::clone(&message));
        }
    }

    /// Statistics of every sink.
    #[must_use]
    pub fn stats(&self) -> Vec<SinkStats> {
        self.stats_handle().stats()
    }

    /// A handle that reads the sinks' statistics from elsewhere (e.g. a metrics endpoint).
    #[must_use]
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            slots: Arc::new(
                self.slots
                    .iter()
                    .map(|s| (s.name.clone(), Arc::clone(&s.queue)))
                    .collect(),
            ),
        }
    }
}

/// Reads the dispatcher's per-sink statistics from any thread.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    slots: Arc<Vec<(String, Arc<Queue>)>>,
}

impl StatsHandle {
    /// Statistics of every sink.
    #[must_use]
    pub fn stats(&self) -> Vec<SinkStats> {
        self.slots
            .iter()
            .map(|(name, queue)| {
                let c = &queue.counters;
                SinkStats {
                    name: name.clone(),
                    queued: c.queued.load(Ordering::Relaxed),
                    sent: c.sent.load(Ordering::Relaxed),
                    dropped_events: c.dropped_events.load(Ordering::Relaxed),
                    dropped_snapshots: c.dropped_snapshots.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    failing: c.failing.load(Ordering::Relaxed),
                    pending: queue.pending(),
                }
            })
            .collect()
    }
}

impl Dispatcher {
    /// The loop's health, degraded as well when a sink is failing (specification §9).
    #[must_use]
    pub fn health(&self, feedback: &CreativeLoop) -> Health {
        self.with_sinks(feedback.health())
    }

    /// A health verdict (e.g. one session's), degraded as well when a sink is failing.
    #[must_use]
    pub fn with_sinks(&self, health: Health) -> Health {
        if health.status == HealthStatus::Degraded {
            return health;
        }
        match self
            .slots
            .iter()
            .find(|s| s.queue.counters.failing.load(Ordering::Relaxed))
        {
            Some(slot) => Health::degraded(HealthReason::SinkFailing(slot.name.clone())),
            None => health,
        }
    }

    /// Stops accepting, lets every sink deliver what is queued, and waits up to `deadline` in
    /// all; sinks still busy then are stopped and their leftovers counted as dropped.
    pub async fn shutdown(mut self, deadline: Duration) -> Vec<SinkStats> {
        for slot in &self.slots {
            slot.queue.closing.store(true, Ordering::Release);
            slot.queue.notify.notify_one();
        }
        let until = tokio::time::Instant::now() + deadline;
        for slot in &mut self.slots {
            if let Some(mut task) = slot.task.take() {
                if tokio::time::timeout_at(until, &mut task).await.is_err() {
                    task.abort();
                    let _ = task.await;
                }
            }
            slot.queue.discard_rest();
        }
        self.stats()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            slot.queue.closing.store(true, Ordering::Release);
            slot.queue.notify.notify_one();
        }
    }
}
