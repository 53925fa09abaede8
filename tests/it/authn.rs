//! Token validation through `Authenticators` with static keys (PEM RSA, EC P-256/P-384,
//! Ed25519, a certificate, an HMAC secret): times, types, issuer, audience, username, groups,
//! configuration refusals, the verified-token cache and the `test-token` trace. The JOSE
//! attacks are in `authn_attacks`.

use std::time::Duration;

use authgate::principal::CredentialKind;
use authgate::reject::Reason;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::support::tokens::*;

fn rsa_provider() -> String {
    jwt_provider(
        "corp",
        "public_key_file = \"test-rsa-a.pub.pem\"",
        &["RS256", "PS256"],
        "max_token_age = \"24h\"",
    )
}

#[tokio::test]
async fn each_key_type_verifies_and_yields_the_principal() {
    let clock = clock();
    for (key, source, alg) in [
        (
            "test-rsa-a",
            "public_key_file = \"test-rsa-a.pub.pem\"",
            Algorithm::RS256,
        ),
        (
            "test-rsa-a",
            "public_key_file = \"test-rsa-a.pub.pem\"",
            Algorithm::PS384,
        ),
        (
            "test-rsa-a",
            "certificate_file = \"test-rsa-a.crt.pem\"",
            Algorithm::RS512,
        ),
        (
            "test-ec256",
            "public_key_file = \"test-ec256.pub.pem\"",
            Algorithm::ES256,
        ),
        (
            "test-ec384",
            "public_key_file = \"test-ec384.pub.pem\"",
            Algorithm::ES384,
        ),
        (
            "test-ed25519",
            "public_key_file = \"test-ed25519.pub.pem\"",
            Algorithm::EdDSA,
        ),
        (
            "hmac",
            &format!("hmac_secret = \"{HMAC_SECRET}\""),
            Algorithm::HS256,
        ),
    ] {
        let alg_name = serde_json::to_value(alg).unwrap();
        let a = authenticators(
            &jwt_provider("p", source, &[alg_name.as_str().unwrap()], ""),
            &clock,
        )
        .await;
        let token = sign_with(key, alg, json!({}), &claims());
        let p = check(&a, &token)
            .await
            .unwrap_or_else(|r| panic!("{key} {alg:?}: {:?} {:?}", r.reason, r.detail));
        assert_eq!(p.username(), "alice");
        assert_eq!(p.groups(), ["jira-users".to_string()]);
        assert_eq!(p.provider(), Some("p"));
        assert_eq!(p.credential(), CredentialKind::Jwt);
        assert_eq!(
            p.token_id(),
            Some(authgate::principal::short_hash(token.as_bytes()).as_str())
        );
        assert_eq!(p.expires_at().map(secs), Some(NOW + 3600));
    }
}

#[tokio::test]
async fn time_claims_use_the_injected_clock_with_leeway() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let t = |c| sign_with("test-rsa-a", Algorithm::RS256, json!({}), &c);
    // exp = now - leeway - 1: expired; exp = now - leeway + 2: still inside the leeway.
    refused(
        &a,
        &t(claims_with(json!({"exp": NOW - 31}))),
        Reason::TokenExpired,
    )
    .await;
    assert!(check(
        &a,
        &t(claims_with(json!({"exp": NOW - 28, "iat": NOW - 100})))
    )
    .await
    .is_ok());
    refused(
        &a,
        &t(claims_with(json!({"nbf": NOW + 35}))),
        Reason::TokenNotYetValid,
    )
    .await;
    assert!(check(&a, &t(claims_with(json!({"nbf": NOW + 25}))))
        .await
        .is_ok());
    refused(
        &a,
        &t(claims_with(json!({"iat": NOW + 3600}))),
        Reason::TokenNotYetValid,
    )
    .await;
    // max_token_age = 24h: a lifetime of 48h, or an iat 25h old, is too old; so is an
    // "eternal" exp.
    refused(
        &a,
        &t(claims_with(json!({"exp": NOW + 48 * 3600}))),
        Reason::TokenTooOld,
    )
    .await;
    refused(
        &a,
        &t(claims_with(
            json!({"iat": NOW - 25 * 3600, "exp": NOW + 60}),
        )),
        Reason::TokenTooOld,
    )
    .await;
    refused(
        &a,
        &t(claims_with(json!({"exp": u64::MAX, "iat": null}))),
        Reason::TokenTooOld,
    )
    .await;
    // Moving the clock expires a token that was fine.
    let token = t(claims());
    assert!(check(&a, &token).await.is_ok());
    clock.advance(Duration::from_secs(3600 + 31));
    refused(&a, &token, Reason::TokenExpired).await;
}

#[tokio::test]
async fn claims_of_the_wrong_json_type_are_refused() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let t = |c| sign_with("test-rsa-a", Algorithm::RS256, json!({}), &c);
    for bad in [
        json!("9999999999"),
        json!(true),
        json!([1]),
        json!({"a": 1}),
    ] {
        refused(
            &a,
            &t(claims_with(json!({"exp": bad}))),
            Reason::MalformedToken,
        )
        .await;
        refused(
            &a,
            &t(claims_with(json!({"nbf": bad}))),
            Reason::MalformedToken,
        )
        .await;
        refused(
            &a,
            &t(claims_with(json!({"iat": bad}))),
            Reason::MalformedToken,
        )
        .await;
    }
    refused(
        &a,
        &t(claims_with(json!({"exp": null}))),
        Reason::MalformedToken,
    )
    .await;
    refused(
        &a,
        &t(claims_with(json!({"iss": [ISS, "https://evil.test"]}))),
        Reason::MalformedToken,
    )
    .await;
    // A payload that is not an object, and duplicate members (last-wins would differ
    // between parsers).
    let key = signing_key("test-rsa-a");
    let h = r#"{"alg":"RS256"}"#;
    refused(
        &a,
        &sign_raw(h, "[1,2]", &key, Algorithm::RS256),
        Reason::MalformedToken,
    )
    .await;
    let dup = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"preferred_username":"alice","preferred_username":"admin"}}"#,
        NOW + 60
    );
    refused(
        &a,
        &sign_raw(h, &dup, &key, Algorithm::RS256),
        Reason::MalformedToken,
    )
    .await;
    refused(
        &a,
        &sign_raw(
            r#"{"alg":"RS256","alg":"none"}"#,
            &claims().to_string(),
            &key,
            Algorithm::RS256,
        ),
        Reason::MalformedToken,
    )
    .await;
}

#[tokio::test]
async fn issuer_and_audience() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let t = |c| sign_with("test-rsa-a", Algorithm::RS256, json!({}), &c);
    refused(
        &a,
        &t(claims_with(json!({"iss": "https://evil.test"}))),
        Reason::UnknownIssuer,
    )
    .await;
    refused(
        &a,
        &t(claims_with(json!({"iss": null}))),
        Reason::UnknownIssuer,
    )
    .await;
    for aud in [
        json!("other"),
        json!(""),
        json!([]),
        json!([1, 2]),
        json!({"a": AUD}),
        json!(null),
    ] {
        refused(
            &a,
            &t(claims_with(json!({"aud": aud}))),
            Reason::WrongAudience,
        )
        .await;
    }
    assert!(check(&a, &t(claims_with(json!({"aud": ["other", AUD]}))))
        .await
        .is_ok());
}

#[tokio::test]
async fn username_and_groups_shapes() {
    let clock = clock();
    let regex = r#"username_regex = '^([a-z][a-z0-9._-]{0,63})(?:@example\.com)?$'"#;
    let a = authenticators(
        &jwt_provider(
            "corp",
            "public_key_file = \"test-rsa-a.pub.pem\"",
            &["RS256"],
            regex,
        ),
        &clock,
    )
    .await;
    let t = |c| sign_with("test-rsa-a", Algorithm::RS256, json!({}), &c);
    let user = |v| t(claims_with(json!({ "preferred_username": v })));
    refused(&a, &user(json!(null)), Reason::UsernameMissing).await;
    refused(
        &a,
        &t(claims_with(json!({"preferred_username": null}))),
        Reason::UsernameMissing,
    )
    .await;
    refused(&a, &user(json!("")), Reason::UsernameMissing).await;
    for bad in [
        json!(["alice", "admin"]),
        json!({"name": "admin"}),
        json!(42),
        json!(true),
    ] {
        refused(&a, &user(bad), Reason::UsernameInvalid).await;
    }
    for bad in [
        "alice\n",
        "alice\r",
        "ALICE",
        "alice@corp.com.evil.tld",
        "\u{0430}lice",
        "alice\u{202e}",
        "   ",
    ] {
        refused(&a, &user(json!(bad)), Reason::UsernameInvalid).await;
    }
    refused(&a, &user(json!("a".repeat(10_000))), Reason::MalformedToken).await; // > 8 KiB token
    let p = check(&a, &user(json!("alice@example.com"))).await.unwrap();
    assert_eq!(p.username(), "alice");
    // Groups: a single string is one group, null is no groups; any other shape is refused
    // (read as "no groups" it would be read-write for a member of a read-only group).
    for bad in [
        json!(["jira-users", 7]),
        json!([["jira-users"]]),
        json!({"jira-users": true}),
        json!(["jira-users", ""]),
        json!(["jira\nusers"]),
        json!(vec!["g"; 1001]),
    ] {
        refused(
            &a,
            &t(claims_with(json!({"groups": bad}))),
            Reason::MalformedToken,
        )
        .await;
    }
    for (groups, want) in [
        (
            json!("jira-users, jira-administrators"),
            vec!["jira-users, jira-administrators"],
        ),
        (json!(["a", "b"]), vec!["a", "b"]),
        (json!(null), vec![]),
    ] {
        let p = check(
            &a,
            &t(claims_with(
                json!({"groups": groups.clone(), "sub": format!("{groups}")}),
            )),
        )
        .await
        .unwrap();
        assert_eq!(
            p.groups(),
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{groups}"
        );
    }
}

#[tokio::test]
async fn username_claim_is_a_dotted_path() {
    let clock = clock();
    let a = authenticators(
        &jwt_provider(
            "corp",
            "public_key_file = \"test-rsa-a.pub.pem\"",
            &["RS256"],
            "username_claim = \"user.login\"",
        ),
        &clock,
    )
    .await;
    let t = |c| sign_with("test-rsa-a", Algorithm::RS256, json!({}), &c);
    let p = check(&a, &t(claims_with(json!({"user": {"login": "bob"}}))))
        .await
        .unwrap();
    assert_eq!(p.username(), "bob");
    refused(
        &a,
        &t(claims_with(json!({"user": "bob"}))),
        Reason::UsernameMissing,
    )
    .await;
}

#[tokio::test]
async fn configuration_refuses_weak_or_misfit_keys() {
    let clock = clock();
    let weak = try_authenticators(
        &jwt_provider(
            "w",
            "public_key_file = \"test-rsa-1024.pub.pem\"",
            &["RS256"],
            "",
        ),
        &clock,
    )
    .await;
    assert!(weak.unwrap_err().to_string().contains("1024 bits"));
    let misfit = try_authenticators(
        &jwt_provider(
            "m",
            "public_key_file = \"test-ec256.pub.pem\"",
            &["ES384"],
            "",
        ),
        &clock,
    )
    .await;
    assert!(misfit
        .unwrap_err()
        .to_string()
        .starts_with("providers[0].algorithms"));
    let private = try_authenticators(
        &jwt_provider(
            "k",
            "public_key_file = \"test-rsa-a.key.pem\"",
            &["RS256"],
            "",
        ),
        &clock,
    )
    .await;
    assert!(private.unwrap_err().to_string().contains("private key"));
    let short = try_authenticators(
        &jwt_provider(
            "h",
            &format!("hmac_secret = \"{HMAC_SECRET}\""),
            &["HS512"],
            "",
        ),
        &clock,
    )
    .await;
    assert!(short.unwrap_err().to_string().contains("hmac_secret"));
    // An expired certificate is a start-up warning, and its key still verifies.
    let a = authenticators(
        &jwt_provider(
            "c",
            "certificate_file = \"test-rsa-a-expired.crt.pem\"",
            &["RS256"],
            "",
        ),
        &clock,
    )
    .await;
    assert!(
        a.warnings()
            .iter()
            .any(|w| w.contains("certificate expired")),
        "{:?}",
        a.warnings()
    );
    assert!(check(
        &a,
        &sign_with("test-rsa-a", Algorithm::RS256, json!({}), &claims())
    )
    .await
    .is_ok());
}

#[tokio::test]
async fn several_providers_are_chosen_by_issuer() {
    let clock = clock();
    let two = format!(
        "{}\n[[providers]]\nname = \"partner\"\nkind = \"jwt\"\nissuer = \"https://partner.test\"\naudiences = [\"{AUD}\"]\nalgorithms = [\"ES256\"]\npublic_key_file = \"test-ec256.pub.pem\"\n",
        rsa_provider()
    );
    let a = authenticators(&two, &clock).await;
    let p = check(
        &a,
        &sign_with(
            "test-ec256",
            Algorithm::ES256,
            json!({}),
            &claims_with(json!({"iss": "https://partner.test"})),
        ),
    )
    .await
    .unwrap();
    assert_eq!(p.provider(), Some("partner"));
    // The partner's key does not sign for corp's issuer.
    refused(
        &a,
        &sign_with("test-ec256", Algorithm::ES256, json!({}), &claims()),
        Reason::AlgNotAllowed,
    )
    .await;
    assert!(!a.has_introspection());
}

#[tokio::test]
async fn a_verified_token_is_served_from_the_cache_until_exp() {
    let clock = clock();
    let metrics = std::sync::Arc::new(authgate::metrics::Metrics::new());
    let a = try_authenticators_with(&rsa_provider(), &clock, metrics.clone())
        .await
        .unwrap();
    let token = sign_with(
        "test-rsa-a",
        Algorithm::RS256,
        json!({}),
        &claims_with(json!({"exp": NOW + 100})),
    );
    let first = check(&a, &token).await.unwrap();
    let again = check(&a, &token).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(cache_lookups(&metrics, "jwt", "miss"), 1);
    assert_eq!(cache_lookups(&metrics, "jwt", "hit"), 1);
    // The cache entry dies with the token (exp + leeway), whatever moka thinks.
    clock.advance(Duration::from_secs(100 + 31));
    refused(&a, &token, Reason::TokenExpired).await;
}

#[tokio::test]
async fn explain_reports_every_step_without_the_token() {
    use authgate::authn::trace::Verdict;
    use authgate::pipeline::credential::Credential;
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let token = sign_with("test-rsa-a", Algorithm::RS256, json!({}), &claims());
    let (steps, result) = a.explain(&Credential::Jwt(token.clone())).await;
    assert!(result.is_ok());
    let checks: Vec<&str> = steps.iter().map(|s| s.check.as_str()).collect();
    for want in [
        "structure",
        "provider",
        "alg",
        "signature",
        "exp",
        "aud",
        "username (claim)",
        "username",
        "groups",
    ] {
        assert!(checks.contains(&want), "{want} missing from {checks:?}");
    }
    assert!(steps.iter().all(|s| s.verdict != Verdict::Fail));
    assert!(steps.iter().all(
        |s| !s.detail.contains(&token) && !s.detail.contains(token.split('.').nth(2).unwrap())
    ));
    let expired = sign_with(
        "test-rsa-a",
        Algorithm::RS256,
        json!({}),
        &claims_with(json!({"exp": NOW - 100})),
    );
    let (steps, result) = a.explain(&Credential::Jwt(expired)).await;
    assert_eq!(result.unwrap_err().reason, Reason::TokenExpired);
    assert_eq!(
        steps.last().map(|s| (s.check.as_str(), s.verdict)),
        Some(("exp", Verdict::Fail))
    );
}
