//! Verification keys: what a provider may check a signature with, and how each is loaded.
//!
//! Owns: [`VerifyKey`] (a `jsonwebtoken::DecodingKey` plus its type, `kid` and optional own
//! `alg`), loading from a PEM public key (RSA, EC P-256/P-384, Ed25519), from the key of an
//! X.509 certificate (expiry reported), from a JWK, and from an HMAC secret. Every key is
//! checked once when loaded: RSA of 2048–8192 bits with a sane exponent and no ROCA
//! fingerprint, EC points on their curve, Ed25519 points valid, HMAC secrets at least as long
//! as the hash. The `alg` a token may use with a key is decided by [`VerifyKey::fits`].

use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};
use x509_parser::public_key::{PublicKey, RSAPublicKey};

/// The smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted (ring's limit; bigger keys only slow every verification).
pub const MAX_RSA_BITS: usize = 8192;

/// What a key is, which decides the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA with this many modulus bits (RS*, PS*).
    Rsa(usize),
    /// ECDSA on P-256 (ES256 only).
    EcP256,
    /// ECDSA on P-384 (ES384 only).
    EcP384,
    /// Ed25519 (EdDSA).
    Ed25519,
    /// A shared secret of this many bytes (HS*).
    Hmac(usize),
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyType::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyType::EcP256 => f.write_str("EC P-256"),
            KeyType::EcP384 => f.write_str("EC P-384"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
            KeyType::Hmac(n) => write!(f, "HMAC secret ({n} bytes)"),
        }
    }
}

/// One key a signature may be checked with.
#[derive(Clone)]
pub struct VerifyKey {
    kid: Option<String>,
    key_type: KeyType,
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("type", &self.key_type)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError(s.into()))
}

impl VerifyKey {
    /// The key id (JWKS keys), if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// What the key is.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
    /// The key's own `alg` (JWK), if it names one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }
    /// The `jsonwebtoken` key.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// True when a token signed with `alg` may be checked with this key: the algorithm family
    /// and curve match the key type, and a key that names its own `alg` is used for it only.
    pub fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        let by_type = match self.key_type {
            KeyType::Rsa(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyType::EcP256 => alg == ES256,
            KeyType::EcP384 => alg == ES384,
            KeyType::Ed25519 => alg == EdDSA,
            KeyType::Hmac(n) => match alg {
                HS256 => n >= 32,
                HS384 => n >= 48,
                HS512 => n >= 64,
                _ => false,
            },
        };
        by_type && self.alg.is_none_or(|own| own == alg)
    }

    /// A shared secret (`hmac_secret`); at least 32 bytes.
    pub fn hmac(secret: &[u8]) -> Result<VerifyKey, KeyError> {
        if secret.len() < 32 {
            return err(format!(
                "an HMAC secret needs at least 32 bytes, this one has {}",
                secret.len()
            ));
        }
        Ok(VerifyKey {
            kid: None,
            key_type: KeyType::Hmac(secret.len()),
            alg: None,
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// A PEM file holding a public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) or, with
    /// `certificate`, an X.509 certificate whose key is used.
    pub fn from_pem_file(
        path: &Path,
        certificate: bool,
        now: std::time::SystemTime,
    ) -> Result<Loaded, KeyError> {
        let bytes =
            std::fs::read(path).map_err(|e| KeyError(format!("{}: {e}", path.display())))?;
        let loaded = if certificate {
            from_certificate_pem(&bytes, now)
        } else {
            from_public_pem(&bytes)
        };
        loaded.map_err(|e| KeyError(format!("{}: {e}", path.display())))
    }

    /// A JWK (RFC 7517). Refuses keys for encryption (`use` other than `sig`, `key_ops`
    /// without `verify`), keys carrying private parameters, unknown `alg`s and weak keys.
    /// `oct` keys are read as HMAC secrets: callers that must never accept a symmetric key
    /// from a key set (JWKS) filter them out before.
    pub fn from_jwk(jwk: &Value) -> Result<VerifyKey, KeyError> {
        let Some(o) = jwk.as_object() else {
            return err("a JWK must be a JSON object");
        };
        let s = |name: &str| -> Result<Option<&str>, KeyError> {
            match o.get(name) {
                None => Ok(None),
                Some(Value::String(v)) => Ok(Some(v.as_str())),
                Some(_) => err(format!("JWK member `{name}` is not a string")),
            }
        };
        let b = |name: &str| -> Result<Vec<u8>, KeyError> {
            let v = s(name)?.ok_or_else(|| KeyError(format!("JWK has no `{name}`")))?;
            URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| KeyError(format!("JWK `{name}` is not base64url")))
        };
        if let Some(u) = s("use")? {
            if u != "sig" {
                return err(format!("JWK use {u:?} is not \"sig\""));
            }
        }
        if let Some(ops) = o.get("key_ops") {
            let verify = ops
                .as_array()
                .is_some_and(|a| a.iter().any(|op| op.as_str() == Some("verify")));
            if !verify {
                return err("JWK key_ops does not allow \"verify\"");
            }
        }
        let kty = s("kty")?.ok_or_else(|| KeyError("JWK has no kty".into()))?;
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            if kty != "oct" && o.contains_key(private) {
                return err("JWK carries a private key part");
            }
        }
        let alg = match s("alg")? {
            None => None,
            Some(a) => Some(
                Algorithm::from_str(a)
                    .map_err(|_| KeyError(format!("JWK alg {a:?} is not supported")))?,
            ),
        };
        let mut key = match (kty, s("crv")?) {
            ("RSA", _) => rsa_key(&b("n")?, &b("e")?)?,
            ("EC", Some("P-256")) => ec_key(&b("x")?, &b("y")?, KeyType::EcP256, 32)?,
            ("EC", Some("P-384")) => ec_key(&b("x")?, &b("y")?, KeyType::EcP384, 48)?,
            ("OKP", Some("Ed25519")) => ed_key(&b("x")?)?,
            ("oct", _) => VerifyKey::hmac(&b("k")?)?,
            (kty, crv) => return err(format!("JWK kty {kty:?} crv {crv:?} is not supported")),
        };
        key.kid = s("kid")?.map(str::to_string);
        key.alg = alg;
        if let Some(a) = alg {
            if !key.fits(a) {
                return err(format!("JWK alg {a:?} does not fit a {} key", key.key_type));
            }
        }
        Ok(key)
    }
}

/// A key read from a file, with what the operator should hear about it.
#[derive(Debug)]
pub struct Loaded {
    /// The key.
    pub key: VerifyKey,
    /// Start-up warnings (an expired or not yet valid certificate).
    pub warnings: Vec<String>,
}

fn pem_blocks(bytes: &[u8]) -> Result<Vec<x509_parser::pem::Pem>, KeyError> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        out.push(p.map_err(|e| KeyError(format!("not PEM: {e}")))?);
    }
    if out.is_empty() {
        return err("no PEM block found");
    }
    Ok(out)
}

fn from_public_pem(bytes: &[u8]) -> Result<Loaded, KeyError> {
    let blocks = pem_blocks(bytes)?;
    let pem = &blocks[0];
    let key = match pem.label.as_str() {
        "PUBLIC KEY" => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&pem.contents)
                .map_err(|_| KeyError("PUBLIC KEY is not valid DER".into()))?;
            from_spki(&spki)?
        }
        "RSA PUBLIC KEY" => {
            let (_, rsa) = RSAPublicKey::from_der(&pem.contents)
                .map_err(|_| KeyError("RSA PUBLIC KEY is not valid DER".into()))?;
            rsa_key(rsa.modulus, rsa.exponent)?
        }
        "CERTIFICATE" => return err("this is a certificate: use certificate_file"),
        l if l.contains("PRIVATE") => {
            return err("this is a private key: configure the public key")
        }
        l => return err(format!("PEM block {l:?} is not a public key")),
    };
    Ok(Loaded {
        key,
        warnings: Vec::new(),
    })
}

fn from_certificate_pem(bytes: &[u8], now: std::time::SystemTime) -> Result<Loaded, KeyError> {
    let blocks = pem_blocks(bytes)?;
    let pem = blocks
        .iter()
        .find(|p| p.label == "CERTIFICATE")
        .ok_or_else(|| KeyError("no CERTIFICATE block".into()))?;
    let (_, cert) = X509Certificate::from_der(&pem.contents)
        .map_err(|e| KeyError(format!("not an X.509 certificate: {e}")))?;
    let key = from_spki(cert.public_key())?;
    let mut warnings = Vec::new();
    let unix = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let validity = cert.validity();
    if validity.not_after.timestamp() < unix {
        warnings.push(format!(
            "certificate expired on {} (its key is still used; replace the certificate)",
            validity.not_after
        ));
    } else if validity.not_before.timestamp() > unix {
        warnings.push(format!(
            "certificate is not valid before {}",
            validity.not_before
        ));
    }
    Ok(Loaded { key, warnings })
}

fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<VerifyKey, KeyError> {
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa_key(rsa.modulus, rsa.exponent),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let data = point.data();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => ec_point(data, KeyType::EcP256, 32),
                "1.3.132.0.34" => ec_point(data, KeyType::EcP384, 48),
                other => err(format!(
                    "EC curve {other} is not supported (P-256 or P-384)"
                )),
            }
        }
        Ok(PublicKey::Unknown(raw)) if oid == "1.3.101.112" => ed_key(raw),
        Ok(_) => err(format!(
            "key algorithm {oid} is not supported (RSA, EC P-256/P-384, Ed25519)"
        )),
        Err(e) => err(format!("public key does not parse: {e}")),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<VerifyKey, KeyError> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return err(format!(
            "RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"
        ));
    }
    if bits > MAX_RSA_BITS {
        return err(format!(
            "RSA key of {bits} bits: at most {MAX_RSA_BITS} are supported"
        ));
    }
    let exponent = if e.len() <= 8 {
        e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    } else {
        0
    };
    if exponent < 3 || exponent % 2 == 0 || exponent > u64::from(u32::MAX) {
        return err("RSA public exponent is not a small odd number (3 ..= 2^32-1)");
    }
    if roca_fingerprint(n) {
        return err("RSA key has the ROCA fingerprint (CVE-2017-15361): regenerate it");
    }
    probe(VerifyKey {
        kid: None,
        key_type: KeyType::Rsa(bits),
        alg: None,
        decoding: DecodingKey::from_rsa_raw_components(n, e),
    })
}

fn ec_key(x: &[u8], y: &[u8], key_type: KeyType, len: usize) -> Result<VerifyKey, KeyError> {
    if x.len() != len || y.len() != len {
        return err(format!("{key_type} coordinates must be {len} bytes"));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    ec_point(&point, key_type, len)
}

fn ec_point(point: &[u8], key_type: KeyType, len: usize) -> Result<VerifyKey, KeyError> {
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return err(format!("{key_type} key must be an uncompressed point"));
    }
    probe(VerifyKey {
        kid: None,
        key_type,
        alg: None,
        decoding: DecodingKey::from_ec_der(point),
    })
}

fn ed_key(x: &[u8]) -> Result<VerifyKey, KeyError> {
    if x.len() != 32 {
        return err("Ed25519 key must be 32 bytes");
    }
    probe(VerifyKey {
        kid: None,
        key_type: KeyType::Ed25519,
        alg: None,
        decoding: DecodingKey::from_ed_der(x),
    })
}

/// Builds the crypto provider's verifier once: a point off its curve, an invalid Ed25519
/// point or an RSA key the provider refuses fails here, at load, not per request.
fn probe(key: VerifyKey) -> Result<VerifyKey, KeyError> {
    let alg = match key.key_type {
        KeyType::Rsa(_) => Algorithm::RS256,
        KeyType::EcP256 => Algorithm::ES256,
        KeyType::EcP384 => Algorithm::ES384,
        KeyType::Ed25519 => Algorithm::EdDSA,
        KeyType::Hmac(_) => return Ok(key),
    };
    match jsonwebtoken::crypto::verify("AAAA", b"probe", &key.decoding, alg) {
        Ok(_) => Ok(key),
        Err(e) => err(format!("{} key is invalid: {e}", key.key_type)),
    }
}

/// The ROCA test (Nemec et al., CCS 2017): the modulus of a key made by the vulnerable
/// Infineon library is, modulo each of these small primes, a power of 65537.
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u64; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % p);
        let g = 65537 % p;
        let mut x = 1u64;
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
        }
        false
    })
}

/// The public JWK of a PEM public key, with `kid` and `alg`: used by the IdP stand-in and the
/// demo to publish keys. Never includes private parts.
pub fn public_jwk_from_pem(pem: &[u8], kid: &str, alg: Algorithm) -> Result<Value, KeyError> {
    let blocks = pem_blocks(pem)?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(&blocks[0].contents)
        .map_err(|_| KeyError("PUBLIC KEY is not valid DER".into()))?;
    let e64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let alg_name = serde_json::to_value(alg).unwrap_or(Value::Null);
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Ok(json!({"kty":"RSA","kid":kid,"alg":alg_name,"use":"sig",
            "n": e64(strip_zeros(rsa.modulus)), "e": e64(strip_zeros(rsa.exponent))})),
        Ok(PublicKey::EC(point)) => {
            let d = point.data();
            let (crv, len) = match d.len() {
                65 => ("P-256", 32),
                97 => ("P-384", 48),
                _ => return err("unsupported EC point"),
            };
            Ok(
                json!({"kty":"EC","kid":kid,"alg":alg_name,"use":"sig","crv":crv,
                "x": e64(&d[1..1 + len]), "y": e64(&d[1 + len..])}),
            )
        }
        Ok(PublicKey::Unknown(raw)) if oid == "1.3.101.112" => Ok(
            json!({"kty":"OKP","kid":kid,"alg":alg_name,"use":"sig","crv":"Ed25519","x": e64(raw)}),
        ),
        _ => err("unsupported public key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_length_per_algorithm() {
        let k = VerifyKey::hmac(&[7u8; 40]).unwrap();
        assert!(k.fits(Algorithm::HS256));
        assert!(!k.fits(Algorithm::HS384));
        assert!(!k.fits(Algorithm::RS256));
        assert!(VerifyKey::hmac(&[7u8; 31]).is_err());
    }

    #[test]
    fn roca_check_passes_ordinary_moduli() {
        // 2^2048 - 1 style moduli are not ROCA-shaped; the fingerprint needs every residue.
        assert!(!roca_fingerprint(&[0xff; 256]));
        assert!(!roca_fingerprint(&[0xc5; 256]));
    }

    #[test]
    fn jwk_rejects_enc_private_and_mismatched_alg() {
        let ec = json!({"kty":"EC","crv":"P-256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"});
        assert!(VerifyKey::from_jwk(&ec).is_ok());
        let mut enc = ec.clone();
        enc["use"] = json!("enc");
        assert!(VerifyKey::from_jwk(&enc).is_err());
        let mut wrong = ec.clone();
        wrong["alg"] = json!("ES384");
        assert!(VerifyKey::from_jwk(&wrong).is_err());
        let mut off_curve = ec.clone();
        off_curve["y"] = json!("UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgnw");
        assert!(VerifyKey::from_jwk(&off_curve).is_err());
        let mut private = ec;
        private["d"] = json!("AAAA");
        assert!(VerifyKey::from_jwk(&private).is_err());
    }
}
