//! Making room: eviction of the least recently used or idle sessions, and removal.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{mode_index, Pool, CANDIDATES_PER_SHARD, EVICTIONS};
use crate::id::validate_id;
use crate::shard::LruKey;
use crate::shard::{lock, SlotRef};
use crate::Error;

/// Why a session leaves memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Idle for the whole `idle_ttl`: its place is freed.
    Idle,
    /// To make room: its place passes to the session that needed it.
    ForAnother,
}

impl Pool {
    /// Takes a place for one more resident session, evicting to make room.
    pub(super) fn reserve(&self, now_ms: u64) -> Result<(), Error> {
        let max = self.settings.max_sessions;
        for _ in 0..EVICTIONS {
            let took = self
                .resident
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                });
            if took.is_ok() {
                return Ok(());
            }
            // The evicted session's place passes straight to the new one: released, it could
            // go to another thread making room at the same moment, and both would evict again.
            if self.evict_one(now_ms) {
                return Ok(());
            }
        }
        self.tallies.refused.fetch_add(1, Ordering::Relaxed);
        Err(Error::Full { max_sessions: max })
    }

    /// Whether this session may leave memory now: never the primary; with a store any other
    /// (it is saved first); without one only a session idle for the whole `idle_ttl`.
    fn evictable(&self, id: &str, last_ms: u64, now_ms: u64) -> bool {
        if id == self.settings.primary {
            return false;
        }
        self.store.is_some()
            || self
                .settings
                .idle_ttl_ms
                .is_some_and(|ttl| now_ms.saturating_sub(last_ms) >= ttl)
    }

    /// Evicts the least recently used session that can go; whether one did.
    fn evict_one(&self, now_ms: u64) -> bool {
        // The oldest few of each shard that no one is using first; failing that (sessions in
        // use, or being saved by another thread making room), every session that may go,
        // waiting for each to be free: an update or a save takes moments, and a thread making
        // room holds no other lock while it waits.
        self.evict_oldest(now_ms, CANDIDATES_PER_SHARD, false)
            || self.evict_oldest(now_ms, usize::MAX, true)
    }

    /// Evicts the least recently used session that can go among the `per_shard` oldest of
    /// each shard; whether one did.
    fn evict_oldest(&self, now_ms: u64, per_shard: usize, wait: bool) -> bool {
        let mut candidates: Vec<(LruKey, usize, Arc<str>, SlotRef)> = Vec::new();
        for (i, cell) in self.shards.iter().enumerate() {
            let shard = lock(&cell.shard);
            candidates.extend(
                shard
                    .lru
                    .iter()
                    .filter_map(|(key, id)| {
                        let e = shard.map.get(id)?;
                        self.evictable(id, e.last_ms(), now_ms)
                            .then(|| (*key, i, Arc::clone(id), Arc::clone(&e.slot)))
                    })
                    .take(per_shard),
            );
        }
        // Oldest use first; the shard breaks ties, so the order is the same on every run.
        candidates.sort_unstable_by_key(|c| (c.0, c.1));
        candidates
            .into_iter()
            .any(|(_, _, id, slot)| self.evict(&id, &slot, now_ms, Leaving::ForAnother, wait))
    }

    /// Saves (with a store) and drops a session that no update is using; whether it went.
    /// An idle eviction takes only a session idle for the whole `idle_ttl` (read exactly from
    /// its slot), counts it as expired and frees its place; without a store, making room needs
    /// that idleness too, and the place passes to the session that needed it.
    fn evict(&self, id: &str, slot: &SlotRef, now_ms: u64, leaving: Leaving, wait: bool) -> bool {
        let idle = leaving == Leaving::Idle;
        let mut guard = if wait {
            lock(slot)
        } else {
            match slot.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                // In use: it is not the least recently used for long.
                Err(std::sync::TryLockError::WouldBlock) => return false,
            }
        };
        if idle || self.store.is_none() {
            let ttl = self.settings.idle_ttl_ms.unwrap_or(u64::MAX);
            if guard.idle_for(now_ms) < ttl {
                return false;
            }
        }
        let Some(t) = guard.t.as_ref() else {
            return false;
        };
        if let Some(store) = &self.store {
            if !self.note(store.save(id, &t.snapshot())) {
                return false;
            }
        }
        if !lock(&self.cell(id).shard).forget(id, slot) {
            return false;
        }
        let mode = t.mode();
        guard.t = None;
        self.modes[mode_index(mode)].fetch_sub(1, Ordering::Relaxed);
        if idle {
            self.resident.fetch_sub(1, Ordering::Relaxed);
        }
        let tally = if idle {
            &self.tallies.expired
        } else {
            &self.tallies.evicted
        };
        tally.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Evicts every session idle for `idle_ttl` (saved first when there is a store); how many
    /// went. Call it every so often (the server does, every second).
    pub fn evict_idle(&self, now_ms: u64) -> usize {
        let Some(ttl) = self.settings.idle_ttl_ms else {
            return 0;
        };
        // The shard's time of last use may be up to a second old: `evict` checks the slot's.
        self.slots(|id, e| {
            now_ms.saturating_sub(e.last_ms()) >= ttl && *id != *self.settings.primary
        })
        .into_iter()
        .filter(|(id, slot)| self.evict(id, slot, now_ms, Leaving::Idle, false))
        .count()
    }

    /// Forgets a session, in memory and in the store; whether it existed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`]; [`Error::Primary`] for the primary session; [`Error::Store`] when
    /// the store cannot remove it.
    pub fn remove(&self, id: &str) -> Result<bool, Error> {
        validate_id(id)?;
        if id == self.settings.primary {
            return Err(Error::Primary { id: id.to_owned() });
        }
        let mut existed = self.drop_resident(id);
        if let Some(store) = &self.store {
            existed |= store.remove(id)?;
        }
        if existed {
            self.tallies.removed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(existed)
    }

    /// Drops a resident session from memory without saving it or touching the store;
    /// whether it was resident. A fleet calls it when another sidecar has taken the session
    /// over: this copy must neither decide nor overwrite the other's snapshots.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`]; [`Error::Primary`] for the primary session.
    pub fn discard(&self, id: &str) -> Result<bool, Error> {
        validate_id(id)?;
        if id == self.settings.primary {
            return Err(Error::Primary { id: id.to_owned() });
        }
        Ok(self.drop_resident(id))
    }

    fn drop_resident(&self, id: &str) -> bool {
        let Some(slot) = self.lookup(id) else {
            return false;
        };
        let mut guard = lock(&slot);
        if !lock(&self.cell(id).shard).forget(id, &slot) {
            return false;
        }
        let Some(t) = guard.t.take() else {
            return false;
        };
        self.modes[mode_index(t.mode())].fetch_sub(1, Ordering::Relaxed);
        self.resident.fetch_sub(1, Ordering::Relaxed);
        true
    }
}
