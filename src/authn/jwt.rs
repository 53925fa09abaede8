//! A `kind = "jwt"` provider: tokens verified locally against configured or fetched keys.
//!
//! Owns: [`JwtProvider`] — its keys (a PEM key, a certificate's key, an HMAC secret, or a
//! remote [`Jwks`]), the per-algorithm `jsonwebtoken::Validation` (every field set
//! explicitly, once, at start), and [`JwtProvider::verify`]: alg in the allow-list, a key
//! chosen by `kid` and type (one rate-limited re-fetch on an unknown `kid`), the signature,
//! then the claims with the injected clock and the username and groups.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::claims;
use super::jwks::{Jwks, Origin};
use super::jws::{self, Compact};
use super::keys::VerifyKey;
use super::trace::Trace;
use super::{BuildError, Deps};
use crate::config::{KeySource, ProviderSettings};
use crate::principal::{short_hash, CredentialKind, Principal};
use crate::reject::{Reason, Rejection};

/// Where a provider's keys are.
#[derive(Debug)]
enum Keys {
    /// Loaded once at start (PEM key, certificate, HMAC secret).
    Static(Arc<[VerifyKey]>),
    /// A JWKS, refreshed.
    Remote(Arc<Jwks>),
}

/// A verified token: who, and until when the verification may be reused.
#[derive(Debug)]
pub struct Verified {
    /// The principal.
    pub principal: Principal,
    /// Deadline for caches (`exp` + leeway, or the `max_token_age` limit).
    pub until: Option<SystemTime>,
}

/// One `kind = "jwt"` provider.
#[derive(Debug)]
pub struct JwtProvider {
    settings: ProviderSettings,
    issuer: String,
    algorithms: Vec<Algorithm>,
    keys: Keys,
    validations: Vec<(Algorithm, Validation)>,
}

impl JwtProvider {
    /// Loads the keys (fetching a JWKS) and fixes the validations. `index` is the provider's
    /// position in `[[providers]]`, for error paths.
    pub async fn build(
        index: usize,
        settings: &ProviderSettings,
        issuer: &str,
        algorithms: &[Algorithm],
        source: &KeySource,
        deps: &Deps,
        warnings: &mut Vec<String>,
    ) -> Result<JwtProvider, BuildError> {
        let at = |field: &str, e: &dyn std::fmt::Display| {
            BuildError(format!("providers[{index}].{field}: {e}"))
        };
        let keys = match source {
            KeySource::PublicKeyFile(path) | KeySource::CertificateFile(path) => {
                let cert = matches!(source, KeySource::CertificateFile(_));
                let field = if cert {
                    "certificate_file"
                } else {
                    "public_key_file"
                };
                let loaded = VerifyKey::from_pem_file(path, cert, deps.clock.now())
                    .map_err(|e| at(field, &e))?;
                for w in loaded.warnings {
                    tracing::warn!(provider = %settings.name, warning = %w, "{field}");
                    warnings.push(format!("providers[{index}].{field}: {w}"));
                }
                for a in algorithms {
                    if !loaded.key.fits(*a) {
                        return Err(at(
                            "algorithms",
                            &format!(
                                "{a:?} does not fit the {} key in {}",
                                loaded.key.key_type(),
                                path.display()
                            ),
                        ));
                    }
                }
                Keys::Static(vec![loaded.key].into())
            }
            KeySource::HmacSecret(secret) => {
                let key = VerifyKey::hmac(secret.expose().as_bytes())
                    .map_err(|e| at("hmac_secret", &e))?;
                for a in algorithms {
                    if !key.fits(*a) {
                        return Err(at(
                            "hmac_secret",
                            &format!(
                                "{a:?} needs a secret at least as long as its hash ({})",
                                key.key_type()
                            ),
                        ));
                    }
                }
                Keys::Static(vec![key].into())
            }
            KeySource::JwksUrl(url) | KeySource::DiscoveryUrl(url) => {
                let origin = match source {
                    KeySource::JwksUrl(_) => Origin::Jwks(url.clone()),
                    _ => Origin::Discovery {
                        url: url.clone(),
                        issuer: issuer.to_string(),
                    },
                };
                let jwks = Jwks::start(
                    &settings.name,
                    origin,
                    algorithms.to_vec(),
                    deps.http.clone(),
                    deps.clock.clone(),
                    Arc::clone(&deps.metrics),
                )
                .await;
                Keys::Remote(jwks)
            }
        };
        let validations = algorithms
            .iter()
            .map(|a| {
                (
                    *a,
                    validation(*a, issuer, &settings.audiences, settings.leeway.as_secs()),
                )
            })
            .collect();
        Ok(JwtProvider {
            settings: settings.clone(),
            issuer: issuer.to_string(),
            algorithms: algorithms.to_vec(),
            keys,
            validations,
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The issuer its tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Ok when keys are usable (for `/readyz`).
    pub fn ready(&self) -> Result<(), String> {
        match &self.keys {
            Keys::Static(_) => Ok(()),
            Keys::Remote(j) => j.ready(),
        }
    }

    /// Verifies a token whose `iss` named this provider.
    pub async fn verify(
        &self,
        jws: &Compact<'_>,
        claims: &Map<String, Value>,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Result<Verified, Rejection> {
        if !self.algorithms.contains(&jws.alg) {
            trace.fail(
                "alg",
                format!("{:?} is not in algorithms {:?}", jws.alg, self.algorithms),
            );
            return Err(Rejection::new(Reason::AlgNotAllowed).detail(format!(
                "{}: alg {:?}",
                self.name(),
                jws.alg
            )));
        }
        trace.pass(
            "alg",
            format!("{:?} (allowed: {:?})", jws.alg, self.algorithms),
        );
        let (key, _decoded) = self.check_signature(jws, trace).await?;
        trace.pass("signature", describe(&key));
        trace.pass("iss", format!("{:?}", self.issuer));
        let until = claims::check_times(claims, &self.settings, now, true, trace)?;
        claims::check_audience(claims, &self.settings.audiences, true, trace)?;
        let username = claims::username(claims, &self.settings, trace)?;
        let groups = claims::groups(claims, &self.settings, trace)?;
        let exp = claims::numeric_date(claims, "exp")?.map(claims::system_time);
        let principal = Principal::new(
            username,
            CredentialKind::Jwt,
            Some(self.settings.name.clone()),
            Some(short_hash(jws.token.as_bytes())),
        )
        .with_groups(groups)
        .with_expiry(exp);
        Ok(Verified {
            principal,
            until: until.map(claims::system_time),
        })
    }

    async fn check_signature(
        &self,
        jws: &Compact<'_>,
        trace: &mut Trace,
    ) -> Result<(VerifyKey, Value), Rejection> {
        let keys: Arc<[VerifyKey]> = match &self.keys {
            Keys::Static(k) => Arc::clone(k),
            Keys::Remote(j) => {
                let usable = j.keys().await.inspect_err(|r| {
                    trace.fail("keys", r.detail.clone().unwrap_or_default());
                })?;
                if usable.stale {
                    trace.info(
                        "keys",
                        "JWKS past its max-age, IdP unreachable: serving the last good set",
                    );
                }
                usable.keys
            }
        };
        let mut fitting: Vec<VerifyKey> =
            jws::candidates(jws, &keys).into_iter().cloned().collect();
        if fitting.is_empty() && jws.kid.is_some() {
            if let Keys::Remote(j) = &self.keys {
                let fetched = j.refetch().await;
                trace.info(
                    "keys",
                    if fetched {
                        "unknown kid: JWKS re-fetched"
                    } else {
                        "unknown kid: re-fetch not due (at most once per 10s)"
                    },
                );
                if let Some(set) = j.current() {
                    fitting = jws::candidates(jws, &set.keys)
                        .into_iter()
                        .cloned()
                        .collect();
                }
            }
        }
        if fitting.is_empty() {
            let why = jws::no_key(jws);
            trace.fail("key", why.clone());
            return Err(
                Rejection::new(Reason::BadSignature).detail(format!("{}: {why}", self.name()))
            );
        }
        if jws.signature_b64.is_empty() {
            trace.fail("signature", "missing");
            return Err(Rejection::new(Reason::BadSignature).detail("no signature"));
        }
        let validation = self
            .validations
            .iter()
            .find(|(a, _)| *a == jws.alg)
            .map(|(_, v)| v)
            .ok_or_else(|| Rejection::new(Reason::AlgNotAllowed))?;
        let Some(key) = jws::first_verifying(jws, fitting) else {
            trace.fail("signature", "does not verify with any fitting key");
            return Err(Rejection::new(Reason::BadSignature)
                .detail(format!("{}: signature does not verify", self.name())));
        };
        // The signature is verified above; `validation` has jsonwebtoken's own signature
        // step off and checks the registered claims only.
        match jsonwebtoken::decode::<Value>(jws.token, key.decoding(), validation) {
            Ok(data) => Ok((key, data.claims)),
            Err(e) => {
                let kind = e.kind();
                trace.fail("jsonwebtoken", format!("{kind:?}"));
                Err(map_error(kind).detail(format!("{}: {kind:?}", self.name())))
            }
        }
    }
}

fn describe(key: &VerifyKey) -> String {
    match key.kid() {
        Some(kid) => format!("verified with {} key kid {:?}", key.key_type(), kid),
        None => format!("verified with the configured {} key", key.key_type()),
    }
}

fn map_error(kind: &ErrorKind) -> Rejection {
    Rejection::new(match kind {
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => Reason::AlgNotAllowed,
        ErrorKind::InvalidIssuer => Reason::UnknownIssuer,
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => Reason::UnknownIssuer,
        ErrorKind::InvalidAudience => Reason::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => Reason::WrongAudience,
        ErrorKind::ExpiredSignature => Reason::TokenExpired,
        ErrorKind::ImmatureSignature => Reason::TokenNotYetValid,
        ErrorKind::InvalidSignature => Reason::BadSignature,
        _ => Reason::MalformedToken,
    })
}

/// The `jsonwebtoken` claims validation for one algorithm of a provider, every field set on
/// purpose (its defaults skip `nbf`, and check `iss`/`aud` only when present). Its signature
/// step is off: [`JwtProvider::verify`] has checked the signature with `crypto.rs` (ring) before, and
/// this validation is never used anywhere else.
fn validation(alg: Algorithm, issuer: &str, audiences: &[String], leeway: u64) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    // Deprecated in favour of `dangerous::insecure_decode`, which would drop the claims
    // checks too; this keeps them as a second line behind `claims.rs`.
    #[allow(deprecated)]
    v.insecure_disable_signature_validation();
    let mut required: Vec<&str> = vec!["exp", "iss"];
    if !audiences.is_empty() {
        required.push("aud");
    }
    v.set_required_spec_claims(&required);
    v.iss = Some(HashSet::from([issuer.to_string()]));
    v.validate_aud = !audiences.is_empty();
    v.aud = (!audiences.is_empty()).then(|| audiences.iter().cloned().collect());
    v.sub = None;
    v.leeway = leeway;
    v.reject_tokens_expiring_in_less_than = 0;
    // `exp`, `nbf` and `iat` are checked in `claims::check_times` against the injected clock
    // (jsonwebtoken reads the system clock, which tests cannot move). `exp` stays required
    // above, so a mistyped `exp` fails here too (it does not parse as present).
    v.validate_exp = false;
    v.validate_nbf = false;
    v
}
