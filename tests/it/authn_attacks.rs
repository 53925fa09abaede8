//! Attacks on the JOSE layer through `Authenticators` (docs/catalog.md §J): algorithm
//! confusion and `none`, stripped and forged signatures, ECDSA zero and out-of-range
//! signatures, header parameters that must not be trusted, structural damage.

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
async fn algorithm_attacks_are_refused() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let c = claims().to_string();
    let rsa_pub = key_bytes("test-rsa-a.pub.pem");
    // RS256 -> HS256 confusion: HMAC keyed with the public key bytes (with and without the
    // trailing newline).
    for secret in [rsa_pub.clone(), rsa_pub[..rsa_pub.len() - 1].to_vec()] {
        let key = jsonwebtoken::EncodingKey::from_secret(&secret);
        refused(
            &a,
            &sign_raw(r#"{"alg":"HS256"}"#, &c, &key, Algorithm::HS256),
            Reason::AlgNotAllowed,
        )
        .await;
    }
    // alg none, its spellings, and other algorithms the library knows but the config does not allow.
    let body = |h: &str, sig: &str| {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{sig}", e(h), e(&c))
    };
    for h in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
        r#"{"alg":""}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":" RS256"}"#,
        r#"{"alg":"RS256\u0000"}"#,
    ] {
        refused(&a, &body(h, ""), Reason::AlgNotAllowed).await;
        refused(&a, &body(h, "c2lnbmF0dXJl"), Reason::AlgNotAllowed).await;
    }
    refused(
        &a,
        &sign_with("test-ec256", Algorithm::ES256, json!({}), &claims()),
        Reason::AlgNotAllowed,
    )
    .await;
    // A JSON escape that decodes to an allowed-looking name is judged on the decoded value.
    refused(
        &a,
        &body(r#"{"alg":"\u0048S256"}"#, "c2ln"),
        Reason::AlgNotAllowed,
    )
    .await;
    // Signature stripped, or from another key.
    let good = sign_with("test-rsa-a", Algorithm::RS256, json!({}), &claims());
    let stripped = format!("{}.", good.rsplit_once('.').unwrap().0);
    refused(&a, &stripped, Reason::BadSignature).await;
    refused(
        &a,
        &sign_with("test-rsa-b", Algorithm::RS256, json!({}), &claims()),
        Reason::BadSignature,
    )
    .await;
    // Payload modified, old signature kept.
    let (input, sig) = good.rsplit_once('.').unwrap();
    let (h, _) = input.split_once('.').unwrap();
    let forged = body_with(
        h,
        &claims_with(json!({"preferred_username": "admin"})).to_string(),
        sig,
    );
    refused(&a, &forged, Reason::BadSignature).await;
}

fn body_with(h64: &str, payload: &str, sig: &str) -> String {
    use base64::Engine;
    format!(
        "{h64}.{}.{sig}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    )
}

#[tokio::test]
async fn ecdsa_psychic_and_malformed_signatures_are_refused() {
    use base64::Engine;
    let clock = clock();
    let a = authenticators(
        &jwt_provider(
            "ec",
            "public_key_file = \"test-ec256.pub.pem\"",
            &["ES256"],
            "",
        ),
        &clock,
    )
    .await;
    let good = sign_with("test-ec256", Algorithm::ES256, json!({}), &claims());
    assert!(check(&a, &good).await.is_ok());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    // P-256 order n.
    let n =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let mut r_s_n = n.clone();
    r_s_n.extend_from_slice(&n);
    for bad in [
        vec![0u8; 64],
        r_s_n,
        raw[..63].to_vec(),
        [raw.clone(), vec![0]].concat(),
    ] {
        refused(&a, &format!("{input}.{}", e(&bad)), Reason::BadSignature).await;
    }
}

#[tokio::test]
async fn header_parameters_that_must_not_be_trusted() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let c = claims();
    // crit in any form: refused even when validly signed.
    for crit in [json!(["exp-check"]), json!([]), json!("x"), json!(["alg"])] {
        let t = sign_with(
            "test-rsa-a",
            Algorithm::RS256,
            json!({"crit": crit, "exp-check": 1}),
            &c,
        );
        refused(&a, &t, Reason::MalformedToken).await;
    }
    refused(
        &a,
        &sign_with("test-rsa-a", Algorithm::RS256, json!({"b64": false}), &c),
        Reason::MalformedToken,
    )
    .await;
    refused(
        &a,
        &sign_with("test-rsa-a", Algorithm::RS256, json!({"cty": "JWT"}), &c),
        Reason::MalformedToken,
    )
    .await;
    // kid is only a name: a path, SQL, or a non-string is not a way to a key.
    refused(
        &a,
        &sign_with("test-rsa-a", Algorithm::RS256, json!({"kid": 7}), &c),
        Reason::MalformedToken,
    )
    .await;
    refused(
        &a,
        &sign_with(
            "test-rsa-a",
            Algorithm::RS256,
            json!({"kid": "k".repeat(1000)}),
            &c,
        ),
        Reason::MalformedToken,
    )
    .await;
    let p = check(
        &a,
        &sign_with(
            "test-rsa-a",
            Algorithm::RS256,
            json!({"kid": "../../../../dev/null"}),
            &c,
        ),
    )
    .await;
    assert!(
        p.is_ok(),
        "a single configured key is used whatever the kid says"
    );
    // An embedded jwk / jku / x5c naming the attacker's key: ignored, so the signature fails.
    let attacker = authgate::authn::keys::public_jwk_from_pem(
        &key_bytes("test-rsa-b.pub.pem"),
        "x",
        Algorithm::RS256,
    )
    .unwrap();
    for extra in [
        json!({"jwk": attacker}),
        json!({"jku": "http://127.0.0.1:1/jwks"}),
        json!({"x5u": "http://127.0.0.1:1/x"}),
        json!({"x5c": ["MIIB"]}),
    ] {
        refused(
            &a,
            &sign_with("test-rsa-b", Algorithm::RS256, extra, &c),
            Reason::BadSignature,
        )
        .await;
    }
}

#[tokio::test]
async fn structural_damage_is_malformed() {
    let clock = clock();
    let a = authenticators(&rsa_provider(), &clock).await;
    let good = sign_with("test-rsa-a", Algorithm::RS256, json!({}), &claims());
    let parts: Vec<&str> = good.split('.').collect();
    for t in [
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}."),
        format!("{good}.x"),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        good.replace('-', "+"),
        format!("{}.{} .{}", parts[0], parts[1], parts[2]),
        format!("{}.{}", good, "a".repeat(9000)),
        r#"{"payload":"e30","signatures":[]}"#.to_string(),
    ] {
        if t == good {
            continue;
        }
        let r = check(&a, &t).await.expect_err("refused");
        assert!(
            matches!(r.reason, Reason::MalformedToken | Reason::BadSignature),
            "{:?} for {t:.60}",
            r.reason
        );
    }
}
