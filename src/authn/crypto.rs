//! The signature arithmetic: one JWS signature checked against one key, with `ring`.
//!
//! Owns: [`verify`], the only place a token's signature is computed on. `jsonwebtoken`
//! still reads and validates the claims (`jwt.rs`), but with its signature step switched
//! off: its RustCrypto backend (the only one that builds here without cmake) took 194 µs for
//! an RS256 signature and 313 µs for ES256, ring takes a fraction of that (see
//! `docs/performance.md`), which is what a fleet of distinct tokens costs the gateway.
//!
//! Every algorithm maps to exactly one ring verification algorithm with fixed parameters: RSA
//! PKCS#1 v1.5 and PSS with 2048–8192-bit moduli (`keys.rs` refuses other sizes at load),
//! ECDSA with the fixed-width `r || s` signatures of RFC 7518 §3.4 (DER is refused), Ed25519,
//! and HMAC compared in constant time. The key's type is checked against the algorithm
//! before any arithmetic, so an RSA public key can never be used as an HMAC secret.

use jsonwebtoken::{Algorithm, DecodingKeyKind};
use ring::signature::{self, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey};

use super::keys::{KeyType, VerifyKey};

/// True when `signature` (raw bytes, base64url already decoded) over `message` verifies with
/// `key` under `alg`. False for any mismatch: wrong key type for `alg`, wrong length, bad
/// signature.
pub fn verify(alg: Algorithm, key: &VerifyKey, message: &[u8], signature: &[u8]) -> bool {
    use Algorithm::*;
    if !key.fits(alg) {
        return false;
    }
    let bytes = || match key.decoding().kind() {
        DecodingKeyKind::SecretOrDer(b) => Some(b.as_slice()),
        DecodingKeyKind::RsaModulusExponent { .. } => None,
    };
    // Raw public key bytes (EC point, Ed25519 key) checked with `alg`.
    let raw = |alg: &'static dyn signature::VerificationAlgorithm| {
        bytes().is_some_and(|b| {
            UnparsedPublicKey::new(alg, b)
                .verify(message, signature)
                .is_ok()
        })
    };
    match (alg, key.key_type()) {
        (_, KeyType::Rsa(_)) => rsa_params(alg).is_some_and(|p| rsa(p, key, message, signature)),
        (ES256, KeyType::EcP256) => raw(&signature::ECDSA_P256_SHA256_FIXED),
        (ES384, KeyType::EcP384) => raw(&signature::ECDSA_P384_SHA384_FIXED),
        (EdDSA, KeyType::Ed25519) => raw(&signature::ED25519),
        (HS256, KeyType::Hmac(_)) => hmac(ring::hmac::HMAC_SHA256, bytes(), message, signature),
        (HS384, KeyType::Hmac(_)) => hmac(ring::hmac::HMAC_SHA384, bytes(), message, signature),
        (HS512, KeyType::Hmac(_)) => hmac(ring::hmac::HMAC_SHA512, bytes(), message, signature),
        _ => false,
    }
}

/// The ring parameters of an RSA `alg`; `None` for every other algorithm.
fn rsa_params(alg: Algorithm) -> Option<&'static RsaParameters> {
    use Algorithm::*;
    Some(match alg {
        RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn rsa(params: &'static RsaParameters, key: &VerifyKey, message: &[u8], sig: &[u8]) -> bool {
    match key.decoding().kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => RsaPublicKeyComponents { n, e }
            .verify(params, message, sig)
            .is_ok(),
        // PKCS#1 `RSAPublicKey` DER.
        DecodingKeyKind::SecretOrDer(der) => UnparsedPublicKey::new(params, der)
            .verify(message, sig)
            .is_ok(),
    }
}

fn hmac(alg: ring::hmac::Algorithm, secret: Option<&[u8]>, message: &[u8], sig: &[u8]) -> bool {
    secret.is_some_and(|s| ring::hmac::verify(&ring::hmac::Key::new(alg, s), message, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(alg: Algorithm, pem: &[u8], msg: &[u8]) -> Vec<u8> {
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => jsonwebtoken::EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(pem),
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
        }
        .expect("test private key");
        let b64 = jsonwebtoken::crypto::sign(msg, &key, alg).expect("sign");
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b64)
            .expect("base64url")
    }

    fn key(pem: &str) -> VerifyKey {
        VerifyKey::from_pem_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/keys")
                .join(pem)
                .as_path(),
            false,
            std::time::SystemTime::now(),
        )
        .expect("test public key")
        .key
    }

    fn private(pem: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/keys")
                .join(pem),
        )
        .expect("test private key file")
    }

    #[test]
    fn every_asymmetric_algorithm_verifies_its_own_signature_and_nothing_else() {
        let cases = [
            (Algorithm::RS256, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::RS384, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::RS512, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::PS256, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::PS384, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::PS512, "test-rsa-a.key.pem", "test-rsa-a.pub.pem"),
            (Algorithm::ES256, "test-ec256.key.pem", "test-ec256.pub.pem"),
            (Algorithm::ES384, "test-ec384.key.pem", "test-ec384.pub.pem"),
            (
                Algorithm::EdDSA,
                "test-ed25519.key.pem",
                "test-ed25519.pub.pem",
            ),
        ];
        let msg = b"header.payload";
        for (alg, private_pem, public_pem) in cases {
            let k = key(public_pem);
            let sig = sign(alg, &private(private_pem), msg);
            assert!(verify(alg, &k, msg, &sig), "{alg:?} own signature");
            assert!(
                !verify(alg, &k, b"header.payloaD", &sig),
                "{alg:?} other message"
            );
            let mut flipped = sig.clone();
            flipped[sig.len() / 2] ^= 1;
            assert!(!verify(alg, &k, msg, &flipped), "{alg:?} flipped bit");
            assert!(!verify(alg, &k, msg, &sig[1..]), "{alg:?} short signature");
            assert!(!verify(alg, &k, msg, &[]), "{alg:?} empty signature");
        }
        // PKCS#1 v1.5 and PSS are different schemes over the same key.
        let rsa = key("test-rsa-a.pub.pem");
        let pss = sign(Algorithm::PS256, &private("test-rsa-a.key.pem"), msg);
        assert!(!verify(Algorithm::RS256, &rsa, msg, &pss));
        let pkcs1 = sign(Algorithm::RS256, &private("test-rsa-a.key.pem"), msg);
        assert!(!verify(Algorithm::PS256, &rsa, msg, &pkcs1));
        assert!(
            !verify(Algorithm::RS384, &rsa, msg, &pkcs1),
            "hash is part of the alg"
        );
    }

    #[test]
    fn a_public_key_is_never_an_hmac_secret() {
        let rsa = key("test-rsa-a.pub.pem");
        let Some(der) = (match rsa.decoding().kind() {
            DecodingKeyKind::SecretOrDer(b) => Some(b.clone()),
            DecodingKeyKind::RsaModulusExponent { n, .. } => Some(n.clone()),
        }) else {
            unreachable!()
        };
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &der),
            b"header.payload",
        );
        assert!(!verify(
            Algorithm::HS256,
            &rsa,
            b"header.payload",
            tag.as_ref()
        ));
    }

    #[test]
    fn hmac_compares_the_whole_tag() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let k = VerifyKey::hmac(secret).expect("32-byte secret");
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            b"header.payload",
        );
        assert!(verify(
            Algorithm::HS256,
            &k,
            b"header.payload",
            tag.as_ref()
        ));
        assert!(!verify(
            Algorithm::HS256,
            &k,
            b"header.payload",
            &tag.as_ref()[..31]
        ));
        assert!(!verify(
            Algorithm::HS384,
            &k,
            b"header.payload",
            tag.as_ref()
        ));
    }
}
