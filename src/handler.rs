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

use crate::audit::{AuditEvent, Verdict};
use crate::body::{Body, BodyError, Form, RequestBody};
use crate::config::{Config, Product};
use crate::headers::Caller;
use crate::pipeline::{self, Handoff, Outcome, RequestCtx};
use crate::proxy::{request_body, ForwardRequest, Pinned};
use crate::reject::{ErrorShape, Reason, Rejection};
use crate::state::AppState;
use crate::upstream_identity::UpstreamIdentity;

/// Serves one request on `listen`. Never fails: every fault is an answer in the product's
/// error shape.
/// `pinned` is the client connection's own upstream connection (HTTP/1 clients).
///
/// The access log line, the metrics and the audit row are written by a [`Finish`] made
/// before anything else: when the client goes away while the request is being worked on
/// (HTTP/1 close, HTTP/2 `RST_STREAM`), hyper drops this future, and the guard still writes
/// the row (status 499, reason `client_closed`, the upstream status when it was known).
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
    let mut finish = Finish {
        state,
        ctx,
        ending: Ending::ClientClosed,
        recorded: false,
    };
    let (parts, incoming) = req.into_parts();
    let body = request_body(incoming, cfg.server.max_body_bytes);
    let clock = std::sync::Arc::clone(&finish.state.shared.clock);
    let ctx = &mut finish.ctx;

    // The refusal a token-page answer shows (audited with its reason like any rejection).
    let mut page_refusal: Option<Rejection> = None;
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
        let mut body = RequestBody::new(body);
        match pipeline::run(&rt, &parts, &mut body, ctx).await {
            Outcome::Reject(r) => Err(r),
            Outcome::Local(call) => {
                let (body, _) = body.into_parts();
                crate::tokens::api::serve(&rt, call, parts, body, ctx).await
            }
            Outcome::Page(route) => {
                let https = crate::page::security::is_https(
                    &parts,
                    proto,
                    cfg.ip.is_trusted_peer(peer.ip()),
                );
                let (body, _) = body.into_parts();
                let answer = crate::page::serve(&rt, route, parts, body, ctx, https).await;
                page_refusal = answer.refused;
                Ok(answer.response)
            }
            Outcome::Forward(handoff) => {
                // From here the product may act on the request (also for bypass and
                // non-API paths): a client that goes away now is audited as `allow`.
                ctx.forwarded = true;
                let peer_trusted = cfg.ip.is_trusted_peer(peer.ip());
                let caller = forward_caller(&handoff, &cfg, &rt.identity, ctx.is_api);
                let (body, form) = body.into_parts();
                rt.upstream
                    .forward(
                        ForwardRequest {
                            parts,
                            body,
                            caller,
                            ctx,
                            peer_trusted,
                            proto,
                            pinned: pinned.as_deref(),
                            form: match form {
                                Form::Read(b) => Some(b),
                                Form::None | Form::TooLarge => None,
                            },
                            now: clock.now(),
                        },
                        &rt.identity,
                        &cfg.upstream.carriers,
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
    // A rejection's answer carries the rate-limit headers and the request id already
    // (`Rejection::into_response`); a forwarded or local answer gets them here.
    let (response, rejection) = match result {
        Ok(mut resp) => {
            if let Some(rate) = &finish.ctx.rate {
                rate.apply(resp.headers_mut());
            }
            if let Ok(v) = HeaderValue::from_str(&finish.ctx.request_id) {
                resp.headers_mut().insert(crate::headers::X_REQUEST_ID, v);
            }
            if let Some(r) = &page_refusal {
                finish.ctx.detail.clone_from(&r.detail);
            }
            (resp, page_refusal)
        }
        Err(mut r) => {
            finish.ctx.detail.clone_from(&r.detail);
            if r.rate.is_none() {
                r.rate = finish.ctx.rate;
            }
            let shape = match cfg.upstream.product {
                Product::Jira => ErrorShape::Jira,
                Product::Confluence => ErrorShape::Confluence,
            };
            (r.into_response_as(shape, &finish.ctx.request_id), Some(r))
        }
    };
    finish.ending = Ending::Answered {
        reason: rejection.as_ref().map(|r| r.reason),
        status: response.status().as_u16(),
    };
    let (parts, body) = response.into_parts();
    let counted = CountingBody {
        inner: body,
        sent: 0,
        done: Some(finish),
    };
    Response::from_parts(parts, http_body_util::BodyExt::boxed(counted))
}

/// What the rewrite towards the product does with the caller's credentials (see
/// `headers::Caller`).
fn forward_caller<'a>(
    handoff: &'a Handoff,
    cfg: &'a Config,
    identity: &'a UpstreamIdentity,
    is_api: bool,
) -> Caller<'a> {
    match handoff {
        Handoff::Authenticated(p) => Caller::Authenticated {
            username: p.principal().username(),
            identity: identity.header_hand_off(),
        },
        // Jira prefers a valid session over Basic or a PAT, so with session cookies off they
        // go from every checked API call, not only anonymous ones (bypass keeps the client's
        // credentials untouched).
        Handoff::Anonymous | Handoff::PassThrough(_)
            if is_api && !cfg.auth.allow_session_cookies =>
        {
            Caller::StripSessionCookies
        }
        Handoff::Untouched | Handoff::Anonymous | Handoff::PassThrough(_) => Caller::Untouched,
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// An answer was made (the body may still be streaming).
    Answered { reason: Option<Reason>, status: u16 },
    /// The client went away before its answer was made.
    ClientClosed,
}

/// The status recorded for a client that went away before its answer (nginx's convention;
/// never sent).
pub const CLIENT_CLOSED_STATUS: u16 = 499;

/// Writes the access log line, the metrics and the audit row of one request, exactly once:
/// when the response body ends, or when it is dropped (the client went away, before or
/// after the answer was made).
struct Finish {
    state: Arc<AppState>,
    ctx: RequestCtx,
    ending: Ending,
    /// Set by the first [`Finish::record`]; later calls and the drop do nothing.
    recorded: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(0);
        }
    }
}

impl Finish {
    fn record(&mut self, bytes_sent: u64) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let ctx = &self.ctx;
        let latency = ctx.started.elapsed();
        let (outcome, reason, status) = match self.ending {
            Ending::Answered {
                reason: Some(r),
                status,
            } => ("deny", r.as_str(), status),
            Ending::Answered {
                reason: None,
                status,
            } => (
                "allow",
                ctx.action.unwrap_or_else(|| allow_reason(ctx)),
                status,
            ),
            // Forwarded (or being forwarded) counts as allowed: the product may have acted.
            Ending::ClientClosed => (
                if ctx.forwarded { "allow" } else { "deny" },
                "client_closed",
                CLIENT_CLOSED_STATUS,
            ),
        };
        let early_reason = match self.ending {
            Ending::Answered { reason, .. } => reason,
            Ending::ClientClosed => None,
        };
        let shared = &self.state.shared;
        shared.metrics.request(outcome, reason, status, latency);
        if let Some(us) = ctx.upstream_latency_us {
            shared
                .metrics
                .upstream(std::time::Duration::from_micros(us));
        }
        // One audit row per API request, and per request refused before its path was known
        // to be non-API.
        let early = matches!(
            early_reason,
            Some(
                Reason::BadPath
                    | Reason::MethodNotAllowed
                    | Reason::IpDenied
                    | Reason::TargetTooLong
            )
        );
        let refused = matches!(
            self.ending,
            Ending::Answered {
                reason: Some(_),
                ..
            }
        );
        let audited =
            (ctx.is_api || early || refused || ctx.action.is_some()) && shared.audit.is_enabled();
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
            status,
            upstream_status = ctx.upstream_status,
            latency_us = latency.as_micros() as u64,
            outcome,
            reason,
            stage = ctx.stage.as_str(),
            rule = ctx.rule.as_deref().unwrap_or(""),
            user = ctx.username.as_deref().unwrap_or(""),
            detail = ctx.detail.as_deref().unwrap_or(""),
        );
        if audited {
            shared.audit.record(AuditEvent::of_request(
                shared.clock.now(),
                ctx,
                Verdict {
                    decision: outcome,
                    reason,
                    status,
                    bytes_sent,
                },
            ));
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
            if let Some(mut done) = this.done.take() {
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
        if let Some(mut done) = self.done.take() {
            done.record(self.sent);
        }
    }
}
