//! Mints signed JWTs for the load benchmark (bench/load.sh): one token per line on stdout.
//!
//! `mint_tokens <private-key.pem> <RS256|ES256> <issuer> <audience> <count> [ttl-seconds]`
//! Each token has a distinct `jti` and `preferred_username` = bench-user-<n % 50>.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: mint_tokens <key.pem> <RS256|ES256> <issuer> <audience> <count> [ttl-seconds]"
        );
        std::process::exit(2);
    }
    let pem = std::fs::read(&args[1]).expect("read the private key");
    let (alg, key) = match args[2].as_str() {
        "RS256" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&pem).expect("RSA private key PEM"),
        ),
        "ES256" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&pem).expect("EC P-256 private key PEM"),
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
    let mut header = Header::new(alg);
    header.kid = Some("bench".into());
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
        println!("{}", encode(&header, &claims, &key).expect("sign"));
    }
}
