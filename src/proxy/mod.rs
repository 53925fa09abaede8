//! Forwarding to the product: the upstream connections and the request/response rewrite.
//!
//! Owns: [`Upstream`] (HTTP/1.1 to the product, http or https, with a connect timeout) and
//! [`Upstream::forward`], which streams both bodies, applies `headers.rs` as the caller's
//! [`headers::Caller`] says, and maps upstream faults to rejections (connect failure -> 502,
//! no response head within `upstream.timeout` -> 504).
//!
//! A client HTTP/1 connection sends over its own upstream connection ([`pinned`]); HTTP/2
//! client streams, which run side by side, share hyper-util's pooled client.

pub mod pinned;

use std::future::poll_fn;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_service::Service;

pub use pinned::Pinned;
use pinned::{Idle, IDLE_TIMEOUT, MAX_IDLE};

use crate::body::Body;
use crate::config::UpstreamSettings;
use crate::headers;
use crate::reject::{Reason, Rejection};
use crate::request::RequestCtx;
use crate::upstream_identity::UpstreamIdentity;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The connections to `upstream.url`.
#[derive(Clone)]
pub struct Upstream {
    /// The shared pool, for HTTP/2 client streams.
    client: Client<Connector, Body>,
    /// Opens the connections pinned to client HTTP/1 connections.
    connector: Connector,
    /// Pinned connections whose client connection ended.
    idle: Arc<Idle>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// `upstream.url` itself, what the connector dials.
    url: Uri,
    /// The `Host` the product sees on a pinned connection (the pool sets its own).
    host: HeaderValue,
    connect_timeout: Duration,
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
    /// What the rewrite does with the caller's credentials and identity.
    pub caller: headers::Caller<'a>,
    /// Per-request state (canonical path, ids, timings are written back).
    pub ctx: &'a mut RequestCtx,
    /// True when the TCP peer is a trusted proxy.
    pub peer_trusted: bool,
    /// `http` or `https` on the client side.
    pub proto: &'static str,
    /// The client connection's own upstream connection (HTTP/1 clients); `None` sends over
    /// the shared pool.
    pub pinned: Option<&'a Pinned>,
    /// The whole body when it is a form that was read for the credential check.
    pub form: Option<bytes::Bytes>,
    /// Now, for an `oauth1` signature's timestamp.
    pub now: std::time::SystemTime,
}

/// Why a request got no response head from the product.
#[derive(Debug)]
enum SendFailure {
    /// No connection could be opened.
    Connect(crate::body::BodyError),
    /// A pinned connection failed the request.
    Conn(hyper::Error),
    /// The shared pool failed the request (connect failures included).
    Pool(hyper_util::client::legacy::Error),
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
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE)
            .build(connector.clone());
        let scheme = s.url.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP);
        let authority = s
            .url
            .authority()
            .cloned()
            .ok_or("upstream.url has no host")?;
        // As hyper-util's pool writes it: the port only when it is not the scheme's default.
        let default_port = if scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        };
        let host = match authority.port_u16() {
            Some(p) if p != default_port => authority.as_str().to_string(),
            _ => authority.host().to_string(),
        };
        Ok(Upstream {
            client,
            connector,
            idle: Arc::new(Idle::default()),
            host: HeaderValue::from_str(&host).map_err(|_| "upstream.url has an invalid host")?,
            url: s.url.clone(),
            scheme,
            authority,
            connect_timeout: s.connect_timeout,
            timeout: s.timeout,
        })
    }

    /// True when this client is what `s` would build, so a reload can keep it (and its
    /// open connections) instead of reconnecting every client to the product.
    pub fn serves(&self, s: &UpstreamSettings) -> bool {
        self.url == s.url && self.connect_timeout == s.connect_timeout && self.timeout == s.timeout
    }

    /// Upstream connections waiting for a client connection.
    pub fn idle_connections(&self) -> usize {
        self.idle.len()
    }

    /// Opens a new upstream connection; its connection task runs until the product or
    /// authgate closes it.
    async fn connect(&self) -> Result<SendRequest<Body>, SendFailure> {
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(SendFailure::Connect)?;
        let io = connector
            .call(self.url.clone())
            .await
            .map_err(SendFailure::Connect)?;
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendFailure::Conn)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(send)
    }

    /// Sends `req` (origin-form target, `Host` set) over `pinned`'s upstream connection, or
    /// an idle one, or a new one. A reused connection that hands the request back unsent
    /// (it closed just then) is replaced; each try uses up an idle connection or opens a
    /// new one, and a new connection's failure is final, so this ends.
    async fn send_pinned(
        &self,
        pinned: &Pinned,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, SendFailure> {
        let mut held = pinned.take(&self.idle);
        loop {
            let (mut send, reused) = match held.take().or_else(|| self.idle.take()) {
                Some(send) => (send, true),
                None => (self.connect().await?, false),
            };
            if let Err(e) = send.ready().await {
                if reused {
                    continue;
                }
                return Err(SendFailure::Conn(e));
            }
            match send.try_send_request(req).await {
                Ok(response) => {
                    pinned.put(&self.idle, send);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(SendFailure::Conn(e.into_error())),
                },
            }
        }
    }

    /// Forwards one request. `identity` is the `[upstream.identity]` settings, `carriers`
    /// what carries a product credential. For a caller authgate authenticated every carrier
    /// goes (the headers' in `headers::rewrite_request`, the query's and form body's
    /// parameters here) and the product's session cookies are taken off the answer.
    pub async fn forward(
        &self,
        req: ForwardRequest<'_>,
        identity: &UpstreamIdentity,
        carriers: &crate::carriers::Carriers,
    ) -> Result<Response<Body>, Rejection> {
        let ForwardRequest {
            mut parts,
            mut body,
            caller,
            ctx,
            peer_trusted,
            proto,
            pinned,
            form,
            now,
        } = req;
        let authenticated = matches!(caller, headers::Caller::Authenticated { .. });
        // `oauth1`: the signer and the user it signs for.
        let signing = match (caller, identity) {
            (
                headers::Caller::Authenticated { username, .. },
                UpstreamIdentity::OAuth1 { signer, .. },
            ) => Some((std::sync::Arc::clone(signer), username)),
            _ => None,
        };
        // The same rewrite the bench measures (`headers::rewrite_request`).
        let origin = headers::Origin {
            peer: ctx.peer.ip(),
            peer_trusted,
            proto,
            request_id: &ctx.request_id,
            authority: parts.uri.authority().map(|a| a.as_str()),
        };
        headers::rewrite_request(
            &mut parts.headers,
            identity.identity_header(),
            carriers,
            caller,
            origin,
        )
        .map_err(|e| match e {
            headers::RewriteError::UsernameInvalid => Rejection::new(Reason::UsernameInvalid),
        })?;
        // Borrowed unless credential parameters had to come out (no copy on the usual path).
        let query: Option<std::borrow::Cow<'_, str>> = match parts.uri.query() {
            Some(q) if authenticated && crate::carriers::has_credential_params(q) => {
                crate::carriers::strip_params(q).map(Into::into)
            }
            q => q.map(Into::into),
        };
        let mut form_text: Option<String> = None;
        if let Some(form) = form.filter(|_| authenticated) {
            let text = String::from_utf8_lossy(&form);
            let credentials = crate::carriers::has_credential_params(&text);
            let users = signing.is_some() && crate::oauth1::has_user_params(&text);
            if credentials || users {
                let mut kept = crate::carriers::strip_params(&text).unwrap_or_default();
                if users {
                    kept = crate::oauth1::without_user_params(&kept);
                }
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(kept.len()));
                parts.headers.remove(http::header::TRANSFER_ENCODING);
                body = crate::body::full(kept.clone());
                form_text = Some(kept);
            } else if signing.is_some() {
                form_text = Some(text.into_owned());
            }
        }
        let path_and_query = match &signing {
            Some((signer, user)) => {
                // The servlet reads a form body as parameters only for POST (Tomcat's
                // `parseBodyMethods`): only then do they enter the base string.
                let signed_form = form_text
                    .as_deref()
                    .filter(|_| parts.method == http::Method::POST);
                if let Some(why) =
                    crate::oauth1::unsignable(&parts.headers, query.as_deref(), signed_form)
                {
                    return Err(Rejection::new(Reason::MalformedRequest)
                        .detail(format!("oauth1: {why}: the product would read other parameters than authgate signs")));
                }
                let signed = crate::oauth1::sign_off_worker(
                    signer,
                    crate::oauth1::SignInput {
                        method: parts.method.clone(),
                        path: ctx.path.clone(),
                        query: query.as_deref().map(str::to_string),
                        form: signed_form.map(str::to_string),
                        user: user.to_string(),
                        now,
                    },
                )
                .await
                .ok_or_else(|| {
                    Rejection::new(Reason::UpstreamUnreachable)
                        .detail("shutting down before the request was signed")
                })?;
                parts
                    .headers
                    .insert(http::header::AUTHORIZATION, signed.authorization);
                format!("{}?{}", ctx.path, signed.query)
            }
            None => match query {
                Some(q) => format!("{}?{q}", ctx.path),
                None => ctx.path.clone(),
            },
        };
        let mut target = Uri::builder();
        if pinned.is_some() {
            // Origin-form on our own connection; the pool derives both from an absolute URI.
            parts.headers.insert(http::header::HOST, self.host.clone());
        } else {
            target = target
                .scheme(self.scheme.clone())
                .authority(self.authority.clone());
        }
        parts.uri = target
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| Rejection::new(Reason::BadPath))?;
        // The product gets HTTP/1.1 whatever the client spoke.
        parts.version = http::Version::HTTP_11;
        let request = Request::from_parts(parts, body);
        let started = Instant::now();
        let sent = async {
            match pinned {
                Some(pinned) => self.send_pinned(pinned, request).await,
                None => self
                    .client
                    .request(request)
                    .await
                    .map_err(SendFailure::Pool),
            }
        };
        let result = tokio::time::timeout(self.timeout, sent).await;
        ctx.upstream_latency_us = Some(started.elapsed().as_micros() as u64);
        let response = match result {
            Err(_) => {
                return Err(Rejection::new(Reason::UpstreamTimeout)
                    .detail(format!("no response head within {:?}", self.timeout)))
            }
            Ok(Err(e)) => return Err(e.rejection()),
            Ok(Ok(r)) => r,
        };
        ctx.upstream_status = Some(response.status().as_u16());
        if signing.is_some() && response.status() == http::StatusCode::UNAUTHORIZED {
            if let Some(problem) = crate::oauth1::problem::refusal(response.headers()) {
                return Err(crate::oauth1::problem::rejection(
                    &problem,
                    "forwarded request",
                ));
            }
        }
        let (mut rparts, rbody) = response.into_parts();
        headers::strip_hop_by_hop(&mut rparts.headers);
        if authenticated {
            carriers.strip_set_cookie(&mut rparts.headers);
        }
        let body: Body = rbody
            .map_err(|e| Box::new(e) as crate::body::BodyError)
            .boxed();
        Ok(Response::from_parts(rparts, body))
    }
}

impl SendFailure {
    /// The answer to the client.
    fn rejection(&self) -> Rejection {
        let (connect, error): (bool, &(dyn std::error::Error + 'static)) = match self {
            SendFailure::Connect(e) => (true, e.as_ref()),
            SendFailure::Conn(e) => (false, e),
            SendFailure::Pool(e) => (e.is_connect(), e),
        };
        if crate::body::body_too_large(error) {
            // A streamed body went over `server.max_body_bytes` while being forwarded.
            return Rejection::new(Reason::BodyTooLarge).detail("body over server.max_body_bytes");
        }
        // Connect failures and broken connections alike: the product is unreachable.
        let what = if connect { "connect" } else { "request" };
        Rejection::new(Reason::UpstreamUnreachable)
            .detail(format!("upstream {what} failed: {error}"))
    }
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
