//! Groups of an identified caller, by `groups.source` (docs/http.md step 7).
//!
//! Owns: [`Groups`]: `claim` keeps the principal's groups (from the token), `static` reads
//! `[groups.static]`, `upstream` asks the product ([`product::ProductClient::user_groups`])
//! as the user, through the identity hand-off (`upstream_identity`: the identity header, with the
//! service account's `Authorization` in `service_account` mode, or a request signed for the
//! user in `oauth1` mode). Product answers are cached per user for
//! `groups.cache_ttl` in a bounded moka cache with one lookup in flight per user; a failed
//! lookup is not cached and is 503 `groups_unavailable`, never "no groups" and never "all
//! groups". Pass-through callers get their groups from `passthrough` instead.

pub mod product;

use std::sync::Arc;

use moka::future::Cache;

use crate::clock::SharedClock;
use crate::config::{Config, GroupSource, IdentitySettings};
use crate::metrics::Metrics;
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};
use crate::upstream_identity::UpstreamIdentity;

pub use product::{Identity, LookupError, ProductClient};

/// Users whose groups are cached at most.
pub const MAX_CACHED_USERS: u64 = 100_000;

/// Resolves groups.
#[derive(Debug)]
pub struct Groups {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Claim,
    Static(std::collections::BTreeMap<String, Vec<String>>),
    Upstream(Box<Upstream>),
}

#[derive(Debug)]
struct Upstream {
    client: ProductClient,
    /// How the lookup is handed over as the user (as a forwarded request is).
    identity_handoff: Arc<UpstreamIdentity>,
    /// The settings `identity_handoff` was built from (a reload keeps the cache when they match).
    identity: IdentitySettings,
    clock: SharedClock,
    cache: Cache<String, Arc<Vec<String>>>,
    ttl: std::time::Duration,
    metrics: Arc<Metrics>,
}

impl Groups {
    /// Builds from checked config; `http` is the shared no-redirect client. The cache of
    /// `previous` (the runtime before a reload) is kept when the lookups are unchanged.
    pub fn new(
        config: &Config,
        lookups: Lookups<'_>,
        metrics: &Arc<Metrics>,
        previous: Option<&Groups>,
    ) -> Self {
        let Lookups {
            http,
            identity_handoff,
            clock,
        } = lookups;
        let source = match &config.groups.source {
            GroupSource::Claim => Source::Claim,
            GroupSource::Static(map) => Source::Static(map.clone()),
            GroupSource::Upstream => {
                let client = ProductClient::new(&config.upstream, http);
                let ttl = config.groups.cache_ttl;
                let kept = match previous.map(|p| &p.source) {
                    Some(Source::Upstream(u))
                        if u.ttl == ttl
                            && u.client.same_target(&client)
                            && config.upstream.identity == u.identity =>
                    {
                        Some(u.cache.clone())
                    }
                    _ => None,
                };
                Source::Upstream(Box::new(Upstream {
                    client,
                    identity_handoff: Arc::clone(identity_handoff),
                    identity: config.upstream.identity.clone(),
                    clock: clock.clone(),
                    cache: kept.unwrap_or_else(|| {
                        Cache::builder()
                            .max_capacity(MAX_CACHED_USERS)
                            .time_to_live(ttl)
                            .build()
                    }),
                    ttl,
                    metrics: Arc::clone(metrics),
                }))
            }
        };
        Groups { source }
    }

    /// Fills in the principal's groups.
    pub async fn resolve(&self, principal: Principal) -> Result<Principal, Rejection> {
        match &self.source {
            Source::Claim => Ok(principal),
            Source::Static(map) => {
                // Keys are stored lower-cased (usernames are case-insensitive).
                let key = crate::principal::name_key(principal.username());
                let g = map.get(&key).cloned().unwrap_or_default();
                Ok(principal.with_groups(g))
            }
            Source::Upstream(u) => {
                let groups = u.lookup(principal.username()).await?;
                Ok(principal.with_groups(groups.as_ref().clone()))
            }
        }
    }

    /// Users whose groups are cached now (tests and metrics).
    pub async fn cached_users(&self) -> u64 {
        match &self.source {
            Source::Upstream(u) => {
                u.cache.run_pending_tasks().await;
                u.cache.entry_count()
            }
            _ => 0,
        }
    }
}

impl Upstream {
    async fn lookup(&self, username: &str) -> Result<Arc<Vec<String>>, Rejection> {
        let entry = self
            .cache
            .entry_by_ref(username)
            .or_try_insert_with(async {
                self.client
                    .user_groups(username, &self.identity_handoff, self.clock.now())
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| match e.as_ref() {
                LookupError::OAuthProblem(p) => crate::oauth1::problem::rejection(
                    p,
                    &format!("groups of `{}`", username.escape_default()),
                ),
                _ => Rejection::new(Reason::GroupsUnavailable)
                    .detail(format!("groups of `{}`: {e}", username.escape_default())),
            })?;
        self.metrics.cache("groups", !entry.is_fresh());
        Ok(entry.into_value())
    }
}

/// What the upstream source asks the product with.
#[derive(Debug, Clone, Copy)]
pub struct Lookups<'a> {
    /// The shared no-redirect client.
    pub http: &'a reqwest::Client,
    /// The runtime's identity hand-off.
    pub identity_handoff: &'a Arc<UpstreamIdentity>,
    /// Signing time.
    pub clock: &'a SharedClock,
}

#[cfg(test)]
mod tests;
