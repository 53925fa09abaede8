//! The token page (docs/tokens.md#the-token-page): people list, create and
//! revoke their own API tokens in a browser, at `/_authgate/` and under the context path.
//!
//! Owns: answering the page's routes (`pipeline::reserved::PageRoute`) once the pipeline
//! has run path, reserved and ip_filter for them: who the viewer is (`viewer`), the page's
//! session (`session`), its headers, cookie and form checks (`security`), and what it shows
//! (`views`, one askama template). It owns no token rule: creating and revoking go through
//! `tokens::api::{create_for, revoke_for}`, the JSON API's own functions, so every rule and
//! reason of the token API is the same, and a create or revoke names itself in `ctx.action` so the
//! terminal step (`handler`) writes the same audit row as for its API twin. Refusals come back
//! in [`PageAnswer::refused`] for the same reason. The stylesheet and the copy-button script
//! (`assets/`) are compiled in; nothing is loaded from elsewhere.

mod forms;
pub mod security;
pub mod session;
mod sign;
pub mod viewer;
pub mod views;

use askama::Template;
use http::request::Parts;
use http::{header, HeaderValue, Response, StatusCode};

use self::forms::{field, parse_form};
use self::viewer::Viewer;
use self::views::{explain, CreatedView, PageView, SignedIn, TokenRow};
use crate::body::{full, Body};
use crate::config::Product;
use crate::pipeline::PageRoute;
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::request::RequestCtx;
use crate::state::Runtime;
use crate::tokens::{api, manage};

const STYLESHEET: &str = include_str!("../../assets/page.css");
const SCRIPT: &str = include_str!("../../assets/page.js");

/// The page's answer, and the refusal it shows (audited with its reason, like the API's).
#[derive(Debug)]
pub struct PageAnswer {
    /// What the browser gets (always with the headers of `security::apply_headers`).
    pub response: Response<Body>,
    /// The refusal shown, if any.
    pub refused: Option<Rejection>,
}

/// What one request of the page needs besides the runtime.
struct Call<'a> {
    rt: &'a Runtime,
    parts: &'a Parts,
    https: bool,
    /// `/_authgate/` or `/<context>/_authgate/`.
    path: String,
    product: &'static str,
}

/// Answers a page route. `https`: whether the browser reached the page over TLS
/// (`security::is_https`).
pub async fn serve(
    rt: &Runtime,
    route: PageRoute,
    parts: Parts,
    body: Body,
    ctx: &mut RequestCtx,
    https: bool,
) -> PageAnswer {
    let call = Call {
        rt,
        parts: &parts,
        https,
        path: security::page_path(&ctx.path),
        product: match rt.config.upstream.product {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
        },
    };
    let mut answer = match route {
        PageRoute::Stylesheet => asset(STYLESHEET, "text/css; charset=utf-8"),
        PageRoute::Script => asset(SCRIPT, "text/javascript; charset=utf-8"),
        PageRoute::Bare => redirect(&call.path),
        _ => match viewer::identify(rt, &parts, ctx).await {
            Ok(viewer) => match route {
                PageRoute::Home => home(&call, viewer, ctx).await,
                PageRoute::SignIn => sign::sign_in(&call, body, ctx).await,
                PageRoute::SignOut => sign::sign_out(&call, viewer, body, ctx).await,
                PageRoute::Create | PageRoute::Revoke => {
                    change(&call, route, viewer, body, ctx).await
                }
                PageRoute::Stylesheet | PageRoute::Script | PageRoute::Bare => {
                    unreachable!("answered above")
                }
            },
            Err(r) => refusal(&call, None, r),
        },
    };
    security::apply_headers(answer.response.headers_mut());
    answer
}

// === routes ===

async fn home(call: &Call<'_>, viewer: Viewer, ctx: &mut RequestCtx) -> PageAnswer {
    let query = parse_form(call.parts.uri.query().unwrap_or("").as_bytes());
    let (session, cookie) = match viewer {
        Viewer::Nobody => return page(StatusCode::OK, sign_in_view(call), None),
        Viewer::Session(s) => (s, None),
        // Signed in to the product: a page session of its own, so forms carry a CSRF token
        // bound to a cookie no other site can send (SameSite=Strict). Only for a page the
        // browser navigates to: an image or script tag on another site sends the product's
        // cookie too, and must not start sessions (`security::is_navigation`).
        Viewer::Product(_) if !security::is_navigation(call.parts) => {
            return page(StatusCode::OK, sign_in_view(call), None)
        }
        Viewer::Product(id) => {
            match viewer::sessions(call.rt)
                .start(&id.username, &id.groups, call.rt.tokens.now())
                .await
            {
                Ok(new) => {
                    // A session that can create and revoke tokens began: a sign-in.
                    ctx.credential = CredentialKind::Session;
                    ctx.action = Some("page_sign_in");
                    (new.session, Some(new.cookie))
                }
                Err(e) => return refusal(call, None, store_down(e)),
            }
        }
    };
    ctx.username = Some(session.username.clone());
    let mut view = match tokens_view(call, &session, field(&query, "user")).await {
        Ok(v) => v,
        Err(r) => return refusal(call, None, r),
    };
    if let Some(id) = field(&query, "revoke") {
        view.confirm = view.tokens.iter().find(|t| t.id == id && t.live).cloned();
        if view.confirm.is_none() {
            view.error = Some(explain(&Rejection::new(Reason::NotFound), call.product));
        }
    }
    let mut answer = page(StatusCode::OK, view, None);
    if let Some(c) = cookie {
        answer.response.headers_mut().append(
            header::SET_COOKIE,
            security::set_cookie(Some(&c), &call.path, call.https),
        );
    }
    answer
}

async fn change(
    call: &Call<'_>,
    route: PageRoute,
    viewer: Viewer,
    body: Body,
    ctx: &mut RequestCtx,
) -> PageAnswer {
    let session = viewer.into_session();
    let form = match api::read_body(body).await {
        Ok(b) => parse_form(&b),
        Err(r) => return refusal(call, session.as_ref(), r),
    };
    if let Err(r) = security::check_form(
        call.parts,
        call.https,
        session.as_ref(),
        field(&form, "csrf"),
        true,
    ) {
        return refusal(call, session.as_ref(), r);
    }
    let session = session.expect("check_form refuses a form without a session");
    let who = viewer::principal(&session);
    let is_admin = api::is_admin(call.rt, &who);
    let done = match route {
        PageRoute::Create => create(call, &who, is_admin, &form, ctx).await,
        _ => revoke(call, &who, is_admin, &form, ctx).await,
    };
    let mut view = match tokens_view(call, &session, None).await {
        Ok(v) => v,
        Err(r) => return refusal(call, Some(&session), r),
    };
    match done {
        Ok(Done::Created(c)) => {
            view.created = Some(c);
            page(StatusCode::OK, view, None)
        }
        Ok(Done::Revoked(name)) => {
            view.notice = Some(format!("Token “{name}” revoked. It no longer works."));
            page(StatusCode::OK, view, None)
        }
        Err(r) => {
            view.error = Some(explain(&r, call.product));
            page(r.reason.status(), view, Some(r))
        }
    }
}

/// What a form changed.
enum Done {
    Created(CreatedView),
    Revoked(String),
}

async fn create(
    call: &Call<'_>,
    who: &Principal,
    is_admin: bool,
    form: &[(String, String)],
    ctx: &mut RequestCtx,
) -> Result<Done, Rejection> {
    let name = field(form, "name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let expires_in = match field(form, "expires_in").filter(|e| !e.is_empty()) {
        Some(t) => Some(manage::parse_expiry(t).map_err(|e| e.rejection())?),
        None => None,
    };
    // An unticked box sends nothing: the caller's own kind (read-only callers get read-only).
    let read_only = (field(form, "read_only") == Some("on")).then_some(true);
    let created = api::create_for(
        call.rt,
        who,
        is_admin,
        api::Ask {
            name,
            expires_in,
            read_only,
        },
    )
    .await?;
    ctx.token_id = Some(created.record.id.clone());
    ctx.action = Some("token_create");
    Ok(Done::Created(CreatedView {
        name: manage::visible(&created.record.name),
        secret: created.token,
        expires: views::when(created.record.expires_at),
        read_only: created.record.read_only,
    }))
}

async fn revoke(
    call: &Call<'_>,
    who: &Principal,
    is_admin: bool,
    form: &[(String, String)],
    ctx: &mut RequestCtx,
) -> Result<Done, Rejection> {
    let id = field(form, "id").unwrap_or("");
    // Only something shaped like a token id goes into the audit row.
    if !crate::tokens::format::is_id(id) {
        return Err(Rejection::new(Reason::NotFound).detail("token page: not a token id"));
    }
    ctx.token_id = Some(id.to_string());
    let record = api::revoke_for(call.rt, who, is_admin, id).await?;
    ctx.action = Some("token_revoke");
    Ok(Done::Revoked(manage::visible(&record.name)))
}

// === views ===

fn sign_in_view(call: &Call<'_>) -> PageView {
    PageView {
        product: call.product,
        sign_in: true,
        ..PageView::default()
    }
}

/// The signed-in page: the create form (or why not) and the tokens the user may see
/// (an admin: everyone's, or `filter`'s).
async fn tokens_view(
    call: &Call<'_>,
    session: &session::PageSession,
    filter: Option<&str>,
) -> Result<PageView, Rejection> {
    let rt = call.rt;
    let who = viewer::principal(session);
    let admin = api::is_admin(rt, &who);
    let filter = if admin {
        filter.unwrap_or("").trim()
    } else {
        ""
    };
    let user = match (admin, filter.is_empty()) {
        (true, true) => None,
        (true, false) => Some(filter),
        (false, _) => Some(who.username()),
    };
    let records = rt
        .tokens
        .store()
        .list(user)
        .await
        .map_err(|e| manage::ManageError::Store(e).rejection())?;
    let now = rt.tokens.now();
    let back = match views::filter_query(filter) {
        q if q.is_empty() => "./".to_string(),
        q => format!("./?{q}"),
    };
    Ok(PageView {
        product: call.product,
        signed_in: Some(SignedIn {
            username: session.username.clone(),
            csrf: session.csrf.clone(),
        }),
        create_denied: api::may_create(rt, &who, admin)
            .err()
            .map(|r| explain(&r, call.product)),
        expiries: views::expiries(&rt.config.tokens),
        read_only_only: api::is_read_only(rt, &who),
        admin,
        filter: filter.to_string(),
        tokens: records
            .iter()
            .map(|r| TokenRow::of(r, now, filter))
            .collect(),
        back,
        ..PageView::default()
    })
}

/// A refusal before anything was done: the signed-in page with the message when the viewer
/// has a session, else the sign-in form with it.
fn refusal(call: &Call<'_>, session: Option<&session::PageSession>, r: Rejection) -> PageAnswer {
    let mut view = match session {
        Some(s) => PageView {
            product: call.product,
            signed_in: Some(SignedIn {
                username: s.username.clone(),
                csrf: s.csrf.clone(),
            }),
            back: "./".to_string(),
            ..PageView::default()
        },
        None => sign_in_view(call),
    };
    view.error = Some(explain(&r, call.product));
    if view.signed_in.is_some() {
        view.notice = Some("Reload the page to see your tokens.".to_string());
    }
    page(r.reason.status(), view, Some(r))
}

fn store_down(e: sqlx::Error) -> Rejection {
    Rejection::new(Reason::IdpUnavailable).detail(format!("page sessions: {e}"))
}

// === answers ===

fn page(status: StatusCode, view: PageView, refused: Option<Rejection>) -> PageAnswer {
    let (status, html) = match view.render() {
        Ok(html) => (status, html),
        Err(e) => {
            tracing::error!(error = %e, "token page: template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error.".to_string(),
            )
        }
    };
    let mut response = Response::new(full(html));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    PageAnswer { response, refused }
}

fn asset(text: &'static str, content_type: &'static str) -> PageAnswer {
    let mut response = Response::new(full(text));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    PageAnswer {
        response,
        refused: None,
    }
}

/// 303 to the page (after a sign-in: the next request is a plain GET, so a reload re-posts
/// nothing).
fn redirect(path: &str) -> PageAnswer {
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    PageAnswer {
        response,
        refused: None,
    }
}

impl PageAnswer {
    /// The same answer setting the page's cookie to `value` (`None`: removing it).
    fn with_cookie(mut self, call: &Call<'_>, value: Option<&str>) -> PageAnswer {
        self.response.headers_mut().append(
            header::SET_COOKIE,
            security::set_cookie(value, &call.path, call.https),
        );
        self
    }
}
