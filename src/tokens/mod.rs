//! Gateway-issued API tokens (docs/tokens.md): format, table, cache, self-service and admin API.
//!
//! Owns: [`GatewayTokens`], the stage-6 check of `Bearer gw_…` (format first, then the
//! cached lookup by hash, then revocation and expiry with the injected clock), and the state
//! that outlives reloads (lookup cache, last-used writer, failed-Basic counters).
//!
//! - `format` — making and checking `gw_` tokens (no I/O).
//! - `store`  — the `gateway_tokens` table on Postgres or SQLite.
//! - `cache`  — lookups by hash, cached at most 5 s.
//! - `manage` — create / list / revoke rules shared by the API, the admin API and the CLI.
//! - `api`    — `/_authgate/tokens` on `listen`; `admin` — `/admin/tokens` on `admin_listen`.
//!
//! Rejections (documented choices): a `gw_` token whose shape or checksum is wrong is
//! `malformed_token` (401) and costs no lookup; a token the database does not know is
//! `token_unknown`; the database unreachable is `idp_unavailable` (503, never allow): for
//! its own tokens authgate is the identity provider, and its store is the IdP's backend.

pub mod admin;
pub mod api;
pub mod attempts;
pub mod cache;
pub mod format;
pub mod manage;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use self::attempts::AttemptLimiter;
use self::cache::{Lookup, LookupCache};
use self::store::TokenStore;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};

/// `last_used_at` is written at most this often per token.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Pending `last_used_at` writes held at most; beyond it a use is simply not recorded.
const TOUCH_QUEUE: usize = 1024;

/// Checks `gw_` tokens and holds the token state shared by every runtime (cloned on reload).
#[derive(Debug, Clone)]
pub struct GatewayTokens {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: TokenStore,
    cache: LookupCache,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    /// Tokens whose use was recorded in the last [`TOUCH_INTERVAL`].
    touched: moka::sync::Cache<String, ()>,
    touch_tx: mpsc::Sender<(String, DateTime<Utc>)>,
    attempts: AttemptLimiter,
    db_lookups: AtomicU64,
}

impl GatewayTokens {
    /// Token state on the shared database `db`, with the shared clock. Spawns the task that
    /// writes `last_used_at` off the request path (it ends when the last clone is dropped).
    pub fn new(db: crate::db::Db, clock: &SharedClock, metrics: &Arc<Metrics>) -> Self {
        let store = TokenStore::new(db);
        let (touch_tx, touch_rx) = mpsc::channel(TOUCH_QUEUE);
        tokio::spawn(write_last_used(store.clone(), touch_rx));
        GatewayTokens {
            inner: Arc::new(Inner {
                store,
                cache: LookupCache::default(),
                clock: Arc::clone(clock),
                metrics: Arc::clone(metrics),
                touched: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(TOUCH_INTERVAL)
                    .build(),
                touch_tx,
                attempts: AttemptLimiter::default(),
                db_lookups: AtomicU64::new(0),
            }),
        }
    }

    /// The token table.
    pub fn store(&self) -> &TokenStore {
        &self.inner.store
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.inner.clock.now())
    }

    /// Failed-Basic counters for `/_authgate`.
    pub(crate) fn attempts(&self) -> &AttemptLimiter {
        &self.inner.attempts
    }

    /// How many lookups reached the database (cache misses), for tests and diagnostics.
    pub fn db_lookups(&self) -> u64 {
        self.inner.db_lookups.load(Ordering::Relaxed)
    }

    /// Forgets a cached lookup (after a revocation on this replica).
    pub async fn forget(&self, hash: &str) {
        self.inner.cache.invalidate(hash).await;
    }

    /// Checks a `gw_` token (stage 6). The format and checksum come first, so a typo or a
    /// truncated paste never reaches the database.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Rejection> {
        if let Err(e) = format::parse(token) {
            return Err(
                Rejection::new(Reason::MalformedToken).detail(format!("gateway token: {e}"))
            );
        }
        let hash = format::hash(token);
        // The first 16 hex of the SHA-256 is `principal::short_hash`: how a token is named in logs.
        let short = &hash[..16];
        let inner = &self.inner;
        let (found, hit) = inner.cache.get(&inner.store, &hash).await.map_err(|e| {
            Rejection::new(Reason::IdpUnavailable).detail(format!("gateway token {short}: {e}"))
        })?;
        inner.metrics.cache("gateway_tokens", hit);
        if !hit {
            inner.db_lookups.fetch_add(1, Ordering::Relaxed);
        }
        let record = match found {
            Lookup::Found(r) => r,
            Lookup::Missing => {
                return Err(Rejection::new(Reason::TokenUnknown)
                    .detail(format!("gateway token {short} unknown")))
            }
        };
        let now = self.now();
        if let Some(at) = record.revoked_at {
            return Err(Rejection::new(Reason::TokenRevoked).detail(format!(
                "gateway token {} revoked at {}",
                record.id,
                at.to_rfc3339()
            )));
        }
        if record.expires_at <= now {
            return Err(Rejection::new(Reason::TokenExpired).detail(format!(
                "gateway token {} expired at {}",
                record.id,
                record.expires_at.to_rfc3339()
            )));
        }
        self.note_use(&record.id, now);
        Ok(Principal::new(
            record.username.clone(),
            CredentialKind::GatewayToken,
            None,
            Some(record.id.clone()),
        )
        .with_expiry(Some(record.expires_at.into()))
        .with_read_only_token(record.read_only)
        .with_groups(record.group_list()))
    }

    /// Queues a `last_used_at` write unless one was queued in the last minute. Never waits.
    fn note_use(&self, id: &str, now: DateTime<Utc>) {
        let inner = &self.inner;
        if inner.touched.contains_key(id) {
            return;
        }
        inner.touched.insert(id.to_string(), ());
        // A full queue means the database is slow; losing a last-used time is harmless.
        let _ = inner.touch_tx.try_send((id.to_string(), now));
    }
}

/// Writes `last_used_at` until every sender is gone.
async fn write_last_used(store: TokenStore, mut rx: mpsc::Receiver<(String, DateTime<Utc>)>) {
    while let Some((id, at)) = rx.recv().await {
        if let Err(e) = store.touch(&id, at).await {
            tracing::debug!(token_id = %id, error = %e, "last_used_at not written");
        }
    }
}
