//! The fleet's background tasks: append lessons, learn the stream (and checkpoint what was
//! learned), write session snapshots, renew and release leases. Each retries with a backoff
//! while Redis is unreachable and ends when the service is gone or the fleet is closed.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use creative_feedback_core::Lesson;
use creative_feedback_stream::{Clock, SystemClock};

use super::link::Write;
use super::store::Pending;
use super::{lock, Checkpoint, Fleet};
use crate::service::Service;

/// Lessons appended, or learned, per round trip.
const BATCH: usize = 256;

/// Starts the tasks of a service's fleet on a thread of their own: a sidecar whose request
/// threads are saturated still appends, learns and renews on time.
pub(crate) fn start(fleet: &Arc<Fleet>, service: &Arc<Service>) {
    let (fleet, service) = (Arc::clone(fleet), Arc::downgrade(service));
    let spawned = std::thread::Builder::new()
        .name("crefl-fleet".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(target: "creative_feedback", error = %e, "cannot start the fleet's runtime: this sidecar will not reach Redis");
                    return;
                }
            };
            runtime.block_on(async move {
                tokio::join!(
                    publish(Arc::clone(&fleet), service.clone()),
                    learn(Arc::clone(&fleet), service.clone()),
                    write(Arc::clone(&fleet), service.clone()),
                    renew(fleet, service),
                );
            });
        });
    if let Err(e) = spawned {
        tracing::error!(target: "creative_feedback", error = %e, "cannot start the fleet's thread: this sidecar will not reach Redis");
    }
}

/// Whether the tasks should end: the fleet is closed, or the service is gone.
fn over(fleet: &Fleet, service: &Weak<Service>) -> bool {
    fleet.closed() || service.strong_count() == 0
}

/// Waits after a failed command: 100 ms, doubling up to 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }

    fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
}

/// Appends waiting lessons to the stream, oldest first, in transactions of up to [`BATCH`].
async fn publish(fleet: Arc<Fleet>, service: Weak<Service>) {
    let mut backoff = Backoff::new();
    while !over(&fleet, &service) {
        let batch: Vec<_> = {
            let mut outbox = lock(&fleet.outbox);
            let n = outbox.len().min(BATCH);
            outbox.drain(..n).collect()
        };
        if batch.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(200), fleet.wake.notified()).await;
            continue;
        }
        match fleet.bg.append(&batch, &fleet.cfg).await {
            Ok(()) => {
                backoff.reset();
                fleet
                    .counters
                    .published
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                fleet.counters.errors.fetch_add(1, Ordering::Relaxed);
                // Back in front, in order; what no longer fits is the oldest, dropped.
                {
                    let mut outbox = lock(&fleet.outbox);
                    for o in batch.into_iter().rev() {
                        if outbox.len() >= fleet.cfg.buffer {
                            fleet.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            outbox.push_front(o);
                        }
                    }
                }
                backoff.wait().await;
            }
        }
    }
}

/// Reads the stream from the last id learned and learns every lesson in its order.
async fn learn(fleet: Arc<Fleet>, service: Weak<Service>) {
    let mut backoff = Backoff::new();
    let mut since_checkpoint = 0u64;
    while !over(&fleet, &service) {
        let from = lock(&fleet.read_id).clone();
        let entries = match fleet.bg.read(&fleet.cfg, &from, BATCH).await {
            Ok(entries) => entries,
            Err(_) => {
                fleet.counters.errors.fetch_add(1, Ordering::Relaxed);
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        let Some(service) = service.upgrade() else {
            return;
        };
        let now = SystemClock.now_ms();
        for entry in entries {
            if !fleet.first_copy(&entry) {
                fleet.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                *lock(&fleet.read_id) = entry.id;
                continue;
            }
            match entry
                .lesson
                .as_deref()
                .and_then(|l| serde_json::from_str::<Lesson>(l).ok())
            {
                Some(lesson) => {
                    let failed = service.pool.learn(&lesson);
                    if failed > 0 {
                        tracing::debug!(target: "creative_feedback", failed, id = %entry.id, "parts of a lesson could not be learned");
                    }
                    fleet.counters.learned.fetch_add(1, Ordering::Relaxed);
                    since_checkpoint += 1;
                }
                None => {
                    fleet.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "creative_feedback", id = %entry.id, "a stream entry is not a lesson; skipped");
                }
            }
            if let (Some(at), true) = (
                entry.at_ms,
                entry.sidecar.as_deref() != Some(fleet.cfg.sidecar.as_str()),
            ) {
                lock(&fleet.delays).push(now.saturating_sub(at));
            }
            *lock(&fleet.read_id) = entry.id;
        }
        if since_checkpoint >= fleet.cfg.checkpoint_every {
            since_checkpoint = 0;
            let checkpoint = Checkpoint {
                id: lock(&fleet.read_id).clone(),
                learning: service.pool.learning_snapshot(),
                last: lock(&fleet.last).clone(),
            };
            drop(service);
            if let Ok(text) = serde_json::to_string(&checkpoint) {
                match fleet.bg.set(&fleet.cfg.key("checkpoint"), &text).await {
                    Ok(()) => fleet.counters.checkpoints.fetch_add(1, Ordering::Relaxed),
                    Err(_) => fleet.counters.errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    }
}

/// Writes waiting session snapshots (and removals), releasing the lease of a session no
/// longer in memory once its last snapshot is written.
async fn write(fleet: Arc<Fleet>, service: Weak<Service>) {
    let store = fleet.store();
    let mut backoff = Backoff::new();
    loop {
        let batch = store.batch(BATCH);
        if batch.is_empty() {
            if over(&fleet, &service) {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), store.wake.notified()).await;
            continue;
        }
        let Some(pool_owner) = service.upgrade() else {
            return;
        };
        let closing = fleet.closing();
        let writes: Vec<Write<'_>> = batch
            .iter()
            .map(|(id, _, pending)| Write {
                lease: fleet.cfg.session_key("lease", id),
                key: fleet.cfg.session_key("session", id),
                json: match pending {
                    Pending::Save(json) => Some(json.as_str()),
                    Pending::Remove => None,
                },
                release: closing
                    || matches!(pending, Pending::Remove)
                    || !pool_owner.pool.is_resident(id),
            })
            .collect();
        drop(pool_owner);
        match fleet.bg.write(&writes, &fleet.cfg).await {
            Ok(written) => {
                backoff.reset();
                for ((id, version, _), (ok, w)) in batch.iter().zip(written.iter().zip(&writes)) {
                    store.done(id, *version);
                    if *ok {
                        fleet
                            .counters
                            .snapshots_written
                            .fetch_add(1, Ordering::Relaxed);
                        if w.release {
                            lock(&fleet.leased).remove(id.as_str());
                        }
                    } else {
                        lost(&fleet, &service, id);
                    }
                }
            }
            Err(_) => {
                fleet.counters.errors.fetch_add(1, Ordering::Relaxed);
                if fleet.closed() {
                    return;
                }
                backoff.wait().await;
            }
        }
    }
}

/// Another sidecar has taken the session over: this copy is dropped unsaved.
fn lost(fleet: &Fleet, service: &Weak<Service>, id: &str) {
    tracing::warn!(target: "creative_feedback", session = id, "another sidecar holds this session's lease; dropping this sidecar's copy");
    fleet.counters.leases_lost.fetch_add(1, Ordering::Relaxed);
    fleet.store.forget(id);
    lock(&fleet.leased).remove(id);
    if let Some(service) = service.upgrade() {
        let _ = service.pool.discard(id);
    }
}

/// Every third of a lease: renews the leases of the sessions in memory, and releases those
/// of sessions that left memory and whose last snapshot is written.
async fn renew(fleet: Arc<Fleet>, service: Weak<Service>) {
    let every = fleet.cfg.lease / 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Leases of sessions not in memory at the last round: released if still so now. One round
    // of grace spares a session claimed a moment before its first update makes it resident.
    let mut was_stale: HashSet<Arc<str>> = HashSet::new();
    while !fleet.closing() {
        tick.tick().await;
        let Some(pool_ids) = service.upgrade().map(|s| s.pool.resident_ids()) else {
            return;
        };
        let resident: HashSet<Arc<str>> = pool_ids.iter().cloned().collect();
        for chunk in pool_ids.chunks(1000) {
            let leases: Vec<String> = chunk
                .iter()
                .map(|id| fleet.cfg.session_key("lease", id))
                .collect();
            match fleet.bg.renew(&leases, &fleet.cfg).await {
                Ok(holders) => {
                    let mut leased = lock(&fleet.leased);
                    for (id, holder) in chunk.iter().zip(holders) {
                        if holder.is_none() {
                            leased.insert(Arc::clone(id));
                        } else {
                            drop(leased);
                            lost(&fleet, &service, id);
                            leased = lock(&fleet.leased);
                        }
                    }
                }
                Err(_) => {
                    fleet.counters.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        let now_stale: HashSet<Arc<str>> = lock(&fleet.leased)
            .iter()
            .filter(|id| !resident.contains(*id) && !fleet.store.is_waiting(id))
            .cloned()
            .collect();
        let stale: Vec<Arc<str>> = now_stale.intersection(&was_stale).cloned().collect();
        was_stale = now_stale;
        if stale.is_empty() {
            continue;
        }
        let leases: Vec<String> = stale
            .iter()
            .map(|id| fleet.cfg.session_key("lease", id))
            .collect();
        if fleet.bg.release(&leases, &fleet.cfg.sidecar).await.is_ok() {
            let mut leased = lock(&fleet.leased);
            for id in &stale {
                leased.remove(id);
                // A claim whose update never came (an unreadable body): its fetched copy.
                fleet.store.fetched(id, None);
                was_stale.remove(id);
            }
        }
    }
}

impl Fleet {
    /// Whether the entry is the first copy of its lesson: its number is above the last one
    /// learned from its sidecar (entries without a number are taken as they come).
    fn first_copy(&self, entry: &super::link::Entry) -> bool {
        let (Some(sidecar), Some(seq)) = (&entry.sidecar, entry.seq) else {
            return true;
        };
        let mut last = lock(&self.last);
        match last.get_mut(sidecar) {
            Some(n) if *n >= seq => false,
            Some(n) => {
                *n = seq;
                true
            }
            None => {
                last.insert(sidecar.clone(), seq);
                true
            }
        }
    }

    /// Writes what waits (lessons, every session's snapshot) and releases every lease,
    /// within `deadline`; whether everything was written.
    pub(crate) async fn close(&self, service: &Service, deadline: Duration) -> bool {
        self.closing.store(true, Ordering::Release);
        let _ = service.pool.save_all();
        self.store.wake.notify_one();
        self.wake.notify_one();
        let flushed = tokio::time::timeout(deadline, async {
            while !lock(&self.outbox).is_empty() || self.store.waiting() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_ok();
        let leases: Vec<String> = lock(&self.leased)
            .drain()
            .map(|id| self.cfg.session_key("lease", &id))
            .collect();
        let released =
            leases.is_empty() || self.link.release(&leases, &self.cfg.sidecar).await.is_ok();
        self.closed.store(true, Ordering::Release);
        flushed && released
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
