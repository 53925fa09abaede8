//! The Wycheproof JWS and JWK vectors (C2SP/wycheproof, kept with their licence in
//! `tests/fixtures/wycheproof/`) through the JOSE layer the gateway uses: strict parsing
//! (`jws::parse`), keys loaded as configured keys or key sets (`VerifyKey::from_jwk`,
//! `jwks::parse_key_set` with the gateway's rules), and `jws::verify_signature`.
//!
//! Every `invalid` vector must be refused. Every `valid` vector must be accepted, except
//! those the gateway refuses on purpose (listed in `POLICY`), so a verifier that refused
//! everything could not pass.

use std::collections::BTreeMap;

use authgate::authn::jwks::parse_key_set;
use authgate::authn::jws::{self, ALL_ALGORITHMS};
use authgate::authn::keys::VerifyKey;
use serde_json::Value;

/// One vector file from `tests/fixtures/wycheproof/`.
fn corpus(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("corpus JSON")
}

/// Why the gateway refuses a vector Wycheproof calls valid.
const POLICY: &[&str] = &[
    "empty payload (a JWT always has a claims set)",
    "no usable key (P-521 / ES512 is not supported; a JWKS never supplies a symmetric key)",
    "not base64url (RFC 7515 §2: each part is strict base64url; `?` is not in the alphabet)",
    "ES512 is not supported",
    "the key names another alg (RFC 7517 §4.4: a key with `alg` is used for that alg only)",
];

fn verdict(token: &str, keys: &[VerifyKey]) -> Result<(), String> {
    let compact = jws::parse(token, ALL_ALGORITHMS).map_err(|e| {
        if e.to_string().contains("ES512") {
            POLICY[3].to_string()
        } else if token.split('.').nth(1) == Some("") {
            POLICY[0].to_string()
        } else if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            POLICY[2].to_string()
        } else {
            e.to_string()
        }
    })?;
    if keys.is_empty() {
        return Err(POLICY[1].to_string());
    }
    jws::verify_signature(&compact, keys)
        .map(|_| ())
        .map_err(|e| {
            let named_other = keys
                .iter()
                .any(|k| k.alg().is_some_and(|a| a != compact.alg));
            if jws::candidates(&compact, keys).is_empty() && named_other {
                POLICY[4].to_string()
            } else {
                e.to_string()
            }
        })
}

struct Tally {
    checked: usize,
    accepted_invalid: Vec<String>,
    refused_valid: BTreeMap<String, usize>,
    /// Vectors marked invalid that are byte-identical to a valid vector of the same group
    /// (json_web_signature_test.json #367 and #370 repeat #357): no verifier can satisfy
    /// both, so they are counted, not judged.
    contradictions: Vec<String>,
}

fn run(file: &str, keys_of: impl Fn(&Value) -> Vec<VerifyKey>) -> Tally {
    let doc = corpus(file);
    let mut t = Tally {
        checked: 0,
        accepted_invalid: Vec::new(),
        refused_valid: BTreeMap::new(),
        contradictions: Vec::new(),
    };
    for group in doc["testGroups"].as_array().expect("groups") {
        let keys = keys_of(group);
        let valid: Vec<&Value> = group["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["result"] == "valid")
            .map(|c| &c["jws"])
            .collect();
        for case in group["tests"].as_array().expect("tests") {
            let token = case["jws"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| case["jws"].to_string());
            let id = format!(
                "{file} #{} {}",
                case["tcId"],
                case["comment"].as_str().unwrap_or("")
            );
            if case["result"] == "invalid" && valid.contains(&&case["jws"]) {
                t.contradictions.push(id);
                continue;
            }
            let got = verdict(&token, &keys);
            t.checked += 1;
            match (case["result"].as_str(), got) {
                (Some("invalid"), Ok(())) => t.accepted_invalid.push(id),
                (Some("valid"), Err(why)) => *t.refused_valid.entry(why).or_default() += 1,
                _ => {}
            }
        }
    }
    t
}

fn assert_tally(t: &Tally, min_cases: usize) {
    eprintln!(
        "{} vectors judged; valid refused by policy: {:?}; contradictions skipped: {:?}",
        t.checked, t.refused_valid, t.contradictions
    );
    assert!(t.checked >= min_cases, "only {} vectors read", t.checked);
    assert!(
        t.accepted_invalid.is_empty(),
        "invalid vectors accepted: {:#?}",
        t.accepted_invalid
    );
    for (why, n) in &t.refused_valid {
        assert!(
            POLICY.contains(&why.as_str()),
            "{n} valid vector(s) refused: {why}"
        );
    }
}

/// A group's key: its public JWK when given, else its private one (HMAC groups have only
/// that). Loaded as a configured key would be.
fn single_key(group: &Value) -> Vec<VerifyKey> {
    let jwk = group.get("public").unwrap_or(&group["private"]);
    VerifyKey::from_jwk(jwk).into_iter().collect()
}

#[test]
fn json_web_signature_vectors() {
    let t = run("json_web_signature_test.json", single_key);
    assert_tally(&t, 395);
    assert!(t.contradictions.len() <= 2, "{:?}", t.contradictions);
    // The harness accepts what it should: the valid vectors outside POLICY verify.
    let refused: usize = t.refused_valid.values().sum();
    let doc = corpus("json_web_signature_test.json");
    let valid = doc["testGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["tests"].as_array().into_iter().flatten())
        .filter(|c| c["result"] == "valid")
        .count();
    assert!(
        valid - refused >= 20,
        "only {} of {valid} valid vectors accepted",
        valid - refused
    );
}

fn key_set(group: &Value, accept_oct: bool) -> Vec<VerifyKey> {
    let set = group.get("public").unwrap_or(&group["private"]);
    let doc = if set.get("keys").is_some() {
        set.clone()
    } else {
        serde_json::json!({ "keys": [set] })
    };
    parse_key_set(&doc, ALL_ALGORITHMS, "wycheproof", accept_oct).unwrap_or_default()
}

#[test]
fn json_web_key_vectors_as_key_sets() {
    // Key sets go through the JWKS rules: duplicate kids dropped, private keys, encryption
    // keys, weak and ROCA keys refused. First exactly as a remote JWKS (no `oct` ever)…
    let t = run("json_web_key_test.json", |g| key_set(g, false));
    assert_tally(&t, 20);
    // …then keeping `oct` keys as HMAC secrets, so the HMAC length rules and the mixed-set
    // rule are exercised too.
    let t = run("json_web_key_test.json", |g| key_set(g, true));
    assert_tally(&t, 20);
    assert!(t.refused_valid.is_empty(), "{:?}", t.refused_valid);
}
