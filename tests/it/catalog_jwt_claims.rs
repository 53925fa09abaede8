//! Catalog §J (docs/catalog.md), part 2: claims — times, issuer, audience, duplicates, token
//! confusion, username and groups (J-15..J-25, J-28, J-35..J-39).
//!
//! Fixture: the catalog fixture (docs/catalog.md#fixture) through a real gateway, RS256 from
//! `test-rsa-a.pub.pem`, leeway 30 s (the default), `max_token_age = "24h"`, and a manual
//! clock at `NOW` so every boundary is exact. Every case asserts the three oracles
//! (docs/catalog.md#oracles): status + body reason, the upstream, the audit row.

use authgate::clock::ManualClock;
use jsonwebtoken::Algorithm::RS256;
use serde_json::{json, Value};

use crate::support::catalog_auth::*;
use crate::support::harden::{Harness, T};
use crate::support::tokens::{claims, claims_with, clock, sign_raw, sign_with, signing_key};

/// The fixture's leeway (`leeway`, default 30 s; the catalog asks for <= 60 s).
const LEEWAY: i64 = 30;

async fn rsa(clock: &ManualClock) -> Harness {
    let p = jwt_provider(&key_file("test-rsa-a.pub.pem"), &["RS256"], "");
    start(&fixture_with("", &p, ""), clock).await
}

fn rs(c: Value) -> String {
    sign_with("test-rsa-a", RS256, json!({}), &c)
}

/// Signs raw payload text (duplicates, numbers serde_json would rewrite).
fn rs_raw(payload: &str) -> String {
    sign_raw(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        payload,
        &signing_key("test-rsa-a"),
        RS256,
    )
}

/// The good claims as raw JSON members, without `exp`, for [`rs_raw`].
fn base_members() -> String {
    format!(
        r#""iss":"https://idp.test","aud":"jira-gw","preferred_username":"alice","groups":["jira-users"],"iat":{NOW}"#
    )
}

#[tokio::test]
async fn j15_expiry_with_leeway_boundary() {
    let clock = clock();
    let h = rsa(&clock).await;
    let t = rs(claims_with(json!({"exp": NOW - LEEWAY - 1})));
    deny_token(&h, &t, "token_expired", "J-15 exp = now - leeway - 1").await;
    let t = rs(claims_with(
        json!({"exp": NOW - LEEWAY + 2, "iat": NOW - 100}),
    ));
    allow_token(&h, &t, "alice", "J-15 exp = now - leeway + 2").await;
    // Time moves: a token that was fine expires (the verified-token cache dies with it).
    let t = rs(claims());
    allow_token(&h, &t, "alice", "J-15 before").await;
    clock.advance(std::time::Duration::from_secs(3600 + LEEWAY as u64 + 1));
    deny_token(&h, &t, "token_expired", "J-15 after").await;
}

#[tokio::test]
async fn j16_nbf_in_the_future() {
    let clock = clock();
    let h = rsa(&clock).await;
    let t = rs(claims_with(json!({"nbf": NOW + LEEWAY + 5})));
    deny_token(&h, &t, "token_not_yet_valid", "J-16").await;
    let t = rs(claims_with(json!({"nbf": NOW + LEEWAY - 5})));
    allow_token(&h, &t, "alice", "J-16 inside the leeway").await;
}

#[tokio::test]
async fn j17_j18_exp_missing_or_of_the_wrong_type() {
    let h = rsa(&clock()).await;
    let t = rs(claims_with(json!({"exp": null})));
    deny_token(&h, &t, "malformed_token", "J-17 no exp").await;
    for (claim, v) in [
        ("exp", r#""9999999999""#),
        ("exp", "true"),
        ("exp", "[1]"),
        ("exp", "null"),
        ("nbf", r#""later""#),
    ] {
        let exp = if claim == "exp" {
            String::new()
        } else {
            format!(r#","exp":{}"#, NOW + 60)
        };
        let t = rs_raw(&format!("{{{}{exp},\"{claim}\":{v}}}", base_members()));
        deny_token(&h, &t, "malformed_token", &format!("J-18 {claim} = {v}")).await;
    }
}

#[tokio::test]
async fn j19_extreme_exp_values() {
    let h = rsa(&clock()).await;
    for (v, reason) in [
        // Negative: not a NumericDate jsonwebtoken reads (u64), so malformed, not expired.
        ("-1", "malformed_token"),
        ("0", "token_expired"),
        // Out of the u64 range jsonwebtoken reads: malformed.
        ("1e300", "malformed_token"),
        // Far future: refused by max_token_age = 24h (exp - iat), not by expiry.
        ("18446744073709551615", "token_too_old"),
        ("9007199254740993.0", "token_too_old"),
    ] {
        let t = rs_raw(&format!(r#"{{{},"exp":{v}}}"#, base_members()));
        deny_token(&h, &t, reason, &format!("J-19 exp = {v}")).await;
    }
    // Without iat the cap still holds (exp - now).
    let t = rs_raw(&format!(
        r#"{{"iss":"https://idp.test","aud":"jira-gw","preferred_username":"alice","groups":["jira-users"],"exp":{}}}"#,
        u64::MAX
    ));
    deny_token(&h, &t, "token_too_old", "J-19 u64::MAX, no iat").await;
}

#[tokio::test]
async fn j20_fractional_numeric_date_is_accepted() {
    let h = rsa(&clock()).await;
    let t = rs_raw(&format!(r#"{{{},"exp":{NOW}.7}}"#, base_members()));
    // exp = now + 0.7 (rounded): still valid.
    allow_token(&h, &t, "alice", "J-20 exp = now + 0.7").await;
    let t = rs_raw(&format!(r#"{{{},"exp":{}.7}}"#, base_members(), NOW + 30));
    allow_token(&h, &t, "alice", "J-20 exp = now + 30.7").await;
}

#[tokio::test]
async fn j21_iat_in_the_future_is_refused() {
    let h = rsa(&clock()).await;
    let year = 365 * 24 * 3600;
    let t = rs(claims_with(
        json!({"iat": NOW + year, "exp": NOW + year + 60}),
    ));
    deny_token(&h, &t, "token_not_yet_valid", "J-21").await;
}

#[tokio::test]
async fn j22_j23_issuer_wrong_missing_or_an_array() {
    let h = rsa(&clock()).await;
    let t = rs(claims_with(json!({"iss": "https://evil.test"})));
    deny_token(&h, &t, "unknown_issuer", "J-22 wrong").await;
    let t = rs(claims_with(json!({"iss": null})));
    deny_token(&h, &t, "unknown_issuer", "J-22 missing").await;
    for iss in [
        json!(["https://evil.test", "https://idp.test"]),
        json!(["https://idp.test"]),
        json!({"iss": "https://idp.test"}),
    ] {
        let t = rs(claims_with(json!({ "iss": iss })));
        deny_token(&h, &t, "malformed_token", &format!("J-23 {iss}")).await;
    }
}

#[tokio::test]
async fn j24_audience() {
    let h = rsa(&clock()).await;
    for aud in [
        json!("other"),
        json!(null),
        json!(""),
        json!([]),
        json!([1, 2]),
        json!({"a": "jira-gw"}),
        json!(["jira-gw", 1]),
    ] {
        let t = rs(claims_with(json!({ "aud": aud })));
        deny_token(&h, &t, "wrong_audience", &format!("J-24 {aud}")).await;
    }
    let t = rs(claims_with(json!({"aud": ["other", "jira-gw"]})));
    allow_token(&h, &t, "alice", "J-24 [other, jira-gw]").await;
}

#[tokio::test]
async fn j25_no_audience_configured_is_a_warning_not_a_refusal() {
    // The configuration reference wins over the catalog (which asks start-up to refuse):
    // `audiences = []` means "not checked", warned at start; a token with any aud is then
    // accepted.
    let p = format!(
        "[[providers]]\nname = \"idp\"\nkind = \"jwt\"\nissuer = \"https://idp.test\"\nalgorithms = [\"RS256\"]\n{}\nusername_regex = '{USER_REGEX}'\ngroups_claim = \"groups\"\n",
        key_file("test-rsa-a.pub.pem")
    );
    let rest = fixture_with("", &p, "");
    let config = check(&rest).expect("config checks");
    assert!(
        config.warnings.iter().any(|w| w.contains("audiences = []")),
        "J-25: start-up warning, got {:?}",
        config.warnings
    );
    let h = start(&rest, &clock()).await;
    let t = rs(claims_with(json!({"aud": "some-other-service"})));
    allow_token(&h, &t, "alice", "J-25 aud not checked").await;
}

#[tokio::test]
async fn j28_duplicate_members_are_refused() {
    let h = rsa(&clock()).await;
    let exp = NOW + 60;
    for (what, t) in [
        (
            "username",
            rs_raw(&format!(
                r#"{{{},"exp":{exp},"preferred_username":"admin"}}"#,
                base_members()
            )),
        ),
        (
            "exp",
            rs_raw(&format!(r#"{{{},"exp":1,"exp":{exp}}}"#, base_members())),
        ),
        (
            "header alg",
            sign_raw(
                r#"{"alg":"RS256","alg":"none"}"#,
                &claims().to_string(),
                &signing_key("test-rsa-a"),
                RS256,
            ),
        ),
    ] {
        deny_token(&h, &t, "malformed_token", &format!("J-28 {what}")).await;
    }
}

#[tokio::test]
async fn j35_j36_tokens_for_another_audience_issuer_or_environment() {
    let h = rsa(&clock()).await;
    // An ID token (aud = the client id) and a token for another resource.
    for aud in ["jira-web-client", "confluence-gw"] {
        let t = rs(claims_with(json!({ "aud": aud, "nonce": "n" })));
        deny_token(&h, &t, "wrong_audience", &format!("J-35 aud {aud}")).await;
    }
    // Signed by the configured key, issued for another environment.
    let t = rs(claims_with(json!({"iss": "https://idp.staging.test"})));
    deny_token(&h, &t, "unknown_issuer", "J-36 other iss").await;
    let t = rs(claims_with(json!({"aud": "jira-gw-staging"})));
    deny_token(&h, &t, "wrong_audience", "J-36 other aud").await;
    // `typ` is not a policy input (authgate has no RFC 9068 profile): `JWT` and
    // `at+jwt` are both accepted; the audience is what tells access tokens apart here.
    for typ in ["JWT", "at+jwt"] {
        let c = claims_with(json!({ "sub": typ }));
        let t = sign_with("test-rsa-a", RS256, json!({ "typ": typ }), &c);
        allow_token(&h, &t, "alice", &format!("J-35 typ {typ}")).await;
    }
}

#[tokio::test]
async fn j37_username_claim_type_confusion_is_401() {
    let h = rsa(&clock()).await;
    let user = |v: Value| rs(claims_with(json!({ "preferred_username": v })));
    for (v, reason) in [
        (json!(["alice", "admin"]), "username_invalid"),
        (json!({"name": "admin"}), "username_invalid"),
        (json!(42), "username_invalid"),
        (json!(true), "username_invalid"),
        (json!("   "), "username_invalid"),
        (json!(""), "username_missing"),
    ] {
        deny_token(&h, &user(v.clone()), reason, &format!("J-37 {v}")).await;
    }
    let t = rs(claims_with(json!({"preferred_username": null})));
    deny_token(&h, &t, "username_missing", "J-37 null").await;
    // 10 KB: the token is over the 8 KiB cap before the claim is read.
    deny_token(
        &h,
        &user(json!("a".repeat(10_000))),
        "malformed_token",
        "J-37 10 KB",
    )
    .await;
}

#[tokio::test]
async fn j38_username_regex_is_a_full_match() {
    // `username_regex`: "no match -> 401" (docs/http.md step 6) wins over the catalog's 403.
    let h = rsa(&clock()).await;
    for v in [
        "alice\n",
        "alice\r",
        "alice@corp.com.evil.tld",
        "ALICE",
        "\u{0430}lice",
        "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
        "alice\u{202e}",
    ] {
        let t = rs(claims_with(json!({ "preferred_username": v })));
        deny_token(&h, &t, "username_invalid", &format!("J-38 {v:?}")).await;
    }
}

#[tokio::test]
async fn j39_groups_claim_type_confusion_never_grants() {
    let h = rsa(&clock()).await;
    // docs/http.md step 7 wins for the single string: one string is one group.
    let t = rs(claims_with(json!({"groups": "jira-users"})));
    allow_token(&h, &t, "alice", "J-39 one string = one group").await;
    for groups in [
        json!(null), // removed by claims_with: the claim is missing
        json!("jira-users,jira-admins"),
    ] {
        let t = rs(claims_with(json!({ "groups": groups })));
        let resp = h.get(T, &[&bearer(&t)]).await;
        h.assert_denied(&resp, 403, "group_denied", &format!("J-39 {groups}"))
            .await;
    }
    // A claim of the wrong shape is refused outright (it was once read as "no groups").
    for groups in [
        json!(["jira-users", 7]),
        json!([["jira-users"]]),
        json!({"jira-users": true}),
        json!(7),
    ] {
        let t = rs(claims_with(json!({ "groups": groups })));
        let resp = h.get(T, &[&bearer(&t)]).await;
        h.assert_denied(&resp, 401, "malformed_token", &format!("J-39 {groups}"))
            .await;
    }
    // An explicit null (serde_json would drop it from `claims_with`).
    let t = rs_raw(&format!(
        r#"{{"iss":"https://idp.test","aud":"jira-gw","preferred_username":"alice","iat":{NOW},"exp":{},"groups":null}}"#,
        NOW + 60
    ));
    let resp = h.get(T, &[&bearer(&t)]).await;
    h.assert_denied(&resp, 403, "group_denied", "J-39 null")
        .await;
    // Read-only is default-deny: a malformed claim naming the read-only group never makes
    // a "not read-only" writer (the required group is not established either).
    let t = rs(claims_with(
        json!({"groups": ["jira-users", "jira-readonly", 7]}),
    ));
    let resp = h.send("POST", T, &[&bearer(&t), "Content-Length: 0"]).await;
    h.assert_denied(&resp, 401, "malformed_token", "J-39 read-only malformed")
        .await;
}

/// J-39 without `allowed_groups`: only `read_only_groups` stands between a read-only member
/// and a write. A malformed groups claim used to count as "no groups", which is read-write:
/// a POST with `groups: ["jira-readonly", 7]` was forwarded (found by this suite).
#[tokio::test]
async fn j39_a_malformed_groups_claim_never_escapes_read_only() {
    let p = jwt_provider(&key_file("test-rsa-a.pub.pem"), &["RS256"], "");
    let rest = format!(
        "[auth]\nrequire_authentication = true\nresolve_passthrough_identity = false\n\n{p}\n[groups]\nsource = \"claim\"\n\n[access]\nread_only_groups = [\"jira-readonly\"]\n"
    );
    let h = start(&rest, &clock()).await;
    let post = |t: &str| {
        let auth = bearer(t);
        let h = &h;
        async move { h.send("POST", T, &[&auth, "Content-Length: 0"]).await }
    };
    let t = rs(claims_with(json!({"groups": ["jira-readonly", 7]})));
    let resp = post(&t).await;
    h.assert_denied(
        &resp,
        401,
        "malformed_token",
        "J-39 malformed, no allowed_groups",
    )
    .await;
    let t = rs(claims_with(json!({"groups": ["jira-readonly"]})));
    let resp = post(&t).await;
    h.assert_denied(&resp, 403, "read_only", "J-39 well-formed read-only member")
        .await;
    let t = rs(claims_with(json!({"groups": ["jira-developers"]})));
    let resp = post(&t).await;
    h.assert_forwarded(&resp, T, Some("alice"), "J-39 read-write member")
        .await;
}
