//! Identity of pass-through callers (PAT, Basic, session cookie, native OAuth), learnt from
//! the product with the caller's own credential (`auth.resolve_passthrough_identity`).
//!
//! Owns: [`Passthrough`]. With the switch on, the product's who-am-I endpoint (Jira
//! `/rest/api/2/myself?expand=groups`, Confluence `/rest/api/user/current` + `memberof`) is
//! called with exactly the credentials the product would see on the forwarded call
//! (`Authorization` and the session cookies as raw bytes in the client's order, and the
//! `os_username`/`os_password` parameters), so the identity authorized is the one the product
//! will act as. The credential step has already refused the requests where the two could
//! differ (a `Connection` header naming them, two session cookies of one name, credential
//! parameters beside another credential). Answers, including refusals, are cached by SHA-256
//! of those credentials for `min(groups.cache_ttl, 60s)` in a bounded cache with one lookup in
//! flight per credential: a failing Basic password reaches the product at most once per TTL
//! (Jira turns on CAPTCHA after repeated failures). The product refusing the credential ->
//! 401 `credential_rejected` without forwarding; no usable answer -> 503 `groups_unavailable`
//! (not cached). With the switch off, callers stay unidentified (`Ok(None)`).

use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};
use moka::future::Cache;
use percent_encoding::NON_ALPHANUMERIC;
use sha2::{Digest, Sha256};

use crate::carriers::{decode_component, Carriers, Params};
use crate::config::Config;
use crate::groups::{Identity, LookupError, ProductClient};
use crate::metrics::Metrics;
use crate::principal::{short_hash, CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::request::{Credential, RequestCtx};

/// Longest time an identity (or a refusal) is reused.
pub const MAX_TTL: Duration = Duration::from_secs(60);
/// Credentials cached at most.
pub const MAX_CACHED: u64 = 100_000;

/// What the product said about one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Known(Identity),
    Rejected(u16),
}

/// Asks the product who a pass-through caller is.
#[derive(Debug, Default)]
pub struct Passthrough {
    inner: Option<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: ProductClient,
    cache: Cache<[u8; 32], Arc<Answer>>,
    ttl: Duration,
    metrics: Arc<Metrics>,
    /// `auth.allow_session_cookies`: when off, the product's session cookies are stripped
    /// before forwarding, so the lookup must not send them either (else a cookie could be
    /// the identity authorized while another credential is the one forwarded).
    session_cookies: bool,
}

impl Passthrough {
    /// Builds from checked config; off unless `auth.resolve_passthrough_identity`. The cache
    /// of `previous` (the runtime before a reload) is kept when it asks the same product with
    /// the same TTL, so a reload does not replay refused credentials.
    pub fn new(
        config: &Config,
        http: &reqwest::Client,
        metrics: &Arc<Metrics>,
        previous: Option<&Passthrough>,
    ) -> Self {
        if !config.auth.resolve_passthrough_identity {
            return Passthrough { inner: None };
        }
        let client = ProductClient::new(&config.upstream, http);
        let ttl = config.groups.cache_ttl.min(MAX_TTL);
        let kept = previous
            .and_then(|p| p.inner.as_ref())
            .filter(|i| i.ttl == ttl && i.client.same_target(&client))
            .map(|i| i.cache.clone());
        Passthrough {
            inner: Some(Inner {
                client,
                cache: kept.unwrap_or_else(|| {
                    Cache::builder()
                        .max_capacity(MAX_CACHED)
                        .time_to_live(ttl)
                        .build()
                }),
                ttl,
                metrics: Arc::clone(metrics),
                session_cookies: config.auth.allow_session_cookies,
            }),
        }
    }

    /// True when pass-through callers are identified.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The caller's principal (groups from the product), or `None` when identity
    /// resolution is off or the credential is not a pass-through one. With resolution off,
    /// the short hash of the presented credentials goes to `ctx.credential_hash` (the
    /// rate-limit key of a caller nobody identified).
    pub async fn identify(
        &self,
        credential: &Credential,
        headers: &HeaderMap,
        params: &Params,
        carriers: &Carriers,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Principal>, Rejection> {
        let (kind, token) = match credential {
            Credential::Pat(t) => (CredentialKind::Pat, Some(t.as_str())),
            Credential::Opaque(t) => (CredentialKind::NativeOauth, Some(t.as_str())),
            Credential::Basic { .. } => (CredentialKind::Basic, None),
            Credential::Session => (CredentialKind::Session, None),
            Credential::GatewayToken(_) | Credential::Jwt(_) | Credential::None => return Ok(None),
        };
        let Some(inner) = &self.inner else {
            // Nobody asks the product: the caller is limited by its `Authorization` and
            // credential parameters (cookies would let it mint a fresh bucket per request;
            // a session alone is limited per address, like anonymous callers).
            let bare = Lookup::of(headers, params, carriers, false);
            if bare.headers.contains_key(header::AUTHORIZATION) || !bare.query.is_empty() {
                ctx.credential_hash = Some(hex::encode(&bare.key()[..8]));
            }
            return Ok(None);
        };
        let lookup = Lookup::of(headers, params, carriers, inner.session_cookies);
        let key = lookup.key();
        let entry = inner
            .cache
            .entry(key)
            .or_try_insert_with(async {
                match inner.client.whoami(&lookup.headers, &lookup.query).await {
                    Ok(id) => Ok(Arc::new(Answer::Known(id))),
                    Err(LookupError::Rejected(status)) => Ok(Arc::new(Answer::Rejected(status))),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| {
                Rejection::new(Reason::GroupsUnavailable)
                    .detail(format!("{} caller: {e}", kind.as_str()))
            })?;
        inner.metrics.cache("passthrough", !entry.is_fresh());
        match entry.value().as_ref() {
            Answer::Rejected(status) => {
                Err(Rejection::new(Reason::CredentialRejected).detail(format!(
                    "the product refused the {} credential ({status}){}",
                    kind.as_str(),
                    if entry.is_fresh() { "" } else { ", cached" }
                )))
            }
            Answer::Known(id) => Ok(Some(
                Principal::new(
                    id.username.clone(),
                    kind,
                    None,
                    token.map(|t| short_hash(t.as_bytes())),
                )
                .with_groups(id.groups.clone()),
            )),
        }
    }
}

impl Passthrough {
    /// Who the product's session cookies in `headers` belong to, for the token page
    /// (docs/tokens.md#the-token-page): asked of the product with those cookies alone (no `Authorization`,
    /// no parameters), through the same client and the same cache as pass-through callers
    /// when identity resolution is on, else through `product` uncached. `Ok(None)`: no
    /// session cookie, or the product does not know it.
    pub async fn session_user(
        &self,
        product: &ProductClient,
        headers: &HeaderMap,
        carriers: &Carriers,
    ) -> Result<Option<Identity>, LookupError> {
        let mut cookies = HeaderMap::new();
        for v in headers.get_all(header::COOKIE) {
            cookies.append(header::COOKIE, v.clone());
        }
        let lookup = Lookup::of(&cookies, &Params::default(), carriers, true);
        if !lookup.headers.contains_key(header::COOKIE) {
            return Ok(None);
        }
        let Some(inner) = &self.inner else {
            return match product.whoami(&lookup.headers, "").await {
                Ok(id) => Ok(Some(id)),
                Err(LookupError::Rejected(_)) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let entry = inner
            .cache
            .entry(lookup.key())
            .or_try_insert_with(async {
                match inner.client.whoami(&lookup.headers, "").await {
                    Ok(id) => Ok(Arc::new(Answer::Known(id))),
                    Err(LookupError::Rejected(status)) => Ok(Arc::new(Answer::Rejected(status))),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| e.as_ref().clone())?;
        inner.metrics.cache("passthrough", !entry.is_fresh());
        Ok(match entry.value().as_ref() {
            Answer::Known(id) => Some(id.clone()),
            Answer::Rejected(_) => None,
        })
    }
}

/// Exactly the credentials the product will see on the forwarded request: `Authorization`,
/// (when they are forwarded at all) the session cookies as raw bytes in the client's order,
/// and the `os_username`/`os_password` pairs of the query and form body (sent in the lookup's
/// query: the product reads both through `getParameter`).
#[derive(Debug)]
struct Lookup {
    headers: HeaderMap,
    query: String,
}

impl Lookup {
    fn of(headers: &HeaderMap, params: &Params, carriers: &Carriers, with_cookies: bool) -> Self {
        let mut out = HeaderMap::new();
        if let Some(a) = headers.get(header::AUTHORIZATION) {
            let mut a = a.clone();
            a.set_sensitive(true);
            out.insert(header::AUTHORIZATION, a);
        }
        if with_cookies && carriers.rfc2109_mode(headers) {
            // In Tomcat's `$Version` mode the other cookies shape how the session cookie is
            // read: the lookup sends every `Cookie` header as it will be forwarded.
            for v in headers.get_all(header::COOKIE) {
                let mut v = v.clone();
                v.set_sensitive(true);
                out.append(header::COOKIE, v);
            }
        } else if with_cookies {
            let pieces = carriers.session_cookies(headers).pieces;
            if !pieces.is_empty() {
                if let Ok(mut v) = HeaderValue::from_bytes(&pieces.join(&b"; "[..])) {
                    v.set_sensitive(true);
                    out.insert(header::COOKIE, v);
                }
            }
        }
        // Re-encoded: a form body may hold bytes (`#`, spaces) that a URL cannot.
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(&decode_component(s), NON_ALPHANUMERIC)
                .to_string()
        };
        let query = params
            .pairs
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => format!("{}={}", enc(k), enc(v)),
                None => enc(p),
            })
            .collect::<Vec<_>>()
            .join("&");
        Lookup {
            headers: out,
            query,
        }
    }

    /// SHA-256 over every credential (the secret itself is never kept).
    fn key(&self) -> [u8; 32] {
        let mut d = Sha256::new();
        for name in [header::AUTHORIZATION, header::COOKIE] {
            d.update(name.as_str().as_bytes());
            d.update([0]);
            for v in self.headers.get_all(&name) {
                d.update(v.as_bytes());
                d.update([0]);
            }
            d.update([0]);
        }
        d.update(self.query.as_bytes());
        d.finalize().into()
    }
}

#[cfg(test)]
mod tests;
