//! Forwarding to the product: the pooled upstream client and the request/response rewrite.
//!
//! Owns: [`Upstream`] (a hyper-util client over HTTP/1.1 or HTTP/2, http or https, with a
//! connect timeout) and [`Upstream::forward`], which streams both bodies, applies
//! `headers.rs` according to the [`Handoff`], and maps upstream faults to rejections
//! (connect failure -> 502, no response head within `upstream.timeout` -> 504).

use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::body::Body;
use crate::config::{IdentityMode, UpstreamSettings};
use crate::headers;
use crate::pipeline::{Handoff, RequestCtx};
use crate::reject::{Reason, Rejection};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The pooled client to `upstream.url`.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Body>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .finish()
    }
}

/// What the request path hands to [`Upstream::forward`].
#[derive(Debug)]
pub struct ForwardRequest<'a> {
    /// The request head (headers are rewritten in place).
    pub parts: http::request::Parts,
    /// The body, streamed.
    pub body: Body,
    /// How the caller is handed over.
    pub handoff: &'a Handoff,
    /// Per-request state (canonical path, ids, timings are written back).
    pub ctx: &'a mut RequestCtx,
    /// True when the TCP peer is a trusted proxy.
    pub peer_trusted: bool,
    /// `http` or `https` on the client side.
    pub proto: &'static str,
    /// Strip the product's session cookies from an anonymous caller (`allow_session_cookies = false`).
    pub strip_session_cookies: bool,
}

impl Upstream {
    /// Builds the client. Errors name what is wrong (TLS roots).
    pub fn new(s: &UpstreamSettings) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(s.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .map_err(|e| e.to_string())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Upstream {
            client,
            scheme: s.url.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP),
            authority: s
                .url
                .authority()
                .cloned()
                .ok_or("upstream.url has no host")?,
            timeout: s.timeout,
        })
    }

    /// Forwards one request. `identity` is the `[upstream.identity]` settings.
    pub async fn forward(
        &self,
        req: ForwardRequest<'_>,
        identity: &crate::config::IdentitySettings,
    ) -> Result<Response<Body>, Rejection> {
        let ForwardRequest {
            mut parts,
            body,
            handoff,
            ctx,
            peer_trusted,
            proto,
            strip_session_cookies,
        } = req;
        // The same rewrite the bench measures (`headers::rewrite_request`).
        let caller = match &handoff {
            Handoff::Authenticated(p) => headers::Caller::Authenticated {
                username: p.principal().username(),
                service_account: match &identity.mode {
                    IdentityMode::ServiceAccount(auth) => Some(auth.expose()),
                    IdentityMode::Header => None,
                },
            },
            Handoff::Anonymous | Handoff::PassThrough(_) if strip_session_cookies => {
                headers::Caller::StripSessionCookies
            }
            Handoff::Untouched | Handoff::Anonymous | Handoff::PassThrough(_) => {
                headers::Caller::Untouched
            }
        };
        let origin = headers::Origin {
            peer: ctx.peer.ip(),
            peer_trusted,
            proto,
            request_id: &ctx.request_id,
            authority: parts.uri.authority().map(|a| a.as_str()),
        };
        headers::rewrite_request(&mut parts.headers, &identity.header, caller, origin).map_err(
            |e| match e {
                headers::RewriteError::UsernameInvalid => Rejection::new(Reason::UsernameInvalid),
                headers::RewriteError::ServiceAccountInvalid => {
                    Rejection::new(Reason::UpstreamUnreachable)
                }
            },
        )?;
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{}?{q}", ctx.path),
            None => ctx.path.clone(),
        };
        parts.uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| Rejection::new(Reason::BadPath))?;
        // The product gets HTTP/1.1 whatever the client spoke.
        parts.version = http::Version::HTTP_11;
        let request = Request::from_parts(parts, body);
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.client.request(request)).await;
        ctx.upstream_latency_us = Some(started.elapsed().as_micros() as u64);
        let response = match result {
            Err(_) => {
                return Err(Rejection::new(Reason::UpstreamTimeout)
                    .detail(format!("no response head within {:?}", self.timeout)))
            }
            Ok(Err(e)) if body_too_large(&e) => {
                // A streamed body went over `server.max_body_bytes` while being forwarded.
                return Err(
                    Rejection::new(Reason::BodyTooLarge).detail("body over server.max_body_bytes")
                );
            }
            Ok(Err(e)) => {
                // Connect failures and broken connections alike: the product is unreachable.
                let what = if e.is_connect() { "connect" } else { "request" };
                return Err(Rejection::new(Reason::UpstreamUnreachable)
                    .detail(format!("upstream {what} failed: {e}")));
            }
            Ok(Ok(r)) => r,
        };
        ctx.upstream_status = Some(response.status().as_u16());
        let (mut rparts, rbody) = response.into_parts();
        headers::strip_hop_by_hop(&mut rparts.headers);
        let body: Body = rbody
            .map_err(|e| Box::new(e) as crate::body::BodyError)
            .boxed();
        Ok(Response::from_parts(rparts, body))
    }
}

/// True when `e` was caused by the request body going over its limit ([`request_body`]).
fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // The chain is short (client error -> hyper error -> body error); bound it anyway.
    for _ in 0..8 {
        let Some(c) = cause else { return false };
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Turns a hyper request body into the boxed [`Body`], refusing more than `limit` bytes.
pub fn request_body(incoming: hyper::body::Incoming, limit: Option<u64>) -> Body {
    let body = incoming.map_err(|e| Box::new(e) as crate::body::BodyError);
    match limit {
        None => body.boxed(),
        Some(max) => http_body_util::Limited::new(body, max as usize)
            .map_err(|e| e as crate::body::BodyError)
            .boxed(),
    }
}
