//! The application link's RSA key: read and checked (`upstream.identity.private_key_file`),
//! or made by `authgate applink --generate-key`.
//!
//! Owns: the file checks (not readable by group or others, PKCS#1 or PKCS#8 PEM, at least
//! [`MIN_BITS`]) with errors that name the key, key generation (written 0600, never over an
//! existing file), and the public key in the PEM form the product's link screen takes.

use std::io::Write;
use std::path::Path;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

/// The smallest key accepted.
pub const MIN_BITS: usize = 2048;
/// The key sizes `applink --generate-key --bits` makes.
pub const GENERATED_BITS: [usize; 3] = [2048, 3072, 4096];

/// Why the key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// Group or others may read the file.
    #[error("{path} is readable by group or others (mode {mode:o}); run chmod 600 {path}")]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Not an RSA private key in PEM.
    #[error("{path} is not an RSA private key in PEM (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`)")]
    NotRsa {
        /// The file.
        path: String,
    },
    /// Too small.
    #[error("{path} is a {bits}-bit key; at least {MIN_BITS} bits are required")]
    TooSmall {
        /// The file.
        path: String,
        /// Its size.
        bits: usize,
    },
    /// `--bits` asked for a size not offered.
    #[error("--bits {0}: use 2048, 3072 or 4096")]
    Bits(usize),
    /// Making or writing a new key failed.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: String,
        /// What went wrong.
        error: String,
    },
}

/// Reads and checks the private key at `path`.
pub fn load(path: &Path) -> Result<RsaPrivateKey, KeyError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|error| KeyError::Read {
        path: shown.clone(),
        error,
    })?;
    check_mode(&meta, &shown)?;
    let text = std::fs::read_to_string(path).map_err(|error| KeyError::Read {
        path: shown.clone(),
        error,
    })?;
    let key = RsaPrivateKey::from_pkcs8_pem(&text)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&text))
        .map_err(|_| KeyError::NotRsa {
            path: shown.clone(),
        })?;
    let bits = key.size() * 8;
    if bits < MIN_BITS {
        return Err(KeyError::TooSmall { path: shown, bits });
    }
    Ok(key)
}

#[cfg(unix)]
fn check_mode(meta: &std::fs::Metadata, path: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_string(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &std::fs::Metadata, _: &str) -> Result<(), KeyError> {
    Ok(())
}

/// Makes a new `bits`-bit key and writes it to `path` as PKCS#8 PEM, mode 0600. Refuses
/// to write over an existing file.
pub fn generate(path: &Path, bits: usize) -> Result<RsaPrivateKey, KeyError> {
    if !GENERATED_BITS.contains(&bits) {
        return Err(KeyError::Bits(bits));
    }
    let shown = path.display().to_string();
    let write_err = |error: String| KeyError::Write {
        path: shown.clone(),
        error,
    };
    let key =
        RsaPrivateKey::new(&mut rand::thread_rng(), bits).map_err(|e| write_err(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| write_err(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| write_err(e.to_string()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| write_err(e.to_string()))?;
    Ok(key)
}

/// The public half as `-----BEGIN PUBLIC KEY-----` PEM (what the link screen takes).
pub fn public_pem(key: &RsaPrivateKey) -> String {
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap_or_default()
}

/// The key size in bits.
pub fn bits(key: &RsaPrivateKey) -> usize {
    key.size() * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_others_can_read_is_refused_and_a_small_key_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = generate(&path, 2048).unwrap();
        assert_eq!(bits(&key), 2048);
        assert!(load(&path).is_ok());
        assert!(matches!(generate(&path, 2048), Err(KeyError::Write { .. })));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("readable by group or others") && e.contains("k.pem"),
            "{e}"
        );
        let small = dir.path().join("small.pem");
        let k = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        std::fs::write(&small, k.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        std::fs::set_permissions(&small, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = load(&small).unwrap_err().to_string();
        assert!(e.contains("1024-bit") && e.contains("2048"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load(&junk), Err(KeyError::NotRsa { .. })));
        assert!(matches!(
            generate(&dir.path().join("x.pem"), 1024),
            Err(KeyError::Bits(1024))
        ));
    }
}
