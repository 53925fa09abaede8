//! An identity provider stand-in: a real HTTP server on loopback serving a JWKS, an OIDC
//! discovery document and an RFC 7662 introspection endpoint, with switchable answers.
//!
//! Owns: [`IdpStandin`] — `start()` binds 127.0.0.1:0; `/jwks` serves the current keys
//! (`set_keys` rotates them) with `Cache-Control: max-age`; `/.well-known/openid-configuration`
//! names the issuer and `jwks_uri`; `/introspect` answers per token (`set_introspection`),
//! `{"active":false}` for tokens it does not know. Each endpoint has a [`Mode`] (normal, slow,
//! 503, connection dropped, redirect, oversized, not JSON, raw body) and a fetch counter;
//! every introspection request is recorded (form fields and `Authorization`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::body::{full, Body};

/// The stand-in's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /jwks`
    Jwks,
    /// `GET /.well-known/openid-configuration`
    Discovery,
    /// `POST /introspect`
    Introspection,
}

/// How an endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The normal answer.
    Normal,
    /// The normal answer after this delay.
    Slow(Duration),
    /// 503 with an HTML body.
    Unavailable,
    /// The connection is closed without an answer.
    Drop,
    /// `307` to this location.
    Redirect(String),
    /// 200 with a JSON-looking body of this many bytes.
    Oversized(usize),
    /// 200 with an HTML login page.
    NotJson,
    /// 200 with exactly this body.
    Raw(String),
}

/// One introspection request as received.
#[derive(Debug, Clone)]
pub struct IntrospectionRequest {
    /// Form fields of the body.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
}

impl IntrospectionRequest {
    /// The value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct State {
    issuer: String,
    keys: Vec<Value>,
    max_age: Option<u64>,
    answers: HashMap<String, Value>,
    modes: HashMap<Endpoint, Mode>,
    requests: Vec<IntrospectionRequest>,
}

#[derive(Debug)]
struct Inner {
    addr: SocketAddr,
    state: Mutex<State>,
    counts: [AtomicUsize; 3],
}

/// A running IdP stand-in; stops when dropped.
#[derive(Debug)]
pub struct IdpStandin {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for IdpStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn index(e: Endpoint) -> usize {
    match e {
        Endpoint::Jwks => 0,
        Endpoint::Discovery => 1,
        Endpoint::Introspection => 2,
    }
}

impl IdpStandin {
    /// Binds 127.0.0.1:0 and serves. The issuer defaults to the stand-in's own URL.
    pub async fn start() -> std::io::Result<IdpStandin> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            addr,
            state: Mutex::new(State {
                issuer: format!("http://{addr}"),
                keys: Vec::new(),
                max_age: Some(300),
                answers: HashMap::new(),
                modes: HashMap::new(),
                requests: Vec::new(),
            }),
            counts: Default::default(),
        });
        let served = Arc::clone(&inner);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let inner = Arc::clone(&served);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let inner = Arc::clone(&inner);
                        async move { answer(inner, req).await }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(IdpStandin { inner, task })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }
    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url())
    }
    /// The discovery URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.url())
    }
    /// The introspection URL.
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.url())
    }
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The issuer the discovery document names.
    pub fn issuer(&self) -> String {
        self.state().issuer.clone()
    }
    /// Changes the issuer the discovery document names.
    pub fn set_issuer(&self, issuer: &str) {
        self.state().issuer = issuer.to_string();
    }
    /// Replaces the published keys (JWKs): a rotation.
    pub fn set_keys(&self, keys: Vec<Value>) {
        self.state().keys = keys;
    }
    /// `Cache-Control: max-age` on the JWKS (`None`: no header).
    pub fn set_max_age(&self, secs: Option<u64>) {
        self.state().max_age = secs;
    }
    /// The introspection answer for `token`.
    pub fn set_introspection(&self, token: &str, answer: Value) {
        self.state().answers.insert(token.to_string(), answer);
    }
    /// How `endpoint` answers from now on.
    pub fn set_mode(&self, endpoint: Endpoint, mode: Mode) {
        self.state().modes.insert(endpoint, mode);
    }
    /// How many requests `endpoint` received.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.inner.counts[index(endpoint)].load(Ordering::SeqCst)
    }
    /// Every introspection request received.
    pub fn introspection_requests(&self) -> Vec<IntrospectionRequest> {
        self.state().requests.clone()
    }
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

async fn answer(inner: Arc<Inner>, req: http::Request<hyper::body::Incoming>) -> Result<Response<Body>, std::io::Error> {
    let endpoint = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/jwks") => Endpoint::Jwks,
        ("GET", "/.well-known/openid-configuration") => Endpoint::Discovery,
        ("POST", "/introspect") => Endpoint::Introspection,
        _ => return Ok(respond(StatusCode::NOT_FOUND, "text/plain", "not found")),
    };
    inner.counts[index(endpoint)].fetch_add(1, Ordering::SeqCst);
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mode = {
        let st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.modes.get(&endpoint).cloned().unwrap_or(Mode::Normal)
    };
    match mode {
        Mode::Normal => {}
        Mode::Slow(d) => tokio::time::sleep(d).await,
        Mode::Unavailable => {
            return Ok(respond(StatusCode::SERVICE_UNAVAILABLE, "text/html", "<html>down</html>"))
        }
        Mode::Drop => return Err(std::io::Error::other("dropped")),
        Mode::Redirect(to) => {
            let mut r = respond(StatusCode::TEMPORARY_REDIRECT, "text/plain", "");
            if let Ok(v) = http::HeaderValue::from_str(&to) {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            return Ok(r);
        }
        Mode::Oversized(n) => {
            let mut s = String::with_capacity(n);
            s.push_str("{\"active\":true,\"pad\":\"");
            while s.len() + 2 < n {
                s.push('x');
            }
            s.push_str("\"}");
            return Ok(respond(StatusCode::OK, "application/json", s));
        }
        Mode::NotJson => {
            return Ok(respond(StatusCode::OK, "text/html", "<html><body>Log in</body></html>"))
        }
        Mode::Raw(s) => return Ok(respond(StatusCode::OK, "application/json", s)),
    }
    let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
    let json_body = match endpoint {
        Endpoint::Jwks => {
            let mut r = respond(StatusCode::OK, "application/json", json!({"keys": st.keys}).to_string());
            if let Some(age) = st.max_age {
                if let Ok(v) = http::HeaderValue::from_str(&format!("public, max-age={age}")) {
                    r.headers_mut().insert(http::header::CACHE_CONTROL, v);
                }
            }
            return Ok(r);
        }
        Endpoint::Discovery => json!({
            "issuer": st.issuer,
            "jwks_uri": format!("http://{}/jwks", inner.addr),
            "introspection_endpoint": format!("http://{}/introspect", inner.addr),
        }),
        Endpoint::Introspection => {
            let form: Vec<(String, String)> = form_pairs(&body);
            let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
            st.requests.push(IntrospectionRequest { form, authorization, content_type });
            token
                .and_then(|t| st.answers.get(&t).cloned())
                .unwrap_or_else(|| json!({"active": false}))
        }
    };
    Ok(respond(StatusCode::OK, "application/json", json_body.to_string()))
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}
