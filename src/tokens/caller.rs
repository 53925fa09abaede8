//! Who is calling `/_authgate/*`: a provider token (JWT, or an opaque token when an
//! introspection provider exists) or Basic credentials that the product itself accepts.
//!
//! Owns: verifying Basic with the product through `groups::ProductClient` (the one client of
//! the product's "who am I" and group endpoints, with its answer-size, page and timeout
//! limits), asked *as the caller* so no privileged account is needed, and the
//! [`AttemptLimiter`] that slows password guessing (per username and per client IP). Basic is
//! accepted here even with `disable_basic`: it is how a user without an IdP token gets their
//! first gateway token (docs/tokens.md).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap};

use crate::carriers::Params;
use crate::groups::{LookupError, ProductClient};
use crate::pipeline::credential::{self, Credential};
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::state::{AppState, Runtime};

/// Failed Basic attempts one username may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed Basic attempts one client IP may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// The window counted from the first failure.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts failed Basic attempts at `/_authgate` per username and per client IP.
#[derive(Debug, Clone)]
pub struct AttemptLimiter {
    by_user: moka::sync::Cache<String, Arc<AtomicU32>>,
    by_ip: moka::sync::Cache<String, Arc<AtomicU32>>,
}

impl Default for AttemptLimiter {
    fn default() -> Self {
        let cache = || {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ATTEMPT_WINDOW)
                .build()
        };
        AttemptLimiter {
            by_user: cache(),
            by_ip: cache(),
        }
    }
}

impl AttemptLimiter {
    /// True when this username or IP has used up its failures.
    pub fn blocked(&self, user: &str, ip: &str) -> bool {
        let count = |c: &moka::sync::Cache<String, Arc<AtomicU32>>, k: &str| {
            c.get(k).map_or(0, |n| n.load(Ordering::Relaxed))
        };
        count(&self.by_user, &user.to_lowercase()) >= MAX_FAILURES_PER_USER
            || count(&self.by_ip, ip) >= MAX_FAILURES_PER_IP
    }

    /// Counts one failure (the window starts at the first one).
    pub fn failed(&self, user: &str, ip: &str) {
        // Usernames are case-insensitive in Jira and Confluence.
        for (c, k) in [
            (&self.by_user, user.to_lowercase()),
            (&self.by_ip, ip.to_string()),
        ] {
            c.get_with(k, || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The authenticated caller of `/_authgate`, with groups (from the product for Basic, from
/// `groups.source` for provider tokens).
pub async fn identify(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let cred = credential::classify(headers, &rt.config.upstream.carriers, &Params::default())?;
    match &cred {
        Credential::Basic { username } => basic(state, rt, headers, username, client_ip).await,
        Credential::Jwt(_) => rt.groups.resolve(rt.authn.authenticate(&cred).await?).await,
        Credential::Opaque(_) if rt.authn.has_introspection() => {
            rt.groups.resolve(rt.authn.authenticate(&cred).await?).await
        }
        Credential::None | Credential::Session => Err(Rejection::new(Reason::CredentialRequired)
            .detail("/_authgate needs a provider token or Basic credentials")),
        Credential::GatewayToken(_) | Credential::Pat(_) | Credential::Opaque(_) => {
            Err(Rejection::new(Reason::CredentialRejected)
                .detail("/_authgate accepts only a provider token or Basic credentials"))
        }
    }
}

async fn basic(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    username: &str,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let limiter = rt.tokens.attempts();
    if limiter.blocked(username, client_ip) {
        return Err(Rejection::new(Reason::RateLimited)
            .detail("too many failed Basic attempts for this user or address at /_authgate"));
    }
    // Only the credential goes along: the product answers for exactly these Basic credentials.
    let mut ask = HeaderMap::new();
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        let mut a = a.clone();
        a.set_sensitive(true);
        ask.insert(header::AUTHORIZATION, a);
    }
    let client = ProductClient::new(&rt.config.upstream, &state.shared.http);
    match client.whoami(&ask, "").await {
        Ok(id) => Ok(
            Principal::new(id.username, CredentialKind::Basic, None, None).with_groups(id.groups),
        ),
        Err(LookupError::Rejected(status)) => {
            limiter.failed(username, client_ip);
            Err(Rejection::new(Reason::CredentialRejected).detail(format!(
                "the product refused the Basic credentials ({status})"
            )))
        }
        Err(e @ LookupError::Unavailable(_)) => Err(Rejection::new(Reason::GroupsUnavailable)
            .detail(format!("verifying Basic with the product: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_per_user_and_per_ip() {
        let l = AttemptLimiter::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(!l.blocked("Alice", "10.0.0.1"));
            l.failed("Alice", "10.0.0.1");
        }
        assert!(
            l.blocked("alice", "10.0.0.9"),
            "per user, whatever the case or address"
        );
        assert!(!l.blocked("bob", "10.0.0.9"));
        for i in 0..MAX_FAILURES_PER_IP {
            l.failed(&format!("u{i}"), "10.0.0.2");
        }
        assert!(
            l.blocked("carol", "10.0.0.2"),
            "per address, whatever the user"
        );
    }
}
