//! Shared state: the reloadable [`Runtime`] behind an `ArcSwap`, and what outlives reloads.
//!
//! Owns: building a `Runtime` from a checked `Config` (the only place stages are wired to
//! their settings) and [`AppState`], created once in `main` and passed to the server. No
//! globals: tests build as many gateways side by side as they like.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::audit::AuditSink;
use crate::authn::Authenticators;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::groups::{Groups, ProductClient};
use crate::passthrough::Passthrough;
use crate::pipeline::authz::Authz;
use crate::pipeline::rate_limit::RateLimiter;
use crate::proxy::Upstream;
use crate::tokens::GatewayTokens;
use crate::upstream_identity::UpstreamIdentity;

/// Everything built from one config; swapped whole on reload.
#[derive(Debug)]
pub struct Runtime {
    /// The checked config.
    pub config: Arc<Config>,
    /// JWT and introspection providers.
    pub authn: Authenticators,
    /// Gateway tokens.
    pub tokens: GatewayTokens,
    /// Group resolution.
    pub groups: Groups,
    /// Identity of pass-through callers.
    pub passthrough: Passthrough,
    /// Group rules.
    pub authz: Authz,
    /// Rate limiter (per-quota counters carried over across reloads when the quota is unchanged).
    pub limiter: Arc<RateLimiter>,
    /// The upstream client.
    pub upstream: Upstream,
    /// The product's "who am I" and group endpoints (for `/_authgate` Basic callers).
    pub product: ProductClient,
    /// How an authenticated user is handed to the product (`[upstream.identity]`).
    pub identity: Arc<UpstreamIdentity>,
}

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A provider could not be set up.
    #[error("providers: {0}")]
    Authn(#[from] crate::authn::BuildError),
    /// The upstream client could not be set up.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The identity hand-off could not be set up (the `oauth1` key).
    #[error("{0}")]
    UpstreamIdentity(#[from] crate::upstream_identity::UpstreamIdentityError),
}

/// What outlives reloads.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Client for IdP and product lookups (no redirects).
    pub http: reqwest::Client,
    /// Audit sink.
    pub audit: AuditSink,
    /// Wall clock.
    pub clock: SharedClock,
    /// Metrics registry.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The database (`audit.database_url`), used by the audit store and gateway tokens.
    pub db: crate::db::Db,
}

impl Shared {
    /// The default shared parts: system clock, a no-redirect HTTP client.
    pub fn new(audit: AuditSink, clock: SharedClock, db: crate::db::Db) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a TLS backend is compiled in");
        Shared {
            http,
            audit,
            clock,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            db,
        }
    }
}

impl Runtime {
    /// Builds every stage from `config`. `previous` lends state that should survive a reload.
    pub async fn build(
        config: Arc<Config>,
        shared: &Shared,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, BuildError> {
        let identity_handoff = Arc::new(UpstreamIdentity::new(&config.upstream.identity)?);
        let authn = Authenticators::build(
            &config,
            crate::authn::Deps {
                http: shared.http.clone(),
                clock: shared.clock.clone(),
                metrics: Arc::clone(&shared.metrics),
            },
        )
        .await?;
        // Counters of unchanged quotas survive the reload; changed quotas start fresh.
        let limiter = Arc::new(
            match previous {
                Some(p) => p.limiter.rebuild(&config.rate_limit),
                None => RateLimiter::new(&config.rate_limit),
            }
            .with_store(
                &config.rate_limit,
                previous.map(|p| p.limiter.as_ref()),
                &shared.metrics,
            )
            .map_err(BuildError::Upstream)?,
        );
        if limiter.enabled() {
            limiter.spawn_pruner(crate::pipeline::rate_limit::PRUNE_EVERY);
        }
        // Connections to an unchanged upstream survive the reload: a rule change must not
        // make every client reconnect to the product at once.
        let upstream = match previous {
            Some(p) if p.upstream.serves(&config.upstream) => p.upstream.clone(),
            _ => Upstream::new(&config.upstream).map_err(BuildError::Upstream)?,
        };
        Ok(Runtime {
            authn,
            // Carried over: the lookup cache, the last-used writer and the failed-Basic
            // counters belong to the database, which a reload does not change.
            tokens: match previous {
                Some(p) => p.tokens.clone(),
                None => GatewayTokens::new(shared.db.clone(), &shared.clock, &shared.metrics),
            },
            groups: Groups::new(
                &config,
                crate::groups::Lookups {
                    http: &shared.http,
                    identity_handoff: &identity_handoff,
                    clock: &shared.clock,
                },
                &shared.metrics,
                previous.map(|p| &p.groups),
            ),
            passthrough: Passthrough::new(
                &config,
                &shared.http,
                &shared.metrics,
                previous.map(|p| &p.passthrough),
            ),
            authz: Authz::new(&config.access),
            limiter,
            upstream,
            product: ProductClient::new(&config.upstream, &shared.http),
            identity: identity_handoff,
            config,
        })
    }
}

/// The server's state: the current runtime and the shared parts.
#[derive(Debug)]
pub struct AppState {
    /// Swapped atomically on reload; requests load it once.
    pub runtime: ArcSwap<Runtime>,
    /// Shared parts.
    pub shared: Shared,
}

impl AppState {
    /// Wraps a first runtime.
    pub fn new(runtime: Runtime, shared: Shared) -> Arc<Self> {
        Arc::new(AppState {
            runtime: ArcSwap::from_pointee(runtime),
            shared,
        })
    }
}
