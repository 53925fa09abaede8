//! Groups of an identified caller, by `groups.source` (docs/http.md step 7).
//!
//! Owns: [`Groups`]: `claim` keeps the principal's groups (from the token), `static` reads
//! `[groups.static]`, `upstream` asks the product ([`product::ProductClient::user_groups`])
//! with the identity hand-off (the identity header naming the user; in `service_account`
//! mode also the service account's `Authorization`). Product answers are cached per user for
//! `groups.cache_ttl` in a bounded moka cache with one lookup in flight per user; a failed
//! lookup is not cached and is 503 `groups_unavailable`, never "no groups" and never "all
//! groups". Pass-through callers get their groups from `passthrough` instead.

pub mod product;

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use moka::future::Cache;

use crate::config::{Config, GroupSource, IdentityMode};
use crate::metrics::Metrics;
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};

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
    /// Added to every lookup besides the identity header (service-account mode).
    authorization: Option<HeaderValue>,
    identity_header: http::HeaderName,
    cache: Cache<String, Arc<Vec<String>>>,
    ttl: std::time::Duration,
    metrics: Arc<Metrics>,
}

impl Groups {
    /// Builds from checked config; `http` is the shared no-redirect client. The cache of
    /// `previous` (the runtime before a reload) is kept when the lookups are unchanged.
    pub fn new(
        config: &Config,
        http: &reqwest::Client,
        metrics: &Arc<Metrics>,
        previous: Option<&Groups>,
    ) -> Self {
        let source = match &config.groups.source {
            GroupSource::Claim => Source::Claim,
            GroupSource::Static(map) => Source::Static(map.clone()),
            GroupSource::Upstream => {
                let id = &config.upstream.identity;
                let authorization = match &id.mode {
                    IdentityMode::Header => None,
                    // Checked at config time; a value that is not a header value sends none
                    // and the product refuses, which is a lookup failure (503).
                    IdentityMode::ServiceAccount(s) => {
                        HeaderValue::from_str(s.expose()).ok().map(|mut v| {
                            v.set_sensitive(true);
                            v
                        })
                    }
                };
                let client = ProductClient::new(&config.upstream, http);
                let ttl = config.groups.cache_ttl;
                let kept = match previous.map(|p| &p.source) {
                    Some(Source::Upstream(u))
                        if u.ttl == ttl
                            && u.client.same_target(&client)
                            && u.identity_header == id.header
                            && u.authorization == authorization =>
                    {
                        Some(u.cache.clone())
                    }
                    _ => None,
                };
                Source::Upstream(Box::new(Upstream {
                    client,
                    authorization,
                    identity_header: id.header.clone(),
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
        let user = HeaderValue::from_str(username).map_err(|_| {
            Rejection::new(Reason::UsernameInvalid).detail("username is not a header value")
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(self.identity_header.clone(), user);
        if let Some(a) = &self.authorization {
            headers.insert(http::header::AUTHORIZATION, a.clone());
        }
        let entry = self
            .cache
            .entry_by_ref(username)
            .or_try_insert_with(async {
                self.client
                    .user_groups(username, &headers)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| {
                Rejection::new(Reason::GroupsUnavailable)
                    .detail(format!("groups of `{}`: {e}", username.escape_default()))
            })?;
        self.metrics.cache("groups", !entry.is_fresh());
        Ok(entry.into_value())
    }
}

#[cfg(test)]
mod tests;
