//! Identity of pass-through callers (PAT, Basic, session cookie, native OAuth), learnt from
//! the product with the caller's own credential (`auth.resolve_passthrough_identity`).
//!
//! Owns: [`Passthrough`]. With the switch on, the product's who-am-I endpoint (Jira
//! `/rest/api/2/myself?expand=groups`, Confluence `/rest/api/user/current` + `memberof`) is
//! called with exactly the credential headers the product would see on the forwarded call
//! (`Authorization` and the product's session cookies), so the identity authorized is the one
//! the product will act as. Answers, including refusals, are cached by SHA-256 of those
//! headers for `min(groups.cache_ttl, 60s)` in a bounded cache with one lookup in flight per
//! credential: a failing Basic password reaches the product at most once per TTL (Jira turns
//! on CAPTCHA after repeated failures). The product refusing the credential -> 401
//! `credential_rejected` without forwarding; no usable answer -> 503 `groups_unavailable`
//! (not cached). With the switch off, callers stay unidentified (`Ok(None)`).

use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::groups::{Identity, LookupError, ProductClient};
use crate::metrics::Metrics;
use crate::pipeline::credential::{Credential, SESSION_COOKIES};
use crate::principal::{short_hash, CredentialKind, Principal};
use crate::reject::{Reason, Rejection};

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
    /// resolution is off or the credential is not a pass-through one.
    pub async fn identify(
        &self,
        credential: &Credential,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, Rejection> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let (kind, token) = match credential {
            Credential::Pat(t) => (CredentialKind::Pat, Some(t.as_str())),
            Credential::Opaque(t) => (CredentialKind::NativeOauth, Some(t.as_str())),
            Credential::Basic { .. } => (CredentialKind::Basic, None),
            Credential::Session => (CredentialKind::Session, None),
            Credential::GatewayToken(_) | Credential::Jwt(_) | Credential::None => return Ok(None),
        };
        let lookup_headers = credential_headers(headers, inner.session_cookies);
        let key = cache_key(&lookup_headers);
        let entry = inner
            .cache
            .entry(key)
            .or_try_insert_with(async {
                match inner.client.whoami(&lookup_headers).await {
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

/// `Authorization` and (when they are forwarded at all) the product's session cookies:
/// exactly the credentials the product will see on the forwarded request.
fn credential_headers(headers: &HeaderMap, with_cookies: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        let mut a = a.clone();
        a.set_sensitive(true);
        out.insert(header::AUTHORIZATION, a);
    }
    if !with_cookies {
        return out;
    }
    let mut cookies: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| SESSION_COOKIES.contains(&kv.split('=').next().unwrap_or("").trim()))
        .collect();
    cookies.sort_unstable();
    if !cookies.is_empty() {
        if let Ok(mut v) = HeaderValue::from_str(&cookies.join("; ")) {
            v.set_sensitive(true);
            out.insert(header::COOKIE, v);
        }
    }
    out
}

/// SHA-256 over the credential headers (the secret itself is never kept).
fn cache_key(h: &HeaderMap) -> [u8; 32] {
    let mut d = Sha256::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        d.update(name.as_str().as_bytes());
        d.update([0]);
        if let Some(v) = h.get(&name) {
            d.update(v.as_bytes());
        }
        d.update([0]);
    }
    d.finalize().into()
}

#[cfg(test)]
mod tests;
