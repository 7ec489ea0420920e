//! A bounded per-sink queue that never blocks the producer and drops snapshots before events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::message::Message;

/// Counters of one sink, shared between the dispatcher and the sink's task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) dropped_snapshots: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) failing: AtomicBool,
    /// Taken by the sink's task and not yet sent (events, snapshots): still pending, and
    /// counted as dropped if the task is stopped before it gets to them.
    pub(crate) in_flight: [AtomicU64; 2],
}

impl Counters {
    fn slot(message: &Message) -> usize {
        usize::from(!message.is_event())
    }

    /// The sink's task took these messages.
    pub(crate) fn take(&self, batch: &[Arc<Message>]) {
        for m in batch {
            self.in_flight[Self::slot(m)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sink's task is done with this message (sent or failed).
    pub(crate) fn done(&self, message: &Message) {
        self.in_flight[Self::slot(message)].fetch_sub(1, Ordering::Relaxed);
    }

    /// Messages taken and not yet done.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight[0].load(Ordering::Relaxed) + self.in_flight[1].load(Ordering::Relaxed)
    }
}

/// Events and snapshots wait in separate lists tagged with a sequence number, so dropping the
/// oldest snapshot is O(1) whatever the mix, and delivery merges them back in order.
#[derive(Debug, Default)]
struct Lists {
    events: VecDeque<(u64, Arc<Message>)>,
    snapshots: VecDeque<(u64, Arc<Message>)>,
    next: u64,
}

impl Lists {
    fn len(&self) -> usize {
        self.events.len() + self.snapshots.len()
    }
}

#[derive(Debug)]
pub(crate) struct Queue {
    lists: Mutex<Lists>,
    capacity: usize,
    pub(crate) notify: Notify,
    pub(crate) closing: AtomicBool,
    pub(crate) counters: Counters,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            lists: Mutex::new(Lists::default()),
            capacity,
            notify: Notify::new(),
            closing: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Adds a message without waiting. When full, the oldest snapshot makes room; with no
    /// snapshot to drop, a new snapshot is dropped, and only a queue full of events drops an
    /// event. Every drop is counted.
    ///
    /// Waking the sink's task costs far more than queueing, so only an event arriving in an
    /// empty queue wakes it; snapshots wait for the task's periodic flush.
    pub(crate) fn push(&self, message: Arc<Message>) {
        let c = &self.counters;
        let wake = message.is_event();
        let was_empty;
        {
            let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            if lists.len() >= self.capacity {
                if lists.snapshots.pop_front().is_some() {
                    c.dropped_snapshots.fetch_add(1, Ordering::Relaxed);
                } else {
                    let counter = if message.is_event() {
                        &c.dropped_events
                    } else {
                        &c.dropped_snapshots
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            was_empty = lists.len() == 0;
            let seq = lists.next;
            lists.next += 1;
            if message.is_event() {
                lists.events.push_back((seq, message));
            } else {
                lists.snapshots.push_back((seq, message));
            }
        }
        c.queued.fetch_add(1, Ordering::Relaxed);
        if wake && was_empty {
            self.notify.notify_one();
        }
    }

    /// Takes everything queued, in order, into an empty `into`; the messages are in flight
    /// until [`Counters::done`].
    pub(crate) fn take_all(&self, into: &mut Vec<Arc<Message>>) {
        let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        let Lists {
            events, snapshots, ..
        } = &mut *lists;
        loop {
            let take_event = match (events.front(), snapshots.front()) {
                (Some(e), Some(s)) => e.0 < s.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_event {
                events.pop_front()
            } else {
                snapshots.pop_front()
            };
            if let Some((_, m)) = next {
                into.push(m);
            }
        }
        // Under the lock, so a message is always either in the queue or in flight.
        self.counters.take(into);
    }

    /// Messages not yet delivered: queued, or taken and not yet sent.
    pub(crate) fn pending(&self) -> usize {
        let lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        lists.len() + usize::try_from(self.counters.in_flight()).unwrap_or(usize::MAX)
    }

    /// Drops whatever is left (at shutdown, once the sink's task has stopped), counting it:
    /// the queue's messages and those the stopped task had taken but not sent.
    pub(crate) fn discard_rest(&self) {
        let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &self.counters;
        let events = lists.events.len() as u64 + c.in_flight[0].swap(0, Ordering::Relaxed);
        let snapshots = lists.snapshots.len() as u64 + c.in_flight[1].swap(0, Ordering::Relaxed);
        lists.events.clear();
        lists.snapshots.clear();
        self.counters
            .dropped_events
            .fetch_add(events, Ordering::Relaxed);
        self.counters
            .dropped_snapshots
            .fetch_add(snapshots, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Payload;
    use creative_feedback_core::{Event, Mode};

    fn event(step: u64) -> Arc<Message> {
        Arc::new(Message {
            timestamp_ms: 0,
            session: None,
            payload: Payload::Event(Event::ModeChanged {
                step,
                from: Mode::Stable,
                to: Mode::Exploring,
                cumulative_gain: 0.0,
            }),
        })
    }

    fn snapshot() -> Arc<Message> {
        let metrics = creative_feedback_core::CreativeLoop::new(Default::default())
            .map(|l| l.metrics())
            .unwrap_or_else(|_| unreachable!());
        Arc::new(Message {
            timestamp_ms: 0,
            session: None,
            payload: Payload::Snapshot(Box::new(metrics)),
        })
    }

    #[test]
    fn overflow_drops_snapshots_before_events() {
        let q = Queue::new(3);
        q.push(snapshot());
        q.push(event(1));
        q.push(snapshot());
        q.push(event(2)); // drops the first snapshot
        q.push(event(3)); // drops the second snapshot
        q.push(snapshot()); // no room, nothing to evict: the new snapshot goes
        q.push(event(4)); // full of events: the new event goes
        let mut out = Vec::new();
        q.take_all(&mut out);
        let steps: Vec<u64> = out
            .iter()
            .filter_map(|m| match &m.payload {
                Payload::Event(e) => Some(e.step()),
                Payload::Snapshot(_) => None,
            })
            .collect();
        assert_eq!(steps, [1, 2, 3]);
        assert_eq!(q.counters.dropped_snapshots.load(Ordering::Relaxed), 3);
        assert_eq!(q.counters.dropped_events.load(Ordering::Relaxed), 1);
    }
}
