//! `/_authgate/*` on `listen` (docs/tokens.md): self-service tokens.
//!
//! `POST /_authgate/tokens` `{"name","expires_in","read_only"}` -> 201 with the secret (once);
//! `GET /_authgate/tokens` -> the caller's tokens (admins: `?user=NAME` or `?all=true`);
//! `DELETE /_authgate/tokens/{id}` -> 204 (owner or admin; anyone else's token is 404).
//!
//! Owns: what a caller may do there: the group rules (`allow_user_creation`,
//! `token_creation_groups`, `admin_groups`, read-only callers), and the answers. The route,
//! the IP filter, the body limit and who the caller is were decided by the pipeline
//! (`pipeline::reserved`); refusals come back as a `Rejection`, and a successful create or
//! revoke names itself in `ctx.action`, so the terminal step (`handler`) writes every row.

use http::{Method, Response, StatusCode};
use serde::Deserialize;

use super::manage::{self, CreateRequest};
use super::store::TokenRecord;
use crate::body::{empty, json_response, Body};
use crate::pipeline::{LocalCall, LocalRoute, RequestCtx};
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};
use crate::state::Runtime;

/// The body of `POST /_authgate/tokens`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: Option<String>,
    expires_in: Option<String>,
    read_only: Option<bool>,
}

/// Answers a request under `/_authgate` for the caller the pipeline identified. Refusals are
/// returned, not answered, so the terminal step logs, counts and audits them with their reason.
pub async fn serve(
    rt: &Runtime,
    call: LocalCall,
    parts: http::request::Parts,
    body: Body,
    ctx: &mut RequestCtx,
) -> Result<Response<Body>, Rejection> {
    let LocalCall { route, caller } = call;
    let is_admin = is_admin(rt, &caller);
    match route {
        LocalRoute::Tokens if parts.method == Method::POST => {
            let body = read_body(body).await?;
            create(rt, ctx, &caller, is_admin, &body).await
        }
        LocalRoute::Tokens => list(rt, &caller, is_admin, parts.uri.query()).await,
        LocalRoute::Token(id) => {
            ctx.token_id = Some(id.clone());
            revoke(rt, ctx, &caller, is_admin, &id).await
        }
        // The pipeline hands the page's routes to `page::serve`, never here.
        LocalRoute::Page(_) => Err(Rejection::new(Reason::NotFound)),
    }
}

/// The body of a request under `/_authgate`, up to `reserved::MAX_BODY_BYTES`.
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, Rejection> {
    match crate::body::read_limited(body, crate::pipeline::reserved::MAX_BODY_BYTES).await {
        Ok((crate::body::Form::Read(bytes), _)) => Ok(bytes),
        Ok(_) => Err(Rejection::new(Reason::BodyTooLarge)),
        Err(e) if crate::body::body_too_large(&*e) => Err(Rejection::new(Reason::BodyTooLarge)),
        Err(e) => {
            Err(Rejection::new(Reason::MalformedRequest).detail(format!("reading the body: {e}")))
        }
    }
}

async fn create(
    rt: &Runtime,
    ctx: &mut RequestCtx,
    caller: &Principal,
    is_admin: bool,
    body: &[u8],
) -> Result<Response<Body>, Rejection> {
    may_create(rt, caller, is_admin)?;
    let req: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Rejection::new(Reason::MalformedRequest)
                .public_note("The body must be JSON: {\"name\", \"expires_in\", \"read_only\"}.")
                .detail(format!("token request body: {e}"))
        })?
    };
    let expires_in = match req.expires_in.as_deref() {
        Some(t) => Some(manage::parse_expiry(t).map_err(|e| e.rejection())?),
        None => None,
    };
    let created = create_for(
        rt,
        caller,
        is_admin,
        Ask {
            name: req.name,
            expires_in,
            read_only: req.read_only,
        },
    )
    .await?;
    ctx.token_id = Some(created.record.id.clone());
    let body = manage::created_json(&created).to_string();
    let mut resp = json_response(StatusCode::CREATED, &serde_json::Value::Null);
    *resp.body_mut() = crate::body::full(body);
    ctx.action = Some("token_create");
    Ok(resp)
}

/// What a caller asks for when creating a token (the JSON body, or the token page's form).
#[derive(Debug, Default)]
pub struct Ask {
    /// Unique per user; default `token-<id>`.
    pub name: Option<String>,
    /// Default `tokens.default_expiry`.
    pub expires_in: Option<std::time::Duration>,
    /// `None`: read-only exactly when the caller is.
    pub read_only: Option<bool>,
}

/// Whether `caller` may create tokens at all (`allow_user_creation`, `token_creation_groups`;
/// admins always may): the first rule of a create, also what the token page asks before
/// offering the form.
pub fn may_create(rt: &Runtime, caller: &Principal, is_admin: bool) -> Result<(), Rejection> {
    let cfg = &rt.config;
    if !cfg.tokens.allow_user_creation && !is_admin {
        return Err(Rejection::new(Reason::TokenCreationDenied).detail(
            "tokens.allow_user_creation is off and the caller is not in access.admin_groups",
        ));
    }
    let groups = &cfg.access.token_creation_groups;
    if !groups.is_empty() && !is_admin && !caller.in_any(groups) {
        return Err(Rejection::new(Reason::TokenCreationDenied)
            .detail("the caller is in none of access.token_creation_groups"));
    }
    Ok(())
}

/// Whether `caller` is in `access.admin_groups` (sees and revokes everyone's tokens).
pub fn is_admin(rt: &Runtime, caller: &Principal) -> bool {
    caller.in_any(&rt.config.access.admin_groups)
}

/// Whether `caller` is in `access.read_only_groups` (makes read-only tokens only).
pub fn is_read_only(rt: &Runtime, caller: &Principal) -> bool {
    caller.in_any(&rt.config.access.read_only_groups)
}

/// Creates a token for `caller` under every rule of docs/tokens.md (the JSON API and the token
/// page both come here, so the rules and reasons are the same).
pub async fn create_for(
    rt: &Runtime,
    caller: &Principal,
    is_admin: bool,
    ask: Ask,
) -> Result<manage::Created, Rejection> {
    may_create(rt, caller, is_admin)?;
    let cfg = &rt.config;
    // A read-only caller makes read-only tokens only: a token carries its creator's
    // groups, and asking for more than the caller has is refused, not quietly narrowed.
    let read_only_caller = is_read_only(rt, caller);
    let read_only = match ask.read_only {
        Some(false) if read_only_caller => {
            return Err(Rejection::new(Reason::ReadOnly)
                .public_note("A read-only user can create read-only tokens only.")
                .detail("a caller in access.read_only_groups asked for read_only: false"))
        }
        Some(r) => r,
        None => read_only_caller,
    };
    let now = rt.tokens.now();
    let created = manage::create(
        rt.tokens.store(),
        &cfg.tokens,
        now,
        CreateRequest {
            user: caller.username().to_string(),
            name: ask.name,
            expires_in: ask.expires_in,
            read_only,
            created_by: caller.username().to_string(),
            enforce_limit: true,
            groups: Some(caller.groups().to_vec()),
        },
    )
    .await
    .map_err(|e| e.rejection())?;
    tracing::info!(
        token_id = %created.record.id,
        user = %created.record.username,
        read_only = created.record.read_only,
        "gateway token created"
    );
    Ok(created)
}

/// Revokes `id` for `caller` (the owner, or an admin; anyone else's token is `not_found`).
pub async fn revoke_for(
    rt: &Runtime,
    caller: &Principal,
    is_admin: bool,
    id: &str,
) -> Result<TokenRecord, Rejection> {
    let now = rt.tokens.now();
    let record = manage::revoke(rt.tokens.store(), now, id, |r| {
        is_admin || r.username == caller.username()
    })
    .await
    .map_err(|e| e.rejection())?;
    rt.tokens.forget(&record.hash).await;
    tracing::info!(token_id = %record.id, user = %record.username, by = %caller.username(), "gateway token revoked");
    Ok(record)
}

async fn list(
    rt: &Runtime,
    caller: &Principal,
    is_admin: bool,
    query: Option<&str>,
) -> Result<Response<Body>, Rejection> {
    let mut user = Some(caller.username().to_string());
    for (k, v) in crate::carriers::decoded_pairs(query.unwrap_or("")) {
        match (k.as_str(), is_admin) {
            ("user", true) => user = Some(v),
            ("all", true) if v == "true" => user = None,
            // Someone else's list is as invisible as someone else's token.
            ("user", false) if v != caller.username() => {
                return Err(Rejection::new(Reason::NotFound))
            }
            _ => {}
        }
    }
    let records = rt
        .tokens
        .store()
        .list(user.as_deref())
        .await
        .map_err(|e| manage::ManageError::Store(e).rejection())?;
    Ok(json_response(StatusCode::OK, &manage::list_json(&records)))
}

async fn revoke(
    rt: &Runtime,
    ctx: &mut RequestCtx,
    caller: &Principal,
    is_admin: bool,
    id: &str,
) -> Result<Response<Body>, Rejection> {
    revoke_for(rt, caller, is_admin, id).await?;
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    ctx.action = Some("token_revoke");
    Ok(resp)
}
