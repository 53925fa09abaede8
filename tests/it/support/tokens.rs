//! Test tokens: the fixture keys under `tests/fixtures/keys/` (TEST ONLY), signing any header
//! and payload bytes, and building `Authenticators` from a TOML snippet with a manual clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::authn::{Authenticators, Deps};
use authgate::clock::{ManualClock, SharedClock};
use authgate::config::Config;
use authgate::metrics::Metrics;
use authgate::pipeline::credential::Credential;
use authgate::principal::Principal;
use authgate::reject::{Reason, Rejection};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

/// The fixed "now" of the manual clock in these tests: 2030-01-01T00:00:00Z.
pub const NOW: i64 = 1_893_456_000;
/// The issuer of the static-key providers.
pub const ISS: &str = "https://idp.test";
/// The audience.
pub const AUD: &str = "jira-gw";
/// An HMAC secret (40 bytes).
pub const HMAC_SECRET: &str = "0123456789abcdef0123456789abcdef01234567";

/// `tests/fixtures/keys/<name>`.
pub fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
}

/// The bytes of a fixture file.
pub fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).expect("fixture key")
}

/// A signing key from a fixture (`test-rsa-a`, `test-ec256`, …) or the HMAC secret (`hmac`).
pub fn signing_key(name: &str) -> EncodingKey {
    if name == "hmac" {
        return EncodingKey::from_secret(HMAC_SECRET.as_bytes());
    }
    let pem = key_bytes(&format!("{name}.key.pem"));
    let r = if name.starts_with("test-rsa") {
        EncodingKey::from_rsa_pem(&pem)
    } else if name.starts_with("test-ec") {
        EncodingKey::from_ec_pem(&pem)
    } else {
        EncodingKey::from_ed_pem(&pem)
    };
    r.expect("fixture signing key")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs raw header and payload JSON text (so tests can write duplicate members, odd types…).
pub fn sign_raw(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{sig}")
}

/// Signs `claims` with the fixture key `key` under `alg`, with `extra` header members.
pub fn sign_with(key: &str, alg: Algorithm, extra_header: Value, claims: &Value) -> String {
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let (Some(h), Some(extra)) = (header.as_object_mut(), extra_header.as_object()) {
        for (k, v) in extra {
            h.insert(k.clone(), v.clone());
        }
    }
    sign_raw(&header.to_string(), &claims.to_string(), &signing_key(key), alg)
}

/// Good claims for alice: iss, aud, exp in 1 h, iat now, groups.
pub fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "u-1",
        "preferred_username": "alice",
        "groups": ["jira-users"],
        "iat": NOW,
        "exp": NOW + 3600,
    })
}

/// `claims()` with `changes` merged (a `null` value removes the member).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    if let (Some(o), Some(ch)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in ch {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// A manual clock at [`NOW`].
pub fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW as u64))
}

/// A minimal config whose `[[providers]]` are `providers` (TOML), key paths relative to the
/// fixture directory.
pub fn config(providers: &str) -> Config {
    let text = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[audit]\ndatabase_url = \"sqlite::memory:\"\nlog = \"off\"\n{providers}"
    );
    let base = key_path("");
    authgate::config::from_toml_with(&text, &base, &|_| None)
        .unwrap_or_else(|e| panic!("test config does not check: {e:?}\n{text}"))
}

/// The no-redirect client the gateway uses.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Builds the providers of `providers` with `clock`.
pub async fn authenticators(providers: &str, clock: &ManualClock) -> Authenticators {
    try_authenticators(providers, clock).await.expect("providers build")
}

/// Same, returning the build error.
pub async fn try_authenticators(
    providers: &str,
    clock: &ManualClock,
) -> Result<Authenticators, authgate::authn::BuildError> {
    try_authenticators_with(providers, clock, Arc::new(Metrics::new())).await
}

/// Same, reporting to `metrics`.
pub async fn try_authenticators_with(
    providers: &str,
    clock: &ManualClock,
    metrics: Arc<Metrics>,
) -> Result<Authenticators, authgate::authn::BuildError> {
    let clock: SharedClock = Arc::new(clock.clone());
    Authenticators::build(&config(providers), Deps { http: http(), clock, metrics }).await
}

/// The value of `authgate_cache_lookups_total{cache, result}` in `metrics`.
pub fn cache_lookups(metrics: &Metrics, cache: &str, result: &str) -> u64 {
    let want = format!("authgate_cache_lookups_total{{cache=\"{cache}\",result=\"{result}\"}} ");
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(want.as_str()).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// A provider block for a static key.
pub fn jwt_provider(name: &str, source: &str, algorithms: &[&str], extra: &str) -> String {
    let algs: Vec<String> = algorithms.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"jwt\"\nissuer = \"{ISS}\"\naudiences = [\"{AUD}\"]\nalgorithms = [{}]\n{source}\nleeway = \"30s\"\ngroups_claim = \"groups\"\n{extra}\n",
        algs.join(", ")
    )
}

/// Runs a JWT through `a`.
pub async fn check(a: &Authenticators, token: &str) -> Result<Principal, Rejection> {
    a.authenticate(&Credential::Jwt(token.to_string())).await
}

/// Asserts that `token` is refused with `reason`.
pub async fn refused(a: &Authenticators, token: &str, reason: Reason) {
    match check(a, token).await {
        Ok(p) => panic!("expected {}, got a principal for {}", reason.as_str(), p.username()),
        Err(r) => assert_eq!(r.reason, reason, "detail: {:?}", r.detail),
    }
}

/// Seconds since the epoch of a `SystemTime`.
pub fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
