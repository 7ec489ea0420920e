//! The sidecar's link to Redis: two reconnecting connections (the stream reader blocks on
//! its own), every command under a deadline, and whether the last command failed.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamReadReply;

use super::{lock, FleetConfig, Outgoing};

/// Takes the lease if it is free or already ours (and renews it), and returns the session's
/// snapshot with it; otherwise names the holder and how long its lease still runs.
/// KEYS: lease, snapshot. ARGV: sidecar, lease ms.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local s = redis.call('GET', KEYS[2])
  if s == false then s = '' end
  return {1, ARGV[1], tonumber(ARGV[2]), s}
end
return {0, v, redis.call('PTTL', KEYS[1]), ''}
";

/// Renews the lease if it is free or ours; otherwise says who holds it.
/// KEYS: lease. ARGV: sidecar, lease ms.
const RENEW: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
return v
";

/// Writes (or, with an empty value, deletes) a session's snapshot unless another sidecar
/// holds its lease, then releases the lease when asked. A sidecar that lost a session never
/// overwrites the new holder's snapshots.
/// KEYS: lease, snapshot. ARGV: sidecar, snapshot JSON or '', ttl ms, '1' to release.
const WRITE: &str = r"
local v = redis.call('GET', KEYS[1])
if v ~= false and v ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if ARGV[4] == '1' and v == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// Releases the lease if it is ours. KEYS: lease. ARGV: sidecar.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// What a claim found.
pub(crate) enum Claimed {
    /// The lease is ours; the session's snapshot, if Redis has one.
    Ours(Option<String>),
    /// Another sidecar holds it.
    Theirs { holder: String, remaining_ms: u64 },
}

/// One session snapshot write.
pub(crate) struct Write<'a> {
    pub(crate) lease: String,
    pub(crate) key: String,
    /// The snapshot, or `None` to delete it.
    pub(crate) json: Option<&'a str>,
    pub(crate) release: bool,
}

/// One stream entry as read.
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) sidecar: Option<String>,
    pub(crate) seq: Option<u64>,
    pub(crate) at_ms: Option<u64>,
    pub(crate) lesson: Option<String>,
}

pub(crate) struct Link {
    main: ConnectionManager,
    reader: ConnectionManager,
    /// Why the last command failed; `None` after a success (shared by a fleet's links).
    down: Arc<Mutex<Option<String>>>,
    patience: Duration,
}

/// How long the reader blocks waiting for new lessons.
pub(crate) const BLOCK_MS: u64 = 500;

impl Link {
    /// A link whose commands time out after `patience` (the request path's is short; the
    /// background tasks' is long, so that a busy machine does not make them retry appends
    /// that went through).
    pub(crate) fn new(
        cfg: &FleetConfig,
        patience: Duration,
        down: Arc<Mutex<Option<String>>>,
    ) -> Result<Self, crate::Error> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| {
            crate::Error::Fleet(format!(
                "invalid Redis URL {:?} ({e}); give one like redis://127.0.0.1:6379/0",
                cfg.url
            ))
        })?;
        let manager = |response: Duration| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(1)))
                .set_response_timeout(Some(response))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(1));
            client
                .get_connection_manager_lazy(config)
                .map_err(|e| crate::Error::Fleet(format!("cannot set up the Redis client: {e}")))
        };
        Ok(Self {
            main: manager(patience)?,
            reader: manager(Duration::from_millis(BLOCK_MS) + patience)?,
            patience,
            down,
        })
    }

    /// Why Redis is unreachable, if the last command failed.
    pub(crate) fn down(&self) -> Option<String> {
        lock(&self.down).clone()
    }

    /// Runs a command under a deadline and records whether Redis answered.
    async fn run<T>(
        &self,
        deadline: Duration,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        let outcome = match tokio::time::timeout(deadline, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", deadline.as_millis())),
        };
        let mut down = lock(&self.down);
        match &outcome {
            Ok(_) => *down = None,
            Err(why) => {
                if down.is_none() {
                    tracing::warn!(target: "creative_feedback", reason = %why, "Redis unreachable: the fleet is degraded");
                }
                *down = Some(why.clone());
            }
        }
        outcome
    }

    /// Sends a pipeline on the main connection, within the link's patience.
    async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, String> {
        let mut c = self.main.clone();
        self.run(
            self.patience + Duration::from_secs(1),
            pipe.query_async(&mut c),
        )
        .await
    }

    pub(crate) async fn get(
        &self,
        key: &str,
        deadline: Duration,
    ) -> Result<Option<String>, String> {
        let mut c = self.main.clone();
        self.run(deadline, redis::cmd("GET").arg(key).query_async(&mut c))
            .await
    }

    pub(crate) async fn set(&self, key: &str, value: &str) -> Result<(), String> {
        let mut c = self.main.clone();
        self.run(
            self.patience + Duration::from_secs(1),
            redis::cmd("SET").arg(key).arg(value).query_async(&mut c),
        )
        .await
    }

    pub(crate) async fn claim(
        &self,
        lease: &str,
        snapshot: &str,
        cfg: &FleetConfig,
        deadline: Duration,
    ) -> Result<Claimed, String> {
        let started = std::time::Instant::now();
        let mut c = self.main.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(CLAIM)
            .arg(2)
            .arg(lease)
            .arg(snapshot)
            .arg(&cfg.sidecar)
            .arg(lease_ms(cfg));
        let mut reply = self.run(deadline, cmd.query_async(&mut c)).await;
        let left = deadline.saturating_sub(started.elapsed());
        if reply.is_err() && !left.is_zero() {
            // The first command after an outage meets the broken connection and makes the
            // manager reconnect: once more, within the same deadline.
            reply = self.run(left, cmd.query_async(&mut c)).await;
        }
        let (ours, holder, ms, snap): (i64, String, i64, String) = reply?;
        Ok(if ours == 1 {
            Claimed::Ours((!snap.is_empty()).then_some(snap))
        } else {
            Claimed::Theirs {
                holder,
                remaining_ms: u64::try_from(ms).unwrap_or(0),
            }
        })
    }

    /// Renews leases; for each, the other sidecar holding it, if one does.
    pub(crate) async fn renew(
        &self,
        leases: &[String],
        cfg: &FleetConfig,
    ) -> Result<Vec<Option<String>>, String> {
        let mut pipe = redis::pipe();
        for lease in leases {
            pipe.cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(lease)
                .arg(&cfg.sidecar)
                .arg(lease_ms(cfg));
        }
        let holders: Vec<String> = self.pipeline(&pipe).await?;
        Ok(holders
            .into_iter()
            .map(|h| (!h.is_empty()).then_some(h))
            .collect())
    }

    pub(crate) async fn release(&self, leases: &[String], sidecar: &str) -> Result<(), String> {
        let mut pipe = redis::pipe();
        for lease in leases {
            pipe.cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(lease)
                .arg(sidecar)
                .ignore();
        }
        self.pipeline(&pipe).await
    }

    /// Writes session snapshots; for each, whether it was written (not: another sidecar holds
    /// the session now).
    pub(crate) async fn write(
        &self,
        writes: &[Write<'_>],
        cfg: &FleetConfig,
    ) -> Result<Vec<bool>, String> {
        let ttl = u64::try_from(cfg.session_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut pipe = redis::pipe();
        for w in writes {
            pipe.cmd("EVAL")
                .arg(WRITE)
                .arg(2)
                .arg(&w.lease)
                .arg(&w.key)
                .arg(&cfg.sidecar)
                .arg(w.json.unwrap_or(""))
                .arg(ttl)
                .arg(if w.release { "1" } else { "0" });
        }
        let written: Vec<i64> = self.pipeline(&pipe).await?;
        Ok(written.into_iter().map(|w| w == 1).collect())
    }

    /// Appends lessons in one transaction: all of them or none.
    pub(crate) async fn append(&self, batch: &[Outgoing], cfg: &FleetConfig) -> Result<(), String> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for o in batch {
            pipe.cmd("XADD")
                .arg(cfg.key("lessons"))
                .arg("MAXLEN")
                .arg("~")
                .arg(cfg.stream_max_len)
                .arg("*")
                .arg("s")
                .arg(&cfg.sidecar)
                .arg("n")
                .arg(o.seq)
                .arg("t")
                .arg(o.at_ms)
                .arg("l")
                .arg(&o.lesson)
                .ignore();
        }
        self.pipeline(&pipe).await
    }

    /// The next lessons after `from`, waiting up to [`BLOCK_MS`] for some.
    pub(crate) async fn read(
        &self,
        cfg: &FleetConfig,
        from: &str,
        count: usize,
    ) -> Result<Vec<Entry>, String> {
        let mut c = self.reader.clone();
        let reply: Option<StreamReadReply> = self
            .run(
                Duration::from_millis(BLOCK_MS) + self.patience + Duration::from_secs(1),
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(count)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(cfg.key("lessons"))
                    .arg(from)
                    .query_async(&mut c),
            )
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|e| Entry {
                sidecar: e.get("s"),
                seq: e.get("n"),
                at_ms: e.get("t"),
                lesson: e.get("l"),
                id: e.id,
            })
            .collect())
    }
}

fn lease_ms(cfg: &FleetConfig) -> u64 {
    u64::try_from(cfg.lease.as_millis()).unwrap_or(u64::MAX)
}
