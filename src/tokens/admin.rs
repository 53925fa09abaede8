//! `/admin/tokens` on `admin_listen` (docs/http.md#operator-endpoints), behind the admin token
//! (checked by `crate::admin` before this is reached).
//!
//! `GET /admin/tokens[?user=NAME]` -> every token (or one user's); `POST /admin/tokens`
//! `{"user","name","expires_in","read_only","groups"}` -> 201 with the secret (once);
//! `DELETE /admin/tokens/{id}` -> 204. Operator actions: the group rules and `max_per_user`
//! do not apply; `max_expiry` does. Every create, revoke and refusal is an audit row.

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::manage::{self, CreateRequest, ManageError};
use crate::audit::{AuditEvent, OperatorAction, Verdict};
use crate::body::{empty, json_response, Body};
use crate::reject::{Reason, Rejection};
use crate::state::AppState;

/// `created_by` of tokens made through the admin API.
pub const CREATED_BY: &str = "admin-api";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    user: String,
    name: Option<String>,
    expires_in: Option<String>,
    #[serde(default)]
    read_only: bool,
    /// The groups the token carries (group rules and rate-limit overrides apply to it).
    groups: Option<Vec<String>>,
}

/// Answers `/admin/tokens[/{id}]`; `peer` is the operator's address (for the audit row).
pub async fn serve(
    state: &AppState,
    req: Request<Incoming>,
    rid: &str,
    peer: SocketAddr,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let started = std::time::Instant::now();
    let mut row = Row {
        rid,
        peer,
        method: &method,
        path: &path,
        user: None,
        token_id: None,
    };
    let result = route(state, req, &mut row).await;
    let (status, reason, resp) = match result {
        Ok((resp, action)) => (resp.status().as_u16(), action, resp),
        Err(r) => {
            if let Some(d) = &r.detail {
                tracing::info!(request_id = rid, reason = r.reason.as_str(), detail = %d, "admin token request refused");
            }
            (
                r.reason.status().as_u16(),
                Some(r.reason.as_str()),
                r.into_response(rid),
            )
        }
    };
    if let Some(reason) = reason {
        let decision = if status < 400 { "allow" } else { "deny" };
        let latency_us = started.elapsed().as_micros() as u64;
        row.record(
            state,
            query.as_deref(),
            decision,
            reason,
            status,
            latency_us,
        );
    }
    resp
}

struct Row<'a> {
    rid: &'a str,
    peer: SocketAddr,
    method: &'a Method,
    path: &'a str,
    user: Option<String>,
    token_id: Option<String>,
}

impl Row<'_> {
    fn record(
        &self,
        state: &AppState,
        query: Option<&str>,
        decision: &str,
        reason: &str,
        status: u16,
        latency_us: u64,
    ) {
        let shared = &state.shared;
        shared.audit.record(AuditEvent::of_operator(
            shared.clock.now(),
            OperatorAction {
                request_id: self.rid,
                client_ip: self.peer.ip().to_canonical().to_string(),
                method: self.method.as_str(),
                path: self.path,
                query,
                username: self.user.clone(),
                token_id: self.token_id.clone(),
                latency_us,
            },
            Verdict {
                decision,
                reason,
                status,
                bytes_sent: 0,
            },
        ));
    }
}

/// The answer and, for audited actions, the audit reason.
async fn route(
    state: &AppState,
    req: Request<Incoming>,
    row: &mut Row<'_>,
) -> Result<(Response<Body>, Option<&'static str>), Rejection> {
    let rt = state.runtime.load_full();
    let tokens = &rt.tokens;
    let path = row.path.to_string();
    let id = match path.strip_prefix("/admin/tokens") {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('/') {
            Some(id) if !id.is_empty() && !id.contains('/') => Some(id.to_string()),
            _ => return Err(Rejection::new(Reason::NotFound)),
        },
        None => return Err(Rejection::new(Reason::NotFound)),
    };
    match (req.method().clone(), id) {
        (Method::GET, None) => {
            let user = req.uri().query().and_then(|q| {
                q.split('&').find_map(|p| p.strip_prefix("user=")).map(|u| {
                    percent_encoding::percent_decode_str(u)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            });
            let records = tokens
                .store()
                .list(user.as_deref())
                .await
                .map_err(|e| ManageError::Store(e).rejection())?;
            Ok((
                json_response(StatusCode::OK, &manage::list_json(&records)),
                None,
            ))
        }
        (Method::POST, None) => {
            let body = Limited::new(req.into_body(), crate::pipeline::reserved::MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|_| Rejection::new(Reason::BodyTooLarge))?
                .to_bytes();
            let b: CreateBody = serde_json::from_slice(&body).map_err(|e| {
                Rejection::new(Reason::MalformedRequest)
                    .public_note("The body must be JSON: {\"user\", \"name\", \"expires_in\", \"read_only\"}.")
                    .detail(format!("admin token request body: {e}"))
            })?;
            row.user = Some(b.user.clone());
            let expires_in = match b.expires_in.as_deref() {
                Some(t) => Some(manage::parse_expiry(t).map_err(|e| e.rejection())?),
                None => None,
            };
            if b.user.trim().is_empty() {
                return Err(
                    Rejection::new(Reason::MalformedRequest).public_note("user must not be empty.")
                );
            }
            let created = manage::create(
                tokens.store(),
                &rt.config.tokens,
                tokens.now(),
                CreateRequest {
                    user: b.user,
                    name: b.name,
                    expires_in,
                    read_only: b.read_only,
                    created_by: CREATED_BY.into(),
                    enforce_limit: false,
                    groups: b.groups,
                },
            )
            .await
            .map_err(|e| e.rejection())?;
            row.token_id = Some(created.record.id.clone());
            tracing::info!(token_id = %created.record.id, user = %created.record.username, "gateway token created by the admin API");
            Ok((
                json_response(StatusCode::CREATED, &manage::created_json(&created)),
                Some("token_create"),
            ))
        }
        (Method::DELETE, Some(id)) => {
            row.token_id = Some(id.clone());
            let record = manage::revoke(tokens.store(), tokens.now(), &id, |_| true)
                .await
                .map_err(|e| e.rejection())?;
            tokens.forget(&record.hash).await;
            row.user = Some(record.username.clone());
            tracing::info!(token_id = %record.id, user = %record.username, "gateway token revoked by the admin API");
            let mut resp = Response::new(empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok((resp, Some("token_revoke")))
        }
        _ => Err(Rejection::new(Reason::MethodNotAllowed)),
    }
}
