//! The operator listener (`server.admin_listen`, docs/http.md#operator-endpoints): `/healthz`,
//! `/readyz`, `/metrics` unauthenticated; `/admin/*` behind `Authorization: Bearer
//! <admin_token>`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use subtle_eq::ct_eq;
use tokio::net::TcpListener;

use crate::body::{full, json_response, Body};
use crate::reject::{Reason, Rejection};
use crate::state::AppState;

mod subtle_eq {
    /// Constant-time comparison of two byte strings (length may leak, content does not).
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Something `/admin/reload` can call: re-reads the config file and swaps the runtime.
pub type ReloadFn = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// Serves the operator endpoints until `shutdown`, with the same connection protections as
/// `listen` (`server::serve_with`: header timeout, connection cap, accept back-off).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    reload: ReloadFn,
    shutdown: impl Future<Output = ()>,
) {
    let settings = state.runtime.load().config.server.clone();
    let handler: crate::server::Handler = Arc::new(move |req, peer, _proto, _pinned| {
        Box::pin(route(Arc::clone(&state), Arc::clone(&reload), req, peer))
    });
    crate::server::serve_with(
        listener,
        &settings,
        crate::server::ADMIN_MAX_CONNECTIONS,
        None,
        false,
        handler,
        shutdown,
    )
    .await;
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r
}

async fn route(
    state: Arc<AppState>,
    reload: ReloadFn,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/readyz") => readyz(&state).await,
        (&Method::GET, "/metrics") => {
            let mut r = text(StatusCode::OK, state.shared.metrics.render());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (_, p) if p.starts_with("/admin/") => {
            let rt = state.runtime.load_full();
            let rid = crate::pipeline::ctx::request_id(req.headers());
            let Some(expected) = rt.config.server.admin_token.as_ref() else {
                return Rejection::new(Reason::NotFound).into_response(&rid);
            };
            let presented = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !ct_eq(presented.as_bytes(), expected.expose().as_bytes()) {
                return Rejection::new(Reason::AdminUnauthorized).into_response(&rid);
            }
            admin_route(state, reload, req, &rid, peer).await
        }
        _ => Rejection::new(Reason::NotFound).into_response("admin"),
    }
}

async fn readyz(state: &AppState) -> Response<Body> {
    let rt = state.runtime.load_full();
    let mut failing = Vec::new();
    if let Err(e) = rt.authn.ready() {
        failing.push(format!("providers: {e}"));
    }
    if let Err(e) = state.shared.audit.ready().await {
        failing.push(format!("audit: {e}"));
    }
    // A degraded rate-limit store is named; it makes the gateway not ready only when its
    // requests are being refused for it (`on_store_error = "deny"`).
    let mut degraded = Vec::new();
    if let Some(Err((e, fatal))) = rt.limiter.store_health() {
        if fatal {
            failing.push(e);
        } else {
            degraded.push(e);
        }
    }
    if failing.is_empty() {
        let mut body = json!({"status": "ready", "audit": state.shared.audit.describe()});
        if !degraded.is_empty() {
            body["degraded"] = json!(degraded);
        }
        json_response(StatusCode::OK, &body)
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready", "failing": failing, "degraded": degraded}),
        )
    }
}

async fn admin_route(
    state: Arc<AppState>,
    reload: ReloadFn,
    req: Request<Incoming>,
    rid: &str,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path();
    if path == "/admin/tokens" || path.starts_with("/admin/tokens/") {
        return crate::tokens::admin::serve(&state, req, rid, peer).await;
    }
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/admin/test-token") => test_token(&state, req, rid).await,
        (&Method::GET, "/admin/audit") => {
            admin_audit(&state, req.uri().query().unwrap_or("")).await
        }
        (&Method::POST, "/admin/reload") => match reload().await {
            Ok(()) => json_response(StatusCode::OK, &json!({"reloaded": true})),
            Err(e) => json_response(
                StatusCode::BAD_REQUEST,
                &json!({"reloaded": false, "errorMessages": [e]}),
            ),
        },
        _ => Rejection::new(Reason::NotFound).into_response(rid),
    }
}

/// `POST /admin/test-token` `{"token": "...", "method": "GET", "path": "/rest/api/2/myself"}`:
/// the `test-token` report as JSON (200 whatever the decision; 400 on a bad body).
async fn test_token(state: &AppState, req: Request<Incoming>, rid: &str) -> Response<Body> {
    use http_body_util::{BodyExt, Limited};
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        token: String,
        #[serde(default = "get")]
        method: String,
        #[serde(default = "myself")]
        path: String,
    }
    fn get() -> String {
        "GET".into()
    }
    fn myself() -> String {
        "/rest/api/2/myself".into()
    }
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Rejection::new(Reason::BodyTooLarge).into_response(rid),
    };
    let ask: Ask = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"errorMessages": ["expected {\"token\": \"...\", \"method\": \"GET\", \"path\": \"/rest/...\"}"], "errors": {}}),
            )
        }
    };
    let rt = state.runtime.load_full();
    let report = crate::cmd::test_token::report(&rt, &ask.token, &ask.method, &ask.path).await;
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&report).unwrap_or_default(),
    )
}

/// `GET /admin/audit?since=&until=&user=&status=&decision=&limit=&cursor=`: one page, newest
/// first, as `{"events":[…],"next":"<cursor or null>"}`.
async fn admin_audit(state: &AppState, query: &str) -> Response<Body> {
    let pairs: Vec<(String, String)> = crate::carriers::decoded_pairs(query);
    let now = chrono::DateTime::<chrono::Utc>::from(state.shared.clock.now());
    let filter = match crate::audit::Filter::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        now,
    ) {
        Ok(f) => f,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"errorMessages": [e.to_string()]}),
            )
        }
    };
    match crate::audit::Store::new(&state.shared.db)
        .query(&filter)
        .await
    {
        Ok(page) => json_response(
            StatusCode::OK,
            &json!({"events": page.events, "next": page.next}),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "audit query failed");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"errorMessages": ["the audit database cannot be queried right now"]}),
            )
        }
    }
}
