//! Fixtures for the catalog's token suites (docs/catalog.md §J, §K, §I): the catalog fixture of
//! `harden.rs` with any provider — a key from `tests/fixtures/keys`, a JWKS or introspection
//! endpoint on the IdP stand-in — and a manual clock at [`NOW`], so expiry, caches and
//! re-fetch windows move only when a test moves them; a counting loopback listener for the
//! "gets zero connections" oracles; the audit row of a response.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use authgate::audit::AuditEvent;
use authgate::clock::ManualClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::harden::{config_text, Harness, RawResponse, P};
use super::tokens::key_path;

pub use super::tokens::NOW;

/// The username regex of the catalog fixture (docs/catalog.md#fixture), as a capture group.
pub const USER_REGEX: &str = "^([a-z][a-z0-9._-]{0,63})$";

/// The catalog fixture (docs/catalog.md#fixture) around `provider`: `auth_extra` goes into
/// `[auth]`, `extra` after the other tables.
pub fn fixture_with(auth_extra: &str, provider: &str, extra: &str) -> String {
    format!(
        r#"
[auth]
require_authentication = true
resolve_passthrough_identity = false
{auth_extra}

{provider}

[groups]
source = "claim"

[access]
bypass = ["GET {P}"]
allowed_groups = ["jira-users"]
read_only_groups = ["jira-readonly"]

{extra}
"#
    )
}

/// `public_key_file = "<abs path>"` (or `certificate_file` for a `.crt.pem`).
pub fn key_file(file: &str) -> String {
    let field = if file.ends_with(".crt.pem") {
        "certificate_file"
    } else {
        "public_key_file"
    };
    format!("{field} = \"{}\"", key_path(file).display())
}

/// A jwt provider `idp` for issuer `https://idp.test`, audience `jira-gw`, the fixture's
/// username regex and groups claim, `max_token_age = "24h"` (leeway: the default 30 s).
pub fn jwt_provider(source: &str, algorithms: &[&str], extra: &str) -> String {
    let algs: Vec<String> = algorithms.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[providers]]\nname = \"idp\"\nkind = \"jwt\"\nissuer = \"https://idp.test\"\naudiences = [\"jira-gw\"]\nalgorithms = [{}]\n{source}\nusername_regex = '{USER_REGEX}'\ngroups_claim = \"groups\"\nmax_token_age = \"24h\"\n{extra}\n",
        algs.join(", ")
    )
}

/// An introspection provider `oauth` at `url` (client `gateway`, Basic auth, 1 s timeout,
/// 60 s cache), username from `username`, groups from `groups`.
pub fn introspection_provider(url: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"oauth\"\nkind = \"introspection\"\nintrospection_url = \"{url}\"\nclient_id = \"gateway\"\nclient_secret = \"gateway-secret\"\ntimeout = \"1s\"\ncache_ttl = \"60s\"\nusername_claim = \"username\"\nusername_regex = '{USER_REGEX}'\ngroups_claim = \"groups\"\n{extra}\n"
    )
}

/// Checks `rest` (after the fixed tables) as a config, without starting anything.
pub fn check(rest: &str) -> Result<authgate::config::Config, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text("http://127.0.0.1:9", dir.path(), "", rest);
    authgate::config::from_toml_with(&text, dir.path(), &|_| None).map_err(|e| e.to_string())
}

/// Builds and starts a gateway for `rest` with `clock`; the start-up error as text.
pub async fn try_start(rest: &str, clock: &ManualClock) -> Result<Harness, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Harness::try_start_text(listener, Some(Arc::new(clock.clone())), |up, dir| {
        config_text(up, dir, "", rest)
    })
    .await
}

/// As [`try_start`]; a config that does not start fails the test.
pub async fn start(rest: &str, clock: &ManualClock) -> Harness {
    try_start(rest, clock)
        .await
        .unwrap_or_else(|e| panic!("fixture did not start: {e}\n{rest}"))
}

/// `Authorization: Bearer <t>`
pub fn bearer(t: &str) -> String {
    format!("Authorization: Bearer {t}")
}

/// The one audit row of `resp` (by `X-Request-Id`), after a flush.
pub async fn audit_row(h: &Harness, resp: &RawResponse, case: &str) -> AuditEvent {
    let mut rows = h.audit_rows_of(resp, case).await;
    assert_eq!(rows.len(), 1, "{case}: audit rows: {rows:?}");
    rows.remove(0)
}

/// How a [`Listener`] answers each connection.
#[derive(Debug, Clone)]
pub enum Script {
    /// Read the request head, then write these bytes and close.
    Respond(Vec<u8>),
    /// Write these bytes at once, without reading (a TLS client sees garbage), then close.
    Immediate(Vec<u8>),
    /// Read the request head, then stream chunks of a JSON-looking body until the peer
    /// goes away.
    Endless,
}

/// A loopback listener that counts connections and answers by [`Script`].
pub struct Listener {
    /// Where it listens.
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Binds 127.0.0.1:0.
    pub async fn start(script: Script) -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let conns: Arc<AtomicUsize> = Arc::default();
        let count = Arc::clone(&conns);
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                tokio::spawn(async move {
                    if let Script::Immediate(bytes) = &script {
                        let _ = s.write_all(bytes).await;
                        return;
                    }
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    match script {
                        Script::Respond(bytes) => {
                            let _ = s.write_all(&bytes).await;
                        }
                        Script::Immediate(_) => {}
                        Script::Endless => {
                            let start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n";
                            if s.write_all(start).await.is_err() {
                                return;
                            }
                            let chunk = format!("1000\r\n{}\r\n", " ".repeat(0x1000));
                            while s.write_all(chunk.as_bytes()).await.is_ok() {}
                        }
                    }
                });
            }
        });
        Listener { addr, conns, task }
    }

    /// An HTTP answer with `status` and `body` (JSON content type).
    pub async fn status(status: u16, body: &str) -> Listener {
        Listener::start(Script::Respond(
            format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ))
        .await
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// Sends `GET T` with `Authorization: Bearer token` and asserts a 401 `reason` deny (the
/// three oracles) with a Bearer challenge.
pub async fn deny_token(h: &Harness, token: &str, reason: &str, case: &str) {
    let resp = h.get(super::harden::T, &[&bearer(token)]).await;
    h.assert_denied(&resp, 401, reason, case).await;
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
        "{case}: WWW-Authenticate {challenge:?}"
    );
}

/// Sends `GET T` with `Authorization: Bearer token` and asserts it is forwarded once with
/// exactly one identity header `user` and an `allow` row.
pub async fn allow_token(h: &Harness, token: &str, user: &str, case: &str) {
    let resp = h.get(super::harden::T, &[&bearer(token)]).await;
    h.assert_forwarded(&resp, super::harden::T, Some(user), case)
        .await;
}

/// Number of audit rows in the store (after a flush).
pub async fn audit_count(h: &Harness) -> usize {
    h.try_audit_rows().await.expect("audit query").len()
}

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(payload).sig` with no signing.
pub fn unsigned(header: &str, payload: &str, sig: &str) -> String {
    format!("{}.{}.{sig}", b64(header), b64(payload))
}
