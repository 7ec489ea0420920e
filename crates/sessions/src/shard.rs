//! A shard of the session map: its sessions, their order of last use, and its own counters,
//! padded to a cache line of its own so that threads updating sessions of different shards
//! never write to a line another one reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use creative_feedback_core::Trajectory;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A value alone on its cache lines (128 bytes: two lines, as adjacent-line prefetchers pair
/// them).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One session in memory. `t` is `None` once the session was evicted or removed: a thread
/// that found it just before then looks it up again.
pub(crate) struct Slot {
    pub(crate) t: Option<Trajectory>,
    pub(crate) since_snapshot: u64,
    /// The last update since the session became resident (`None` before one).
    pub(crate) last_update_ms: Option<u64>,
    /// The last use, exactly: the last update, or when it became resident.
    pub(crate) last_use_ms: u64,
}

impl Slot {
    pub(crate) fn idle_for(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_use_ms)
    }
}

/// The order of last use is kept to this resolution: a session used again within it keeps
/// its place, so that most updates of a busy session write nothing to its shard (a write
/// there moves the shard's cache lines between the cores updating its sessions).
pub(crate) const LRU_RESOLUTION_MS: u64 = 1000;

pub(crate) type SlotRef = Arc<Mutex<Slot>>;

/// Order of last use: (the time of the last use, to [`LRU_RESOLUTION_MS`]; the shard's
/// sequence number then). The smallest key is the least recently used; across shards, keys
/// compare by time first.
pub(crate) type LruKey = (u64, u64);

pub(crate) struct Entry {
    pub(crate) slot: SlotRef,
    pub(crate) key: LruKey,
}

impl Entry {
    /// When it was last used, to [`LRU_RESOLUTION_MS`] (the slot knows exactly).
    pub(crate) fn last_ms(&self) -> u64 {
        self.key.0
    }
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) map: HashMap<Arc<str>, Entry>,
    pub(crate) lru: BTreeMap<LruKey, Arc<str>>,
    seq: u64,
}

impl Shard {
    fn next_key(&mut self, now_ms: u64) -> LruKey {
        self.seq += 1;
        (now_ms, self.seq)
    }

    /// The session's slot, marked as used now (to [`LRU_RESOLUTION_MS`]).
    pub(crate) fn touch(&mut self, id: &str, now_ms: u64) -> Option<SlotRef> {
        let entry = self.map.get_mut(id)?;
        let old = entry.key;
        if now_ms >= old.0.saturating_add(LRU_RESOLUTION_MS) {
            self.seq += 1;
            entry.key = (now_ms, self.seq);
            if let Some(name) = self.lru.remove(&old) {
                self.lru.insert(entry.key, name);
            }
        }
        Some(Arc::clone(&entry.slot))
    }

    pub(crate) fn insert(&mut self, id: Arc<str>, slot: SlotRef, now_ms: u64) {
        let key = self.next_key(now_ms);
        self.lru.insert(key, Arc::clone(&id));
        self.map.insert(id, Entry { slot, key });
    }

    /// Removes the entry if it still holds this slot.
    pub(crate) fn forget(&mut self, id: &str, slot: &SlotRef) -> bool {
        match self.map.get(id) {
            Some(e) if Arc::ptr_eq(&e.slot, slot) => {
                self.lru.remove(&e.key);
                self.map.remove(id);
                true
            }
            _ => false,
        }
    }
}

/// A shard with the counters its updates bump.
#[derive(Default)]
pub(crate) struct ShardCell {
    pub(crate) shard: Mutex<Shard>,
    pub(crate) updates: AtomicU64,
    pub(crate) rejected: AtomicU64,
}
