//! `authgate demo`: the Jira stand-in and a gateway in front of it on loopback, with nothing
//! else set up, and curl commands that show an allow, a 401, a 403 and a 429.
//!
//! Owns: [`Demo`] (start, the printed instructions, stop) so a test can run exactly what the
//! command runs. Everything written goes into one temp dir (removed on exit): the generated
//! public key and the SQLite audit store. The config is `config/demo.toml`, built into the
//! binary; its one placeholder `${AUTHGATE_DEMO_UPSTREAM}` is filled here, without touching
//! the process environment.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use http::Method;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::app::{Gateway, StartOptions};
use crate::standin::jira::{JiraOptions, JiraStandin};

/// The demo's configuration (see the file for the placeholder it uses).
pub const DEMO_TOML: &str = include_str!("../../config/demo.toml");
/// Issuer of the demo tokens; must match `config/demo.toml`.
pub const DEMO_ISSUER: &str = "https://demo.authgate.local";
/// Name of the generated public key in the temp dir; must match `config/demo.toml`.
const PUBLIC_KEY_FILE: &str = "demo-idp-public.pem";
/// Token lifetime.
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// Where the demo listens and how it hands the user to the stand-in.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Try the ports in `config/demo.toml` (8080 / 9090) first, falling back to free ones
    /// when busy. false: free ports only (tests).
    pub preferred_ports: bool,
    /// `header` (the config's) or `oauth1` (an application link with a generated key).
    pub identity: DemoIdentity,
}

/// The identity hand-off the demo shows (`authgate demo --identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoIdentity {
    /// `X-Forwarded-User`, as `config/demo.toml` says.
    #[default]
    Header,
    /// 2-legged OAuth 1.0a through an application link: a 2048-bit key is generated into
    /// the demo's temp dir and the stand-in's link trusts its public half.
    Oauth1,
}

/// The demo link's consumer key.
pub const DEMO_CONSUMER_KEY: &str = "authgate-demo";

/// One curl command and what it shows.
#[derive(Debug, Clone)]
pub struct CurlExample {
    /// What it demonstrates.
    pub title: &'static str,
    /// Status the last request gets.
    pub expect: u16,
    /// Method.
    pub method: Method,
    /// Full URL on the gateway.
    pub url: String,
    /// Extra request headers; a value may use `$TOKEN` or `$RO_TOKEN` (shell variables the
    /// instructions export; see [`Demo::expand`]).
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<String>,
    /// How many times it is sent (the 429 needs the bucket emptied first).
    pub times: u32,
}

impl CurlExample {
    /// The shell command, printing the status of each request.
    pub fn command(&self) -> String {
        let mut c = String::from("curl -s -o /dev/null -w '%{http_code}\\n'");
        if self.method != Method::GET {
            c.push_str(&format!(" -X {}", self.method));
        }
        for (k, v) in &self.headers {
            // Double quotes so the shell expands $TOKEN.
            c.push_str(&format!(" -H \"{k}: {v}\""));
        }
        if let Some(b) = &self.body {
            c.push_str(&format!(" -H 'Content-Type: application/json' -d '{b}'"));
        }
        c.push_str(&format!(" '{}'", self.url));
        if self.times > 1 {
            format!("for i in $(seq {}); do {c}; done", self.times)
        } else {
            c
        }
    }
}

/// A running demo.
pub struct Demo {
    /// The gateway.
    pub gateway: Gateway,
    /// The Jira stand-in behind it.
    pub jira: JiraStandin,
    /// A valid token for alice (groups jira-users).
    pub token: String,
    /// A valid token for bob (jira-readonly: may only read).
    pub read_only_token: String,
    /// allow, 401, 403 (deny rule), 403 (read-only), 429 — in that order.
    pub examples: Vec<CurlExample>,
    dir: tempfile::TempDir,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    preferred_username: &'a str,
    groups: &'a [&'a str],
    iat: u64,
    exp: u64,
}

impl Demo {
    /// Starts the stand-in and the gateway; nothing is left running on error.
    pub async fn start(opts: DemoOptions) -> Result<Demo> {
        let dir = tempfile::Builder::new()
            .prefix("authgate-demo-")
            .tempdir()
            .context("cannot create a temp dir for the demo")?;

        // The demo IdP: a P-256 key pair made in memory; only the public half is written.
        let signing = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let private_pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .context("cannot encode the demo signing key")?;
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .context("cannot encode the demo public key")?;
        std::fs::write(dir.path().join(PUBLIC_KEY_FILE), public_pem.as_bytes())
            .with_context(|| format!("cannot write into {}", dir.path().display()))?;

        let mut jira_options = JiraOptions::jira();
        let mut oauth1 = None;
        if opts.identity == DemoIdentity::Oauth1 {
            let file = dir.path().join("demo-applink.pem");
            let key = crate::oauth1::key::generate(&file, 2048)?;
            oauth1 = Some(file);
            // The stand-in learns its base URL once it listens; the link is set below.
            jira_options.oauth1 = Some(crate::standin::jira::oauth1::OAuthLink::new(
                DEMO_CONSUMER_KEY,
                key.to_public_key(),
                "",
            ));
        }
        let jira = JiraStandin::start_with(jira_options, |addr, options| {
            if let Some(link) = options.oauth1.as_mut() {
                link.base_url = format!("http://{addr}");
            }
        })
        .await;
        let upstream = jira.url();
        let env = move |name: &str| (name == "AUTHGATE_DEMO_UPSTREAM").then(|| upstream.clone());
        let mut config = crate::config::from_toml_with(DEMO_TOML, dir.path(), &env)
            .map_err(|e| anyhow::anyhow!("the built-in demo config is not valid:\n{e}"))?;
        if let Some(file) = oauth1 {
            config.upstream.identity.mode =
                crate::config::IdentityMode::OAuth1(crate::config::OAuth1Settings {
                    consumer_key: DEMO_CONSUMER_KEY.to_string(),
                    private_key_file: file,
                    base_url: jira.url(),
                });
        }

        let listener = demo_listener(config.server.listen, opts.preferred_ports).await?;
        let admin_listener =
            demo_listener(config.server.admin_listen, opts.preferred_ports).await?;
        let gateway = Gateway::start(
            config,
            StartOptions {
                listener: Some(listener),
                admin_listener: Some(admin_listener),
                clock: None,
            },
        )
        .await
        .context("the demo gateway did not start")?;

        let key = jsonwebtoken::EncodingKey::from_ec_pem(private_pem.as_bytes())
            .context("cannot load the demo signing key")?;
        let token = mint(&key, "alice", &["jira-users"])?;
        let read_only_token = mint(&key, "bob", &["jira-users", "jira-readonly"])?;
        let examples = examples(gateway.addr, opts.identity);
        Ok(Demo {
            gateway,
            jira,
            token,
            read_only_token,
            examples,
            dir,
        })
    }

    /// The temp dir holding the public key and the audit database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What `authgate demo` prints.
    pub fn instructions(&self) -> String {
        let gw = self.gateway.addr;
        let mut s = String::new();
        s.push_str("authgate demo is running (Ctrl-C stops it and removes its files)\n\n");
        s.push_str(&format!("  gateway        http://{gw}\n"));
        s.push_str(&format!(
            "  operator       http://{0}/healthz  http://{0}/metrics\n",
            self.gateway.admin_addr
        ));
        s.push_str(&format!(
            "  Jira stand-in  {}  (reach it only through the gateway)\n",
            self.jira.url()
        ));
        s.push_str(&format!("  files          {}\n\n", self.dir().display()));
        s.push_str(&format!(
            "The token page (create and revoke your own API tokens in a browser):\n\n  http://{gw}/_authgate/\n\n  sign in as alice / alice-pw (or bob / bob-pw, read-only; admin / admin-pw sees everyone's)\n\n"
        ));
        s.push_str(&format!(
            "A valid token for alice (ES256, issuer {DEMO_ISSUER}, audience jira, groups jira-users, 1 h):\n\n  export TOKEN={}\n\n",
            self.token
        ));
        s.push_str(&format!(
            "A read-only token for bob (groups jira-users, jira-readonly):\n\n  export RO_TOKEN={}\n\n",
            self.read_only_token
        ));
        for (i, ex) in self.examples.iter().enumerate() {
            s.push_str(&format!(
                "{}. {} -> {}\n\n  {}\n\n",
                i + 1,
                ex.title,
                ex.expect,
                ex.command()
            ));
        }
        s.push_str(&format!(
            "Every request is recorded in the audit store {} (SQLite).\n",
            self.dir().join("demo-audit.db").display()
        ));
        s
    }

    /// `value` with `$TOKEN` and `$RO_TOKEN` replaced as the printed `export` lines set them.
    pub fn expand(&self, value: &str) -> String {
        value
            .replace("$RO_TOKEN", &self.read_only_token)
            .replace("$TOKEN", &self.token)
    }

    /// Stops the gateway (drains), then the stand-in; the temp dir is removed.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        drop(self.jira);
        drop(self.dir);
    }
}

/// Binds `preferred` when asked and free, else a free port on the same loopback address.
async fn demo_listener(preferred: SocketAddr, try_preferred: bool) -> Result<TcpListener> {
    if try_preferred {
        if let Ok(l) = TcpListener::bind(preferred).await {
            return Ok(l);
        }
    }
    let any = SocketAddr::new(preferred.ip(), 0);
    TcpListener::bind(any)
        .await
        .with_context(|| format!("cannot listen on {any}"))
}

fn mint(key: &jsonwebtoken::EncodingKey, user: &str, groups: &[&str]) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let claims = Claims {
        iss: DEMO_ISSUER,
        aud: "jira",
        sub: user,
        preferred_username: user,
        groups,
        iat: now,
        exp: now + TOKEN_LIFETIME_SECS,
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    jsonwebtoken::encode(&header, &claims, key).context("cannot sign the demo token")
}

fn examples(gw: SocketAddr, identity: DemoIdentity) -> Vec<CurlExample> {
    let base = format!("http://{gw}");
    let bearer = |var: &str| vec![("Authorization".to_string(), format!("Bearer ${var}"))];
    vec![
        CurlExample {
            title: match identity {
                DemoIdentity::Header => {
                    "allowed: alice's token, forwarded to Jira as X-Forwarded-User: alice"
                }
                DemoIdentity::Oauth1 => {
                    "allowed: alice's token, forwarded to Jira signed as the application link for xoauth_requestor_id=alice"
                }
            },
            expect: 200,
            method: Method::GET,
            url: format!("{base}/rest/api/2/myself"),
            headers: bearer("TOKEN"),
            body: None,
            times: 1,
        },
        CurlExample {
            title: "401: no credential (require_authentication = true)",
            expect: 401,
            method: Method::GET,
            url: format!("{base}/rest/api/2/myself"),
            headers: Vec::new(),
            body: None,
            times: 1,
        },
        CurlExample {
            title: "403: a deny rule (DELETE /rest/api/2/issue/*), whoever asks",
            expect: 403,
            method: Method::DELETE,
            url: format!("{base}/rest/api/2/issue/DEMO-1"),
            headers: bearer("TOKEN"),
            body: None,
            times: 1,
        },
        CurlExample {
            title: "403: bob is in read_only_groups and this POST writes",
            expect: 403,
            method: Method::POST,
            url: format!("{base}/rest/api/2/issue"),
            headers: bearer("RO_TOKEN"),
            body: Some(r#"{"fields":{"project":{"key":"DEMO"},"summary":"hello"}}"#.to_string()),
            times: 1,
        },
        CurlExample {
            title: "429: 5 requests per minute per token; the 6th and later are refused",
            expect: 429,
            method: Method::GET,
            url: format!("{base}/rest/api/2/serverInfo"),
            headers: bearer("TOKEN"),
            body: None,
            times: 7,
        },
    ]
}

/// Runs the demo until Ctrl-C.
pub async fn demo(identity: DemoIdentity) -> Result<ExitCode> {
    // Warnings only: the access log would bury the instructions.
    crate::logging::init(&crate::config::LogSettings {
        format: crate::config::LogFormat::Pretty,
        level: "warn".into(),
    });
    let demo = Demo::start(DemoOptions {
        preferred_ports: true,
        identity,
    })
    .await?;
    print!("{}", demo.instructions());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    eprintln!("stopping the demo");
    demo.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
