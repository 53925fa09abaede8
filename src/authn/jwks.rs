//! Remote key sets: `jwks_url`, or `discovery_url` (OIDC discovery -> `jwks_uri`).
//!
//! Owns: fetching and parsing a JWKS (asymmetric signature keys only, at most 100, 1 MiB,
//! duplicate `kid`s dropped), OIDC discovery (the document's `issuer` must equal the
//! provider's), the background refresh (every `Cache-Control: max-age`, bounded to
//! 1 min ..= 24 h; 5 min without it), the on-demand re-fetch on an unknown `kid` or a
//! stale set (at most once per 10 s per provider, so a flood of random `kid`s cannot hammer
//! the IdP), and the stale bound: the last good set keeps serving for 1 h past its max-age
//! while the IdP is down; after that, and before any set was fetched, 503 `idp_unavailable`.
//! Freshness is judged by the injected clock, so tests move time instead of sleeping.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::fetch::{fetch, FetchError};
use super::keys::VerifyKey;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::reject::{Reason, Rejection};

/// Shortest refresh interval, whatever `max-age` says.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// Longest refresh interval.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Refresh interval when the IdP sends no `max-age`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// How long past its max-age the last good set serves while the IdP is down.
pub const STALE_BOUND: Duration = Duration::from_secs(3600);
/// At most one on-demand re-fetch per this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const MAX_KEYS: usize = 100;

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A JWKS URL.
    Jwks(String),
    /// An OIDC discovery document whose `issuer` must equal this one.
    Discovery {
        /// Discovery URL.
        url: String,
        /// The provider's issuer.
        issuer: String,
    },
}

/// One fetched key set.
#[derive(Debug)]
pub struct KeySet {
    /// Usable keys.
    pub keys: Arc<[VerifyKey]>,
    /// When it was fetched (injected clock).
    pub fetched_at: SystemTime,
    /// Its max-age, bounded.
    pub max_age: Duration,
}

#[derive(Debug, Default)]
struct RefreshState {
    last_on_demand: Option<SystemTime>,
    jwks_uri: Option<String>,
    last_error: Option<String>,
}

/// A provider's remote key set.
#[derive(Debug)]
pub struct Jwks {
    provider: String,
    origin: Origin,
    algorithms: Vec<Algorithm>,
    http: reqwest::Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    current: ArcSwapOption<KeySet>,
    refresh: tokio::sync::Mutex<RefreshState>,
}

/// What a request gets from [`Jwks::keys`].
#[derive(Debug, Clone)]
pub struct Usable {
    /// The keys.
    pub keys: Arc<[VerifyKey]>,
    /// True when past max-age (served under the stale bound).
    pub stale: bool,
}

impl Jwks {
    /// Fetches once and starts the background refresh. A fetch failure is logged, not fatal:
    /// requests get 503 until a fetch succeeds (and `/readyz` says so).
    pub async fn start(
        provider: &str,
        origin: Origin,
        algorithms: Vec<Algorithm>,
        http: reqwest::Client,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> Arc<Jwks> {
        let jwks = Arc::new(Jwks {
            provider: provider.to_string(),
            origin,
            algorithms,
            http,
            clock,
            metrics,
            current: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        });
        {
            let mut st = jwks.refresh.lock().await;
            if let Err(e) = jwks.fetch_and_store(&mut st).await {
                tracing::warn!(provider = %jwks.provider, error = %e, "cannot load the JWKS at start; token requests get 503 until it loads");
            }
        }
        tokio::spawn(background(Arc::downgrade(&jwks)));
        jwks
    }

    /// The current key set (`None` before the first successful fetch).
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.current.load_full()
    }

    /// Ok when a set is loaded and within its stale bound.
    pub fn ready(&self) -> Result<(), String> {
        let now = self.clock.now();
        match self.current() {
            Some(set) if now <= set.fetched_at + set.max_age + STALE_BOUND => Ok(()),
            Some(_) => Err(format!(
                "{}: key set older than its max-age + 1h",
                self.provider
            )),
            None => Err(format!("{}: no key set loaded", self.provider)),
        }
    }

    /// Keys for a request. Past max-age an on-demand refresh is tried (rate-limited); if it
    /// fails the old set serves up to [`STALE_BOUND`] longer, then 503.
    pub async fn keys(&self) -> Result<Usable, Rejection> {
        let now = self.clock.now();
        if let Some(set) = self.current() {
            if now <= set.fetched_at + set.max_age {
                return Ok(Usable {
                    keys: Arc::clone(&set.keys),
                    stale: false,
                });
            }
        }
        self.refetch().await;
        let now = self.clock.now();
        match self.current() {
            Some(set) if now <= set.fetched_at + set.max_age => Ok(Usable {
                keys: Arc::clone(&set.keys),
                stale: false,
            }),
            Some(set) if now <= set.fetched_at + set.max_age + STALE_BOUND => Ok(Usable {
                keys: Arc::clone(&set.keys),
                stale: true,
            }),
            Some(_) => Err(Rejection::new(Reason::IdpUnavailable).detail(format!(
                "{}: JWKS unreachable and the last good set is past its stale bound",
                self.provider
            ))),
            None => Err(Rejection::new(Reason::IdpUnavailable)
                .detail(format!("{}: no JWKS loaded", self.provider))),
        }
    }

    /// An on-demand re-fetch (unknown `kid`, stale set), at most once per
    /// [`REFETCH_INTERVAL`]. Returns true when a fetch ran and succeeded.
    pub async fn refetch(&self) -> bool {
        let mut st = self.refresh.lock().await;
        let now = self.clock.now();
        if let Some(last) = st.last_on_demand {
            if now >= last && now < last + REFETCH_INTERVAL {
                return false;
            }
        }
        st.last_on_demand = Some(now);
        match self.fetch_and_store(&mut st).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(provider = %self.provider, error = %e, "JWKS re-fetch failed");
                false
            }
        }
    }

    /// The last fetch error, for `/readyz` and `test-token`.
    pub async fn last_error(&self) -> Option<String> {
        self.refresh.lock().await.last_error.clone()
    }

    async fn fetch_and_store(&self, st: &mut RefreshState) -> Result<(), String> {
        let result = self.fetch_set(st).await;
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics.count(
            "authgate_jwks_refreshes_total",
            &[
                ("provider", self.provider.clone()),
                ("result", label.to_string()),
            ],
            1,
        );
        match result {
            Ok(set) => {
                tracing::debug!(provider = %self.provider, keys = set.keys.len(), "JWKS loaded");
                self.current.store(Some(Arc::new(set)));
                st.last_error = None;
                Ok(())
            }
            Err(e) => {
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch_set(&self, st: &mut RefreshState) -> Result<KeySet, String> {
        let url = match &self.origin {
            Origin::Jwks(u) => u.clone(),
            Origin::Discovery { url, issuer } => match &st.jwks_uri {
                Some(u) => u.clone(),
                None => {
                    let u = self.discover(url, issuer).await?;
                    st.jwks_uri = Some(u.clone());
                    u
                }
            },
        };
        let answer = fetch(self.http.get(&url), FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(|e: FetchError| {
                // A moved jwks_uri is found again through discovery next time.
                st.jwks_uri = None;
                format!("JWKS: {e}")
            })?;
        let keys = parse_jwks(
            &Value::Object(answer.json),
            &self.algorithms,
            &self.provider,
        )?;
        let max_age = answer
            .max_age
            .map_or(DEFAULT_REFRESH, Duration::from_secs)
            .clamp(MIN_REFRESH, MAX_REFRESH);
        Ok(KeySet {
            keys: keys.into(),
            fetched_at: self.clock.now(),
            max_age,
        })
    }

    async fn discover(&self, url: &str, issuer: &str) -> Result<String, String> {
        let doc = fetch(self.http.get(url), FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        match doc.json.get("issuer") {
            Some(Value::String(i)) if i == issuer => {}
            Some(Value::String(i)) => {
                return Err(format!(
                "discovery: the document's issuer {i:?} is not the configured issuer {issuer:?}"
            ))
            }
            _ => return Err("discovery: the document has no issuer".into()),
        }
        match doc.json.get("jwks_uri") {
            Some(Value::String(u)) if u.starts_with("https://") || u.starts_with("http://") => {
                Ok(u.clone())
            }
            _ => Err("discovery: the document has no http(s) jwks_uri".into()),
        }
    }
}

/// Reads a JWKS document: `keys` an array of at most 100; `oct` (symmetric) keys, keys for
/// encryption, invalid or weak keys and keys no configured algorithm fits are skipped; keys
/// sharing a `kid` are all dropped (ambiguous). No usable key = the document is refused.
pub fn parse_jwks(
    doc: &Value,
    algorithms: &[Algorithm],
    provider: &str,
) -> Result<Vec<VerifyKey>, String> {
    parse_key_set(doc, algorithms, provider, false)
}

/// [`parse_jwks`], optionally keeping `oct` keys as HMAC secrets. Remote key sets never do
/// (`accept_oct = false`); the negative-corpus tests run HMAC key sets through the same rules.
pub fn parse_key_set(
    doc: &Value,
    algorithms: &[Algorithm],
    provider: &str,
    accept_oct: bool,
) -> Result<Vec<VerifyKey>, String> {
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Err("JWKS: `keys` is not an array".into());
    };
    if list.len() > MAX_KEYS {
        return Err(format!("JWKS: {} keys (at most {MAX_KEYS})", list.len()));
    }
    let is_oct = |k: &Value| k.get("kty").and_then(Value::as_str) == Some("oct");
    if accept_oct && list.iter().any(is_oct) && !list.iter().all(is_oct) {
        return Err("key set mixes symmetric and asymmetric keys".into());
    }
    let mut keys = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        if !accept_oct && is_oct(jwk) {
            tracing::warn!(
                provider,
                index = i,
                "JWKS holds a symmetric (oct) key: ignored"
            );
            continue;
        }
        match VerifyKey::from_jwk(jwk) {
            Ok(k) if algorithms.iter().any(|a| k.fits(*a)) => keys.push(k),
            Ok(k) => {
                tracing::debug!(provider, index = i, key = ?k, "JWKS key fits no configured algorithm: ignored")
            }
            Err(e) => tracing::warn!(provider, index = i, error = %e, "JWKS key unusable: ignored"),
        }
    }
    // Ambiguity is judged on the document, not on the keys that loaded: a second key with
    // the same kid makes the kid ambiguous even when that key itself is unusable.
    let mut seen = std::collections::HashMap::new();
    for kid in list
        .iter()
        .filter_map(|k| k.get("kid").and_then(Value::as_str))
    {
        *seen.entry(kid.to_string()).or_insert(0) += 1;
    }
    keys.retain(|k| {
        let dup = k
            .kid()
            .is_some_and(|kid| seen.get(kid).copied().unwrap_or(0) > 1);
        if dup {
            tracing::warn!(
                provider,
                kid = k.kid().unwrap_or(""),
                "JWKS has several keys with this kid: all ignored"
            );
        }
        !dup
    });
    if keys.is_empty() {
        return Err("JWKS: no usable signature key for the configured algorithms".into());
    }
    Ok(keys)
}

async fn background(weak: Weak<Jwks>) {
    loop {
        let delay = match weak.upgrade() {
            None => return,
            Some(j) => {
                let failing = j.refresh.lock().await.last_error.is_some();
                match j.current() {
                    Some(set) if !failing => set.max_age,
                    _ => MIN_REFRESH,
                }
            }
        };
        tokio::time::sleep(delay).await;
        let Some(j) = weak.upgrade() else { return };
        let mut st = j.refresh.lock().await;
        if let Err(e) = j.fetch_and_store(&mut st).await {
            tracing::warn!(provider = %j.provider, error = %e, "JWKS refresh failed; the last good set keeps serving up to 1h past its max-age");
        }
    }
}
