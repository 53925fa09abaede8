//! RFC 7662 introspection against the IdP stand-in: the request itself, `active` strictly
//! JSON true, IdP failures fail closed (503), the cache (never past `exp`) and single flight.

use std::time::Duration;

use authgate::pipeline::credential::Credential;
use authgate::principal::CredentialKind;
use authgate::reject::Reason;
use authgate::standin::idp::{Endpoint, IdpStandin, Mode};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use crate::support::tokens::*;

const TOKEN: &str = "opaque-token-for-alice-0123456789";

fn provider(url: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"oauth\"\nkind = \"introspection\"\nintrospection_url = \"{url}\"\nclient_id = \"gateway\"\nclient_secret = \"s3cret:&=\"\ntimeout = \"1s\"\ncache_ttl = \"60s\"\ngroups_claim = \"groups\"\nusername_claim = \"username\"\n{extra}\n"
    )
}

fn active(extra: Value) -> Value {
    let mut a = json!({"active": true, "username": "alice", "groups": ["jira-users"], "exp": NOW + 3600, "token_type": "Bearer"});
    if let (Some(o), Some(e)) = (a.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    a
}

async fn opaque(a: &authgate::authn::Authenticators, token: &str) -> Result<authgate::principal::Principal, authgate::reject::Rejection> {
    a.authenticate(&Credential::Opaque(token.to_string())).await
}

#[tokio::test]
async fn active_token_posts_the_form_with_client_auth() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    idp.set_introspection(TOKEN, active(json!({})));
    let a = authenticators(&provider(&idp.introspection_url(), ""), &clock).await;
    assert!(a.has_introspection());
    let p = opaque(&a, TOKEN).await.unwrap();
    assert_eq!((p.username(), p.groups()), ("alice", &["jira-users".to_string()][..]));
    assert_eq!(p.credential(), CredentialKind::Introspection);
    assert_eq!(p.provider(), Some("oauth"));
    assert_eq!(p.expires_at().map(secs), Some(NOW + 3600));
    let reqs = idp.introspection_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].field("token"), Some(TOKEN));
    assert_eq!(reqs[0].field("token_type_hint"), Some("access_token"));
    assert_eq!(reqs[0].field("client_secret"), None);
    assert_eq!(reqs[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("gateway:s3cret%3A%26%3D");
    assert_eq!(reqs[0].authorization.as_deref(), Some(format!("Basic {basic}").as_str()));

    let post = authenticators(&provider(&idp.introspection_url(), "auth_method = \"client_secret_post\""), &clock).await;
    assert!(opaque(&post, TOKEN).await.is_ok());
    let last = idp.introspection_requests().pop().unwrap();
    assert_eq!((last.field("client_id"), last.field("client_secret")), (Some("gateway"), Some("s3cret:&=")));
    assert_eq!(last.authorization, None);
}

#[tokio::test]
async fn active_must_be_json_true() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    let a = authenticators(&provider(&idp.introspection_url(), "issuer = \"https://idp.test\""), &clock).await;
    let cases = [
        (json!({"active": false, "username": "admin", "exp": NOW + 60}), Reason::TokenInactive),
        (active(json!({"active": null})), Reason::TokenInactive),
        (active(json!({"active": "true"})), Reason::TokenInactive),
        (active(json!({"active": 1})), Reason::TokenInactive),
        (active(json!({"active": "yes"})), Reason::TokenInactive),
        (active(json!({"token_type": "refresh_token"})), Reason::TokenInactive),
        (active(json!({"exp": NOW - 100})), Reason::TokenExpired),
        (active(json!({"nbf": NOW + 100})), Reason::TokenNotYetValid),
        (active(json!({"exp": "later"})), Reason::MalformedToken),
        (active(json!({"iss": "https://evil.test"})), Reason::UnknownIssuer),
        (active(json!({"username": null})), Reason::UsernameMissing),
        (active(json!({"username": ["alice"]})), Reason::UsernameInvalid),
    ];
    for (i, (answer, reason)) in cases.into_iter().enumerate() {
        let token = format!("tok-{i}");
        idp.set_introspection(&token, answer.clone());
        let r = opaque(&a, &token).await.expect_err(&answer.to_string());
        assert_eq!(r.reason, reason, "{answer}");
    }
    // Unknown to the IdP: inactive.
    assert_eq!(opaque(&a, "never-issued").await.unwrap_err().reason, Reason::TokenInactive);
}

#[tokio::test]
async fn idp_failures_are_503_and_never_allow() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    let target = IdpStandin::start().await.unwrap();
    let a = authenticators(&provider(&idp.introspection_url(), ""), &clock).await;
    for (i, mode) in [
        Mode::Unavailable,
        Mode::Drop,
        Mode::Slow(Duration::from_secs(3)),
        Mode::Redirect(target.introspection_url()),
        Mode::NotJson,
        Mode::Raw("[1,2]".into()),
        Mode::Raw(String::new()),
        Mode::Oversized(100 * 1024),
    ]
    .into_iter()
    .enumerate()
    {
        let token = format!("tok-{i}");
        idp.set_introspection(&token, active(json!({})));
        idp.set_mode(Endpoint::Introspection, mode.clone());
        let r = opaque(&a, &token).await.expect_err("fail closed");
        assert_eq!(r.reason, Reason::IdpUnavailable, "{mode:?}");
        // Not cached: once the IdP recovers the same token passes.
        idp.set_mode(Endpoint::Introspection, Mode::Normal);
        assert!(opaque(&a, &token).await.is_ok(), "{mode:?}");
    }
    assert_eq!(target.count(Endpoint::Introspection), 0, "a redirect is never followed");
}

#[tokio::test]
async fn answers_are_cached_by_hash_never_past_exp() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    idp.set_introspection(TOKEN, active(json!({"exp": NOW + 30})));
    idp.set_introspection("other", active(json!({"username": "bob"})));
    let a = authenticators(&provider(&idp.introspection_url(), ""), &clock).await;
    assert!(opaque(&a, TOKEN).await.is_ok());
    assert!(opaque(&a, TOKEN).await.is_ok());
    assert_eq!(idp.count(Endpoint::Introspection), 1, "second call from the cache");
    assert_eq!(opaque(&a, "other").await.unwrap().username(), "bob", "two tokens never share an entry");
    // cache_ttl is 60 s but exp is 30 s away: the entry dies at exp.
    idp.set_introspection(TOKEN, json!({"active": false}));
    clock.advance(Duration::from_secs(31));
    assert_eq!(opaque(&a, TOKEN).await.unwrap_err().reason, Reason::TokenInactive);
    assert_eq!(idp.count(Endpoint::Introspection), 3);
    // Revocation shows within cache_ttl.
    idp.set_introspection("other", json!({"active": false}));
    assert_eq!(opaque(&a, "other").await.unwrap().username(), "bob", "still cached");
    clock.advance(Duration::from_secs(61));
    assert_eq!(opaque(&a, "other").await.unwrap_err().reason, Reason::TokenInactive);
}

#[tokio::test]
async fn concurrent_requests_for_one_token_make_one_idp_call() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    idp.set_introspection(TOKEN, active(json!({})));
    idp.set_mode(Endpoint::Introspection, Mode::Slow(Duration::from_millis(300)));
    let a = authenticators(&provider(&idp.introspection_url(), ""), &clock).await;
    let results = futures_util::future::join_all((0..50).map(|_| opaque(&a, TOKEN))).await;
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|p| p.username() == "alice")));
    assert_eq!(idp.count(Endpoint::Introspection), 1);
}

#[tokio::test]
async fn without_a_jwt_provider_introspection_checks_jwts_too() {
    let clock = clock();
    let idp = IdpStandin::start().await.unwrap();
    let jwt = sign_with("test-rsa-a", Algorithm::RS256, json!({}), &claims());
    idp.set_introspection(&jwt, active(json!({})));
    let a = authenticators(&provider(&idp.introspection_url(), ""), &clock).await;
    let p = check(&a, &jwt).await.unwrap();
    assert_eq!(p.credential(), CredentialKind::Introspection);
    // With a jwt provider, a JWT never falls through to introspection.
    let both = format!("{}{}", jwt_provider("corp", "public_key_file = \"test-rsa-b.pub.pem\"", &["RS256"], ""), provider(&idp.introspection_url(), ""));
    let b = authenticators(&both, &clock).await;
    refused(&b, &jwt, Reason::BadSignature).await;
}
