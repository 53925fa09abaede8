//! `mode = "oauth1"` cost per forwarded request (criterion): what `Signer::sign` adds for a
//! caller authgate authenticated, split so the RSA part and the rest can be told apart.
//!
//! - `oauth1/sign_2048`, `oauth1/sign_4096` — the whole `Signer::sign` of a typical Jira
//!   search (GET with a JQL query, repeated `expand`, user `alice`): user parameters out,
//!   `xoauth_requestor_id` in, nonce, base string, RSA-SHA1 (PKCS#1 v1.5, blinded) and the
//!   `Authorization: OAuth …` header, with a 2048-bit and a 4096-bit key.
//! - `oauth1/params_and_base_string` — the servlet-style parameter decoding of the signed
//!   query plus the six `oauth_*` parameters, then the base string: everything in `sign` before
//!   the RSA operation but the nonce.
//! - `oauth1/base_string` — `base::base_string` alone over those parameters already decoded.
//!
//! The keys are made once with `rsa::RsaPrivateKey::new` (the 4096-bit one takes a few
//! seconds) and never written anywhere.
//!
//! Run: `cargo bench --bench oauth1 -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;

use authgate::oauth1::{base, Signer};

const PATH: &str = "/rest/api/2/search";
const QUERY: &str = "jql=project%20%3D%20DEMO&expand=names&expand=schema&maxResults=50";
const USER: &str = "alice";
const CONSUMER_KEY: &str = "authgate-bench";
const BASE_URL: &str = "https://jira.example.com";

fn signer(bits: usize) -> Signer {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits).expect("RSA key");
    Signer::new(CONSUMER_KEY.to_string(), BASE_URL.to_string(), key)
}

/// The parameters `sign` collects for the typical request (fixed timestamp and nonce).
fn oauth_params() -> [(&'static str, &'static str); 6] {
    [
        ("oauth_consumer_key", CONSUMER_KEY),
        ("oauth_token", ""),
        ("oauth_signature_method", "RSA-SHA1"),
        ("oauth_timestamp", "1798761600"),
        ("oauth_nonce", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ("oauth_version", "1.0"),
    ]
}

fn bench_sign(c: &mut Criterion) {
    let now = SystemTime::now();
    let mut g = c.benchmark_group("oauth1");
    for bits in [2048, 4096] {
        let signer = signer(bits);
        assert_eq!(signer.bits(), bits);
        // Sanity: the request comes out as the product should read it.
        let signed = signer.sign(&Method::GET, PATH, Some(QUERY), None, USER, now);
        assert_eq!(signed.query, format!("{QUERY}&xoauth_requestor_id={USER}"));
        assert!(signed
            .authorization
            .to_str()
            .expect("ascii")
            .contains("oauth_signature_method=\"RSA-SHA1\""));
        g.bench_function(format!("sign_{bits}"), |b| {
            b.iter(|| {
                signer.sign(
                    black_box(&Method::GET),
                    black_box(PATH),
                    black_box(Some(QUERY)),
                    None,
                    black_box(USER),
                    now,
                )
            })
        });
    }

    let signed_query = format!("{QUERY}&xoauth_requestor_id={USER}");
    let uri = format!("{BASE_URL}{PATH}");
    g.bench_function("params_and_base_string", |b| {
        b.iter(|| {
            let mut params = base::servlet_params(black_box(&signed_query));
            params.extend(
                oauth_params()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            base::base_string("GET", black_box(&uri), &params)
        })
    });

    let mut params = base::servlet_params(&signed_query);
    params.extend(
        oauth_params()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    assert_eq!(params.len(), 11);
    g.bench_function("base_string", |b| {
        b.iter(|| base::base_string("GET", black_box(&uri), black_box(&params)))
    });
    g.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
