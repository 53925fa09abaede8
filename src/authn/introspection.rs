//! A `kind = "introspection"` provider: RFC 7662 token introspection.
//!
//! Owns: [`Introspector`] — the POST (`token`, `token_type_hint=access_token`, client
//! authentication `client_secret_basic` or `client_secret_post`), the answer (at most
//! 64 KiB, within `timeout`, no redirects; `active` must be JSON `true`), the claim checks
//! on an active answer, and the cache: answers keyed by the token's SHA-256, kept for
//! `cache_ttl` and never past the answer's `exp` (refusals for at most 10 s), with one IdP
//! call for any number of concurrent requests carrying the same uncached token. An IdP
//! failure (error, timeout, redirect, non-JSON) is a 503 and is never cached.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use super::cache::{token_key, Entry, TokenKey, UntilExpiry};
use super::claims;
use super::fetch::fetch;
use super::trace::Trace;
use super::Deps;
use crate::clock::SharedClock;
use crate::config::{ClientAuthMethod, ProviderSettings, Secret};
use crate::metrics::Metrics;
use crate::principal::{short_hash, CredentialKind, Principal};
use crate::reject::{Reason, Rejection};

/// Largest introspection answer read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Refusals (inactive, expired…) are remembered at most this long.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
const CAPACITY: u64 = 100_000;

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

type Outcome = Result<Principal, Rejection>;

/// The introspection provider.
#[derive(Debug)]
pub struct Introspector {
    settings: ProviderSettings,
    issuer: Option<String>,
    url: String,
    client_id: String,
    client_secret: Secret,
    auth_method: ClientAuthMethod,
    cache_ttl: Duration,
    timeout: Duration,
    http: reqwest::Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    cache: moka::future::Cache<TokenKey, Arc<Entry<Outcome>>>,
}

/// The introspection settings of one provider (from `ProviderKind::Introspection`).
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// Optional expected `iss`.
    pub issuer: Option<String>,
    /// Endpoint.
    pub url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Basic or post.
    pub auth_method: ClientAuthMethod,
    /// Answer cache lifetime.
    pub cache_ttl: Duration,
    /// Request timeout.
    pub timeout: Duration,
}

impl Introspector {
    /// A provider; nothing is fetched at start.
    pub fn new(settings: &ProviderSettings, s: IntrospectionSettings, deps: &Deps) -> Introspector {
        Introspector {
            settings: settings.clone(),
            issuer: s.issuer,
            url: s.url,
            client_id: s.client_id,
            client_secret: s.client_secret,
            auth_method: s.auth_method,
            cache_ttl: s.cache_ttl,
            timeout: s.timeout,
            http: deps.http.clone(),
            clock: deps.clock.clone(),
            metrics: Arc::clone(&deps.metrics),
            cache: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(UntilExpiry::new(deps.clock.clone()))
                .build(),
        }
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Checks `token`, from the cache when an answer is still valid. With a recording
    /// `trace` the cache is neither read nor filled, so the report shows a real exchange.
    pub async fn check(&self, token: &str, trace: &mut Trace) -> Outcome {
        if trace.is_on() {
            return self.ask(token, trace).await?.value;
        }
        let key = token_key(token);
        if let Some(hit) = self.cached(&key).await {
            self.metrics.cache("introspection", true);
            return hit;
        }
        self.metrics.cache("introspection", false);
        // One IdP call for all concurrent requests with this token; an IdP failure is
        // returned to each of them and not cached.
        let entry = self
            .cache
            .try_get_with(key, async {
                self.ask(token, &mut Trace::off()).await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())?;
        entry.value.clone()
    }

    /// A cached answer still within its deadline (hot path: no IdP, no allocation but
    /// the principal's clone).
    pub async fn cached(&self, key: &TokenKey) -> Option<Outcome> {
        let entry = self.cache.get(key).await?;
        if self.clock.now() >= entry.until {
            self.cache.invalidate(key).await;
            return None;
        }
        Some(entry.value.clone())
    }

    /// One exchange with the IdP. `Err` = the IdP gave no usable answer (503); `Ok` holds
    /// the decision and how long it may be reused.
    async fn ask(&self, token: &str, trace: &mut Trace) -> Result<Entry<Outcome>, Rejection> {
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut req = self
            .http
            .post(&self.url)
            .header(http::header::ACCEPT, "application/json");
        match self.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                let pair = format!(
                    "{}:{}",
                    utf8_percent_encode(&self.client_id, FORM),
                    utf8_percent_encode(self.client_secret.expose(), FORM)
                );
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                req = req.header(http::header::AUTHORIZATION, value);
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", self.client_secret.expose()));
            }
        }
        let answer = match fetch(req.form(&form), self.timeout, MAX_ANSWER_BYTES).await {
            Ok(a) => a,
            Err(e) => {
                trace.fail("introspection", format!("IdP gave no usable answer: {e}"));
                return Err(Rejection::new(Reason::IdpUnavailable)
                    .detail(format!("{}: introspection {e}", self.name())));
            }
        };
        trace.pass("introspection", format!("{} answered", self.url));
        let now = self.clock.now();
        let value = self.decide(&answer.json, token, now, trace);
        let until = match &value {
            Ok(p) => {
                let ttl = now + self.cache_ttl;
                p.expires_at().map_or(ttl, |exp| exp.min(ttl))
            }
            Err(_) => now + self.cache_ttl.min(NEGATIVE_TTL),
        };
        Ok(Entry { value, until })
    }

    fn decide(
        &self,
        answer: &Map<String, Value>,
        token: &str,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Outcome {
        match answer.get("active") {
            Some(Value::Bool(true)) => trace.pass("active", "true"),
            other => {
                let seen = other.map_or("missing".to_string(), Value::to_string);
                trace.fail("active", format!("{seen} (must be JSON true)"));
                return Err(Rejection::new(Reason::TokenInactive)
                    .detail(format!("{}: active = {seen}", self.name())));
            }
        }
        if answer.get("token_type").and_then(Value::as_str) == Some("refresh_token") {
            trace.fail("token_type", "refresh_token");
            return Err(Rejection::new(Reason::TokenInactive)
                .detail("a refresh token is not an access token"));
        }
        claims::check_times(answer, &self.settings, now, false, trace)?;
        if let Some(want) = &self.issuer {
            match answer.get("iss") {
                None => trace.info("iss", "absent in the answer"),
                Some(Value::String(i)) if i == want => trace.pass("iss", format!("{i:?}")),
                Some(other) => {
                    trace.fail("iss", format!("{other} is not {want:?}"));
                    return Err(Rejection::new(Reason::UnknownIssuer)
                        .detail(format!("{}: iss {other}", self.name())));
                }
            }
        }
        claims::check_audience(answer, &self.settings.audiences, false, trace)?;
        let username = claims::username(answer, &self.settings, trace)?;
        let groups = claims::groups(answer, &self.settings, trace)?;
        let exp = claims::numeric_date(answer, "exp")?.map(claims::system_time);
        Ok(Principal::new(
            username,
            CredentialKind::Introspection,
            Some(self.settings.name.clone()),
            Some(short_hash(token.as_bytes())),
        )
        .with_groups(groups)
        .with_expiry(exp))
    }
}
