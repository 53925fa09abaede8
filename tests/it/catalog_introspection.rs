//! Catalog §I (docs/catalog.md): RFC 7662 introspection (I-01..I-14).
//!
//! Fixture: the catalog fixture (docs/catalog.md#fixture) through a real gateway with a
//! manual clock at `NOW`; one introspection provider on the IdP stand-in (client `gateway`,
//! `client_secret_basic`, timeout 1 s, `cache_ttl` 60 s, issuer `https://idp.test`, audience
//! `jira-gw`), opaque bearer tokens. Every case asserts the three oracles
//! (docs/catalog.md#oracles): status + machine reason in the Jira-shaped body, the upstream
//! (nothing for a deny, one request with one identity header for an allow), and the audit
//! row. An IdP that gives no usable answer is 503 `idp_unavailable`
//! (docs/http.md step 6), an answer that refuses the token is 401.

use std::time::Duration;

use authgate::clock::ManualClock;
use authgate::standin::idp::{Endpoint, IdpStandin, Mode};
use serde_json::{json, Value};

use crate::support::catalog_auth::*;
use crate::support::harden::{Harness, T};
use crate::support::tokens::clock;

const PARTY: &str = "issuer = \"https://idp.test\"\naudiences = [\"jira-gw\"]";

async fn intro(clock: &ManualClock) -> (Harness, IdpStandin) {
    let idp = IdpStandin::start().await.expect("idp");
    let rest = fixture_with(
        "",
        &introspection_provider(&idp.introspection_url(), PARTY),
        "",
    );
    (start(&rest, clock).await, idp)
}

/// A provider at `url` (a scripted listener or a closed port).
async fn intro_at(url: &str) -> Harness {
    let rest = fixture_with("", &introspection_provider(url, PARTY), "");
    start(&rest, &clock()).await
}

/// An active answer for alice with `changes` merged (`null` removes a member).
fn active(changes: Value) -> Value {
    let mut a = json!({"active": true, "username": "alice", "groups": ["jira-users"],
        "exp": NOW + 3600, "token_type": "Bearer", "iss": "https://idp.test", "aud": "jira-gw"});
    if let (Some(o), Some(c)) = (a.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    a
}

/// A fresh opaque token (never a JWT, never a PAT).
fn tok(case: &str) -> String {
    format!("opaque.{}", b64(case))
}

/// The IdP answers `answer` for a new token; the gateway refuses it with 401 `reason`.
async fn refused(h: &Harness, idp: &IdpStandin, answer: Value, reason: &str, case: &str) {
    let t = tok(case);
    idp.set_introspection(&t, answer);
    deny_token(h, &t, reason, case).await;
}

async fn unavailable(h: &Harness, token: &str, case: &str) {
    let resp = h.get(T, &[&bearer(token)]).await;
    h.assert_denied(&resp, 503, "idp_unavailable", case).await;
}

#[tokio::test]
async fn i01_i02_i03_active_must_be_json_true() {
    let (h, idp) = intro(&clock()).await;
    let t = tok("control");
    idp.set_introspection(&t, active(json!({})));
    allow_token(&h, &t, "alice", "I control").await;
    let inactive = json!({"active": false, "username": "admin", "groups": ["jira-users"],
        "exp": NOW + 600, "scope": "write"});
    refused(&h, &idp, inactive, "token_inactive", "I-01").await;
    let missing = active(json!({"active": null}));
    refused(&h, &idp, missing, "token_inactive", "I-02").await;
    for v in [
        json!("true"),
        json!(1),
        json!("yes"),
        json!([true]),
        json!({}),
    ] {
        let answer = active(json!({ "active": v }));
        refused(&h, &idp, answer, "token_inactive", &format!("I-03 {v}")).await;
    }
    // A token the IdP does not know is inactive.
    deny_token(&h, &tok("never-issued"), "token_inactive", "I-01 unknown").await;
}

#[tokio::test]
async fn i04_active_but_expired_or_not_yet_valid() {
    let (h, idp) = intro(&clock()).await;
    let answer = active(json!({"exp": NOW - 100}));
    refused(&h, &idp, answer, "token_expired", "I-04 exp").await;
    let answer = active(json!({"nbf": NOW + 100}));
    refused(&h, &idp, answer, "token_not_yet_valid", "I-04 nbf").await;
    let answer = active(json!({"exp": "later"}));
    refused(&h, &idp, answer, "malformed_token", "I-04 exp not a number").await;
}

#[tokio::test]
async fn i05_active_for_the_wrong_token_kind_or_party() {
    let (h, idp) = intro(&clock()).await;
    let answer = active(json!({"token_type": "refresh_token"}));
    refused(&h, &idp, answer, "token_inactive", "I-05 refresh token").await;
    let answer = active(json!({"iss": "https://evil.test"}));
    refused(&h, &idp, answer, "unknown_issuer", "I-05 iss").await;
    for aud in [json!("other-api"), json!([]), json!(["other-api"])] {
        let answer = active(json!({ "aud": aud }));
        refused(
            &h,
            &idp,
            answer,
            "wrong_audience",
            &format!("I-05 aud {aud}"),
        )
        .await;
    }
    // `client_id` names the client the token was issued to; authgate has no allow-list
    // of clients, so it is not a policy input (iss and aud are). Pinned as accepted.
    let t = tok("client_id");
    idp.set_introspection(&t, active(json!({"client_id": "some-other-client"})));
    allow_token(&h, &t, "alice", "I-05 client_id not checked").await;
}

#[tokio::test]
async fn i06_username_missing_or_mistyped() {
    let (h, idp) = intro(&clock()).await;
    for (v, reason) in [
        (json!(null), "username_missing"),
        (json!(""), "username_missing"),
        (json!(["alice"]), "username_invalid"),
        (json!({"name": "alice"}), "username_invalid"),
        (json!(42), "username_invalid"),
        (json!("ALICE"), "username_invalid"),
    ] {
        let answer = active(json!({ "username": v }));
        refused(&h, &idp, answer, reason, &format!("I-06 {v}")).await;
    }
}

#[tokio::test]
async fn i07_idp_failures_are_503() {
    let (h, idp) = intro(&clock()).await;
    for (i, (what, mode)) in [
        ("503", Mode::Unavailable),
        ("connection dropped", Mode::Drop),
        (
            "hang past the 1 s timeout",
            Mode::Slow(Duration::from_secs(3)),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let t = tok(&format!("i07-{i}"));
        idp.set_introspection(&t, active(json!({})));
        idp.set_mode(Endpoint::Introspection, mode);
        unavailable(&h, &t, &format!("I-07 {what}")).await;
        // Never cached: once the IdP answers, the same token passes.
        idp.set_mode(Endpoint::Introspection, Mode::Normal);
        allow_token(&h, &t, "alice", &format!("I-07 {what}, recovered")).await;
    }
    let answer = active(json!({})).to_string();
    let e500 = Listener::status(500, &answer).await;
    let e502 = Listener::status(502, &answer).await;
    let not_tls = Listener::start(Script::Immediate(b"HTTP/1.1 200 OK\r\n\r\n".to_vec())).await;
    let refused = closed_port().await;
    for (what, url) in [
        ("500", format!("{}/introspect", e500.url())),
        ("502", format!("{}/introspect", e502.url())),
        ("connection refused", format!("http://{refused}/introspect")),
        ("TLS error", format!("https://{}/introspect", not_tls.addr)),
    ] {
        let h = intro_at(&url).await;
        unavailable(&h, &tok(what), &format!("I-07 {what}")).await;
    }
}

#[tokio::test]
async fn i08_huge_or_endless_answers_are_cut_at_the_cap() {
    let (h, idp) = intro(&clock()).await;
    let t = tok("huge");
    idp.set_introspection(&t, active(json!({})));
    idp.set_mode(Endpoint::Introspection, Mode::Oversized(1024 * 1024));
    unavailable(&h, &t, "I-08 1 MB (cap 64 KiB)").await;
    let endless = Listener::start(Script::Endless).await;
    let h = intro_at(&format!("{}/introspect", endless.url())).await;
    unavailable(&h, &tok("endless"), "I-08 endless chunked stream").await;
}

#[tokio::test]
async fn i09_a_200_that_is_not_introspection_json() {
    let (h, idp) = intro(&clock()).await;
    for (i, (what, mode)) in [
        ("HTML login page", Mode::NotJson),
        ("invalid JSON", Mode::Raw("{\"active\":tru".into())),
        ("JSON array", Mode::Raw("[{\"active\":true}]".into())),
        ("JSON string", Mode::Raw("\"active\"".into())),
        ("empty body", Mode::Raw(String::new())),
    ]
    .into_iter()
    .enumerate()
    {
        let t = tok(&format!("i09-{i}"));
        idp.set_introspection(&t, active(json!({})));
        idp.set_mode(Endpoint::Introspection, mode);
        unavailable(&h, &t, &format!("I-09 {what}")).await;
    }
}

#[tokio::test]
async fn i10_cached_answers_never_outlive_exp_and_revocation_shows_within_the_ttl() {
    let clock = clock();
    let (h, idp) = intro(&clock).await;
    let short = tok("short");
    idp.set_introspection(&short, active(json!({"exp": NOW + 10})));
    allow_token(&h, &short, "alice", "I-10 exp in 10 s").await;
    allow_token(&h, &short, "alice", "I-10 cached").await;
    assert_eq!(
        idp.count(Endpoint::Introspection),
        1,
        "I-10: second from cache"
    );
    idp.set_introspection(&short, json!({"active": false}));
    clock.advance(Duration::from_secs(11));
    deny_token(&h, &short, "token_inactive", "I-10 past exp: asked again").await;
    assert_eq!(idp.count(Endpoint::Introspection), 2);
    // exp an hour away, cache_ttl 60 s: a revocation shows after at most 60 s.
    let long = tok("long");
    idp.set_introspection(&long, active(json!({})));
    allow_token(&h, &long, "alice", "I-10 long").await;
    idp.set_introspection(&long, json!({"active": false}));
    allow_token(&h, &long, "alice", "I-10 revoked, within cache_ttl").await;
    clock.advance(Duration::from_secs(61));
    deny_token(&h, &long, "token_inactive", "I-10 revoked, past cache_ttl").await;
}

#[tokio::test]
async fn i11_cache_key_hygiene() {
    let clock = clock();
    let (h, idp) = intro(&clock).await;
    let (a, b) = (tok("token-a"), tok("token-b"));
    idp.set_introspection(&a, active(json!({})));
    idp.set_introspection(&b, active(json!({"username": "bob"})));
    allow_token(&h, &a, "alice", "I-11 a").await;
    allow_token(&h, &b, "bob", "I-11 b never shares a's entry").await;
    // A refusal is cached for at most 10 s.
    let late = tok("late");
    deny_token(&h, &late, "token_inactive", "I-11 unknown").await;
    idp.set_introspection(&late, active(json!({})));
    deny_token(&h, &late, "token_inactive", "I-11 negative cached").await;
    clock.advance(Duration::from_secs(11));
    let resp = h.get(T, &[&bearer(&late)]).await;
    h.assert_forwarded(&resp, T, Some("alice"), "I-11 negative expired")
        .await;
    // The token is never recorded: the audit row holds a short hash.
    let row = audit_row(&h, &resp, "I-11").await;
    assert_eq!(row.credential, "introspection", "I-11 credential");
    assert!(row
        .token_id
        .as_deref()
        .is_some_and(|id| !id.contains(&late)));
    assert!(
        !format!("{row:?}").contains(&late),
        "I-11: token in the audit row"
    );
}

#[tokio::test]
async fn i12_the_introspection_request() {
    let (h, idp) = intro(&clock()).await;
    let t = tok("request");
    idp.set_introspection(&t, active(json!({})));
    allow_token(&h, &t, "alice", "I-12").await;
    let reqs = idp.introspection_requests();
    assert_eq!(reqs.len(), 1, "I-12: one POST");
    let r = &reqs[0];
    assert_eq!(r.field("token"), Some(t.as_str()), "I-12 token in the form");
    assert_eq!(r.field("token_type_hint"), Some("access_token"));
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("gateway:gateway-secret")
    };
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        r.field("client_secret"),
        None,
        "I-12: no secret in the form"
    );
}

#[tokio::test]
async fn i13_a_stampede_makes_one_idp_call_with_one_decision() {
    let (h, idp) = intro(&clock()).await;
    let t = tok("stampede");
    idp.set_introspection(&t, active(json!({})));
    idp.set_mode(
        Endpoint::Introspection,
        Mode::Slow(Duration::from_millis(300)),
    );
    let auth = bearer(&t);
    let headers = [auth.as_str()];
    let resps = futures_util::future::join_all((0..30).map(|_| h.get(T, &headers))).await;
    assert_eq!(idp.count(Endpoint::Introspection), 1, "I-13: IdP calls");
    let seen = h.up.seen();
    assert_eq!(seen.len(), 30, "I-13: upstream requests");
    for s in &seen {
        let ids: Vec<_> = s.headers.get_all("x-forwarded-user").iter().collect();
        assert_eq!(ids, vec!["alice"], "I-13 identity");
    }
    for r in &resps {
        assert_eq!(r.status, 200, "I-13: {}", r.text);
        h.assert_audited(r, Some(("allow", "authenticated")), Some("alice"), "I-13")
            .await;
    }
}

#[tokio::test]
async fn i14_a_random_token_flood_is_bounded_per_token_by_the_negative_cache() {
    // What holds: each distinct token costs one IdP call, and repeats within 10 s cost none.
    // What does not (there is no pre-auth limiter, docs/http.md step 8; R-05): N distinct
    // tokens still make N IdP calls — reported, not asserted away.
    let (h, idp) = intro(&clock()).await;
    let tokens: Vec<String> = (0..20).map(|i| tok(&format!("random-{i}"))).collect();
    for round in 0..2 {
        for (i, t) in tokens.iter().enumerate() {
            deny_token(&h, t, "token_inactive", &format!("I-14 round {round} #{i}")).await;
        }
        assert_eq!(idp.count(Endpoint::Introspection), 20, "I-14 round {round}");
    }
}
