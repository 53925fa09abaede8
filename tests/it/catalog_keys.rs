//! Catalog §K (docs/catalog.md): keys, JWKS, certificates (K-01..K-08).
//!
//! Fixture: the catalog fixture (docs/catalog.md#fixture) through a real gateway with a manual
//! clock at `NOW`; an RS256 provider whose keys come from a JWKS on the IdP stand-in (max-age
//! 300 s), or from a PEM file. Every request case asserts the three oracles
//! (docs/catalog.md#oracles): status + machine reason in the Jira-shaped body, the upstream
//! (nothing for a deny, one request with one identity header for an allow), and the audit row.
//! Start-up cases (K-07, part of K-06) assert the refusal and its TOML path instead: nothing is
//! served, so there is no request to audit.

use std::time::Duration;

use authgate::authn::keys::public_jwk_from_pem;
use authgate::clock::ManualClock;
use authgate::standin::idp::{Endpoint, IdpStandin, Mode};
use jsonwebtoken::Algorithm::{self, ES256, HS256, PS256, RS256};
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};

use crate::support::catalog_auth::*;
use crate::support::harden::{Harness, T};
use crate::support::tokens::{claims, claims_with, clock, key_bytes, sign_raw, sign_with};

fn jwk(key: &str, kid: &str, alg: Algorithm) -> Value {
    public_jwk_from_pem(&key_bytes(&format!("{key}.pub.pem")), kid, alg).expect("jwk")
}

fn jwks_rest(url: &str) -> String {
    fixture_with(
        "",
        &jwt_provider(&format!("jwks_url = \"{url}\""), &["RS256"], ""),
        "",
    )
}

async fn idp(keys: Vec<Value>) -> IdpStandin {
    let idp = IdpStandin::start().await.expect("idp");
    idp.set_keys(keys);
    idp
}

async fn jwks(keys: Vec<Value>, clock: &ManualClock) -> (Harness, IdpStandin) {
    let idp = idp(keys).await;
    (start(&jwks_rest(&idp.jwks_url()), clock).await, idp)
}

/// An RS256 token with `kid`, made unique by `sub` (the verified-token cache is per token).
fn kid_token(key: &str, kid: &str, sub: &str) -> String {
    sign_with(
        key,
        RS256,
        json!({ "kid": kid }),
        &claims_with(json!({ "sub": sub })),
    )
}

#[tokio::test]
async fn k01_a_random_kid_flood_makes_one_refetch_per_window() {
    let clock = clock();
    let (h, idp) = jwks(vec![jwk("test-rsa-a", "a", RS256)], &clock).await;
    assert_eq!(idp.count(Endpoint::Jwks), 1, "K-01: fetched at start");
    for i in 0..40 {
        let t = kid_token("test-rsa-a", &format!("random-{i}"), "x");
        deny_token(&h, &t, "bad_signature", &format!("K-01 kid {i}")).await;
    }
    assert_eq!(
        idp.count(Endpoint::Jwks),
        2,
        "K-01: one re-fetch for 40 kids"
    );
    clock.advance(Duration::from_secs(11));
    for i in 40..45 {
        let t = kid_token("test-rsa-a", &format!("random-{i}"), "x");
        deny_token(&h, &t, "bad_signature", &format!("K-01 kid {i}")).await;
    }
    assert_eq!(idp.count(Endpoint::Jwks), 3, "K-01: the next 10 s window");
    allow_token(
        &h,
        &kid_token("test-rsa-a", "a", "ok"),
        "alice",
        "K-01 after",
    )
    .await;
}

#[tokio::test]
async fn k02_jwks_unreachable_at_start_fails_closed() {
    let good = kid_token("test-rsa-a", "a", "1");
    // Connection dropped, 503, refused port, TLS to a server that is not TLS.
    let dropping = idp(vec![jwk("test-rsa-a", "a", RS256)]).await;
    dropping.set_mode(Endpoint::Jwks, Mode::Drop);
    let failing = idp(vec![jwk("test-rsa-a", "a", RS256)]).await;
    failing.set_mode(Endpoint::Jwks, Mode::Unavailable);
    let refused = closed_port().await;
    let not_tls = Listener::start(Script::Immediate(b"HTTP/1.1 200 OK\r\n\r\n".to_vec())).await;
    for (case, url) in [
        ("K-02 start: dropped", dropping.jwks_url()),
        ("K-02 start: 503", failing.jwks_url()),
        ("K-02 start: refused", format!("http://{refused}/jwks")),
        (
            "K-02 start: TLS error",
            format!("https://{}/jwks", not_tls.addr),
        ),
    ] {
        let h = start(&jwks_rest(&url), &clock()).await;
        let resp = h.get(T, &[&bearer(&good)]).await;
        h.assert_denied(&resp, 503, "idp_unavailable", case).await;
    }
}

/// A kid-`a` token valid for 20 000 s (the clock moves more than an hour here).
fn long(sub: &str) -> String {
    let c = claims_with(json!({ "sub": sub, "exp": NOW + 20_000 }));
    sign_with("test-rsa-a", RS256, json!({ "kid": "a" }), &c)
}

#[tokio::test]
async fn k02_last_good_keys_serve_for_a_bounded_time_then_503() {
    let clock = clock();
    let (h, idp) = jwks(vec![jwk("test-rsa-a", "a", RS256)], &clock).await;
    allow_token(&h, &long("0"), "alice", "K-02 warm").await;
    // Past max-age (300 s) with the IdP failing: the last good set keeps serving.
    idp.set_mode(Endpoint::Jwks, Mode::Unavailable);
    clock.advance(Duration::from_secs(400));
    allow_token(&h, &long("1"), "alice", "K-02 stale, 503").await;
    idp.set_mode(Endpoint::Jwks, Mode::Drop);
    clock.advance(Duration::from_secs(11));
    allow_token(&h, &long("2"), "alice", "K-02 stale, drop").await;
    // A refresh that times out (5 s fetch timeout; the stand-in waits 6 s).
    idp.set_mode(Endpoint::Jwks, Mode::Slow(Duration::from_secs(6)));
    clock.advance(Duration::from_secs(11));
    allow_token(&h, &long("3"), "alice", "K-02 stale, timeout").await;
    // One hour past max-age: fail closed.
    idp.set_mode(Endpoint::Jwks, Mode::Unavailable);
    clock.advance(Duration::from_secs(3600));
    let t = long("4");
    let resp = h.get(T, &[&bearer(&t)]).await;
    h.assert_denied(&resp, 503, "idp_unavailable", "K-02 past the stale bound")
        .await;
    // The IdP comes back: served again.
    idp.set_mode(Endpoint::Jwks, Mode::Normal);
    clock.advance(Duration::from_secs(11));
    allow_token(&h, &t, "alice", "K-02 recovered").await;
}

#[tokio::test]
async fn k03_symmetric_encryption_and_mismatched_keys_in_a_jwks_are_not_usable() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let mut enc = jwk("test-rsa-b", "enc", RS256);
    enc["use"] = json!("enc");
    let keys = vec![
        jwk("test-rsa-a", "a", RS256),
        json!({"kty": "oct", "kid": "sym", "k": b64(secret), "alg": "HS256"}),
        enc,
        jwk("test-rsa-b", "ps", PS256),
    ];
    let (h, _idp) = jwks(keys, &clock()).await;
    allow_token(
        &h,
        &kid_token("test-rsa-a", "a", "0"),
        "alice",
        "K-03 control",
    )
    .await;
    let forged = sign_raw(
        r#"{"alg":"HS256","kid":"sym"}"#,
        &claims().to_string(),
        &EncodingKey::from_secret(secret),
        HS256,
    );
    deny_token(&h, &forged, "alg_not_allowed", "K-03 oct key as HMAC").await;
    deny_token(
        &h,
        &kid_token("test-rsa-b", "enc", "1"),
        "bad_signature",
        "K-03 use=enc",
    )
    .await;
    deny_token(
        &h,
        &kid_token("test-rsa-b", "ps", "2"),
        "bad_signature",
        "K-03 key alg PS256",
    )
    .await;
}

#[tokio::test]
async fn k04_a_hostile_jwks_document_is_refused_and_the_last_keys_kept() {
    let clock = clock();
    let (h, idp) = jwks(vec![jwk("test-rsa-a", "a", RS256)], &clock).await;
    allow_token(&h, &kid_token("test-rsa-a", "a", "0"), "alice", "K-04 warm").await;
    let many: Vec<Value> = (0..1000)
        .map(|i| jwk("test-rsa-a", &format!("k{i}"), RS256))
        .collect();
    let dup = vec![jwk("test-ec256", "a", ES256), jwk("test-rsa-b", "a", RS256)];
    clock.advance(Duration::from_secs(301));
    for (i, (what, mode)) in [
        (
            "2 MB (over the 1 MiB cap)",
            Mode::Oversized(2 * 1024 * 1024),
        ),
        ("keys not an array", Mode::Raw(r#"{"keys":{"a":1}}"#.into())),
        (
            "1000 keys (over 100)",
            Mode::Raw(json!({ "keys": many }).to_string()),
        ),
        (
            "only ambiguous kids",
            Mode::Raw(json!({ "keys": dup }).to_string()),
        ),
        (
            "slow (past the 5 s timeout)",
            Mode::Slow(Duration::from_secs(6)),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        idp.set_mode(Endpoint::Jwks, mode);
        clock.advance(Duration::from_secs(11));
        let t = kid_token("test-rsa-a", "a", &format!("h{i}"));
        allow_token(&h, &t, "alice", &format!("K-04 {what}: previous keys kept")).await;
    }
    // Duplicate kids with different kty in a served set: the kid is ambiguous, so neither
    // key is used; the other keys still are.
    let keys = vec![
        jwk("test-rsa-a", "a", RS256),
        jwk("test-ec256", "dup", ES256),
        jwk("test-rsa-b", "dup", RS256),
    ];
    let (h2, _idp2) = jwks(keys, &clock).await;
    deny_token(
        &h2,
        &kid_token("test-rsa-b", "dup", "d"),
        "bad_signature",
        "K-04 dup kid",
    )
    .await;
    allow_token(
        &h2,
        &kid_token("test-rsa-a", "a", "d"),
        "alice",
        "K-04 other key",
    )
    .await;
}

#[tokio::test]
async fn k05_no_kid_with_several_keys_tries_only_keys_of_the_allowed_alg() {
    let keys = vec![
        jwk("test-rsa-a", "a", RS256),
        jwk("test-rsa-b", "b", RS256),
        jwk("test-ec256", "e", ES256),
    ];
    let (h, _idp) = jwks(keys, &clock()).await;
    // RS256 is allowed: only RSA keys are tried, and key b verifies.
    let t = sign_with("test-rsa-b", RS256, json!({}), &claims());
    allow_token(&h, &t, "alice", "K-05 RS256 without kid").await;
    // The header's alg never picks a family the config does not allow.
    let t = sign_with("test-ec256", ES256, json!({}), &claims());
    deny_token(&h, &t, "alg_not_allowed", "K-05 ES256 without kid").await;
    let t = sign_raw(
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
        &EncodingKey::from_secret(b"e"),
        HS256,
    );
    deny_token(&h, &t, "alg_not_allowed", "K-05 HS256 without kid").await;
}

#[tokio::test]
async fn k06_a_pem_key_never_verifies_hs256() {
    let p = jwt_provider(&key_file("test-rsa-a.pub.pem"), &["RS256"], "");
    let h = start(&fixture_with("", &p, ""), &clock()).await;
    let t = sign_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims().to_string(),
        &EncodingKey::from_secret(&key_bytes("test-rsa-a.pub.pem")),
        HS256,
    );
    deny_token(&h, &t, "alg_not_allowed", "K-06").await;
    // And the config cannot allow it.
    let p = jwt_provider(&key_file("test-rsa-a.pub.pem"), &["RS256", "HS256"], "");
    let err = check(&fixture_with("", &p, "")).expect_err("K-06: HS256 with a PEM key");
    assert!(err.contains("providers[0].algorithms[1]"), "K-06: {err}");
}

#[tokio::test]
async fn k07_weak_rsa_keys() {
    let p = jwt_provider(&key_file("test-rsa-1024.pub.pem"), &["RS256"], "");
    let err = try_start(&fixture_with("", &p, ""), &clock())
        .await
        .err()
        .expect("K-07: a 1024-bit key must not start");
    assert!(
        err.contains("providers[0].public_key_file") && err.contains("1024 bits"),
        "K-07: {err}"
    );
    // In a JWKS the weak key is skipped, so its tokens never verify.
    let keys = vec![
        jwk("test-rsa-a", "a", RS256),
        jwk("test-rsa-1024", "weak", RS256),
    ];
    let (h, _idp) = jwks(keys, &clock()).await;
    let t = kid_token("test-rsa-1024", "weak", "w");
    deny_token(&h, &t, "bad_signature", "K-07 weak JWKS key").await;
}

#[tokio::test]
async fn k08_idp_redirects_are_not_followed() {
    let elsewhere = Listener::status(200, r#"{"keys":[]}"#).await;
    // JWKS: a 307 at start leaves no keys -> 503; the target is never contacted.
    let idp = idp(vec![jwk("test-rsa-a", "a", RS256)]).await;
    idp.set_mode(
        Endpoint::Jwks,
        Mode::Redirect(format!("{}/jwks", elsewhere.url())),
    );
    let h = start(&jwks_rest(&idp.jwks_url()), &clock()).await;
    let resp = h
        .get(T, &[&bearer(&kid_token("test-rsa-a", "a", "r"))])
        .await;
    h.assert_denied(&resp, 503, "idp_unavailable", "K-08 JWKS 307")
        .await;
    // Introspection: a 307 would re-send the form with the token and client secret.
    let intro = IdpStandin::start().await.expect("idp");
    intro.set_introspection(
        "opaque-k08-token",
        json!({"active": true, "username": "alice"}),
    );
    intro.set_mode(
        Endpoint::Introspection,
        Mode::Redirect(format!("{}/introspect", elsewhere.url())),
    );
    let rest = fixture_with(
        "",
        &introspection_provider(&intro.introspection_url(), ""),
        "",
    );
    let h = start(&rest, &clock()).await;
    let resp = h.get(T, &[&bearer("opaque-k08-token")]).await;
    h.assert_denied(&resp, 503, "idp_unavailable", "K-08 introspection 307")
        .await;
    assert_eq!(
        elsewhere.connections(),
        0,
        "K-08: the redirect target was contacted"
    );
}
