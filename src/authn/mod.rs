//! Stage 6, `authn`: checking bearer tokens — JWT providers and RFC 7662 introspection.
//!
//! Owns: [`Authenticators`] (every configured provider behind the [`Authenticator`] enum,
//! built once per config), the choice of provider (a JWT goes to the `kind = "jwt"`
//! provider whose `issuer` equals its `iss`; with no jwt provider at all the introspection
//! provider checks JWTs too; opaque tokens go to introspection), and the verified-token
//! cache in front of it all. The only way to a [`Principal`] for a bearer token is through
//! here. Submodules: `jws` (JOSE layer), `crypto` (signature arithmetic, ring), `keys`, `jwks`, `jwt`, `claims`, `introspection`,
//! `cache`, `fetch` (IdP HTTP), `trace` (the `test-token` report).

pub mod cache;
pub mod claims;
pub mod crypto;
pub mod fetch;
pub mod introspection;
pub mod jwks;
pub mod jws;
pub mod jwt;
pub mod keys;
pub mod trace;

use std::sync::Arc;

use serde_json::Value;

use self::cache::{token_key, VerifiedCache, VERIFIED_CAPACITY};
use self::introspection::{IntrospectionSettings, Introspector};
use self::jwt::JwtProvider;
use self::trace::{Step, Trace};
use crate::clock::SharedClock;
use crate::config::{Config, ProviderKind};
use crate::metrics::Metrics;
use crate::pipeline::credential::Credential;
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};

/// Why the providers could not be built at start (a key file, a weak key, an HMAC secret
/// too short for its algorithm). The message starts with the TOML path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// What the providers need from outside: the IdP client (no redirects), the clock, metrics.
#[derive(Debug, Clone)]
pub struct Deps {
    /// HTTP client for JWKS, discovery and introspection; must not follow redirects.
    pub http: reqwest::Client,
    /// Injected wall clock.
    pub clock: SharedClock,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
}

/// One configured provider.
#[derive(Debug)]
pub enum Authenticator {
    /// Verified locally.
    Jwt(JwtProvider),
    /// RFC 7662.
    Introspection(Introspector),
}

/// Every configured provider, chosen by issuer.
#[derive(Debug)]
pub struct Authenticators {
    providers: Vec<Authenticator>,
    verified: VerifiedCache,
    deps: Deps,
    warnings: Vec<String>,
}

impl Authenticators {
    /// Builds the providers: reads key files, fetches JWKS (a JWKS that cannot be fetched is
    /// a warning and a 503 for token requests until it loads, not a start failure).
    pub async fn build(config: &Config, deps: Deps) -> Result<Self, BuildError> {
        let mut providers = Vec::new();
        let mut warnings = Vec::new();
        for (i, p) in config.providers.iter().enumerate() {
            providers.push(match &p.kind {
                ProviderKind::Jwt {
                    issuer,
                    algorithms,
                    key,
                } => Authenticator::Jwt(
                    JwtProvider::build(i, p, issuer, algorithms, key, &deps, &mut warnings).await?,
                ),
                ProviderKind::Introspection {
                    issuer,
                    url,
                    client_id,
                    client_secret,
                    auth_method,
                    cache_ttl,
                    timeout,
                } => Authenticator::Introspection(Introspector::new(
                    p,
                    IntrospectionSettings {
                        issuer: issuer.clone(),
                        url: url.clone(),
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                        auth_method: *auth_method,
                        cache_ttl: *cache_ttl,
                        timeout: *timeout,
                    },
                    &deps,
                )),
            });
        }
        Ok(Authenticators {
            providers,
            verified: VerifiedCache::new(VERIFIED_CAPACITY, deps.clock.clone()),
            deps,
            warnings,
        })
    }

    /// True when an introspection provider exists (opaque tokens go to it).
    pub fn has_introspection(&self) -> bool {
        self.introspector().is_some()
    }

    /// Start-up warnings (an expired certificate…), also logged when built.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Checks a JWT or opaque token.
    pub async fn authenticate(&self, credential: &Credential) -> Result<Principal, Rejection> {
        match credential {
            Credential::Jwt(token) => {
                let key = token_key(token);
                if let Some(p) = self.verified.get(&key) {
                    self.deps.metrics.cache("jwt", true);
                    return Ok(p);
                }
                self.deps.metrics.cache("jwt", false);
                let result = self.jwt(token, &mut Trace::off()).await;
                if let Ok((p, Some(until))) = &result {
                    self.verified.insert(key, p.clone(), *until);
                }
                result.map(|(p, _)| p)
            }
            Credential::Opaque(token) => self.opaque(token, &mut Trace::off()).await,
            _ => {
                Err(Rejection::new(Reason::UnknownToken)
                    .detail("not a bearer token for a provider"))
            }
        }
    }

    /// Runs `credential` through the real checks, recording every step; no cache is read
    /// or filled. Used by `test-token`.
    pub async fn explain(
        &self,
        credential: &Credential,
    ) -> (Vec<Step>, Result<Principal, Rejection>) {
        let mut trace = Trace::recording();
        let result = match credential {
            Credential::Jwt(token) => self.jwt(token, &mut trace).await.map(|(p, _)| p),
            Credential::Opaque(token) => self.opaque(token, &mut trace).await,
            _ => Err(Rejection::new(Reason::UnknownToken)),
        };
        (trace.into_steps(), result)
    }

    /// Ok when every provider has usable keys (for `/readyz`).
    pub fn ready(&self) -> Result<(), String> {
        let failing: Vec<String> = self
            .providers
            .iter()
            .filter_map(|p| match p {
                Authenticator::Jwt(j) => j.ready().err(),
                Authenticator::Introspection(_) => None,
            })
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("; "))
        }
    }

    fn introspector(&self) -> Option<&Introspector> {
        self.providers.iter().find_map(|p| match p {
            Authenticator::Introspection(i) => Some(i),
            Authenticator::Jwt(_) => None,
        })
    }

    async fn opaque(&self, token: &str, trace: &mut Trace) -> Result<Principal, Rejection> {
        match self.introspector() {
            Some(i) => {
                trace.info("provider", format!("{} (introspection)", i.name()));
                i.check(token, trace).await
            }
            None => {
                trace.fail("provider", "no introspection provider for an opaque token");
                Err(Rejection::new(Reason::UnknownToken)
                    .detail("opaque token and no introspection provider"))
            }
        }
    }

    /// A JWT: structure and header, then the provider by `iss`, then that provider's checks.
    async fn jwt(
        &self,
        token: &str,
        trace: &mut Trace,
    ) -> Result<(Principal, Option<std::time::SystemTime>), Rejection> {
        let jwt_providers: Vec<&JwtProvider> = self
            .providers
            .iter()
            .filter_map(|p| match p {
                Authenticator::Jwt(j) => Some(j),
                Authenticator::Introspection(_) => None,
            })
            .collect();
        if jwt_providers.is_empty() {
            if let Some(i) = self.introspector() {
                trace.info(
                    "provider",
                    format!(
                        "{} (introspection; no jwt provider is configured)",
                        i.name()
                    ),
                );
                return i.check(token, trace).await.map(|p| (p, None));
            }
            trace.fail("provider", "no provider is configured");
            return Err(Rejection::new(Reason::UnknownIssuer).detail("no provider is configured"));
        }
        let compact = jws::parse(token, jws::ALL_ALGORITHMS).map_err(|e| {
            trace.fail("structure", e.to_string());
            jws_rejection(e)
        })?;
        trace.pass(
            "structure",
            format!(
                "compact JWS, alg {:?}, kid {:?}",
                compact.alg,
                compact.kid.as_deref().unwrap_or("-")
            ),
        );
        for ignored in ["jku", "x5u", "jwk", "x5c"] {
            if compact.header.contains_key(ignored) {
                trace.info(
                    ignored,
                    "header parameter present: never used to find a key",
                );
            }
        }
        let claims = match jws::strict_json(&compact.payload) {
            Some(Value::Object(c)) => c,
            _ => {
                trace.fail(
                    "claims",
                    "payload is not a JSON object without duplicate members",
                );
                return Err(
                    Rejection::new(Reason::MalformedToken).detail("payload is not a JSON object")
                );
            }
        };
        let provider = match claims.get("iss") {
            Some(Value::String(iss)) => jwt_providers
                .iter()
                .find(|p| p.issuer() == iss)
                .copied()
                .ok_or_else(|| {
                trace.fail(
                    "provider",
                    format!(
                        "no provider has issuer {:?}",
                        iss.escape_debug().to_string()
                    ),
                );
                Rejection::new(Reason::UnknownIssuer)
                    .detail(format!("iss {:?}", iss.escape_debug().to_string()))
            })?,
            None => {
                trace.fail("provider", "token has no iss");
                return Err(Rejection::new(Reason::UnknownIssuer).detail("no iss claim"));
            }
            Some(_) => {
                trace.fail("provider", "iss is not a string");
                return Err(Rejection::new(Reason::MalformedToken).detail("iss is not a string"));
            }
        };
        trace.pass(
            "provider",
            format!("{} (issuer matches iss)", provider.name()),
        );
        let now = self.deps.clock.now();
        let verified = provider.verify(&compact, &claims, now, trace).await?;
        Ok((verified.principal, verified.until))
    }
}

/// The rejection for a JOSE-layer failure.
pub fn jws_rejection(e: jws::JwsError) -> Rejection {
    let reason = match &e {
        jws::JwsError::Malformed(_) => Reason::MalformedToken,
        jws::JwsError::AlgNotAllowed(_) => Reason::AlgNotAllowed,
        jws::JwsError::BadSignature(_) => Reason::BadSignature,
    };
    Rejection::new(reason).detail(e.to_string())
}
