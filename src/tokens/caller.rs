//! Who is calling `/_authgate/*`: a provider token (JWT, or an opaque token when an
//! introspection provider exists) or Basic credentials that the product itself accepts.
//!
//! Owns: verifying Basic with the product through `groups::ProductClient` (the one client
//! of the product's "who am I" and group endpoints, with its answer-size, page and timeout
//! limits), asked *as the caller* so no privileged account is needed; failures are counted
//! by `attempts::AttemptLimiter`. Basic is accepted here even with `disable_basic`: it is how
//! a user without an IdP token gets their first gateway token (docs/tokens.md).

use http::{header, HeaderMap};

use crate::carriers::Params;
use crate::groups::{LookupError, ProductClient};
use crate::pipeline::credential::{self, Credential};
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::state::{AppState, Runtime};

/// The authenticated caller of `/_authgate`, with groups (from the product for Basic, from
/// `groups.source` for provider tokens).
pub async fn identify(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let cred = credential::classify(headers, &rt.config.upstream.carriers, &Params::default())?;
    match &cred {
        Credential::Basic { username } => basic(state, rt, headers, username, client_ip).await,
        Credential::Jwt(_) => rt.groups.resolve(rt.authn.authenticate(&cred).await?).await,
        Credential::Opaque(_) if rt.authn.has_introspection() => {
            rt.groups.resolve(rt.authn.authenticate(&cred).await?).await
        }
        Credential::None | Credential::Session => Err(Rejection::new(Reason::CredentialRequired)
            .detail("/_authgate needs a provider token or Basic credentials")),
        Credential::GatewayToken(_) | Credential::Pat(_) | Credential::Opaque(_) => {
            Err(Rejection::new(Reason::CredentialRejected)
                .detail("/_authgate accepts only a provider token or Basic credentials"))
        }
    }
}

async fn basic(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    username: &str,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let limiter = rt.tokens.attempts();
    if limiter.blocked(username, client_ip) {
        return Err(Rejection::new(Reason::RateLimited)
            .detail("too many failed Basic attempts for this user or address at /_authgate"));
    }
    // Only the credential goes along: the product answers for exactly these Basic credentials.
    let mut ask = HeaderMap::new();
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        let mut a = a.clone();
        a.set_sensitive(true);
        ask.insert(header::AUTHORIZATION, a);
    }
    let client = ProductClient::new(&rt.config.upstream, &state.shared.http);
    match client.whoami(&ask, "").await {
        Ok(id) => Ok(
            Principal::new(id.username, CredentialKind::Basic, None, None).with_groups(id.groups),
        ),
        Err(LookupError::Rejected(status)) => {
            limiter.failed(username, client_ip);
            Err(Rejection::new(Reason::CredentialRejected).detail(format!(
                "the product refused the Basic credentials ({status})"
            )))
        }
        Err(e @ LookupError::Unavailable(_)) => Err(Rejection::new(Reason::GroupsUnavailable)
            .detail(format!("verifying Basic with the product: {e}"))),
    }
}
