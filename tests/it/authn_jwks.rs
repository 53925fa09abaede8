//! JWKS and discovery providers against the IdP stand-in: rotation, the random-`kid` flood,
//! the stale bound while the IdP is down, hostile key sets, discovery issuer equality.

use std::time::Duration;

use authgate::authn::keys::public_jwk_from_pem;
use authgate::reject::Reason;
use authgate::standin::idp::{Endpoint, IdpStandin, Mode};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::support::tokens::*;

fn jwk(key: &str, kid: &str, alg: Algorithm) -> Value {
    public_jwk_from_pem(&key_bytes(&format!("{key}.pub.pem")), kid, alg).expect("jwk")
}

fn jwks_provider(url: &str, source: &str, algorithms: &str) -> String {
    format!(
        "[[providers]]\nname = \"idp\"\nkind = \"jwt\"\nissuer = \"{ISS}\"\naudiences = [\"{AUD}\"]\nalgorithms = [{algorithms}]\n{source} = \"{url}\"\n"
    )
}

fn kid_token(key: &str, kid: &str, alg: Algorithm) -> String {
    sign_with(key, alg, json!({"kid": kid}), &claims())
}

async fn idp_with(keys: Vec<Value>) -> IdpStandin {
    let idp = IdpStandin::start().await.expect("idp");
    idp.set_keys(keys);
    idp
}

#[tokio::test]
async fn rotation_accepts_a_new_kid_after_one_refetch() {
    let clock = clock();
    let idp = idp_with(vec![jwk("test-rsa-a", "a", Algorithm::RS256)]).await;
    let a = authenticators(&jwks_provider(&idp.jwks_url(), "jwks_url", "\"RS256\""), &clock).await;
    assert_eq!(idp.count(Endpoint::Jwks), 1, "fetched at start");
    assert!(a.ready().is_ok());
    assert!(check(&a, &kid_token("test-rsa-a", "a", Algorithm::RS256)).await.is_ok());
    assert_eq!(idp.count(Endpoint::Jwks), 1, "a known kid needs no fetch");
    idp.set_keys(vec![jwk("test-rsa-a", "a", Algorithm::RS256), jwk("test-rsa-b", "b", Algorithm::RS256)]);
    let p = check(&a, &kid_token("test-rsa-b", "b", Algorithm::RS256)).await.expect("new kid accepted");
    assert_eq!(p.username(), "alice");
    assert_eq!(idp.count(Endpoint::Jwks), 2, "exactly one re-fetch");
    // The old key is retired: after its re-fetch, tokens signed with it are refused.
    idp.set_keys(vec![jwk("test-rsa-b", "b", Algorithm::RS256)]);
    clock.advance(Duration::from_secs(11));
    let old = sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": "a"}), &claims_with(json!({"sub": "other"})));
    // kid "a" is still in the cached set, so no re-fetch happens and it verifies…
    assert!(check(&a, &old).await.is_ok());
    // …until the set's max-age (300 s) passes and the refresh drops it.
    clock.advance(Duration::from_secs(300));
    let old2 = sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": "a"}), &claims_with(json!({"sub": "other2"})));
    refused(&a, &old2, Reason::BadSignature).await;
}

#[tokio::test]
async fn a_flood_of_random_kids_makes_at_most_one_fetch_per_10s() {
    let clock = clock();
    let idp = idp_with(vec![jwk("test-ec256", "a", Algorithm::ES256)]).await;
    let a = authenticators(&jwks_provider(&idp.jwks_url(), "jwks_url", "\"ES256\""), &clock).await;
    assert_eq!(idp.count(Endpoint::Jwks), 1);
    let tokens: Vec<String> = (0..200).map(|i| kid_token("test-ec256", &format!("random-{i}"), Algorithm::ES256)).collect();
    let results = futures_util::future::join_all(tokens.iter().map(|t| check(&a, t))).await;
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| e.reason == Reason::BadSignature)));
    assert_eq!(idp.count(Endpoint::Jwks), 2, "one re-fetch for 200 unknown kids");
    clock.advance(Duration::from_secs(5));
    refused(&a, &kid_token("test-ec256", "random-x", Algorithm::ES256), Reason::BadSignature).await;
    assert_eq!(idp.count(Endpoint::Jwks), 2);
    clock.advance(Duration::from_secs(6));
    refused(&a, &kid_token("test-ec256", "random-y", Algorithm::ES256), Reason::BadSignature).await;
    assert_eq!(idp.count(Endpoint::Jwks), 3, "the next 10 s window allows one more");
}

#[tokio::test]
async fn idp_down_serves_the_last_good_set_for_an_hour_then_503() {
    let clock = clock();
    let idp = idp_with(vec![jwk("test-rsa-a", "a", Algorithm::RS256)]).await;
    idp.set_max_age(Some(600));
    let a = authenticators(&jwks_provider(&idp.jwks_url(), "jwks_url", "\"RS256\""), &clock).await;
    idp.set_mode(Endpoint::Jwks, Mode::Unavailable);
    // Past max-age (600 s) with the IdP down: the stale set serves.
    clock.advance(Duration::from_secs(700));
    let t1 = sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": "a"}), &claims_with(json!({"exp": NOW + 20_000})));
    assert!(check(&a, &t1).await.is_ok(), "warm set served while the IdP is down");
    assert!(idp.count(Endpoint::Jwks) >= 2, "a refresh was attempted");
    // Past max-age + 1 h: 503, and /readyz says why.
    clock.advance(Duration::from_secs(3600));
    let t2 = sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": "a"}), &claims_with(json!({"exp": NOW + 20_000, "sub": "x"})));
    refused(&a, &t2, Reason::IdpUnavailable).await;
    assert!(a.ready().is_err());
    // The IdP comes back: the next request (10 s later) refreshes and passes.
    idp.set_mode(Endpoint::Jwks, Mode::Normal);
    clock.advance(Duration::from_secs(11));
    assert!(check(&a, &t2).await.is_ok());
    assert!(a.ready().is_ok());
}

#[tokio::test]
async fn no_keys_at_start_means_503_not_allow() {
    let clock = clock();
    let idp = idp_with(vec![jwk("test-rsa-a", "a", Algorithm::RS256)]).await;
    idp.set_mode(Endpoint::Jwks, Mode::Drop);
    let a = authenticators(&jwks_provider(&idp.jwks_url(), "jwks_url", "\"RS256\""), &clock).await;
    assert!(a.ready().is_err());
    refused(&a, &kid_token("test-rsa-a", "a", Algorithm::RS256), Reason::IdpUnavailable).await;
    for mode in [Mode::Redirect(format!("{}/elsewhere", idp.url())), Mode::NotJson, Mode::Oversized(2 * 1024 * 1024), Mode::Raw(r#"{"keys":{}}"#.into())] {
        idp.set_mode(Endpoint::Jwks, mode.clone());
        clock.advance(Duration::from_secs(11));
        refused(&a, &kid_token("test-rsa-a", "a", Algorithm::RS256), Reason::IdpUnavailable).await;
        assert!(a.ready().is_err(), "{mode:?}");
    }
    idp.set_mode(Endpoint::Jwks, Mode::Normal);
    clock.advance(Duration::from_secs(11));
    assert!(check(&a, &kid_token("test-rsa-a", "a", Algorithm::RS256)).await.is_ok());
}

#[tokio::test]
async fn symmetric_encryption_and_duplicate_keys_in_a_jwks_are_never_used() {
    use base64::Engine;
    let clock = clock();
    let secret = b"0123456789abcdef0123456789abcdef";
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let mut enc = jwk("test-rsa-b", "enc", Algorithm::RS256);
    enc["use"] = json!("enc");
    let idp = idp_with(vec![
        jwk("test-rsa-a", "a", Algorithm::RS256),
        json!({"kty": "oct", "kid": "sym", "k": k, "alg": "HS256"}),
        enc,
        jwk("test-ec256", "dup", Algorithm::ES256),
        jwk("test-rsa-b", "dup", Algorithm::RS256),
    ])
    .await;
    let a = authenticators(&jwks_provider(&idp.jwks_url(), "jwks_url", "\"RS256\", \"ES256\""), &clock).await;
    assert!(check(&a, &kid_token("test-rsa-a", "a", Algorithm::RS256)).await.is_ok());
    // The oct key's bytes as an HMAC key: HS256 is not allowed and there is no HMAC key.
    let forged = sign_raw(r#"{"alg":"HS256","kid":"sym"}"#, &claims().to_string(), &jsonwebtoken::EncodingKey::from_secret(secret), Algorithm::HS256);
    refused(&a, &forged, Reason::AlgNotAllowed).await;
    refused(&a, &kid_token("test-rsa-b", "enc", Algorithm::RS256), Reason::BadSignature).await;
    refused(&a, &kid_token("test-rsa-b", "dup", Algorithm::RS256), Reason::BadSignature).await;
}

#[tokio::test]
async fn discovery_requires_the_documents_issuer_to_equal_ours() {
    let clock = clock();
    let idp = idp_with(vec![jwk("test-ed25519", "e", Algorithm::EdDSA)]).await;
    idp.set_issuer(ISS);
    let a = authenticators(&jwks_provider(&idp.discovery_url(), "discovery_url", "\"EdDSA\""), &clock).await;
    assert_eq!(idp.count(Endpoint::Discovery), 1);
    assert!(check(&a, &kid_token("test-ed25519", "e", Algorithm::EdDSA)).await.is_ok());

    let other = idp_with(vec![jwk("test-ed25519", "e", Algorithm::EdDSA)]).await;
    other.set_issuer("https://evil.test");
    let b = authenticators(&jwks_provider(&other.discovery_url(), "discovery_url", "\"EdDSA\""), &clock).await;
    assert_eq!(other.count(Endpoint::Jwks), 0, "no keys are fetched from a document for another issuer");
    assert!(b.ready().is_err());
    refused(&b, &kid_token("test-ed25519", "e", Algorithm::EdDSA), Reason::IdpUnavailable).await;
}
