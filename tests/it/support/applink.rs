//! The application link's key for the `oauth1` tests: one 2048-bit RSA key per test binary,
//! written 0600 by `authgate::oauth1::key::generate` into a temp dir kept for the run.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The key file and the key.
pub fn key() -> &'static (PathBuf, rsa::RsaPrivateKey) {
    static KEY: OnceLock<(PathBuf, rsa::RsaPrivateKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir").keep();
        let path = dir.join("applink.pem");
        let key = authgate::oauth1::key::generate(&path, 2048).expect("a key");
        (path, key)
    })
}
