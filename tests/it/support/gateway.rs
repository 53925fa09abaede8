//! A whole authgate in front of a Jira stand-in, both on loopback port 0, for the tests.
//!
//! Reads like a sentence:
//!
//! ```ignore
//! let t = Setup::jira().with("[auth]\ndisable_basic = true").start().await;
//! let r = t.get("/rest/api/2/myself").basic("alice", "alice-pw").send().await;
//! assert_eq!(r.status, 401);
//! assert!(t.jira.requests().is_empty());
//! ```
//!
//! The gateway is started by the real `Gateway::start` from a TOML text (the base below, with
//! the test's snippets merged over it), with its audit database and spool in a temp dir.
//! Requests go out through reqwest ([`Call`]), a raw TCP socket for bytes reqwest refuses to
//! send ([`TestGateway::raw`]), or a hyper client with a body the test feeds chunk by chunk
//! ([`TestGateway::upload`]). Any 127.0.0.x source address can be used to act as another client.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use authgate::app::{Gateway, StartOptions};
use authgate::config::Config;
use authgate::standin::jira::{JiraOptions, JiraStandin};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

/// How long any single test request may take before the test fails (a bound, not a timing).
pub const CALL_LIMIT: Duration = Duration::from_secs(20);

/// The shared secret of the test JWT provider (`corp`).
pub const HMAC_SECRET: &str = "authgate-test-secret-0123456789abcdef";
/// Issuer of the test JWT provider.
pub const ISSUER: &str = "https://idp.test/realms/corp";
/// Audience the test JWT provider requires.
pub const AUDIENCE: &str = "jira";

/// The `[[providers]]` block for an HS256 JWT provider named `corp`.
pub fn jwt_provider() -> String {
    format!(
        r#"
[[providers]]
name = "corp"
kind = "jwt"
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["HS256"]
hmac_secret = "{HMAC_SECRET}"
username_claim = "preferred_username"
"#
    )
}

/// A valid HS256 token for `user` from the `corp` provider (expires in 10 minutes).
pub fn token_for(user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("id-{user}"),
        "preferred_username": user,
        "iat": now,
        "exp": now + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET.as_bytes()),
    )
    .expect("HS256 signing works")
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// What to start: the stand-in's options and TOML snippets merged over the base config.
pub struct Setup {
    jira: JiraOptions,
    snippets: Vec<String>,
    upstream_url: Option<String>,
}

impl Setup {
    /// authgate in front of a Jira with the default users.
    pub fn jira() -> Setup {
        Setup {
            jira: JiraOptions::jira(),
            snippets: Vec::new(),
            upstream_url: None,
        }
    }

    /// Merges a TOML snippet over the config (tables merge; later values win; arrays replace).
    pub fn with(mut self, toml: &str) -> Setup {
        self.snippets.push(toml.to_string());
        self
    }

    /// Adds the HS256 JWT provider `corp` (see [`token_for`]).
    pub fn with_jwt_provider(self) -> Setup {
        let p = jwt_provider();
        self.with(&p)
    }

    /// Uses `name` as the identity header on both sides (`upstream.identity.header` and the
    /// stand-in's header authenticator).
    pub fn identity_header(mut self, name: &str) -> Setup {
        self.jira = self.jira.identity_header(name);
        self.with(&format!("[upstream.identity]\nheader = \"{name}\""))
    }

    /// A Confluence stand-in instead of Jira (`upstream.product = "confluence"`).
    pub fn confluence(mut self) -> Setup {
        self.jira.product = authgate::config::Product::Confluence;
        self.with("[upstream]\nproduct = \"confluence\"")
    }

    /// Points `upstream.url` somewhere else than the stand-in (e.g. a closed port).
    pub fn upstream_url(mut self, url: &str) -> Setup {
        self.upstream_url = Some(url.to_string());
        self
    }

    /// The TOML text this setup produces for a stand-in at `jira_url` and temp dir `dir`.
    pub fn toml(&self, jira_url: &str, dir: &std::path::Path) -> String {
        let base = format!(
            r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"

[upstream]
url = "{url}"
product = "jira"
timeout = "10s"

[audit]
database_url = "sqlite://{dir}/a.db?mode=rwc"
spool_dir = "{dir}/spool"
log = "off"
"#,
            url = self.upstream_url.as_deref().unwrap_or(jira_url),
            dir = dir.display(),
        );
        let mut table: toml::Table = base.parse().expect("the base config is TOML");
        for s in &self.snippets {
            let snippet: toml::Table = s.parse().unwrap_or_else(|e| panic!("test snippet is not TOML: {e}\n{s}"));
            merge(&mut table, snippet);
        }
        toml::to_string(&table).expect("a table prints as TOML")
    }

    /// Starts the stand-in and the gateway.
    pub async fn start(self) -> TestGateway {
        let jira = JiraStandin::start(self.jira.clone()).await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let text = self.toml(&jira.url(), dir.path());
        let config = authgate::config::from_toml_with(&text, dir.path(), &|_| None)
            .unwrap_or_else(|e| panic!("test config does not check: {e}\n{text}"));
        let gateway = start_gateway(config).await;
        TestGateway {
            gateway,
            jira,
            dir,
            toml: text,
        }
    }

    /// Starts the stand-in and a gateway loaded from a config *file* (so `app::reload` can
    /// re-read it); the file is `<dir>/authgate.toml`.
    pub async fn start_from_file(self) -> TestGateway {
        let jira = JiraStandin::start(self.jira.clone()).await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let text = self.toml(&jira.url(), dir.path());
        let path = dir.path().join("authgate.toml");
        std::fs::write(&path, &text).expect("write the config file");
        let config = authgate::config::load(&path).unwrap_or_else(|e| panic!("test config does not load: {e}"));
        let gateway = start_gateway(config).await;
        TestGateway {
            gateway,
            jira,
            dir,
            toml: text,
        }
    }
}

/// Deep merge of `over` into `base`: tables merge, everything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

async fn start_gateway(config: Config) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind listen");
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin_listen");
    Gateway::start(
        config,
        StartOptions {
            listener: Some(listener),
            admin_listener: Some(admin_listener),
            clock: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the gateway starts: {e}"))
}

/// A running gateway, the stand-in behind it, and the temp dir holding their files.
pub struct TestGateway {
    /// The gateway.
    pub gateway: Gateway,
    /// The stand-in it forwards to.
    pub jira: JiraStandin,
    /// Temp dir (config file, audit database, spool).
    pub dir: tempfile::TempDir,
    /// The config text it was started with.
    pub toml: String,
}

impl TestGateway {
    /// `http://127.0.0.1:PORT{path}` on `listen`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.addr)
    }

    /// Where the config file is (for [`Setup::start_from_file`]).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("authgate.toml")
    }

    /// A GET from 127.0.0.1.
    pub fn get(&self, path: &str) -> Call {
        self.call(http::Method::GET, path)
    }

    /// A POST from 127.0.0.1.
    pub fn post(&self, path: &str) -> Call {
        self.call(http::Method::POST, path)
    }

    /// Any method, from 127.0.0.1.
    pub fn call(&self, method: http::Method, path: &str) -> Call {
        Call {
            method,
            url: self.url(path),
            from: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Sends `bytes` as they are on a new connection from `from` (127.0.0.1 when `None`) and
    /// reads the whole answer (the connection is closed by the test's `Connection: close` or
    /// by authgate after an error).
    pub async fn raw_from(&self, from: Option<&str>, bytes: &[u8]) -> RawResponse {
        let socket = TcpSocket::new_v4().expect("a socket");
        if let Some(ip) = from {
            let ip: IpAddr = ip.parse().expect("a source address");
            socket.bind(SocketAddr::new(ip, 0)).expect("bind the source address");
        }
        let mut stream = socket.connect(self.gateway.addr).await.expect("connect to authgate");
        stream.write_all(bytes).await.expect("send");
        let mut out = Vec::new();
        let read = tokio::time::timeout(CALL_LIMIT, stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "authgate did not close the connection within {CALL_LIMIT:?}");
        RawResponse::parse(&out)
    }

    /// `raw_from(None, bytes)`.
    pub async fn raw(&self, bytes: &[u8]) -> RawResponse {
        self.raw_from(None, bytes).await
    }

    /// A raw `GET {target}` with `Connection: close` and extra header lines (`"Name: value"`).
    pub async fn raw_get(&self, target: &str, extra: &[&str]) -> RawResponse {
        self.raw(raw_request("GET", target, extra).as_bytes()).await
    }

    /// Starts a `method path` upload whose body the test feeds through the returned sender;
    /// drop the sender to end the body. The answer arrives on the returned task.
    pub async fn upload(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Upload {
        let stream = tokio::net::TcpStream::connect(self.gateway.addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1 handshake");
        tokio::spawn(conn);
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(8);
        let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|f| (f, rx))
        }));
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.gateway.addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body).expect("a request");
        let answer = tokio::spawn(async move {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(http::Response::from_parts(parts, body))
        });
        Upload { chunks: tx, answer }
    }
}

/// A `GET`-style request head with `Connection: close`.
pub fn raw_request(method: &str, target: &str, extra: &[&str]) -> String {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n");
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s
}

/// An upload in progress (see [`TestGateway::upload`]).
pub struct Upload {
    /// Feeds the body; drop it to end the body.
    pub chunks: mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>,
    /// The answer, once the gateway answers.
    pub answer: tokio::task::JoinHandle<Result<http::Response<Bytes>, String>>,
}

impl Upload {
    /// Sends one chunk of the body.
    pub async fn send(&self, chunk: impl Into<Bytes>) {
        self.chunks
            .send(Ok(Frame::data(chunk.into())))
            .await
            .expect("the gateway still reads the body");
    }

    /// Ends the body and waits for the answer.
    pub async fn finish(self) -> http::Response<Bytes> {
        drop(self.chunks);
        tokio::time::timeout(CALL_LIMIT, self.answer)
            .await
            .expect("the answer arrives")
            .expect("the client task ends")
            .expect("the request succeeds")
    }
}

/// A reqwest call being built.
pub struct Call {
    method: http::Method,
    url: String,
    from: Option<IpAddr>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Call {
    /// Adds a header line (repeatable).
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Basic …`
    pub fn basic(self, user: &str, password: &str) -> Call {
        let v = basic(user, password);
        self.header("authorization", &v)
    }

    /// `Authorization: Bearer {token}`
    pub fn bearer(self, token: &str) -> Call {
        let v = format!("Bearer {token}");
        self.header("authorization", &v)
    }

    /// `Cookie: {cookie}`
    pub fn cookie(self, cookie: &str) -> Call {
        self.header("cookie", cookie)
    }

    /// A body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Call {
        self.body = Some(body.into());
        self
    }

    /// Sends from source address `ip` (e.g. `127.0.0.2`) to act as another client.
    pub fn from(mut self, ip: &str) -> Call {
        self.from = Some(ip.parse().expect("a source address"));
        self
    }

    /// Sends and reads the whole answer.
    pub async fn send(self) -> Answer {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(self.from)
            .timeout(CALL_LIMIT)
            .build()
            .expect("a client");
        let mut rb = client.request(self.method, &self.url);
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(b) = self.body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.unwrap_or_else(|e| panic!("{}: {e}", self.url));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("the whole body");
        Answer { status, headers, body }
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `reason` of a rejection body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer read from a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code (0 when nothing parsable came back).
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    fn parse(bytes: &[u8]) -> RawResponse {
        let text_end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
        let Some(end) = text_end else {
            return RawResponse {
                status: 0,
                headers: Vec::new(),
                body: bytes.to_vec(),
            };
        };
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = bytes[end + 4..].to_vec();
        if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
            body = dechunk(&body);
        }
        RawResponse { status, headers, body }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `reason` of a rejection body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}
