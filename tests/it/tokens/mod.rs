//! Gateway-issued tokens (docs/tokens.md): self-service, admin API, CLI, use in the pipeline.
//!
//! Every test runs a real gateway (`Gateway::start` from TOML) in front of the Jira stand-in,
//! on a fresh database of the shared test Postgres, with a manual clock.
//!
//! - `api`      — `/_authgate/tokens`: create via Basic and JWT, every refusal rule, list, revoke.
//! - `pipeline` — `Bearer gw_…` through the gateway: identity hand-off, expiry, revocation on a
//!   second replica, checksum typos without a lookup, secrets kept out of logs.
//! - `admin`    — `/admin/tokens` and `authgate token …`.

mod admin;
mod api;
mod pipeline;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use authgate::app::Gateway;
use authgate::clock::ManualClock;
use authgate::standin::jira::{JiraOptions, JiraStandin};
use base64::Engine;
use serde_json::Value;

/// Admin token of every test gateway.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";
/// HS256 secret of the test provider `corp`.
pub const HMAC_SECRET: &str = "tokens-test-secret-0123456789abcdefgh";
/// Issuer of the test provider.
pub const ISSUER: &str = "https://idp.test/realms/corp";

/// A gateway, its stand-in, its database and its clock.
pub struct Env {
    pub jira: JiraStandin,
    pub gw: Gateway,
    pub db_url: String,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub extra: String,
    pub dir: tempfile::TempDir,
}

/// A whole config: the stand-in upstream, `db_url`, and the test's own tables in `extra`.
pub fn toml(
    jira_url: &str,
    db_url: &str,
    migrate: bool,
    dir: &std::path::Path,
    extra: &str,
) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
admin_token = "{ADMIN_TOKEN}"

[upstream]
url = "{jira_url}"
product = "jira"

[audit]
database_url = "{db_url}"
migrate = {migrate}
log = "off"
spool_dir = "{spool}"

[[providers]]
name = "corp"
kind = "jwt"
issuer = "{ISSUER}"
audiences = ["jira"]
algorithms = ["HS256"]
hmac_secret = "{HMAC_SECRET}"
username_claim = "preferred_username"
groups_claim = "groups"

{extra}
"#,
        spool = dir.join("spool").display()
    )
}

/// Starts a gateway on `db_url` in front of `jira_url`, with `clock`.
pub async fn gateway(
    jira_url: &str,
    db_url: &str,
    migrate: bool,
    dir: &std::path::Path,
    extra: &str,
    clock: &ManualClock,
) -> Gateway {
    let config = authgate::config::from_toml(&toml(jira_url, db_url, migrate, dir, extra))
        .expect("test config checks");
    crate::support::launch::launch(config, None, Some(Arc::new(clock.clone())))
        .await
        .unwrap_or_else(|e| panic!("gateway starts: {e}"))
}

impl Env {
    /// Jira stand-in + gateway on a fresh Postgres database, with the tables in `extra`.
    pub async fn start(extra: &str) -> Env {
        let jira = JiraStandin::start(JiraOptions::jira()).await;
        let db_url = crate::support::pg::database();
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(SystemTime::now());
        let gw = gateway(&jira.url(), &db_url, true, dir.path(), extra, &clock).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Env {
            jira,
            gw,
            db_url,
            clock,
            http,
            extra: extra.to_string(),
            dir,
        }
    }

    /// Another gateway (a replica) on the same database and stand-in.
    pub async fn replica(&self) -> Gateway {
        gateway(
            &self.jira.url(),
            &self.db_url,
            true,
            self.dir.path(),
            &self.extra,
            &self.clock,
        )
        .await
    }

    /// `http://addr` + `path` on `listen`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    /// `POST /_authgate/tokens` with `auth` and `body`.
    pub async fn create(&self, auth: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/_authgate/tokens"))
            .header("authorization", auth)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// A token for alice created with Basic; returns (id, secret).
    pub async fn alice_token(&self, body: Value) -> (String, String) {
        let (status, v) = self.create(&basic("alice", "alice-pw"), body).await;
        assert_eq!(status, 201, "{v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
        )
    }

    /// `GET /rest/api/2/myself` through the gateway with `Bearer token`.
    pub async fn use_token(&self, gw: &Gateway, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("http://{}/rest/api/2/myself", gw.addr))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }
}

/// Status and JSON body (`null` when empty or not JSON).
pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `Bearer <HS256 JWT>` for `user` with `groups`, signed by the test provider.
pub fn jwt(user: &str, groups: &[&str]) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "aud": "jira",
        "sub": format!("id-{user}"),
        "preferred_username": user,
        "groups": groups,
        "iat": now,
        "exp": now + 600,
    });
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET.as_bytes()),
    )
    .unwrap();
    format!("Bearer {t}")
}

/// Every row of `table` as text (Postgres `row::text`), for "the secret is not stored" checks.
pub async fn dump(db_url: &str, table: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(db_url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("reading {table}: {e}"));
    pool.close().await;
    rows
}
