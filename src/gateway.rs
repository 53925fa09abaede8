//! One client request from arrival to the last byte: pipeline, then forward, answer locally
//! or reject; then the access log line, the metrics and the audit event (the one terminal
//! step every request reaches).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use http_body::Frame;
use hyper::body::Incoming;

use crate::audit::AuditEvent;
use crate::body::{Body, BodyError};
use crate::pipeline::{self, Handoff, Outcome, RequestCtx};
use crate::proxy::{request_body, ForwardRequest, Pinned};
use crate::reject::{Reason, Rejection};
use crate::state::AppState;

/// Query keys whose values never reach a log or an audit row.
const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "password",
    "os_password",
    "jwt",
    "secret",
    "client_secret",
    "api_key",
];

/// The query with the values of sensitive keys replaced by `***` (keys kept). Keys are
/// compared after percent-decoding, so `acc%65ss_token=` is caught too.
pub fn redact_query(q: &str) -> String {
    let sensitive = |k: &str| {
        let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
        SENSITIVE_QUERY_KEYS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(k.trim()))
    };
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if sensitive(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Serves one request on `listen`. Never fails: every fault is a Jira-shaped answer.
/// `pinned` is the client connection's own upstream connection (HTTP/1 clients).
pub async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    proto: &'static str,
    pinned: Option<Arc<Pinned>>,
) -> Response<Body> {
    let rt = state.runtime.load_full();
    let cfg = Arc::clone(&rt.config);
    let request_id = pipeline::ctx::request_id(req.headers());
    let mut ctx = RequestCtx::new(
        request_id,
        peer,
        req.method().clone(),
        req.uri().path().to_string(),
    );
    ctx.query = req.uri().query().map(str::to_string);
    let (parts, incoming) = req.into_parts();

    let work = async {
        // A declared body over the limit is refused before anything is read.
        if let Some(max) = cfg.server.max_body_bytes {
            let declared = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(Rejection::new(Reason::BodyTooLarge));
            }
        }
        match pipeline::run(&rt, &parts, &mut ctx).await {
            Outcome::Reject(r) => Err(r),
            Outcome::Local(route) => {
                crate::tokens::api::serve(&state, &rt, route, parts, incoming, &mut ctx).await
            }
            Outcome::Forward(handoff) => {
                let peer_trusted = cfg.ip.is_trusted_peer(peer.ip());
                // Jira prefers a valid session over Basic or a PAT, so with session cookies
                // off they go from every checked API call, not only anonymous ones (bypass
                // keeps the client's credentials untouched).
                let strip = ctx.is_api
                    && !cfg.auth.allow_session_cookies
                    && matches!(handoff, Handoff::Anonymous | Handoff::PassThrough(_));
                let body = request_body(incoming, cfg.server.max_body_bytes);
                rt.upstream
                    .forward(
                        ForwardRequest {
                            parts,
                            body,
                            handoff: &handoff,
                            ctx: &mut ctx,
                            peer_trusted,
                            proto,
                            strip_session_cookies: strip,
                            pinned: pinned.as_deref(),
                        },
                        &cfg.upstream.identity,
                    )
                    .await
            }
        }
    };
    let result = match tokio::time::timeout(cfg.server.request_timeout, work).await {
        Ok(r) => r,
        Err(_) => {
            Err(Rejection::new(Reason::UpstreamTimeout).detail("server.request_timeout elapsed"))
        }
    };
    let (mut response, rejection) = match result {
        Ok(resp) => (resp, None),
        Err(r) => {
            ctx.detail.clone_from(&r.detail);
            let mut r = r;
            if r.rate.is_none() {
                r.rate = ctx.rate;
            }
            (r.into_response(&ctx.request_id), Some(r))
        }
    };
    if let Some(rate) = &ctx.rate {
        rate.apply(response.headers_mut());
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        response
            .headers_mut()
            .insert(crate::headers::X_REQUEST_ID, v);
    }
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let done = Finish {
        state,
        ctx,
        reason: rejection.as_ref().map(|r| r.reason),
        status,
    };
    let counted = CountingBody {
        inner: body,
        sent: 0,
        done: Some(done),
    };
    Response::from_parts(parts, http_body_util::BodyExt::boxed(counted))
}

/// What is recorded when the response body ends (or the client goes away).
struct Finish {
    state: Arc<AppState>,
    ctx: RequestCtx,
    reason: Option<Reason>,
    status: u16,
}

impl Finish {
    fn record(self, bytes_sent: u64) {
        let ctx = &self.ctx;
        let latency = ctx.started.elapsed();
        let (outcome, reason) = match self.reason {
            Some(r) => ("deny", r.as_str()),
            None => ("allow", allow_reason(ctx)),
        };
        let shared = &self.state.shared;
        shared
            .metrics
            .request(outcome, reason, self.status, latency);
        if let Some(us) = ctx.upstream_latency_us {
            shared
                .metrics
                .upstream(std::time::Duration::from_micros(us));
        }
        // One audit row per API request, and per request refused before its path was known
        // to be non-API (CONTRACT §7).
        let early = matches!(
            self.reason,
            Some(
                Reason::BadPath
                    | Reason::MethodNotAllowed
                    | Reason::IpDenied
                    | Reason::TargetTooLong
            )
        );
        let audited = (ctx.is_api || early || self.reason.is_some()) && shared.audit.is_enabled();
        let logged = tracing::enabled!(target: "access", tracing::Level::INFO);
        if !audited && !logged {
            return;
        }
        let client_ip = ctx
            .client_ip
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| ctx.peer.ip().to_canonical().to_string());
        tracing::info!(
            target: "access",
            request_id = %ctx.request_id,
            client_ip = %client_ip,
            method = %ctx.method,
            path = %ctx.path.escape_default(),
            status = self.status,
            latency_us = latency.as_micros() as u64,
            outcome,
            reason,
            stage = ctx.stage.as_str(),
            rule = ctx.rule.as_deref().unwrap_or(""),
            user = ctx.username.as_deref().unwrap_or(""),
            detail = ctx.detail.as_deref().unwrap_or(""),
        );
        if audited {
            shared.audit.record(AuditEvent {
                ts: chrono::DateTime::<chrono::Utc>::from(shared.clock.now()),
                request_id: ctx.request_id.clone(),
                client_ip,
                method: ctx.method.to_string(),
                path: ctx.path.clone(),
                query: ctx.query.as_deref().map(redact_query),
                credential: ctx.credential.as_str().to_string(),
                provider: ctx.provider.clone(),
                username: ctx.username.clone(),
                token_id: ctx.token_id.clone(),
                decision: outcome.to_string(),
                reason: reason.to_string(),
                status: self.status,
                upstream_status: ctx.upstream_status,
                latency_us: latency.as_micros() as u64,
                upstream_latency_us: ctx.upstream_latency_us,
                bytes_sent,
            });
        }
    }
}

fn allow_reason(ctx: &RequestCtx) -> &'static str {
    use crate::principal::CredentialKind as K;
    match (ctx.is_api, ctx.credential) {
        (false, _) => "not_api",
        (true, K::None) => "bypass",
        (true, K::Anonymous) => "anonymous",
        (true, K::Pat | K::Basic | K::Session | K::NativeOauth) => "passthrough",
        (true, _) => "authenticated",
    }
}

/// Counts response bytes and records the request when the body is done or dropped.
struct CountingBody {
    inner: Body,
    sent: u64,
    done: Option<Finish>,
}

impl http_body::Body for CountingBody {
    type Data = bytes::Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(d) = frame.data_ref() {
                this.sent += d.len() as u64;
            }
        }
        if let Poll::Ready(None) = &polled {
            if let Some(done) = this.done.take() {
                done.record(this.sent);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountingBody {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.record(self.sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_query_values_are_redacted() {
        assert_eq!(
            redact_query("jql=a&token=abc&os_password=x&Access_Token=y&api_key"),
            "jql=a&token=***&os_password=***&Access_Token=***&api_key"
        );
        assert_eq!(
            redact_query("acc%65ss_token=x&password=p&jwt=j&secret=s&client_secret=c&api_key=k&PASSWORD=q"),
            "acc%65ss_token=***&password=***&jwt=***&secret=***&client_secret=***&api_key=***&PASSWORD=***"
        );
    }
}
