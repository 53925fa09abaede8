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

use std::path::PathBuf;
use std::time::Duration;

use authgate::app::Gateway;
use authgate::config::Config;
use authgate::standin::jira::{JiraOptions, JiraStandin};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::client::exchange;
pub use super::client::{raw_request, Answer, Call, RawResponse, Upload};

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
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
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

    /// Turns off `auth.resolve_passthrough_identity`, for tests about what is forwarded to
    /// the product, so the stand-in records only the forwarded request and not the identity
    /// lookup authgate makes first for PAT / Basic / cookie / OAuth callers.
    pub fn without_identity_lookups(self) -> Setup {
        self.with("[auth]\nresolve_passthrough_identity = false")
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
            let snippet: toml::Table = s
                .parse()
                .unwrap_or_else(|e| panic!("test snippet is not TOML: {e}\n{s}"));
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
        let config = authgate::config::load(&path)
            .unwrap_or_else(|e| panic!("test config does not load: {e}"));
        let gateway = start_gateway(config).await;
        TestGateway {
            gateway,
            jira,
            dir,
            toml: text,
        }
    }

    /// Starts the stand-in with `options` (e.g. [`JiraOptions::recorder`]).
    pub fn jira_options(mut self, options: JiraOptions) -> Setup {
        self.jira = options;
        self
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
    super::launch::launch(config, None, None)
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
        Call::new(method, self.url(path))
    }

    /// Sends `bytes` as they are on a new connection from `from` (127.0.0.1 when `None`) and
    /// reads the whole answer (the connection is closed by the test's `Connection: close` or
    /// by authgate after an error).
    pub async fn raw_from(&self, from: Option<&str>, bytes: &[u8]) -> RawResponse {
        let from = from.map(|ip| ip.parse().expect("a source address"));
        let (resp, closed) = exchange(self.gateway.addr, from, bytes, CALL_LIMIT).await;
        assert!(
            closed,
            "authgate did not close the connection within {CALL_LIMIT:?}"
        );
        resp
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
        let stream = tokio::net::TcpStream::connect(self.gateway.addr)
            .await
            .expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
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
