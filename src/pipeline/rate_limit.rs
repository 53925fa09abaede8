//! Stage 8, `rate_limit`: one token bucket per token, user or client IP (governor GCRA).
//!
//! Owns: [`RateLimiter`] (the buckets, their keys, pruning, and carrying counters over a
//! reload) and [`LimitKey`]. Input: the authorized caller (or none for anonymous and
//! unidentified pass-through callers) and the request context; output: the Jira DC rate-limit
//! headers ([`RateHeaders`]) or 429 `rate_limited`.
//!
//! - Keys: the token id for token callers (JWT, introspection, gateway token, PAT, native
//!   OAuth), the username for Basic and session-cookie callers, the client IP for callers
//!   nobody identified (IPv6 by /64, so one host cannot mint keys). The pipeline calls this
//!   stage only after authentication and authorization, so a junk token never makes a key.
//! - Quotas: `[rate_limit]` and per-group `overrides` (the first override whose group the
//!   caller is in wins). One governor limiter per distinct quota; a reload reuses the limiter
//!   of every quota that did not change, so those counters survive.
//! - Memory: keys whose bucket is full again are indistinguishable from new ones and are
//!   dropped by [`RateLimiter::prune`] (`retain_recent` + `shrink_to_fit`), run on a timer.
//! - Generic over governor's `Clock`: production uses the default clock, tests
//!   `governor::clock::FakeRelativeClock`, so every count and header is exact.
//! - `store = "redis"` (`store_redis`): the same quotas and headers, decided in Redis so every
//!   replica shares each bucket; while Redis fails or is slower than `redis_timeout`,
//!   `on_store_error` decides (this replica's own buckets, 503 `rate_limit_unavailable`, or
//!   allow), counted in `/metrics` and named by `/readyz`.

pub mod store_redis;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;

use super::ip_filter::ClientIp;
use super::{Permitted, RequestCtx};
use crate::config::{OnStoreError, Quota, RateLimitSettings, RateStore};
use crate::principal::CredentialKind;
use crate::reject::{RateHeaders, Reason, Rejection};

/// How often idle keys are dropped in production.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What one bucket is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// A token caller: the token's short hash or gateway token id.
    Token(Box<str>),
    /// A Basic or session-cookie caller: the username.
    User(Box<str>),
    /// A caller nobody identified: the client IP (IPv6 masked to /64).
    Ip(IpAddr),
}

type Governor<C> =
    governor::RateLimiter<LimitKey, DashMapStateStore<LimitKey>, C, StateInformationMiddleware>;

/// One quota and its keyed limiter; shared between runtimes while the quota is unchanged.
struct Bucket<C: Clock> {
    quota: Quota,
    gov: Governor<C>,
}

impl<C: Clock + Clone> Bucket<C> {
    fn new(quota: Quota, clock: &C) -> Self {
        let period = (quota.per / quota.requests.get()).max(Duration::from_nanos(1));
        let gq = governor::Quota::with_period(period)
            .expect("period is at least 1ns")
            .allow_burst(quota.burst);
        Bucket {
            quota,
            gov: governor::RateLimiter::new(gq, DashMapStateStore::default(), clock.clone()),
        }
    }

    /// `Retry-After` of an allowed request: 0 while tokens remain, else at most one refill
    /// period.
    fn retry_after(&self, remaining: u32) -> u64 {
        if remaining > 0 {
            0
        } else {
            ceil_secs(self.quota.per / self.quota.requests.get())
        }
    }

    /// 429 with the headers of an empty bucket whose next token is `wait` away.
    fn refused(&self, wait: Duration) -> Rejection {
        let mut r =
            Rejection::new(Reason::RateLimited).detail(format!("bucket empty for {wait:?}"));
        r.rate = Some(self.headers(0, ceil_secs(wait).max(1)));
        r
    }

    fn headers(&self, remaining: u32, retry_after_secs: u64) -> RateHeaders {
        RateHeaders {
            limit: self.quota.burst.get(),
            remaining,
            interval_secs: ceil_secs(self.quota.per),
            fill_rate: self.quota.requests.get(),
            retry_after_secs,
        }
    }
}

/// The limiter of one runtime; its buckets may outlive it (see [`RateLimiter::rebuild`]).
pub struct RateLimiter<C: Clock = DefaultClock> {
    enabled: bool,
    clock: C,
    default: Arc<Bucket<C>>,
    /// Group -> bucket, in file order.
    overrides: Vec<(String, Arc<Bucket<C>>)>,
    /// Every distinct bucket once.
    buckets: Vec<Arc<Bucket<C>>>,
    /// `store = "redis"`: where decisions are made; the buckets above are the fallback.
    shared: Option<Shared>,
}

/// The Redis store and what decides without it.
#[derive(Clone)]
struct Shared {
    store: Arc<store_redis::RedisStore>,
    on_error: OnStoreError,
    metrics: Arc<crate::metrics::Metrics>,
}

impl<C: Clock> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.enabled)
            .field("default", &self.default.quota)
            .field(
                "overrides",
                &self
                    .overrides
                    .iter()
                    .map(|(g, b)| (g, b.quota))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RateLimiter<DefaultClock> {
    /// Builds from checked config with the default (monotonic) clock.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// Builds from checked config with `clock` (tests pass a `FakeRelativeClock`).
    pub fn with_clock(settings: &RateLimitSettings, clock: C) -> Self {
        Self::build(settings, clock, &[])
    }

    /// A limiter for new `settings` that keeps the buckets (and counters) of every quota
    /// that is unchanged; changed quotas start fresh.
    pub fn rebuild(&self, settings: &RateLimitSettings) -> Self {
        Self::build(settings, self.clock.clone(), &self.buckets)
    }

    fn build(settings: &RateLimitSettings, clock: C, previous: &[Arc<Bucket<C>>]) -> Self {
        let mut buckets: Vec<Arc<Bucket<C>>> = Vec::new();
        let mut get = |q: Quota| -> Arc<Bucket<C>> {
            if let Some(b) = buckets.iter().find(|b| b.quota == q) {
                return Arc::clone(b);
            }
            let b = previous
                .iter()
                .find(|b| b.quota == q)
                .map(Arc::clone)
                .unwrap_or_else(|| Arc::new(Bucket::new(q, &clock)));
            buckets.push(Arc::clone(&b));
            b
        };
        let default = get(settings.quota);
        let overrides = settings
            .overrides
            .iter()
            .map(|(g, q)| (g.clone(), get(*q)))
            .collect();
        RateLimiter {
            enabled: settings.enabled,
            clock,
            default,
            overrides,
            buckets,
            shared: None,
        }
    }

    /// With `store = "redis"`, decisions go to Redis: the store of `previous` is kept when its
    /// settings are unchanged (and its connection with it), else a new one is made (it connects
    /// lazily). Memory store: unchanged.
    pub fn with_store(
        mut self,
        settings: &RateLimitSettings,
        previous: Option<&RateLimiter<C>>,
        metrics: &Arc<crate::metrics::Metrics>,
    ) -> Result<Self, String> {
        let RateStore::Redis(redis) = &settings.store else {
            return Ok(self);
        };
        let kept = previous
            .and_then(|p| p.shared.as_ref())
            .filter(|s| s.store.serves(redis))
            .map(|s| Arc::clone(&s.store));
        let store = match kept {
            Some(s) => s,
            None => Arc::new(store_redis::RedisStore::new(redis)?),
        };
        self.shared = Some(Shared {
            store,
            on_error: redis.on_error,
            metrics: Arc::clone(metrics),
        });
        Ok(self)
    }

    /// `store = "redis"`: `Err` naming the store while its last decision failed; `Ok(true)`
    /// when that makes the gateway not ready (`on_store_error = "deny"`). `None`: memory store.
    pub fn store_health(&self) -> Option<Result<(), (String, bool)>> {
        let s = self.shared.as_ref()?;
        Some(
            s.store
                .health()
                .map_err(|e| (e, s.on_error == OnStoreError::Deny)),
        )
    }

    /// Takes one token for the caller; `None` when rate limiting is off. Called only after
    /// authentication and authorization (`permitted` is `None` for callers nobody identified).
    pub async fn check(
        &self,
        permitted: Option<&Permitted>,
        ctx: &RequestCtx,
    ) -> Result<Option<RateHeaders>, Rejection> {
        if !self.enabled {
            return Ok(None);
        }
        let key = key_for(permitted, ctx);
        let groups = permitted
            .map(|p| p.principal().groups())
            .unwrap_or_default();
        self.decide(&key, groups).await.map(Some)
    }

    /// One decision for `key` in the quota for `groups`, whether or not limiting is on: in
    /// Redis with `store = "redis"` (and `on_store_error` when it gives none in time), else in
    /// this process's own buckets.
    pub async fn decide(
        &self,
        key: &LimitKey,
        groups: &[String],
    ) -> Result<RateHeaders, Rejection> {
        match &self.shared {
            None => self.take(key, groups),
            Some(s) => self.take_shared(s, key, groups).await,
        }
    }

    /// One decision in Redis; `on_store_error` decides when Redis gives none in time.
    async fn take_shared(
        &self,
        s: &Shared,
        key: &LimitKey,
        groups: &[String],
    ) -> Result<RateHeaders, Rejection> {
        let bucket = self.bucket_for(groups);
        let error = match s.store.take(&bucket.quota, key).await {
            Ok(store_redis::Verdict::Allowed { remaining }) => {
                return Ok(bucket.headers(remaining, bucket.retry_after(remaining)))
            }
            Ok(store_redis::Verdict::Refused { wait }) => return Err(bucket.refused(wait)),
            Err(e) => e,
        };
        let decided_by = match s.on_error {
            OnStoreError::Local => "local",
            OnStoreError::Deny => "deny",
            OnStoreError::Allow => "allow",
        };
        s.metrics.count(
            "authgate_rate_limit_store_errors_total",
            &[("store", "redis".into())],
            1,
        );
        s.metrics.count(
            "authgate_rate_limit_fallbacks_total",
            &[("decided_by", decided_by.into())],
            1,
        );
        match s.on_error {
            OnStoreError::Local => self.take_in(bucket, key).map_err(|r| {
                let detail = format!(
                    "{} (decided locally: {error})",
                    r.detail.as_deref().unwrap_or("")
                );
                r.detail(detail)
            }),
            OnStoreError::Deny => {
                Err(Rejection::new(Reason::RateLimitUnavailable).detail(error.to_string()))
            }
            // Not limited; the headers are this replica's own view.
            OnStoreError::Allow => Ok(self
                .take_in(bucket, key)
                .unwrap_or_else(|_| bucket.headers(0, 0))),
        }
    }

    /// Takes one token from `key`'s bucket in the quota for `groups` (the first override
    /// whose group is in `groups`, else the default), whether or not limiting is on, in this
    /// process's own buckets.
    pub fn take(&self, key: &LimitKey, groups: &[String]) -> Result<RateHeaders, Rejection> {
        self.take_in(self.bucket_for(groups), key)
    }

    fn take_in(&self, bucket: &Bucket<C>, key: &LimitKey) -> Result<RateHeaders, Rejection> {
        match bucket.gov.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(bucket.headers(remaining, bucket.retry_after(remaining)))
            }
            Err(not_until) => Err(bucket.refused(not_until.wait_time_from(self.clock.now()))),
        }
    }

    fn bucket_for(&self, groups: &[String]) -> &Bucket<C> {
        match self
            .overrides
            .iter()
            .find(|(g, _)| groups.iter().any(|m| crate::principal::same_name(m, g)))
        {
            Some((_, b)) => b,
            None => &self.default,
        }
    }

    /// Drops keys whose bucket is full again (indistinguishable from a new key) and gives
    /// the memory back.
    pub fn prune(&self) {
        for b in &self.buckets {
            b.gov.retain_recent();
            b.gov.shrink_to_fit();
        }
    }

    /// Keys held over all buckets (for tests, benches and metrics).
    pub fn keys(&self) -> usize {
        self.buckets.iter().map(|b| b.gov.len()).sum()
    }

    /// True when rate limiting is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C> RateLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    /// Prunes every `every` on a blocking thread until this limiter is dropped.
    pub fn spawn_pruner(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                let _ = tokio::task::spawn_blocking(move || limiter.prune()).await;
            }
        });
    }
}

/// The bucket key of a caller (see the module doc).
pub fn key_for(permitted: Option<&Permitted>, ctx: &RequestCtx) -> LimitKey {
    if let Some(p) = permitted {
        let p = p.principal();
        return match (p.credential(), p.token_id()) {
            (CredentialKind::Basic | CredentialKind::Session, _) | (_, None) => {
                LimitKey::User(crate::principal::name_key(p.username()).into())
            }
            (_, Some(t)) => LimitKey::Token(t.into()),
        };
    }
    // A pass-through caller nobody identified is limited by its whole credential (never by
    // the bare Basic username, or a wrong password could spend someone else's bucket).
    if let Some(h) = &ctx.credential_hash {
        return LimitKey::Token(h.as_str().into());
    }
    let ip = match &ctx.client_ip {
        Some(ClientIp::Addr(a)) => *a,
        // A malformed forwarded entry counts against the proxy that sent it.
        _ => ctx.peer.ip(),
    };
    LimitKey::Ip(match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    })
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests;
