//! `rate_limit.store = "redis"`: buckets every replica shares (docs/cluster.md).
//!
//! Owns: [`RedisStore`]: one GCRA decision per request as one atomic server-side script
//! ([`GCRA`], called by its SHA-1 and loaded again on `NOSCRIPT`, e.g. after a Redis restart)
//! that reads Redis's own `TIME`, so the replicas' clocks do not matter; keys named by a hash of
//! the quota and the limiter key (never a token), expiring when the bucket is full again; one
//! multiplexed connection (`redis::aio::ConnectionManager`: one reconnect at a time, with
//! exponential backoff), a deadline of `redis_timeout` per decision, and the health that
//! `/readyz` reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};
use sha2::{Digest, Sha256};

use super::LimitKey;
use crate::config::{Quota, RedisSettings};

/// The GCRA decision, atomically: `KEYS[1]` holds the bucket's theoretical arrival time (µs,
/// Redis `TIME`); `ARGV[1]` is the emission interval and `ARGV[2]` the burst. Returns
/// `{allowed, remaining, wait_us}`.
pub const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, math.floor((now - allow_at) / interval), 0}
";

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

/// The shared buckets.
pub struct RedisStore {
    conn: ConnectionManager,
    script: Script,
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
        Ok(RedisStore {
            conn,
            script: Script::new(GCRA),
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
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(redis_key(quota, key));
        invocation.arg(interval_us as u64).arg(quota.burst.get());
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64, i64)>(&mut conn),
        )
        .await;
        let result = match answer {
            Err(_) => Err(StoreError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(StoreError::Redis(without_secrets(&e))),
            Ok(Ok((1, remaining, _))) => Ok(Verdict::Allowed {
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            }),
            Ok(Ok((_, _, wait_us))) => Ok(Verdict::Refused {
                wait: Duration::from_micros(wait_us.max(0) as u64),
            }),
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
