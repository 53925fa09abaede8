//! Token validation speed: the verified-token cache hit (target < 2 µs), uncached RS256 (2048)
//! and ES256 verification per operation (JOSE layer alone and the whole provider path), and
//! the introspection cache hit (target < 2 µs). Keys are the TEST-ONLY fixtures.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::authn::jws::{self, ALL_ALGORITHMS};
use authgate::authn::keys::VerifyKey;
use authgate::authn::{Authenticators, Deps};
use authgate::clock::SystemClock;
use authgate::metrics::Metrics;
use authgate::pipeline::credential::Credential;
use authgate::standin::idp::IdpStandin;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

const ISS: &str = "https://idp.bench";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn token(key: &EncodingKey, alg: Algorithm) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": ISS, "aud": "jira", "preferred_username": "alice", "groups": ["jira-users", "jira-developers"], "iat": now, "exp": now + 3600});
    let e = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let input = format!("{}.{}", e(&json!({"alg": alg, "typ": "JWT"})), e(&claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{sig}")
}

async fn authenticators(providers: &str) -> Authenticators {
    let text = format!("[upstream]\nurl = \"http://127.0.0.1:9\"\n[audit]\ndatabase_url = \"sqlite::memory:\"\nlog = \"off\"\n{providers}");
    let base = format!("{}/tests/fixtures/keys", env!("CARGO_MANIFEST_DIR"));
    let config = authgate::config::from_toml_with(&text, std::path::Path::new(&base), &|_| None)
        .expect("config");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Authenticators::build(
        &config,
        Deps {
            http,
            clock: Arc::new(SystemClock),
            metrics: Arc::new(Metrics::new()),
        },
    )
    .await
    .expect("providers")
}

fn jwt_provider(alg: &str, file: &str) -> String {
    format!("[[providers]]\nname = \"p\"\nkind = \"jwt\"\nissuer = \"{ISS}\"\naudiences = [\"jira\"]\nalgorithms = [\"{alg}\"]\npublic_key_file = \"{file}\"\ngroups_claim = \"groups\"\n")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let rsa = EncodingKey::from_rsa_pem(&fixture("test-rsa-a.key.pem")).expect("rsa");
    let ec = EncodingKey::from_ec_pem(&fixture("test-ec256.key.pem")).expect("ec");

    let rs_auth = rt.block_on(authenticators(&jwt_provider("RS256", "test-rsa-a.pub.pem")));
    let es_auth = rt.block_on(authenticators(&jwt_provider("ES256", "test-ec256.pub.pem")));
    let rs_cred = Credential::Jwt(token(&rsa, Algorithm::RS256));
    let es_cred = Credential::Jwt(token(&ec, Algorithm::ES256));
    rt.block_on(rs_auth.authenticate(&rs_cred))
        .expect("valid RS256 token");
    rt.block_on(es_auth.authenticate(&es_cred))
        .expect("valid ES256 token");

    let mut g = c.benchmark_group("authn");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.bench_function("jwt_cache_hit", |b| {
        b.to_async(&rt).iter(|| rs_auth.authenticate(&rs_cred))
    });

    // The JOSE layer alone: parse + signature with the configured key.
    let rsa_key = VerifyKey::from_pem_file(
        std::path::Path::new(&format!(
            "{}/tests/fixtures/keys/test-rsa-a.pub.pem",
            env!("CARGO_MANIFEST_DIR")
        )),
        false,
        SystemTime::now(),
    )
    .expect("key")
    .key;
    let ec_key = VerifyKey::from_pem_file(
        std::path::Path::new(&format!(
            "{}/tests/fixtures/keys/test-ec256.pub.pem",
            env!("CARGO_MANIFEST_DIR")
        )),
        false,
        SystemTime::now(),
    )
    .expect("key")
    .key;
    for (name, cred, key) in [
        ("rs256_verify", &rs_cred, &rsa_key),
        ("es256_verify", &es_cred, &ec_key),
    ] {
        let Credential::Jwt(t) = cred else {
            unreachable!()
        };
        let keys = vec![key.clone()];
        g.bench_function(name, |b| {
            b.iter(|| {
                let c = jws::parse(t, ALL_ALGORITHMS).expect("parse");
                jws::verify_signature(&c, &keys).expect("verifies");
            })
        });
    }
    // The whole uncached provider path (explain = no cache; includes the step trace).
    g.bench_function("rs256_uncached_full", |b| {
        b.to_async(&rt).iter(|| rs_auth.explain(&rs_cred))
    });
    g.bench_function("es256_uncached_full", |b| {
        b.to_async(&rt).iter(|| es_auth.explain(&es_cred))
    });

    let idp = rt.block_on(IdpStandin::start()).expect("idp");
    let opaque = "opaque-bench-token-0123456789abcdef";
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    idp.set_introspection(
        opaque,
        json!({"active": true, "username": "alice", "exp": now + 3600, "groups": ["jira-users"]}),
    );
    let intro = rt.block_on(authenticators(&format!(
        "[[providers]]\nname = \"o\"\nkind = \"introspection\"\nintrospection_url = \"{}\"\nclient_id = \"c\"\nclient_secret = \"s\"\ncache_ttl = \"10m\"\nusername_claim = \"username\"\ngroups_claim = \"groups\"\n",
        idp.introspection_url()
    )));
    let cred = Credential::Opaque(opaque.to_string());
    rt.block_on(intro.authenticate(&cred)).expect("active");
    g.bench_function("introspection_cache_hit", |b| {
        b.to_async(&rt).iter(|| intro.authenticate(&cred))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
