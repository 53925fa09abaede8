//! The lookup cache in front of the token table.
//!
//! Owns: caching `by_hash` answers for at most [`LOOKUP_TTL`] (4 s), so a revocation made on
//! any replica sharing the database is honoured within 5 s everywhere (the last second is for
//! requests in flight), and at once on the replica that revoked, which invalidates its own
//! entry. Misses are cached for the same
//! short time so junk tokens with a valid checksum do not reach the database on every
//! request. Concurrent lookups of one hash share one query. Database errors are never
//! cached: the next request asks again (fail closed meanwhile).

use std::sync::Arc;
use std::time::Duration;

use super::store::{StoreError, TokenRecord, TokenStore};

/// Longest time an answer from the database is reused (docs/tokens.md: at most 5 s).
pub const LOOKUP_TTL: Duration = Duration::from_secs(4);
/// Cached answers held at most (found and missing alike); the oldest go first.
pub const LOOKUP_CAPACITY: u64 = 100_000;

/// What the database said about one hash.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A row (maybe revoked or expired: the caller decides with its clock).
    Found(Arc<TokenRecord>),
    /// No such token.
    Missing,
}

/// Lookups by hash, cached for [`LOOKUP_TTL`].
#[derive(Debug, Clone)]
pub struct LookupCache {
    cache: moka::future::Cache<String, Lookup>,
}

impl Default for LookupCache {
    fn default() -> Self {
        Self::new(LOOKUP_TTL)
    }
}

impl LookupCache {
    /// A cache whose entries live `ttl` (never more than [`LOOKUP_TTL`] in production).
    pub fn new(ttl: Duration) -> Self {
        LookupCache {
            cache: moka::future::Cache::builder()
                .max_capacity(LOOKUP_CAPACITY)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The answer for `hash`, from the cache or the store. The bool is true on a cache hit.
    pub async fn get(&self, store: &TokenStore, hash: &str) -> Result<(Lookup, bool), StoreError> {
        let entry = self
            .cache
            .entry_by_ref(hash)
            .or_try_insert_with(async {
                store.by_hash(hash).await.map(|found| match found {
                    Some(r) => Lookup::Found(Arc::new(r)),
                    None => Lookup::Missing,
                })
            })
            .await
            .map_err(unshare)?;
        let hit = !entry.is_fresh();
        Ok((entry.into_value(), hit))
    }

    /// Forgets `hash` (after a revocation on this replica).
    pub async fn invalidate(&self, hash: &str) {
        self.cache.invalidate(hash).await;
    }
}

/// moka shares one loader error among the waiters; keep a printable copy.
fn unshare(e: Arc<StoreError>) -> StoreError {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => match &*shared {
            StoreError::DuplicateName => StoreError::DuplicateName,
            StoreError::Database(d) => StoreError::Database(sqlx::Error::Protocol(d.to_string())),
        },
    }
}
