//! Caches keyed by the SHA-256 of a token: verified JWTs and introspection answers.
//!
//! Owns: [`token_key`], the [`Entry`] (a value with the instant it stops being usable) and
//! [`VerifiedCache`]. moka evicts on its own monotonic clock; every read also checks the
//! entry's deadline against the injected clock, so an entry is never used past the token's
//! `exp` whatever either clock says. Tokens themselves are never stored.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::principal::Principal;

/// How many verified tokens are remembered.
pub const VERIFIED_CAPACITY: u64 = 100_000;

/// The cache key of a token: its SHA-256.
pub type TokenKey = [u8; 32];

/// SHA-256 of `token`.
pub fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// A cached value and the instant (injected clock) from which it must not be used.
#[derive(Debug)]
pub struct Entry<T> {
    /// The value.
    pub value: T,
    /// Deadline.
    pub until: SystemTime,
}

/// moka expiry from each entry's deadline, measured when it is inserted.
#[derive(Debug)]
pub struct UntilExpiry {
    clock: SharedClock,
}

impl UntilExpiry {
    /// Expiry judged against `clock` at insertion.
    pub fn new(clock: SharedClock) -> Self {
        UntilExpiry { clock }
    }
}

impl<T> moka::Expiry<TokenKey, Arc<Entry<T>>> for UntilExpiry {
    fn expire_after_create(&self, _key: &TokenKey, value: &Arc<Entry<T>>, _at: Instant) -> Option<Duration> {
        Some(value.until.duration_since(self.clock.now()).unwrap_or(Duration::ZERO))
    }
}

/// Verified JWTs: a token seen before is not verified again until its deadline.
#[derive(Debug)]
pub struct VerifiedCache {
    cache: moka::sync::Cache<TokenKey, Arc<Entry<Principal>>>,
    clock: SharedClock,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens.
    pub fn new(capacity: u64, clock: SharedClock) -> Self {
        VerifiedCache {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry::new(clock.clone()))
                .build(),
            clock,
        }
    }

    /// The principal of a token verified before, if still within its deadline.
    pub fn get(&self, key: &TokenKey) -> Option<Principal> {
        let entry = self.cache.get(key)?;
        if self.clock.now() >= entry.until {
            self.cache.invalidate(key);
            return None;
        }
        Some(entry.value.clone())
    }

    /// Remembers a verified token until `until`.
    pub fn insert(&self, key: TokenKey, principal: Principal, until: SystemTime) {
        if until > self.clock.now() {
            self.cache.insert(key, Arc::new(Entry { value: principal, until }));
        }
    }
}
