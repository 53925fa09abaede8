//! The JOSE layer: a compact JWS read strictly, and its signature checked against a key set.
//!
//! Owns: the token's structure (three strict base64url parts, at most 8 KiB), the protected
//! header (a JSON object without duplicate members; `alg` a string in the allow-list; `crit`,
//! `b64`, `zip`, `enc` and nested `cty: JWT` refused; `kid` an opaque string used only to pick
//! among configured keys; `jku`, `x5u`, `jwk`, `x5c` never read), and [`verify_signature`],
//! which the Wycheproof negative corpus runs. Claims are `jwt.rs`'s business.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::keys::VerifyKey;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Every algorithm the crypto provider implements (`none` is not one). Provider
/// allow-lists are subsets of this.
pub const ALL_ALGORITHMS: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// A `kid` longer than this is refused (it is only ever a map key).
const MAX_KID_BYTES: usize = 256;

/// Why a compact JWS was refused at the JOSE layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not a well-formed compact JWS (structure, base64url, header JSON, forbidden header).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` missing, unknown, `none`, or not in the allow-list.
    #[error("algorithm not allowed: {0}")]
    AlgNotAllowed(String),
    /// No key fits, or no fitting key verifies the signature.
    #[error("bad signature: {0}")]
    BadSignature(String),
}

/// A compact JWS whose structure and header passed; the signature is not checked yet.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The whole token.
    pub token: &'a str,
    /// The protected header.
    pub header: Map<String, Value>,
    /// `alg`, already in the allow-list.
    pub alg: Algorithm,
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    /// The signature part, base64url.
    pub signature_b64: &'a str,
    /// The decoded payload.
    pub payload: Vec<u8>,
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, JwsError> {
    if !is_b64url(part) {
        return Err(JwsError::Malformed(format!("{what} is not base64url")));
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwsError::Malformed(format!("{what} is not canonical base64url")))
}

/// Reads `token` as a compact JWS and checks its header against `allowed`. Never panics.
pub fn parse<'a>(token: &'a str, allowed: &[Algorithm]) -> Result<Compact<'a>, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::Malformed(format!(
            "token of {} bytes",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("not three dot-separated parts".into()));
    };
    if h.is_empty() || p.is_empty() {
        return Err(JwsError::Malformed("empty header or payload".into()));
    }
    let header_bytes = b64(h, "header")?;
    let header = match strict_json(&header_bytes) {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(JwsError::Malformed(
                "header is not a JSON object without duplicate members".into(),
            ))
        }
    };
    let alg_name = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        Some(_) => return Err(JwsError::AlgNotAllowed("alg is not a string".into())),
        None => return Err(JwsError::AlgNotAllowed("no alg".into())),
    };
    let alg = Algorithm::from_str(&alg_name)
        .ok()
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| {
            JwsError::AlgNotAllowed(format!("alg {:?}", alg_name.escape_debug().to_string()))
        })?;
    // RFC 7515 §4.1.11: an extension we do not implement makes the JWS invalid; we implement
    // none, so any `crit` (even an empty or malformed one) is refused.
    for forbidden in ["crit", "b64", "zip", "enc"] {
        if header.contains_key(forbidden) {
            return Err(JwsError::Malformed(format!(
                "header parameter `{forbidden}` is not supported"
            )));
        }
    }
    if let Some(cty) = header.get("cty") {
        if cty.as_str().is_none_or(|c| c.eq_ignore_ascii_case("JWT")) {
            return Err(JwsError::Malformed(
                "nested JWT (cty) is not supported".into(),
            ));
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_BYTES => Some(k.clone()),
        Some(Value::String(_)) => return Err(JwsError::Malformed("kid too long".into())),
        Some(_) => return Err(JwsError::Malformed("kid is not a string".into())),
    };
    if !s.is_empty() && !is_b64url(s) {
        return Err(JwsError::Malformed("signature is not base64url".into()));
    }
    let payload = b64(p, "payload")?;
    Ok(Compact {
        token,
        header,
        alg,
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature_b64: s,
        payload,
    })
}

/// The keys that may verify `jws`: the `alg` fits the key type (and the key's own `alg`, if
/// it has one); when the token names a `kid`, only keys with that `kid`.
pub fn candidates<'k>(jws: &Compact<'_>, keys: &'k [VerifyKey]) -> Vec<&'k VerifyKey> {
    keys.iter()
        .filter(|k| k.fits(jws.alg))
        .filter(|k| match (&jws.kid, k.kid()) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => keys.len() == 1,
            (None, _) => true,
        })
        .collect()
}

/// Checks the signature with the first fitting key that verifies it. The signature must be
/// non-empty; [`super::crypto::verify`] does the arithmetic.
pub fn verify_signature<'k>(
    jws: &Compact<'_>,
    keys: &'k [VerifyKey],
) -> Result<&'k VerifyKey, JwsError> {
    if jws.signature_b64.is_empty() {
        return Err(JwsError::BadSignature("no signature".into()));
    }
    let fitting = candidates(jws, keys);
    if fitting.is_empty() {
        return Err(JwsError::BadSignature(no_key(jws)));
    }
    first_verifying(jws, fitting)
        .ok_or_else(|| JwsError::BadSignature("signature does not verify".into()))
}

/// The first of `fitting` whose signature check passes; `None` for an undecodable signature
/// (an empty one verifies with no key: callers refuse it first, with its own message).
pub fn first_verifying<K: std::borrow::Borrow<VerifyKey>>(
    jws: &Compact<'_>,
    fitting: impl IntoIterator<Item = K>,
) -> Option<K> {
    let signature = URL_SAFE_NO_PAD.decode(jws.signature_b64).ok()?;
    fitting.into_iter().find(|key| {
        super::crypto::verify(
            jws.alg,
            key.borrow(),
            jws.signing_input.as_bytes(),
            &signature,
        )
    })
}

/// The sentence for "no key fits".
pub fn no_key(jws: &Compact<'_>) -> String {
    match &jws.kid {
        Some(k) => format!(
            "no {:?} key with kid {:?}",
            jws.alg,
            k.escape_debug().to_string()
        ),
        None => format!("no {:?} key", jws.alg),
    }
}

/// Parses JSON, refusing duplicate object members at any depth (RFC 7515 §4 / RFC 7519 §4
/// allow refusing them, and "last wins" differs between parsers). serde_json's recursion
/// limit stays in force. `None` on any error.
pub fn strict_json(bytes: &[u8]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(v.0)
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.insert(k, v).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(strict_json(br#"{"a":1,"a":2}"#).is_none());
        assert!(strict_json(br#"{"a":{"b":1,"b":1}}"#).is_none());
        assert!(strict_json(br#"[{"b":1},{"b":1}]"#).is_some());
        assert!(strict_json(br#"{"a":1} x"#).is_none());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(strict_json(deep.as_bytes()).is_none());
    }

    #[test]
    fn header_checks() {
        let rs = [Algorithm::RS256];
        let tok = |h: &str| format!("{}.{}.c2ln", enc(h), enc("{}"));
        assert!(parse(&tok(r#"{"alg":"RS256"}"#), &rs).is_ok());
        for (h, want) in [
            (r#"{"alg":"none"}"#, "alg"),
            (r#"{"alg":"RS256 "}"#, "alg"),
            (r#"{"alg":"HS256"}"#, "alg"),
            (r#"{"alg":null}"#, "alg"),
            (r#"{}"#, "alg"),
            (r#"{"alg":"RS256","crit":[]}"#, "crit"),
            (r#"{"alg":"RS256","b64":false}"#, "b64"),
            (r#"{"alg":"RS256","kid":7}"#, "kid"),
            (r#"{"alg":"RS256","cty":"JWT"}"#, "cty"),
            (r#"{"alg":"RS256","alg":"none"}"#, "duplicate"),
        ] {
            let e = parse(&tok(h), &rs).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains(want) || (want == "duplicate" && text.contains("duplicate")),
                "{h}: {text}"
            );
        }
    }

    #[test]
    fn structure_checks() {
        let rs = [Algorithm::RS256];
        let h = enc(r#"{"alg":"RS256"}"#);
        for t in [
            String::new(),
            format!("{h}.e30"),
            format!("{h}.e30.c2ln.x"),
            format!("{h}..c2ln"),
            format!("{h}.e30=.c2ln"),
            format!("{h}.e3 0.c2ln"),
            format!("{h}.e31.c2ln"), // non-canonical trailing bits
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(
                matches!(parse(&t, &rs), Err(JwsError::Malformed(_))),
                "{t:.40}"
            );
        }
    }
}
