//! Stage 6, `authn`: checking bearer tokens — JWT providers and RFC 7662 introspection.
//!
//! Placeholder until issue 4 lands: no provider accepts anything.

use crate::config::Config;
use crate::pipeline::credential::Credential;
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};

/// Why the providers could not be built at start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// Every configured provider, chosen by issuer.
#[derive(Debug)]
pub struct Authenticators {
    introspection: bool,
}

impl Authenticators {
    /// Builds the providers (reads key files, fetches JWKS).
    pub async fn build(config: &Config, _http: &reqwest::Client) -> Result<Self, BuildError> {
        Ok(Authenticators {
            introspection: config
                .providers
                .iter()
                .any(|p| matches!(p.kind, crate::config::ProviderKind::Introspection { .. })),
        })
    }

    /// True when an introspection provider exists (opaque tokens go to it).
    pub fn has_introspection(&self) -> bool {
        self.introspection
    }

    /// Checks a JWT or opaque token.
    pub async fn authenticate(&self, _credential: &Credential) -> Result<Principal, Rejection> {
        Err(Rejection::new(Reason::UnknownIssuer))
    }
}

impl Authenticators {
    /// Ok when every provider has usable keys (for `/readyz`).
    pub fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
