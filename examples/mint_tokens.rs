//! Mints signed JWTs for the load benchmark (bench/load.sh): one token per line on stdout.
//!
//! `mint_tokens <private-key.pem> <RS256|ES256> <issuer> <audience> <count> [ttl-seconds]`
//! The key is a PKCS#8 PEM (`openssl genpkey`). Each token has a distinct `jti` and
//! `preferred_username` = bench-user-<n % 50>. Signed with ring, the key parsed once (10 000
//! RS256 tokens take seconds; jsonwebtoken's RustCrypto signer re-parsed the key per token
//! and took minutes).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::json;

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: mint_tokens <key.pem> <RS256|ES256> <issuer> <audience> <count> [ttl-seconds]"
        );
        std::process::exit(2);
    }
    let pem = std::fs::read(&args[1]).expect("read the private key");
    let der = match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k))) => k.secret_pkcs8_der().to_vec(),
        _ => {
            eprintln!("{}: not a PKCS#8 private key PEM", args[1]);
            std::process::exit(2);
        }
    };
    let rng = SystemRandom::new();
    let (alg, key) = match args[2].as_str() {
        "RS256" => (
            "RS256",
            Key::Rsa(RsaKeyPair::from_pkcs8(&der).expect("RSA private key")),
        ),
        "ES256" => (
            "ES256",
            Key::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                    .expect("EC P-256 private key"),
            ),
        ),
        other => {
            eprintln!("unsupported algorithm {other}");
            std::process::exit(2);
        }
    };
    let count: usize = args[5].parse().expect("count");
    let ttl: u64 = args.get(6).map(|s| s.parse().expect("ttl")).unwrap_or(3600);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": "bench"}).to_string());
    for n in 0..count {
        let claims = json!({
            "iss": args[3],
            "aud": args[4],
            "sub": format!("bench-{n}"),
            "preferred_username": format!("bench-user-{}", n % 50),
            "groups": ["jira-users"],
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": format!("{n}"),
        });
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = match &key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("sign");
                sig
            }
            Key::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
        };
        println!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    }
}
