//! Who is looking at the token page: the page's own session, else the product's session
//! cookie (a user already signed in to Jira or Confluence), else nobody yet (the sign-in form).
//!
//! Owns: [`Viewer`] and [`identify`]. The session table is `page::session`; the product is
//! asked through `Passthrough::session_user` (the one client and cache for "who is this
//! session"); a sign-in form is checked in `page::serve` through `pipeline::reserved::basic`,
//! exactly as Basic at `/_authgate/tokens`.

use http::request::Parts;

use super::security;
use super::session::{PageSession, Sessions};
use crate::groups::Identity;
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::request::RequestCtx;
use crate::state::Runtime;

/// Who the page is talking to.
#[derive(Debug)]
pub enum Viewer {
    /// A live page session (the only viewer a form is accepted from).
    Session(PageSession),
    /// Signed in to the product (its session cookie), with no page session yet.
    Product(Identity),
    /// Nobody known: the sign-in form.
    Nobody,
}

impl Viewer {
    /// The page session, if the viewer has one (forms are accepted only from it).
    pub fn into_session(self) -> Option<PageSession> {
        match self {
            Viewer::Session(s) => Some(s),
            Viewer::Product(_) | Viewer::Nobody => None,
        }
    }
}

/// The session table of `rt`'s database.
pub fn sessions(rt: &Runtime) -> Sessions {
    Sessions::new(rt.tokens.store().db().clone())
}

/// The principal of a page session (groups as the product reported them at sign-in).
pub fn principal(s: &PageSession) -> Principal {
    Principal::new(s.username.clone(), CredentialKind::Session, None, None)
        .with_groups(s.groups.clone())
}

/// Finds the viewer of `parts`. A database that cannot be read is 503 `idp_unavailable`
/// (never a silent "nobody"); a product that cannot be asked leaves the viewer unknown (the
/// sign-in form, which will say so if the product is still down).
pub async fn identify(
    rt: &Runtime,
    parts: &Parts,
    ctx: &mut RequestCtx,
) -> Result<Viewer, Rejection> {
    if let Some(cookie) = security::session_cookie(&parts.headers) {
        let found = sessions(rt)
            .find(&cookie, rt.tokens.now())
            .await
            .map_err(|e| {
                Rejection::new(Reason::IdpUnavailable).detail(format!("page sessions: {e}"))
            })?;
        if let Some(s) = found {
            ctx.credential = CredentialKind::Session;
            ctx.username = Some(s.username.clone());
            return Ok(Viewer::Session(s));
        }
    }
    match rt
        .passthrough
        .session_user(&rt.product, &parts.headers, &rt.config.upstream.carriers)
        .await
    {
        Ok(Some(id)) => {
            ctx.credential = CredentialKind::Session;
            ctx.username = Some(id.username.clone());
            Ok(Viewer::Product(id))
        }
        Ok(None) => Ok(Viewer::Nobody),
        Err(e) => {
            ctx.detail = Some(format!(
                "token page: the product's session cookie not checked: {e}"
            ));
            Ok(Viewer::Nobody)
        }
    }
}
