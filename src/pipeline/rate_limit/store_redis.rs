//! `rate_limit.store = "redis"`: buckets every replica shares (docs/cluster.md).
//!
//! Owns: [`RedisStore`]: GCRA decisions as one atomic server-side script ([`GCRA`], called by
//! its SHA-1 and loaded again on `NOSCRIPT`, e.g. after a Redis restart) that reads Redis's own
//! `TIME`, so the replicas' clocks do not matter; keys named by a hash of the quota and the
//! limiter key (never a token), expiring when the bucket is full again; one multiplexed
//! connection (`redis::aio::ConnectionManager`: one reconnect at a time, with exponential
//! backoff), a deadline of `redis_timeout` per decision, and the health that `/readyz` reports.
//!
//! Decisions are batched without waiting: one task sends one script call for every decision
//! that queued while the previous call was in flight (at most [`MAX_BATCH`]), so under load a
//! round trip and a script call serve many requests; alone, a request goes at once. The script
//! decides the keys in order, so two requests of one bucket in a batch are decided as if sent
//! one after the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};
use sha2::{Digest, Sha256};

use super::LimitKey;
use crate::config::{Quota, RedisSettings};

/// The GCRA decisions of a batch, atomically: `KEYS[i]` holds bucket i's theoretical arrival
/// time (µs, Redis `TIME`); `ARGV[2i-1]` is its emission interval and `ARGV[2i]` its burst.
/// Returns `allowed, remaining, wait_us` for each key, in order.
pub const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
  else
    redis.call('SET', KEYS[i], string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
    out[#out + 1] = 1
    out[#out + 1] = math.floor((now - allow_at) / interval)
    out[#out + 1] = 0
  end
end
return out
";

/// The most decisions one script call makes.
pub const MAX_BATCH: usize = 256;
/// Decisions waiting for the batcher at most; past it a decision fails at once (the store is
/// overwhelmed, and `on_store_error` decides).
const QUEUE: usize = 8192;

/// Prefix of every key authgate writes.
const KEY_PREFIX: &str = "authgate:rl:";

/// What Redis decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; whole tokens left.
    Allowed {
        /// Tokens left after this one.
        remaining: u32,
    },
    /// Refused; the next token is this far away.
    Refused {
        /// Until a token is free.
        wait: Duration,
    },
}

/// Why Redis gave no decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No answer within `redis_timeout`.
    #[error("no answer from Redis within {0:?}")]
    Timeout(Duration),
    /// Redis refused or the connection failed.
    #[error("Redis: {0}")]
    Redis(String),
}

/// One decision waiting for the batcher.
struct Job {
    key: String,
    interval_us: u64,
    burst: u32,
    reply: tokio::sync::oneshot::Sender<Result<Verdict, StoreError>>,
}

/// The shared buckets.
pub struct RedisStore {
    jobs: tokio::sync::mpsc::Sender<Job>,
    timeout: Duration,
    /// The URL the store was built for (a reload with the same settings keeps the store).
    settings: RedisSettings,
    /// The last decision failed (for `/readyz`); cleared by the next success.
    degraded: AtomicBool,
    last_error: std::sync::Mutex<String>,
    errors: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .finish()
    }
}

impl RedisStore {
    /// A store for `settings`. Connects lazily: Redis may be down at start (decisions then
    /// follow `on_store_error` until it is up). Must run inside a tokio runtime.
    pub fn new(settings: &RedisSettings) -> Result<RedisStore, String> {
        let client = Client::open(settings.url.expose())
            .map_err(|_| "rate_limit.redis_url is not a valid Redis URL".to_string())?;
        // One reconnect at a time, backing off from 50 ms to 2 s; each attempt and each
        // answer bounded by the decision deadline (the caller's timeout is the hard bound).
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(6)
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(settings.timeout));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("Redis connection manager: {e}"))?;
        let (jobs, queue) = tokio::sync::mpsc::channel(QUEUE);
        // Ends when the store (the last sender) is dropped.
        tokio::spawn(batcher(conn, queue, settings.timeout));
        Ok(RedisStore {
            jobs,
            timeout: settings.timeout,
            settings: settings.clone(),
            degraded: AtomicBool::new(false),
            last_error: std::sync::Mutex::new(String::new()),
            errors: AtomicU64::new(0),
        })
    }

    /// True when this store serves `settings` (a reload keeps it and its connection).
    pub fn serves(&self, settings: &RedisSettings) -> bool {
        self.settings == *settings
    }

    /// One decision for `key` under `quota`, within `redis_timeout`.
    pub async fn take(&self, quota: &Quota, key: &LimitKey) -> Result<Verdict, StoreError> {
        let interval_us = (quota.per.as_micros() / u128::from(quota.requests.get())).max(1);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            key: redis_key(quota, key),
            interval_us: u64::try_from(interval_us).unwrap_or(u64::MAX),
            burst: quota.burst.get(),
            reply,
        };
        let result = match self.jobs.try_send(job) {
            Err(_) => Err(StoreError::Redis("too many decisions waiting".into())),
            Ok(()) => match tokio::time::timeout(self.timeout, answer).await {
                Err(_) => Err(StoreError::Timeout(self.timeout)),
                Ok(Err(_)) => Err(StoreError::Redis("the batcher stopped".into())),
                Ok(Ok(r)) => r,
            },
        };
        match &result {
            Ok(_) => self.degraded.store(false, Ordering::Relaxed),
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.degraded.store(true, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = e.to_string();
                }
            }
        }
        result
    }

    /// `Err` with the last error while the last decision failed (for `/readyz`).
    pub fn health(&self) -> Result<(), String> {
        if self.degraded.load(Ordering::Relaxed) {
            let last = self
                .last_error
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            Err(format!("rate_limit store redis: {last}"))
        } else {
            Ok(())
        }
    }

    /// Decisions that failed since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Sends every queued decision in one script call, one call at a time, until the store is
/// dropped. A call gets at most `timeout`; its decisions all fail together.
async fn batcher(
    mut conn: ConnectionManager,
    mut queue: tokio::sync::mpsc::Receiver<Job>,
    timeout: Duration,
) {
    let script = Script::new(GCRA);
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Decisions nobody waits for any more (timed out) are not sent.
        batch.retain(|j| !j.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let mut call = script.prepare_invoke();
        for j in &batch {
            call.key(&j.key);
        }
        for j in &batch {
            call.arg(j.interval_us).arg(j.burst);
        }
        let answer = tokio::time::timeout(timeout, call.invoke_async::<Vec<i64>>(&mut conn)).await;
        let answer: Result<Vec<i64>, StoreError> = match answer {
            Err(_) => Err(StoreError::Timeout(timeout)),
            Ok(Err(e)) => Err(StoreError::Redis(without_secrets(&e))),
            Ok(Ok(v)) if v.len() == 3 * batch.len() => Ok(v),
            Ok(Ok(v)) => Err(StoreError::Redis(format!(
                "the script answered {} values for {} decisions",
                v.len(),
                batch.len()
            ))),
        };
        for (i, job) in batch.drain(..).enumerate() {
            let verdict = match &answer {
                Err(e) => Err(e.clone()),
                Ok(v) => Ok(match (v[3 * i], v[3 * i + 1], v[3 * i + 2]) {
                    (1, remaining, _) => Verdict::Allowed {
                        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    },
                    (_, _, wait_us) => Verdict::Refused {
                        wait: Duration::from_micros(u64::try_from(wait_us.max(0)).unwrap_or(0)),
                    },
                }),
            };
            let _ = job.reply.send(verdict);
        }
    }
}

/// `authgate:rl:` + the hex SHA-256 of the quota and the limiter key: the same quota keeps its
/// buckets across a reload and across replicas; a changed quota starts fresh; no token or
/// username is ever written to Redis.
pub fn redis_key(quota: &Quota, key: &LimitKey) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{}/{}/{}|",
        quota.requests.get(),
        quota.per.as_micros(),
        quota.burst.get()
    ));
    match key {
        LimitKey::Token(t) => {
            h.update(b"t:");
            h.update(t.as_bytes());
        }
        LimitKey::User(u) => {
            h.update(b"u:");
            h.update(u.as_bytes());
        }
        LimitKey::Ip(ip) => {
            h.update(b"i:");
            h.update(ip.to_string().as_bytes());
        }
    }
    format!("{KEY_PREFIX}{}", hex::encode(h.finalize()))
}

/// A Redis error without the URL (which may carry a password).
fn without_secrets(e: &redis::RedisError) -> String {
    let kind = format!("{:?}", e.kind());
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost".into()
    } else {
        // Server errors (OOM, READONLY…) carry no URL; keep their first line.
        let detail = e.detail().unwrap_or("");
        format!("{kind} {}", detail.lines().next().unwrap_or(""))
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn keys_hash_the_quota_and_the_key_and_never_show_either() {
        let q = |r: u32| Quota {
            requests: NonZeroU32::new(r).unwrap(),
            per: Duration::from_secs(60),
            burst: NonZeroU32::new(r).unwrap(),
        };
        let k = LimitKey::Token("gw_secretish".into());
        let a = redis_key(&q(5), &k);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        assert!(!a.contains("secretish"));
        assert_eq!(a, redis_key(&q(5), &k));
        assert_ne!(a, redis_key(&q(6), &k));
        assert_ne!(a, redis_key(&q(5), &LimitKey::User("gw_secretish".into())));
    }
}
