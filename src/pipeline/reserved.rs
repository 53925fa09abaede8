//! Stage 2, `reserved`: authgate's own paths under `/_authgate`, run through the same stages
//! as every other request.
//!
//! Owns: the routes (`/_authgate/tokens`, `/_authgate/tokens/{id}`, and the token page's, which
//! [`PageRoute`]) and their methods (404 /
//! 405 before anyone is asked who the caller is), the 16 KiB body limit there, and who the
//! caller is: a provider token (JWT, or an opaque token when an introspection provider
//! exists) through the same `authn` and `groups` stages, or Basic credentials the product
//! accepts — asked through the one `ProductClient`, *as the caller* (no privileged account),
//! with failures counted per username and per address (`tokens::attempts`). Basic is
//! accepted here even with `disable_basic`: it is how a user without an IdP token gets their
//! first gateway token (docs/tokens.md). The IP filter always applies here (these endpoints
//! mint API credentials); the pipeline runs it between route and caller.

use http::{header, HeaderMap, Method};

use super::credential;
use crate::carriers::Params;
use crate::groups::LookupError;
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::request::{Credential, RequestCtx};
use crate::state::Runtime;

/// Largest request body accepted under `/_authgate` (larger -> 413 `body_too_large`).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An endpoint of authgate's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRoute {
    /// `GET` (list) or `POST` (create) `/_authgate/tokens`.
    Tokens,
    /// `DELETE /_authgate/tokens/{id}`.
    Token(String),
    /// The token page for browsers (`src/page/`), which identifies its viewer itself.
    Page(PageRoute),
}

/// A route of the token page (`src/page/`, docs/tokens.md), relative to the context path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRoute {
    /// `GET /_authgate`: redirected to `/_authgate/`.
    Bare,
    /// `GET /_authgate/`: the sign-in form or the user's tokens.
    Home,
    /// `POST /_authgate/sign-in`.
    SignIn,
    /// `POST /_authgate/sign-out`.
    SignOut,
    /// `POST /_authgate/create`.
    Create,
    /// `POST /_authgate/revoke`.
    Revoke,
    /// `GET /_authgate/page.css`.
    Stylesheet,
    /// `GET /_authgate/page.js` (the copy button).
    Script,
}

impl PageRoute {
    /// The page route of `path` for `method`; `None` when `path` is not one of the page's
    /// (the JSON API's, or unknown); 405 for a method the route does not take.
    pub fn of(path: &str, method: &Method) -> Result<Option<PageRoute>, Rejection> {
        let (route, post) = match path {
            "/_authgate" => (PageRoute::Bare, false),
            "/_authgate/" => (PageRoute::Home, false),
            "/_authgate/sign-in" => (PageRoute::SignIn, true),
            "/_authgate/sign-out" => (PageRoute::SignOut, true),
            "/_authgate/create" => (PageRoute::Create, true),
            "/_authgate/revoke" => (PageRoute::Revoke, true),
            "/_authgate/page.css" => (PageRoute::Stylesheet, false),
            "/_authgate/page.js" => (PageRoute::Script, false),
            _ => return Ok(None),
        };
        let wanted = if post { Method::POST } else { Method::GET };
        if *method != wanted {
            return Err(Rejection::new(Reason::MethodNotAllowed));
        }
        Ok(Some(route))
    }
}

/// A request for an endpoint of authgate's own, with the caller the pipeline identified.
#[derive(Debug)]
pub struct LocalCall {
    /// Which endpoint.
    pub route: LocalRoute,
    /// Who asks (with groups).
    pub caller: Principal,
}

/// True when `path` is authgate's own.
pub fn is_reserved(path: &str) -> bool {
    path == "/_authgate" || path.starts_with("/_authgate/")
}

/// The route of `path` (relative to the context path) for `method`: 404 for an unknown path,
/// 405 for a method the route does not take, 413 for a declared body over the limit.
pub fn route(path: &str, method: &Method, headers: &HeaderMap) -> Result<LocalRoute, Rejection> {
    if let Some(page) = PageRoute::of(path, method)? {
        return declared_within_limit(headers).map(|()| LocalRoute::Page(page));
    }
    let route = match path.strip_prefix("/_authgate/tokens") {
        Some("") => LocalRoute::Tokens,
        Some(rest) => match rest.strip_prefix('/') {
            Some(id) if !id.is_empty() && !id.contains('/') => LocalRoute::Token(id.to_string()),
            _ => return Err(Rejection::new(Reason::NotFound)),
        },
        None => return Err(Rejection::new(Reason::NotFound)),
    };
    match (&route, method) {
        (LocalRoute::Tokens, &Method::GET | &Method::POST)
        | (LocalRoute::Token(_), &Method::DELETE) => {}
        _ => return Err(Rejection::new(Reason::MethodNotAllowed)),
    }
    declared_within_limit(headers).map(|()| route)
}

/// 413 for a declared body over [`MAX_BODY_BYTES`].
fn declared_within_limit(headers: &HeaderMap) -> Result<(), Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Rejection::new(Reason::BodyTooLarge));
    }
    Ok(())
}

/// Who calls `/_authgate` (stages 5–7 for authgate's own endpoints): the credential classified
/// as for any request, then checked by the provider, or by the product for Basic.
pub async fn caller(
    rt: &Runtime,
    headers: &HeaderMap,
    ctx: &mut RequestCtx,
) -> Result<Principal, Rejection> {
    let cred = credential::classify(headers, &rt.config.upstream.carriers, &Params::default())?;
    ctx.credential = cred.kind();
    match &cred {
        Credential::Basic { username } => {
            basic(rt, headers.get(header::AUTHORIZATION), username, ctx).await
        }
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

/// Checks Basic credentials with the product, as the caller, with failures limited per
/// username and per client address (`tokens::attempts`). `authorization` is the whole
/// `Authorization` value; `username` the name in it. The token page's sign-in form comes here
/// too, so a password is checked and limited the same way wherever it is typed.
pub(crate) async fn basic(
    rt: &Runtime,
    authorization: Option<&http::HeaderValue>,
    username: &str,
    ctx: &RequestCtx,
) -> Result<Principal, Rejection> {
    let client_ip = ctx
        .client_ip
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let limiter = rt.tokens.attempts();
    if limiter.blocked(username, &client_ip) {
        return Err(Rejection::new(Reason::RateLimited)
            .detail("too many failed Basic attempts for this user or address at /_authgate"));
    }
    // Only the credential goes along: the product answers for exactly these Basic credentials.
    let mut ask = HeaderMap::new();
    if let Some(a) = authorization {
        let mut a = a.clone();
        a.set_sensitive(true);
        ask.insert(header::AUTHORIZATION, a);
    }
    match rt.product.whoami(&ask, "").await {
        Ok(id) => Ok(
            Principal::new(id.username, CredentialKind::Basic, None, None).with_groups(id.groups),
        ),
        Err(LookupError::Rejected(status)) => {
            limiter.failed(username, &client_ip);
            Err(Rejection::new(Reason::CredentialRejected).detail(format!(
                "the product refused the Basic credentials ({status})"
            )))
        }
        Err(e) => Err(Rejection::new(Reason::GroupsUnavailable)
            .detail(format!("verifying Basic with the product: {e}"))),
    }
}
