//! Signing in and out of the token page: the sign-in form, checked exactly as Basic is at
//! `/_authgate/tokens` (`pipeline::reserved::basic`, with its failure limits), which starts a
//! page session; and sign-out, which ends it.

use base64::Engine;
use http::{HeaderValue, StatusCode};

use super::forms::{field, parse_form};
use super::viewer::{self, Viewer};
use super::views::explain;
use super::{page, redirect, refusal, security, sign_in_view, store_down, Call, PageAnswer};
use crate::body::Body;
use crate::principal::CredentialKind;
use crate::reject::{Reason, Rejection};
use crate::request::RequestCtx;
use crate::tokens::api;

pub(super) async fn sign_in(call: &Call<'_>, body: Body, ctx: &mut RequestCtx) -> PageAnswer {
    // No session yet, so no CSRF token: the origin check alone (a forged sign-in could only
    // sign the victim in as the attacker, into a page that shows no secret of the victim's).
    if let Err(r) = security::check_form(call.parts, call.https, None, None, false) {
        return refusal(call, None, r);
    }
    let form = match api::read_body(body).await {
        Ok(b) => parse_form(&b),
        Err(r) => return refusal(call, None, r),
    };
    let username = field(&form, "username").unwrap_or("").trim().to_string();
    let password = field(&form, "password").unwrap_or("");
    let mut view = sign_in_view(call);
    view.username_value.clone_from(&username);
    if username.is_empty() || password.is_empty() {
        let r = Rejection::new(Reason::CredentialRequired).detail("token page: empty sign-in form");
        view.error = Some("Enter your username and password.".to_string());
        return page(StatusCode::BAD_REQUEST, view, Some(r));
    }
    // Basic cannot carry a colon in the username (the product would read the rest as the
    // password, and the failure would count against another name).
    if username.contains(':') {
        let r = Rejection::new(Reason::CredentialRejected)
            .detail("token page: a username with a colon");
        view.error = Some("A username cannot contain a colon.".to_string());
        return page(StatusCode::BAD_REQUEST, view, Some(r));
    }
    // Checked exactly as Basic at /_authgate/tokens: the product is asked as the user, and
    // failures count against the same per-user and per-address limits.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut authorization =
        HeaderValue::from_str(&format!("Basic {basic}")).expect("base64 is header-safe");
    authorization.set_sensitive(true);
    ctx.credential = CredentialKind::Basic;
    ctx.username = Some(username.clone());
    let who = match crate::pipeline::reserved::basic(call.rt, Some(&authorization), &username, ctx)
        .await
    {
        Ok(p) => p,
        Err(r) => {
            view.error = Some(explain(&r, call.product));
            return page(r.reason.status(), view, Some(r));
        }
    };
    // A session the browser already had ends here: one browser, one page session.
    if let Some(old) = security::session_cookie(&call.parts.headers) {
        let _ = viewer::sessions(call.rt).end(&old).await;
    }
    match viewer::sessions(call.rt)
        .start(who.username(), who.groups(), call.rt.tokens.now())
        .await
    {
        Ok(new) => {
            ctx.username = Some(who.username().to_string());
            ctx.action = Some("page_sign_in");
            redirect(&call.path).with_cookie(call, Some(&new.cookie))
        }
        Err(e) => refusal(call, None, store_down(e)),
    }
}

pub(super) async fn sign_out(
    call: &Call<'_>,
    viewer: Viewer,
    body: Body,
    ctx: &mut RequestCtx,
) -> PageAnswer {
    let session = viewer.into_session();
    let form = api::read_body(body).await.map(|b| parse_form(&b));
    let csrf = form.as_ref().ok().and_then(|f| field(f, "csrf"));
    if let Err(r) = security::check_form(call.parts, call.https, session.as_ref(), csrf, true) {
        return refusal(call, session.as_ref(), r);
    }
    let cookie = security::session_cookie(&call.parts.headers).unwrap_or_default();
    if let Err(e) = viewer::sessions(call.rt).end(&cookie).await {
        return refusal(call, session.as_ref(), store_down(e));
    }
    if let Some(s) = &session {
        ctx.username = Some(s.username.clone());
        ctx.action = Some("page_sign_out");
    }
    let mut view = sign_in_view(call);
    view.notice = Some(format!(
        "You are signed out of this page. If you are still signed in to {}, this page will recognise you again.",
        call.product
    ));
    page(StatusCode::OK, view, None).with_cookie(call, None)
}
