//! A Jira / Confluence Data Center stand-in: a real HTTP server on loopback that records every
//! request it receives and answers the REST endpoints authgate and its tests use the way the
//! product does (bodies, error shapes, `X-AUSERNAME`).
//!
//! Owns: [`JiraStandin`] (start, the record of requests, switches for slow and failing
//! answers, a signal when the first bytes of a request body arrive), [`JiraOptions`] and the
//! users it knows ([`StandinUser`]). The answers themselves live in `jira/routes.rs`; with
//! [`JiraOptions::recorder`] it is a plain recording upstream instead (200 `ok` to every
//! whole request), the one fake product the tests use besides the routed one.
//!
//! How it authenticates a request, in this order (as Jira DC with a header authenticator):
//! a 2-legged OAuth request through [`JiraOptions::oauth1`]'s application link (`jira/oauth1.rs`;
//! a refusal is 401 with `WWW-Authenticate: OAuth …, oauth_problem=…`); the configured identity header (any letter case) naming a known user (and the answer sets
//! `JSESSIONID=<user>-session`, as Seraph authenticators put the user in a session);
//! `os_username` + `os_password` in the query or a form body; `Basic` for a known user with
//! the right password (a wrong one is 401); `Bearer <PAT>` for a PAT it issued (an unknown
//! one is 401); a `JSESSIONID=<user>-session` or remember-me cookie
//! (`seraph.rememberme.cookie` / Confluence's `seraph.confluence` = `<user>-remember`), read
//! from raw bytes as Tomcat does (`,` separates cookies after `$Version`); else anonymous.

pub mod oauth1;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::config::Product;

/// Alice's Personal Access Token in the default options (matches `^[MNO][A-Za-z0-9+/]{43}$`).
pub const ALICE_PAT: &str = "NjE4MzQ5NTg3NjQ0OkFsaWNlUGF0VG9rZW5Gb3JUZXN0";
/// Bob's Personal Access Token in the default options.
pub const BOB_PAT: &str = "NzE4MzQ5NTg3NjQ0OkJvYlBhdFRva2VuRm9yVGVzdFhZ";
/// The admin's Personal Access Token in the default options.
pub const ADMIN_PAT: &str = "ODE4MzQ5NTg3NjQ0OkFkbWluUGF0VG9rZW5Gb3JUZXN0";

/// A user the stand-in knows.
#[derive(Debug, Clone)]
pub struct StandinUser {
    /// Username (Jira `name`).
    pub name: String,
    /// Password accepted with Basic.
    pub password: String,
    /// Group names.
    pub groups: Vec<String>,
    /// Personal Access Tokens issued to this user.
    pub pats: Vec<String>,
}

impl StandinUser {
    /// A user with password `<name>-pw`, the given groups and no PAT.
    pub fn new(name: &str, groups: &[&str]) -> Self {
        StandinUser {
            name: name.to_string(),
            password: format!("{name}-pw"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            pats: Vec::new(),
        }
    }

    /// The same user with `pat` issued to it.
    pub fn with_pat(mut self, pat: &str) -> Self {
        self.pats.push(pat.to_string());
        self
    }
}

/// What the stand-in is.
#[derive(Debug, Clone)]
pub struct JiraOptions {
    /// Jira or Confluence (error shapes and `/rest/api/user/*`).
    pub product: Product,
    /// The header its header authenticator reads (compared case-insensitively).
    pub identity_header: String,
    /// The users it knows.
    pub users: Vec<StandinUser>,
    /// A plain recording upstream instead of the product's routes: every request that
    /// arrived whole is answered 200 `ok`, one whose body broke off 400 (the tests' "what
    /// reached the product" oracle).
    pub answer_everything: bool,
    /// An application link with incoming 2-legged OAuth (`oauth1` mode); `None`: OAuth
    /// requests are refused as from an unknown consumer.
    pub oauth1: Option<oauth1::OAuthLink>,
}

impl JiraOptions {
    /// A Jira with alice (jira-users, PAT [`ALICE_PAT`]), bob (jira-users, jira-readonly, PAT
    /// [`BOB_PAT`]), carol (no groups) and admin (jira-administrators, jira-users, PAT
    /// [`ADMIN_PAT`]); each password is `<name>-pw`; identity header `X-Forwarded-User`.
    pub fn jira() -> Self {
        JiraOptions {
            product: Product::Jira,
            identity_header: "X-Forwarded-User".to_string(),
            users: vec![
                StandinUser::new("alice", &["jira-users"]).with_pat(ALICE_PAT),
                StandinUser::new("bob", &["jira-users", "jira-readonly"]).with_pat(BOB_PAT),
                StandinUser::new("carol", &[]),
                StandinUser::new("admin", &["jira-administrators", "jira-users"])
                    .with_pat(ADMIN_PAT),
            ],
            answer_everything: false,
            oauth1: None,
        }
    }

    /// A plain recording upstream (see [`JiraOptions::answer_everything`]).
    pub fn recorder() -> Self {
        JiraOptions {
            answer_everything: true,
            ..JiraOptions::jira()
        }
    }

    /// The same users in a Confluence.
    pub fn confluence() -> Self {
        JiraOptions {
            product: Product::Confluence,
            ..JiraOptions::jira()
        }
    }

    /// The same options with an application link for `mode = "oauth1"`.
    pub fn with_oauth1(mut self, link: oauth1::OAuthLink) -> Self {
        self.oauth1 = Some(link);
        self
    }

    /// The same options with another identity header.
    pub fn identity_header(mut self, name: &str) -> Self {
        self.identity_header = name.to_string();
        self
    }
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: Method,
    /// The request target as received (path and query).
    pub target: String,
    /// Every header line received.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The far end of the connection it came on (authgate's side of an upstream connection).
    pub peer: SocketAddr,
    /// The body arrived whole (false when the sender gave up mid-body).
    pub complete: bool,
}

impl RecordedRequest {
    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Every value of header `name`, as strings (lossy).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The single value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_values(name).into_iter().next()
    }
}

/// State shared by the server task and the handle.
struct Inner {
    options: JiraOptions,
    requests: Mutex<Vec<RecordedRequest>>,
    delay: Mutex<Duration>,
    failing: AtomicBool,
    /// Answer with `Connection: close` (as Tomcat does after `maxKeepAliveRequests`).
    closing: AtomicBool,
    /// Count of request bodies whose first bytes have arrived.
    first_body_bytes: watch::Sender<u64>,
    /// OAuth nonces seen (per node, as the products remember them).
    nonces: oauth1::Nonces,
}

/// A running stand-in; the server stops when this is dropped.
pub struct JiraStandin {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl JiraStandin {
    /// Binds 127.0.0.1:0 and starts serving.
    ///
    /// # Panics
    /// When loopback cannot be bound (a broken test machine).
    pub async fn start(options: JiraOptions) -> JiraStandin {
        Self::start_with(options, |_, _| {}).await
    }

    /// [`JiraStandin::start`], with `adjust` seeing the bound address before the first request
    /// (e.g. an application link's base URL, which is the stand-in's own).
    pub async fn start_with(
        mut options: JiraOptions,
        adjust: impl FnOnce(SocketAddr, &mut JiraOptions),
    ) -> JiraStandin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the Jira stand-in binds 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        adjust(addr, &mut options);
        let (first_body_bytes, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            options,
            requests: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            failing: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            first_body_bytes,
            nonces: oauth1::Nonces::default(),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&inner)));
        JiraStandin { addr, inner, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The options it was started with.
    pub fn options(&self) -> &JiraOptions {
        &self.inner.options
    }

    /// Every request received so far (whole bodies), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Delays every answer by `delay` (after the request is recorded).
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.inner.delay) = delay;
    }

    /// When true, user and group lookups answer 500.
    pub fn set_failing(&self, failing: bool) {
        self.inner.failing.store(failing, Ordering::SeqCst);
    }

    /// When true, every answer carries `Connection: close` and the connection is closed
    /// after it.
    pub fn set_closing(&self, closing: bool) {
        self.inner.closing.store(closing, Ordering::SeqCst);
    }

    /// A receiver of the number of request bodies whose first bytes have arrived. It changes
    /// as soon as the first chunk of a body is read, before the rest of the body is, so a test
    /// can show that a body is streamed: `rx.wait_for(|n| *n >= 1)` while the client still
    /// holds back the end of its upload.
    pub fn first_body_bytes(&self) -> watch::Receiver<u64> {
        self.inner.first_body_bytes.subscribe()
    }
}

impl Drop for JiraStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let inner = Arc::clone(&inner);
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let inner = Arc::clone(&inner);
                async move { Ok::<_, std::convert::Infallible>(handle(inner, req, peer).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

async fn handle(
    inner: Arc<Inner>,
    req: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> http::Response<Body> {
    let (parts, mut incoming) = req.into_parts();
    let mut body = BytesMut::new();
    let mut signalled = false;
    let mut complete = true;
    while let Some(frame) = incoming.frame().await {
        let Ok(frame) = frame else {
            // The client (authgate) gave up mid-body: record what arrived, answer nothing useful.
            complete = false;
            break;
        };
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() && !signalled {
                signalled = true;
                inner.first_body_bytes.send_modify(|n| *n += 1);
            }
            body.extend_from_slice(&data);
        }
    }
    let recorded = RecordedRequest {
        method: parts.method.clone(),
        target: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| parts.uri.to_string()),
        headers: parts.headers.clone(),
        body: body.freeze(),
        peer,
        complete,
    };
    lock(&inner.requests).push(recorded.clone());
    if inner.options.answer_everything {
        let (status, text) = if complete {
            (http::StatusCode::OK, "ok")
        } else {
            (http::StatusCode::BAD_REQUEST, "broken")
        };
        let mut answer = http::Response::new(crate::body::full(text));
        *answer.status_mut() = status;
        return answer;
    }
    let delay = *lock(&inner.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let failing = inner.failing.load(Ordering::SeqCst);
    let mut answer = routes::answer(&inner.options, &inner.nonces, failing, &recorded);
    if inner.closing.load(Ordering::SeqCst) {
        answer.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    answer
}

#[cfg(test)]
mod tests;
