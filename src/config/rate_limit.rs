//! The checked `[rate_limit]` values: the quotas, and where the buckets live (this process,
//! or a Redis every replica shares; docs/cluster.md).

use std::num::NonZeroU32;
use std::time::Duration;

use super::Secret;

/// One bucket shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Tokens refilled per `per`.
    pub requests: NonZeroU32,
    /// The refill window.
    pub per: Duration,
    /// Bucket size.
    pub burst: NonZeroU32,
}

/// `[rate_limit]`
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// Off by default.
    pub enabled: bool,
    /// The default quota.
    pub quota: Quota,
    /// Per-group quotas, in file order (the first group the caller is in wins).
    pub overrides: Vec<(String, Quota)>,
    /// Where the buckets live.
    pub store: RateStore,
}

/// `rate_limit.store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateStore {
    /// This process's own buckets.
    Memory,
    /// Buckets shared in Redis by every replica (docs/cluster.md).
    Redis(RedisSettings),
}

/// `store = "redis"` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` (may carry a password).
    pub url: Secret,
    /// One limiter round trip; past it `on_store_error` decides.
    pub timeout: Duration,
    /// What decides while Redis is unreachable or slow.
    pub on_error: OnStoreError,
}

/// `rate_limit.on_store_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// This replica's own buckets decide.
    Local,
    /// 503 `rate_limit_unavailable`.
    Deny,
    /// The request is not limited.
    Allow,
}
