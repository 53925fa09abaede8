//! Catalog §J (docs/catalog.md), part 1: the JOSE layer — algorithms, signatures, header
//! parameters, structure, size, encodings (J-01..J-14, J-26, J-27, J-29..J-34). Claims,
//! times and the Authorization syntax are in `catalog_jwt_claims`.
//!
//! Fixture: the catalog fixture (docs/catalog.md#fixture) through a real gateway, RS256 only
//! from `test-rsa-a.pub.pem` (ES256 and X.509 variants where the case says so), manual clock at
//! `NOW`. Every case asserts the three oracles (docs/catalog.md#oracles): the status and
//! machine `reason` in the Jira-shaped body (with the Bearer challenge on 401), nothing at the
//! upstream for a deny (exactly one request with exactly one `X-Forwarded-User` for an allow),
//! and the request's audit row.
//!
//! Reasons follow docs/http.md step 5: a Bearer value that is not three base64url parts is
//! not a JWT but an opaque token, and with no introspection provider and
//! `allow_native_oauth = false` that is 401 `unknown_token` (the catalog only says 401).

use jsonwebtoken::Algorithm::{self, ES256, HS256, PS256, RS256};
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};

use crate::support::catalog_auth::*;
use crate::support::harden::{Harness, T};
use crate::support::tokens::{claims, claims_with, clock, key_bytes, sign_raw, sign_with};

async fn rsa() -> Harness {
    let p = jwt_provider(&key_file("test-rsa-a.pub.pem"), &["RS256"], "");
    start(&fixture_with("", &p, ""), &clock()).await
}

async fn ec() -> Harness {
    let p = jwt_provider(&key_file("test-ec256.pub.pem"), &["ES256"], "");
    start(&fixture_with("", &p, ""), &clock()).await
}

fn good(key: &str, alg: Algorithm) -> String {
    sign_with(key, alg, json!({}), &claims())
}

fn hmac(secret: &[u8], header: &str) -> String {
    sign_raw(
        header,
        &claims().to_string(),
        &EncodingKey::from_secret(secret),
        HS256,
    )
}

fn decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

/// `token` with its signature bytes replaced by `f(signature)`.
fn resign(token: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) -> String {
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    format!("{input}.{}", b64(f(decode(sig))))
}

#[tokio::test]
async fn j01_j02_alg_none_and_its_spellings_are_refused() {
    let h = rsa().await;
    allow_token(&h, &good("test-rsa-a", RS256), "alice", "J-01 control").await;
    let c = claims().to_string();
    deny_token(
        &h,
        &unsigned(r#"{"alg":"none"}"#, &c, ""),
        "alg_not_allowed",
        "J-01",
    )
    .await;
    for header in [
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
        r#"{"alg":"nOnE"}"#,
        r#"{"alg":""}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"typ":"JWT"}"#,
    ] {
        for sig in ["", "c2lnbmF0dXJl"] {
            let case = format!("J-02 {header} sig {sig:?}");
            deny_token(&h, &unsigned(header, &c, sig), "alg_not_allowed", &case).await;
        }
    }
}

#[tokio::test]
async fn j03_rs256_to_hs256_key_confusion_is_refused() {
    let h = rsa().await;
    let pem = key_bytes("test-rsa-a.pub.pem");
    let trimmed = pem.strip_suffix(b"\n").unwrap_or(&pem).to_vec();
    let body: String = String::from_utf8_lossy(&pem)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("PEM body")
    };
    let jwk = authgate::authn::keys::public_jwk_from_pem(&pem, "a", RS256).expect("jwk");
    let n = decode(jwk["n"].as_str().expect("n"));
    for (what, secret) in [
        ("PEM", pem.clone()),
        ("PEM without newline", trimmed),
        ("DER", der),
        ("JWK n", n),
    ] {
        let t = hmac(&secret, r#"{"alg":"HS256","typ":"JWT"}"#);
        deny_token(&h, &t, "alg_not_allowed", &format!("J-03 {what}")).await;
    }
}

#[tokio::test]
async fn j04_alg_with_whitespace_or_escapes_is_judged_on_the_decoded_value() {
    let h = rsa().await;
    let c = claims().to_string();
    let key = crate::support::tokens::signing_key("test-rsa-a");
    for header in [
        r#"{"alg":" RS256"}"#,
        r#"{"alg":"RS256 "}"#,
        r#"{"alg":"RS256\u0000"}"#,
    ] {
        // Signed with the real key: only the alg spelling is wrong.
        let t = sign_raw(header, &c, &key, RS256);
        deny_token(&h, &t, "alg_not_allowed", &format!("J-04 {header}")).await;
    }
    // "\u0048S256" decodes to HS256, which this RS256 provider does not allow.
    let t = hmac(&key_bytes("test-rsa-a.pub.pem"), r#"{"alg":"\u0048S256"}"#);
    deny_token(&h, &t, "alg_not_allowed", "J-04 \\u0048S256").await;
}

#[tokio::test]
async fn j05_an_algorithm_the_library_knows_but_the_config_does_not_allow() {
    let h = rsa().await;
    deny_token(
        &h,
        &good("test-ec256", ES256),
        "alg_not_allowed",
        "J-05 ES256",
    )
    .await;
    // PS256 with the configured RSA key itself: the key fits, the allow-list does not.
    deny_token(
        &h,
        &good("test-rsa-a", PS256),
        "alg_not_allowed",
        "J-05 PS256",
    )
    .await;
}

#[tokio::test]
async fn j06_structural_damage() {
    let h = rsa().await;
    let t = good("test-rsa-a", RS256);
    let p: Vec<&str> = t.split('.').collect();
    // Three parts with an empty signature is still a JWT: refused by validation.
    let stripped = format!("{}.{}.", p[0], p[1]);
    deny_token(&h, &stripped, "bad_signature", "J-06 missing signature").await;
    for (what, tok) in [
        ("no signature, no separator", format!("{}.{}", p[0], p[1])),
        ("four parts", format!("{t}.{}", p[2])),
        ("trailing dot", format!("{t}.")),
        ("empty header", format!(".{}.{}", p[1], p[2])),
        ("empty payload", format!("{}..{}", p[0], p[2])),
    ] {
        // Not three base64url parts: an opaque token (docs/http.md step 5).
        deny_token(&h, &tok, "unknown_token", &format!("J-06 {what}")).await;
    }
    // The empty string: `Bearer` with nothing after it.
    let resp = h.get(T, &["Authorization: Bearer "]).await;
    h.assert_denied(&resp, 401, "malformed_token", "J-06 empty")
        .await;
}

#[tokio::test]
async fn j07_modified_payload_or_header_keeps_the_old_signature() {
    let h = rsa().await;
    let t = good("test-rsa-a", RS256);
    let p: Vec<&str> = t.split('.').collect();
    let payload = claims_with(json!({"preferred_username": "admin"})).to_string();
    let forged = format!("{}.{}.{}", p[0], b64(payload), p[2]);
    deny_token(&h, &forged, "bad_signature", "J-07 payload").await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "other"}).to_string();
    let forged = format!("{}.{}.{}", b64(header), p[1], p[2]);
    deny_token(&h, &forged, "bad_signature", "J-07 header kid").await;
}

/// The P-256 group order n.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

#[tokio::test]
async fn j08_psychic_ecdsa_signatures_are_refused() {
    let h = ec().await;
    let t = good("test-ec256", ES256);
    allow_token(&h, &t, "alice", "J-08 control").await;
    let n = hex::decode(P256_N).expect("hex");
    let zero = resign(&t, |_| vec![0u8; 64]);
    deny_token(&h, &zero, "bad_signature", "J-08 r = s = 0").await;
    let order = resign(&t, |_| [n.clone(), n.clone()].concat());
    deny_token(&h, &order, "bad_signature", "J-08 r = s = n").await;
}

/// ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` of a raw R‖S signature.
fn der(raw: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if x.first().is_none_or(|b| b & 0x80 != 0) {
            x.insert(0, 0);
        }
        [vec![0x02, x.len() as u8], x].concat()
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

#[tokio::test]
async fn j09_ecdsa_signature_encoding_must_be_raw_r_s() {
    let h = ec().await;
    let t = good("test-ec256", ES256);
    deny_token(&h, &resign(&t, |s| der(&s)), "bad_signature", "J-09 DER").await;
    deny_token(
        &h,
        &resign(&t, |s| s[..63].to_vec()),
        "bad_signature",
        "J-09 63 bytes",
    )
    .await;
    let long = resign(&t, |s| [s, vec![0]].concat());
    deny_token(&h, &long, "bad_signature", "J-09 65 bytes").await;
}

#[tokio::test]
async fn j10_rsa_signature_tampering() {
    let h = rsa().await;
    let t = good("test-rsa-a", RS256);
    let short = resign(&t, |s| s[1..].to_vec());
    deny_token(&h, &short, "bad_signature", "J-10 shorter than n").await;
    let long = resign(&t, |s| [vec![0], s].concat());
    deny_token(&h, &long, "bad_signature", "J-10 longer than n").await;
    // A flipped bit anywhere changes what s^e mod n decodes to, i.e. the PKCS#1 v1.5
    // padding the verifier sees (vectors re-signed over altered padding: Wycheproof
    // `rsa_sig` in `authn_wycheproof`).
    for at in [0usize, 1, 128, 255] {
        let flipped = resign(&t, |mut s| {
            s[at] ^= 0x01;
            s
        });
        deny_token(
            &h,
            &flipped,
            "bad_signature",
            &format!("J-10 bit flip @{at}"),
        )
        .await;
    }
}

#[tokio::test]
async fn j13_an_embedded_jwk_is_never_a_key() {
    let h = rsa().await;
    let attacker = authgate::authn::keys::public_jwk_from_pem(
        &key_bytes("test-rsa-b.pub.pem"),
        "attacker",
        RS256,
    )
    .expect("jwk");
    let t = sign_with("test-rsa-b", RS256, json!({ "jwk": attacker }), &claims());
    deny_token(&h, &t, "bad_signature", "J-13").await;
    let t = sign_with(
        "test-rsa-b",
        RS256,
        json!({ "jwk": attacker, "kid": "attacker" }),
        &claims(),
    );
    deny_token(&h, &t, "bad_signature", "J-13 with kid").await;
}

#[tokio::test]
async fn j14_an_x5c_certificate_is_never_a_key() {
    let p = jwt_provider(&key_file("test-rsa-a.crt.pem"), &["RS256"], "");
    let h = start(&fixture_with("", &p, ""), &clock()).await;
    allow_token(&h, &good("test-rsa-a", RS256), "alice", "J-14 control").await;
    // The header names a certificate and the token is signed by another key. (The
    // fixtures hold no certificate for key b; x5c is never parsed, so its content cannot
    // matter: the configured certificate's key decides.)
    let cert = String::from_utf8(key_bytes("test-rsa-a-expired.crt.pem")).expect("utf-8");
    let x5c: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let t = sign_with("test-rsa-b", RS256, json!({ "x5c": [x5c] }), &claims());
    deny_token(&h, &t, "bad_signature", "J-14").await;
}

#[tokio::test]
async fn j26_j27_crit_and_b64_make_the_token_invalid() {
    let h = rsa().await;
    for (case, extra) in [
        (
            "J-26 unknown extension",
            json!({"crit": ["exp-check"], "exp-check": 1}),
        ),
        ("J-27 crit []", json!({"crit": []})),
        ("J-27 crit \"x\"", json!({"crit": "x"})),
        ("J-27 crit [alg]", json!({"crit": ["alg"]})),
        ("J-27 b64 false", json!({"crit": ["b64"], "b64": false})),
        ("J-27 b64 false without crit", json!({"b64": false})),
    ] {
        let t = sign_with("test-rsa-a", RS256, extra, &claims());
        deny_token(&h, &t, "malformed_token", case).await;
    }
}

#[tokio::test]
async fn j29_oversized_tokens() {
    let h = rsa().await;
    let big = |n: usize| {
        sign_with(
            "test-rsa-a",
            RS256,
            json!({}),
            &claims_with(json!({ "pad": "x".repeat(n) })),
        )
    };
    let t = big(9 * 1024);
    assert!(t.len() > 9 * 1024);
    // Over the 8 KiB cap: refused before any parsing.
    deny_token(&h, &t, "malformed_token", "J-29 9 KB").await;
    // Past `server.max_header_bytes` (16 KiB): hyper answers 431 itself, with no body
    // reason and no audit row (the request never reached authgate; server.rs).
    for n in [64 * 1024, 1024 * 1024] {
        let resp = h.get(T, &[&bearer(&big(n))]).await;
        assert_eq!(resp.status, 431, "J-29 {n} bytes: {:.200}", resp.text);
        assert!(h.up.seen().is_empty(), "J-29 {n}: nothing upstream");
        assert_eq!(audit_count(&h).await, 1, "J-29 {n}: only the 9 KB row");
    }
    allow_token(
        &h,
        &good("test-rsa-a", RS256),
        "alice",
        "J-29 still serving",
    )
    .await;
}

#[tokio::test]
async fn j30_a_deeply_nested_payload_is_an_error_not_a_crash() {
    let h = rsa().await;
    let key = crate::support::tokens::signing_key("test-rsa-a");
    // 5 000 levels fit under the 8 KiB cap and reach the JSON parser (recursion limit 128).
    let nested = "[".repeat(5000);
    let t = sign_raw(r#"{"alg":"RS256"}"#, &nested, &key, RS256);
    assert!(t.len() < 8 * 1024);
    deny_token(&h, &t, "malformed_token", "J-30 5000 levels").await;
    // 100 000 levels: over the size cap, never parsed.
    let t = sign_raw(r#"{"alg":"RS256"}"#, &"[".repeat(100_000), &key, RS256);
    let resp = h.get(T, &[&bearer(&t)]).await;
    assert_eq!(resp.status, 431, "J-30 100 000 levels: {:.200}", resp.text);
    assert!(h.up.seen().is_empty());
    allow_token(
        &h,
        &good("test-rsa-a", RS256),
        "alice",
        "J-30 still serving",
    )
    .await;
}

#[tokio::test]
async fn j31_non_canonical_base64url() {
    let h = rsa().await;
    let t = good("test-rsa-a", RS256);
    let p: Vec<&str> = t.split('.').collect();
    for (what, tok) in [
        ("padding", format!("{}=.{}.{}", p[0], p[1], p[2])),
        ("+", format!("{}.{}.+{}", p[0], p[1], &p[2][1..])),
        ("/", format!("{}.{}./{}", p[0], p[1], &p[2][1..])),
        ("space", format!("{}.{} .{}", p[0], p[1], p[2])),
        ("tab", format!("{}.{}\t.{}", p[0], p[1], p[2])),
    ] {
        deny_token(&h, &tok, "unknown_token", &format!("J-31 {what}")).await;
    }
    // Non-zero unused low bits in the last payload character: the same bytes to a lenient
    // decoder, refused by the strict one.
    let mut c = claims();
    let mut pad = String::new();
    while c.to_string().len() % 3 != 1 {
        pad.push('x');
        c["pad"] = Value::String(pad.clone());
    }
    let t = sign_with("test-rsa-a", RS256, json!({}), &c);
    let p: Vec<&str> = t.split('.').collect();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = p[1].as_bytes()[p[1].len() - 1];
    let idx = ALPHABET.iter().position(|b| *b == last).expect("b64 char");
    let odd = ALPHABET[idx | 1] as char;
    let payload = format!("{}{odd}", &p[1][..p[1].len() - 1]);
    assert_ne!(payload, p[1]);
    let tok = format!("{}.{payload}.{}", p[0], p[2]);
    deny_token(&h, &tok, "malformed_token", "J-31 trailing bits").await;
}

#[tokio::test]
async fn j32_json_serialization_and_polyglots() {
    let h = rsa().await;
    let t = good("test-rsa-a", RS256);
    let p: Vec<&str> = t.split('.').collect();
    let general = json!({"payload": p[1], "signatures": [{"protected": p[0], "signature": p[2]}]});
    let flat = json!({"protected": p[0], "payload": p[1], "signature": p[2]});
    // CVE-2022-39227: a compact-looking key inside a JSON object.
    let poly = format!(
        r#"{{"{}.{}.":"","protected":"{}","payload":"{}","signature":"{}"}}"#,
        p[0], p[1], p[0], p[1], p[2]
    );
    for (what, tok) in [
        ("general", general.to_string()),
        ("flattened", flat.to_string()),
        ("polyglot", poly),
    ] {
        deny_token(&h, &tok, "unknown_token", &format!("J-32 {what}")).await;
    }
}

#[tokio::test]
async fn j33_jwe_is_never_decrypted() {
    let h = rsa().await;
    let c = claims().to_string();
    for header in [
        r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
        r#"{"alg":"dir","enc":"A128GCM"}"#,
        r#"{"alg":"PBES2-HS256+A128KW","enc":"A128GCM","p2c":2147483647,"p2s":"c2FsdA"}"#,
    ] {
        // Five-part compact JWE: not a JWS at all.
        let five = format!("{}.a2V5.aXY.{}.dGFn", b64(header), b64(&c));
        deny_token(
            &h,
            &five,
            "unknown_token",
            &format!("J-33 5 parts {header}"),
        )
        .await;
        // The same header squeezed into three parts: the alg is no JWS algorithm.
        let three = unsigned(header, &c, "c2ln");
        deny_token(
            &h,
            &three,
            "alg_not_allowed",
            &format!("J-33 3 parts {header}"),
        )
        .await;
    }
    for extra in [json!({"zip": "DEF"}), json!({"enc": "A128GCM"})] {
        let t = sign_with("test-rsa-a", RS256, extra.clone(), &claims());
        deny_token(&h, &t, "malformed_token", &format!("J-33 {extra}")).await;
    }
}

#[tokio::test]
async fn j34_nested_jwt_is_refused() {
    let h = rsa().await;
    let inner = good("test-rsa-a", RS256);
    let key = crate::support::tokens::signing_key("test-rsa-a");
    for cty in ["JWT", "jwt"] {
        let header = json!({"alg": "RS256", "cty": cty}).to_string();
        let t = sign_raw(&header, &inner, &key, RS256);
        deny_token(&h, &t, "malformed_token", &format!("J-34 cty {cty}")).await;
    }
}
