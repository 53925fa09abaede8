use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;

use super::*;

fn test_key() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap())
        .clone()
}

/// The `oauth_*` pairs of an `Authorization: OAuth …` value, decoded.
fn header_params(v: &str) -> Vec<(String, String)> {
    v.strip_prefix("OAuth ")
        .unwrap()
        .split(", ")
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (
                k.to_string(),
                crate::carriers::decode_component(v.trim_matches('"')),
            )
        })
        .collect()
}

#[test]
fn a_signed_request_verifies_and_names_only_the_user() {
    let key = test_key();
    let public = key.to_public_key();
    let signer = Signer::new("authgate".into(), "https://jira.example.com".into(), key);
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let signed = signer.sign(
        &http::Method::POST,
        "/jira/rest/api/2/search",
        Some("jql=a+b%2Bc&xoauth_requestor_id=admin&USER_ID=root&expand=x&expand=y"),
        Some("c=d%20e"),
        "alice smith",
        at,
    );
    assert_eq!(
        signed.query,
        "jql=a+b%2Bc&expand=x&expand=y&xoauth_requestor_id=alice%20smith"
    );
    let h = header_params(signed.authorization.to_str().unwrap());
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("oauth_token").as_deref(), Some(""));
    assert_eq!(get("oauth_signature_method").as_deref(), Some("RSA-SHA1"));
    assert_eq!(get("oauth_timestamp").as_deref(), Some("1800000000"));
    assert_eq!(get("oauth_nonce").unwrap().len(), 32);
    assert!(signed.authorization.is_sensitive());

    let mut params = base::servlet_params(&signed.query);
    params.extend(base::servlet_params("c=d%20e"));
    params.extend(h.iter().filter(|(k, _)| k != "oauth_signature").cloned());
    let text = base::base_string(
        "POST",
        "https://jira.example.com/jira/rest/api/2/search",
        &params,
    );
    let sig = base64::engine::general_purpose::STANDARD
        .decode(get("oauth_signature").unwrap())
        .unwrap();
    VerifyingKey::<sha1::Sha1>::new(public)
        .verify(
            text.as_bytes(),
            &Signature::try_from(sig.as_slice()).unwrap(),
        )
        .expect("the signature verifies over the servlet's view of the request");

    // Two signatures never share a nonce.
    let again = signer.sign(&http::Method::GET, "/", None, None, "bob", at);
    assert_eq!(again.query, "xoauth_requestor_id=bob");
    let h2 = header_params(again.authorization.to_str().unwrap());
    let nonce = |h: &[(String, String)]| {
        h.iter()
            .find(|(k, _)| k == "oauth_nonce")
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(nonce(&h), nonce(&h2));
}

#[test]
fn user_parameters_are_found_after_decoding() {
    assert!(has_user_params("a=1&xoauth%5Frequestor%5Fid=x"));
    assert!(has_user_params("User_Id=x"));
    assert!(!has_user_params("user_ids=x&a=b"));
    assert_eq!(without_user_params("a=1&%75ser_id=2&b"), "a=1&b");
}
