//! Many sessions of the creative feedback loop, one shared model and selector.
//!
//! A generative service runs many sessions at once (conversations, image batches, agents),
//! each on its own path through the modes, while what pays off is learned best from all of
//! them together. A [`Pool`] keeps one trajectory per session id, created on first use from
//! one configuration, and one shared [`Learning`](creative_feedback_core::Learning): the
//! quality model and the selector learn from every session's ended explorations.
//!
//! - Sessions are keyed by a string id ([`validate_id`]: at most 128 bytes of letters,
//!   digits and `_ - . : @`).
//! - Updates of different sessions run in parallel; the shared learning is locked only while
//!   an exploration starts or ends.
//! - Idle sessions are evicted (`max_sessions`, `idle_ttl`, least recently used first) to a
//!   [`SessionStore`] — a folder ([`DirStore`]) or memory ([`MemoryStore`]) — and reloaded on
//!   their next update, deciding exactly as if they had stayed.
//! - No network and no clock: times are arguments.
//!
//! # Example
//!
//! ```
//! use creative_feedback_core::{Action, Config, CreativeLoop, ReadState};
//! use creative_feedback_sessions::{Pool, PoolConfig};
//!
//! let pool = Pool::new(CreativeLoop::new(Config::default())?, PoolConfig::default(), None)?;
//! let state = ReadState::from_json(r#"{"novelty": 0.9, "aesthetic_score": 0.6}"#)?;
//! let stepped = pool.update("conversation-17", &state, 0)?;
//! assert_eq!(stepped.decision.action, Action::InjectEntropy);
//! assert_eq!(pool.stats().resident, 2); // the primary session `default`, and this one
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

mod id;
mod pool;
mod report;
mod shard;
mod store;

pub use id::{validate_id, MAX_ID_LEN};
pub use pool::{Pool, PoolConfig, Stepped};
pub use report::{Counts, PoolStats, SessionInfo, SessionList, SessionSummary};
pub use store::{DirStore, MemoryStore, SessionStore};

use creative_feedback_core::Rejected;

/// Errors of the session pool. Each names the session and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The id breaks the rules (HTTP 400).
    #[error("invalid session id {id:?}: {reason}")]
    InvalidId {
        /// The id (at most its first 128 characters).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No such session, in memory or in the store (HTTP 404).
    #[error("no session {id:?}; a session is created by its first update")]
    Unknown {
        /// The id.
        id: String,
    },
    /// The state is invalid; the session did not advance and no other changed (HTTP 422).
    #[error("session {id:?}: {rejected}")]
    Rejected {
        /// The session.
        id: String,
        /// Every offending field.
        rejected: Rejected,
    },
    /// The pool is full and no session can be evicted now (HTTP 503): retry later, raise
    /// `max_sessions`, or shorten `idle_ttl`.
    #[error(
        "the pool holds its maximum of {max_sessions} sessions and none can be evicted now; retry later, raise max_sessions, or shorten idle_ttl"
    )]
    Full {
        /// The limit.
        max_sessions: usize,
    },
    /// The store failed (HTTP 500); the session is unchanged.
    #[error("session {id:?}: the session store failed: {message}")]
    Store {
        /// The session (empty for the store as a whole).
        id: String,
        /// What failed.
        message: String,
    },
    /// The session's saved snapshot cannot be resumed from (HTTP 500). It is left in place:
    /// restore a good copy, or delete the session to start it afresh.
    #[error(
        "session {id:?}: its saved snapshot cannot be resumed from ({reason}); restore a good copy, or DELETE the session to start it afresh"
    )]
    Corrupt {
        /// The session.
        id: String,
        /// Why.
        reason: String,
    },
    /// The primary session is part of the pool's persisted loop and cannot be removed (HTTP
    /// 409).
    #[error("session {id:?} is the primary session and cannot be removed; restart with a fresh state folder to reset it")]
    Primary {
        /// The id.
        id: String,
    },
    /// A pool setting cannot work.
    #[error("invalid session setting `{key}`: {reason}")]
    InvalidSetting {
        /// The setting.
        key: &'static str,
        /// What it must be.
        reason: String,
    },
}
