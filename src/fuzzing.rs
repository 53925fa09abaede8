//! Fuzz harnesses: one function per parser that hostile input reaches, shared by the
//! cargo-fuzz targets in `fuzz/` and by the regression test that replays
//! `fuzz/regressions/<target>/*` on every `cargo test` (so CI needs no nightly).
//!
//! Owns: turning arbitrary bytes into the input each parser takes, and the properties checked
//! beyond "does not panic" (the canonical path is a fixed point; rule matching agrees with the
//! path check). Every function here must return normally for every input; a panic is a bug.

use http::{HeaderMap, HeaderValue, Method, Uri, Version};

use crate::authn::jws;
use crate::authn::keys::VerifyKey;
use crate::pipeline::{credential, ip_filter, path};

/// One harness: takes any bytes, returns normally or panics (a bug).
pub type Harness = fn(&[u8]);

/// The targets, by name (the `fuzz/fuzz_targets/<name>.rs` files and regression folders).
pub const TARGETS: &[(&str, Harness)] = &[
    ("path", fuzz_path),
    ("credential", fuzz_credential),
    ("jwt", fuzz_jwt),
    ("xff", fuzz_xff),
    ("rules", fuzz_rules),
    ("config", fuzz_config),
];

/// Path canonicalization on any target `http::Uri` accepts. Property: an accepted path's
/// canonical form is accepted again and is its own canonical form (what is forwarded is
/// exactly what was checked, and nothing decodes further on a second look).
pub fn fuzz_path(data: &[u8]) {
    let Ok(uri) = Uri::try_from(data) else {
        return;
    };
    for context in ["", "/jira"] {
        let Ok(c) = path::canonicalize(&Method::GET, &uri, Version::HTTP_11, context) else {
            continue;
        };
        let _ = c.relative();
        let again = Uri::try_from(c.full.as_str()).expect("a canonical path is a valid URI");
        let c2 = path::canonicalize(&Method::GET, &again, Version::HTTP_11, context)
            .expect("a canonical path is accepted again");
        assert_eq!(c.full, c2.full, "canonicalization is idempotent");
        assert!(
            !c.full.contains("//") && !c.full.contains(';'),
            "{}",
            c.full
        );
    }
}

/// `Authorization` (and `Cookie`) classification. The input is split at the first `\n`:
/// the first part is the `Authorization` value, the rest the `Cookie` value.
pub fn fuzz_credential(data: &[u8]) {
    let (auth, cookie) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    if let Some(Ok(v)) = cookie.map(HeaderValue::from_bytes) {
        headers.insert(http::header::COOKIE, v);
    }
    let carriers = crate::carriers::Carriers::new(crate::carriers::JIRA_SESSION_COOKIES, &[]);
    if let Ok(c) = credential::classify(&headers, &carriers, &crate::carriers::Params::default()) {
        let _ = c.kind();
    }
    if let Ok(s) = std::str::from_utf8(auth) {
        let _ = credential::is_jwt(s);
        let _ = credential::is_pat(s);
    }
}

/// JWT header and claims parsing, as `jsonwebtoken` does it for every bearer token that
/// looks like a JWT (header decode, then a full decode that fails on the signature).
pub fn fuzz_jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if token.len() > credential::MAX_TOKEN_BYTES {
        return;
    }
    let _ = jsonwebtoken::decode_header(token);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["jira"]);
    v.set_issuer(&["https://idp.test"]);
    let key = jsonwebtoken::DecodingKey::from_secret(b"fuzz-secret-fuzz-secret-fuzz-sec");
    let _ = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v);
    // authgate's own JOSE layer and its signature check (ring) on the same bytes.
    if let Ok(c) = jws::parse(token, jws::ALL_ALGORITHMS) {
        let key = VerifyKey::hmac(b"fuzz-secret-fuzz-secret-fuzz-sec").expect("32-byte secret");
        let _ = jws::verify_signature(&c, std::slice::from_ref(&key));
        let _ = jws::strict_json(&c.payload);
    }
}

/// `X-Forwarded-For` from a trusted peer: every line of the input is one header line.
pub fn fuzz_xff(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n').take(64) {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", v);
        }
    }
    let trusted = vec![
        ip_filter::parse_net("127.0.0.0/8").expect("literal"),
        ip_filter::parse_net("::1").expect("literal"),
    ];
    let allow = vec![ip_filter::parse_net("10.0.0.0/8").expect("literal")];
    let f = ip_filter::IpFilter::new(
        allow,
        ip_filter::IpScope::Api,
        trusted,
        http::HeaderName::from_static("x-forwarded-for"),
    );
    for peer in ["127.0.0.1", "::ffff:127.0.0.1", "192.0.2.1"] {
        let client = f.client_ip(peer.parse().expect("literal"), &headers);
        let _ = client.to_string();
        let _ = f.check(&client);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ip_filter::parse_net(s);
    }
}

/// Rule patterns: the first line is a pattern, each further line a request path.
/// Property: a rule only ever matches paths the path stage accepted as canonical.
pub fn fuzz_rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let Some(pattern) = lines.next() else {
        return;
    };
    let Ok(rule) = crate::rules::Rule::parse(pattern) else {
        return;
    };
    for p in lines.take(16) {
        for m in [Method::GET, Method::POST] {
            let _ = rule.matches(&m, p);
        }
        if let Ok(uri) = Uri::try_from(p) {
            if let Ok(c) = path::canonicalize(&Method::GET, &uri, Version::HTTP_11, "") {
                let _ = rule.matches(&Method::GET, c.relative().unwrap_or("/"));
            }
        }
    }
}

/// The whole config check on arbitrary TOML (no environment, no files read).
pub fn fuzz_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::config::from_toml_with(text, std::path::Path::new("/nonexistent"), &|_| None);
}
