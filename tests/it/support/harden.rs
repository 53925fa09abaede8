//! Fixtures for the hostile-client and catalog suites: a recording upstream on loopback, a
//! real `Gateway` started from a TOML string in a temp dir, and a raw-socket client that sends
//! exactly the bytes a test gives it (no client library normalizes the attack away).

use std::net::SocketAddr;
use std::time::Duration;

use authgate::app::Gateway;
use authgate::audit::store::MAX_LIMIT;
use authgate::audit::{AuditEvent, Filter, Store};
use authgate::clock::SharedClock;
use authgate::standin::jira::{JiraOptions, JiraStandin};
use bytes::Bytes;
use http::HeaderMap;
use tokio::net::TcpListener;

pub use super::client::RawResponse;
use super::client::{exchange, raw_request};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query, as received.
    pub target: String,
    /// Headers, as received.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// A loopback upstream that records every request and answers 200 `ok`: the Jira stand-in
/// as a plain recording upstream (`JiraOptions::recorder`). Only requests whose body arrived
/// whole count as seen: a request the gateway gave up on never reached the product.
pub struct Recorder {
    /// Where it listens.
    pub addr: SocketAddr,
    standin: JiraStandin,
}

impl Recorder {
    /// Binds 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> Recorder {
        let standin = JiraStandin::start(JiraOptions::recorder()).await;
        Recorder {
            addr: standin.addr,
            standin,
        }
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        self.standin.url()
    }

    /// Every complete request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.standin
            .requests()
            .into_iter()
            .filter(|r| r.complete)
            .map(|r| Seen {
                method: r.method.to_string(),
                target: r.target,
                headers: r.headers,
                body: r.body,
            })
            .collect()
    }

    /// Forgets what was seen.
    pub fn clear(&self) {
        self.standin.clear();
    }
}

/// A started gateway, its upstream and its temp dir (kept alive together).
pub struct Harness {
    /// The gateway.
    pub gw: Gateway,
    /// The recording upstream.
    pub up: Recorder,
    /// Holds the SQLite file and the spool.
    pub dir: tempfile::TempDir,
}

/// The config text: `server_extra` goes into `[server]`, `rest` after the fixed tables
/// (it may hold `[auth]`, `[access]`, `[ip]`, `[[providers]]`…, never `[server]`,
/// `[upstream]` or `[audit]`).
pub fn config_text(
    upstream: &str,
    dir: &std::path::Path,
    server_extra: &str,
    rest: &str,
) -> String {
    let d = dir.display();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
shutdown_grace = "1s"
{server_extra}

[upstream]
url = "{upstream}"

[audit]
database_url = "sqlite://{d}/audit.db?mode=rwc"
spool_dir = "{d}/spool"
log = "off"

{rest}
"#
    )
}

impl Harness {
    /// Starts a recorder and a gateway in front of it.
    pub async fn start(server_extra: &str, rest: &str) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        Harness::start_on(listener, server_extra, rest).await
    }

    /// As [`Harness::start`], serving clients on `listener`.
    pub async fn start_on(listener: TcpListener, server_extra: &str, rest: &str) -> Harness {
        Harness::try_start_text(listener, None, |up, dir| {
            config_text(up, dir, server_extra, rest)
        })
        .await
        .unwrap_or_else(|e| panic!("fixture did not start: {e}"))
    }

    /// Starts a recorder, then a gateway serving on `listener` from the config text
    /// `text(recorder_url, temp_dir)`, with `clock` (default: the system's). The error names
    /// what failed (a config that does not check comes with its text).
    pub async fn try_start_text(
        listener: TcpListener,
        clock: Option<SharedClock>,
        text: impl FnOnce(&str, &std::path::Path) -> String,
    ) -> Result<Harness, String> {
        let up = Recorder::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let text = text(&up.url(), dir.path());
        let config = authgate::config::from_toml_with(&text, dir.path(), &|_| None)
            .map_err(|e| format!("{e}\n{text}"))?;
        let gw = super::launch::launch(config, Some(listener), clock).await?;
        Ok(Harness { gw, up, dir })
    }

    /// Every audit row so far, newest first; the writer is flushed first, so every answered
    /// request's row is in the database.
    pub async fn try_audit_rows(&self) -> Result<Vec<AuditEvent>, sqlx::Error> {
        let shared = &self.gw.state.shared;
        shared.audit.flush().await;
        let filter = Filter {
            limit: MAX_LIMIT,
            ..Default::default()
        };
        Ok(Store::new(&shared.db).query(&filter).await?.events)
    }

    /// The audit rows of `resp`, found by its `X-Request-Id`.
    pub async fn audit_rows_of(&self, resp: &RawResponse, case: &str) -> Vec<AuditEvent> {
        let rid = resp
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{case}: no X-Request-Id on the answer:\n{}", resp.text));
        self.try_audit_rows()
            .await
            .unwrap_or_else(|e| panic!("{case}: audit query failed: {e}"))
            .into_iter()
            .filter(|e| e.request_id == rid)
            .collect()
    }

    /// Sends `raw` bytes on a new connection and reads the answer (see [`raw`]).
    pub async fn raw(&self, raw_bytes: &[u8]) -> RawResponse {
        raw(self.gw.addr, raw_bytes).await
    }

    /// `GET target` with `headers` lines (each `Name: value`), `Connection: close`.
    pub async fn get(&self, target: &str, headers: &[&str]) -> RawResponse {
        self.send("GET", target, headers).await
    }

    /// `method target` with `headers` lines and no body.
    pub async fn send(&self, method: &str, target: &str, headers: &[&str]) -> RawResponse {
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.raw(req.as_bytes()).await
    }
}

/// Sends `raw_bytes` on a new connection to `addr` and reads until the server closes it
/// (requests should carry `Connection: close`) or 10 s pass (see [`exchange`]).
pub async fn raw(addr: SocketAddr, raw_bytes: &[u8]) -> RawResponse {
    exchange(addr, None, raw_bytes, Duration::from_secs(10))
        .await
        .0
}

/// An HS256 JWT signed with `secret` over `claims` (for providers with `hmac_secret`).
pub fn hs256(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign test token")
}

/// Seconds since the epoch (for `exp` / `iat` in test tokens).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Sends `raw_bytes` from the local address `src` (any 127.0.0.x: the whole of 127/8 is
/// loopback, so tests pick the peer address the gateway sees).
pub async fn raw_from(src: std::net::IpAddr, addr: SocketAddr, raw_bytes: &[u8]) -> RawResponse {
    exchange(addr, Some(src), raw_bytes, Duration::from_secs(10))
        .await
        .0
}

/// A simple GET request text with `headers` lines and `Connection: close`.
pub fn get_text(target: &str, headers: &[&str]) -> String {
    raw_request("GET", target, headers)
}

// === the catalog fixture (docs/catalog.md#fixture, adapted to authgate's configuration) ===

/// HMAC secret of the fixture provider (HS256 stands in for RS256: same validation path).
pub const SECRET: &str = "catalog-fixture-secret-0123456789abcdef";
/// Identity header.
pub const IDENTITY: &str = "x-forwarded-user";
/// The public path `P` (a `bypass` rule for GET only).
pub const P: &str = "/rest/api/2/serverInfo";
/// A protected path `T`.
pub const T: &str = "/rest/api/2/issue/ABC-1";

/// The catalog fixture: anonymous API calls need a credential (`require_authentication`),
/// except `GET P` (bypass); JWTs from issuer `https://idp.test` for audience `jira-gw`,
/// username from `preferred_username` through `^[a-z][a-z0-9._-]{0,63}$`, groups from the
/// `groups` claim; `jira-users` required, `jira-readonly` read-only. `extra` is appended
/// (it may add `[ip]`, `[rate_limit]`…).
pub fn fixture(extra: &str) -> String {
    format!(
        r#"
[auth]
require_authentication = true
resolve_passthrough_identity = false

[[providers]]
name = "idp"
kind = "jwt"
issuer = "https://idp.test"
audiences = ["jira-gw"]
hmac_secret = "{SECRET}"
username_regex = '^([a-z][a-z0-9._-]{{0,63}})$'
groups_claim = "groups"

[groups]
source = "claim"

[access]
bypass = ["GET {P}", "GET /s/**"]
deny = ["/rest/api/2/deny/**"]
allowed_groups = ["jira-users"]
read_only_groups = ["jira-readonly"]

{extra}
"#
    )
}

/// A valid fixture token for `user` with `groups`.
pub fn token(user: &str, groups: &[&str]) -> String {
    token_with(serde_json::json!({
        "iss": "https://idp.test",
        "aud": "jira-gw",
        "exp": now() + 300,
        "iat": now(),
        "preferred_username": user,
        "groups": groups,
    }))
}

/// A fixture-signed token with arbitrary claims.
pub fn token_with(claims: serde_json::Value) -> String {
    hs256(SECRET, &claims)
}

impl Harness {
    /// The catalog fixture with `extra` config appended.
    pub async fn catalog(extra: &str) -> Harness {
        Harness::start("", &fixture(extra)).await
    }

    /// The catalog fixture on `listener`.
    pub async fn catalog_on(listener: TcpListener, extra: &str) -> Harness {
        Harness::start_on(listener, "", &fixture(extra)).await
    }

    /// Asserts a deny (the catalog's three oracles, docs/catalog.md#oracles): `status` and the
    /// machine `reason` in the body, nothing upstream, and one audit row `deny`/`reason` for
    /// the request id.
    pub async fn assert_denied(&self, resp: &RawResponse, status: u16, reason: &str, case: &str) {
        assert_eq!(
            resp.status, status,
            "{case}: status; response:\n{}",
            resp.text
        );
        assert!(
            resp.body().contains(&format!("\"reason\":\"{reason}\"")),
            "{case}: expected reason {reason}, got body {}",
            resp.body()
        );
        let seen = self.up.seen();
        assert!(
            seen.is_empty(),
            "{case}: a denied request reached the upstream: {seen:?}"
        );
        self.assert_audited(resp, Some(("deny", reason)), None, case)
            .await;
    }

    /// Asserts a forward: 200 from the upstream, which saw exactly one request with
    /// `target`, and exactly one identity header equal to `user` (none when `user` is None);
    /// and the audit row: `allow`/`authenticated` for `user`, `allow`/`bypass` for an
    /// anonymous API call (the fixture's only anonymous forwards are bypass rules), no row for
    /// a path outside `/rest/` (docs/audit.md: non-API requests that pass are not audited).
    /// Clears the recorder for the next case.
    pub async fn assert_forwarded(
        &self,
        resp: &RawResponse,
        target: &str,
        user: Option<&str>,
        case: &str,
    ) -> Seen {
        assert_eq!(resp.status, 200, "{case}: status; response:\n{}", resp.text);
        let seen = self.up.seen();
        assert_eq!(seen.len(), 1, "{case}: upstream requests: {seen:?}");
        let s = seen.into_iter().next().expect("one request");
        assert_eq!(s.target, target, "{case}: forwarded target");
        let ids: Vec<String> = s
            .headers
            .iter()
            .filter(|(k, _)| {
                let n = k.as_str().replace('_', "-");
                n == IDENTITY
            })
            .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        match user {
            Some(u) => assert_eq!(ids, vec![u.to_string()], "{case}: identity headers"),
            None => assert!(
                ids.is_empty(),
                "{case}: identity headers must be absent, got {ids:?}"
            ),
        }
        self.up.clear();
        let expected = match user {
            Some(_) => Some(("allow", "authenticated")),
            None if target.starts_with("/rest/") => Some(("allow", "bypass")),
            None => None,
        };
        self.assert_audited(resp, expected, user, case).await;
        s
    }

    /// The audit oracle: the row for the response's `X-Request-Id` has `decision`/`reason`
    /// (and `username` when given), or there is no row when `expected` is None. The writer
    /// is flushed first, so the row is in the database when this reads it.
    pub async fn assert_audited(
        &self,
        resp: &RawResponse,
        expected: Option<(&str, &str)>,
        username: Option<&str>,
        case: &str,
    ) {
        let rows = self.audit_rows_of(resp, case).await;
        match expected {
            None => assert!(rows.is_empty(), "{case}: unexpected audit rows {rows:?}"),
            Some((decision, reason)) => {
                assert_eq!(rows.len(), 1, "{case}: audit rows: {rows:?}");
                let row = &rows[0];
                assert_eq!(
                    (row.decision.as_str(), row.reason.as_str(), row.status),
                    (decision, reason, resp.status),
                    "{case}: audit row {row:?}"
                );
                if let Some(u) = username {
                    assert_eq!(row.username.as_deref(), Some(u), "{case}: audit username");
                }
            }
        }
    }
}
