//! `authgate token create|list|revoke`: manage gateway tokens directly in the database
//! (operator use, README.md#commands). `create` prints the secret once; nothing else prints a
//! secret.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::audit::{AuditEvent, AuditSink, OperatorAction, Verdict, WriterOptions};
use crate::config::{AuditLog, Config};
use crate::db::Db;
use crate::tokens::manage::{self, CreateRequest};
use crate::tokens::store::TokenStore;

/// `created_by` of tokens made with the CLI.
pub const CREATED_BY: &str = "cli";

/// What `token create` asks for.
#[derive(Debug, Clone)]
pub struct CreateArgs {
    /// The user the token acts as.
    pub user: String,
    /// Unique per user.
    pub name: Option<String>,
    /// e.g. `30d`.
    pub expires_in: Option<String>,
    /// Only reads.
    pub read_only: bool,
    /// The groups the token carries (`--group`, repeated).
    pub groups: Vec<String>,
}

async fn open(path: &Path) -> Result<(Config, TokenStore, AuditSink)> {
    let config = crate::config::load(path)?;
    let db = Db::connect_lazy(config.audit.database_kind, &config.audit.database_url)
        .context("audit.database_url")?;
    if config.audit.migrate {
        db.migrate().await.context("audit.database_url")?;
    }
    let sink = if config.audit.enabled {
        // The same writer as the gateway's (spool included), minus the JSON lines: stdout is
        // the command's own output here.
        let mut settings = config.audit.clone();
        settings.log = AuditLog::Off;
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let opts = WriterOptions::from_settings(&settings, db.clone(), metrics, clock, false);
        AuditSink::start(opts).context("audit.spool_dir")?
    } else {
        AuditSink::Off
    };
    Ok((config, TokenStore::new(db), sink))
}

/// Records one CLI action and waits until it is written (or spooled).
async fn audit(
    sink: &AuditSink,
    path: &Path,
    action: &str,
    user: &str,
    token_id: &str,
    decision: &str,
) {
    let request_id = format!("cli-{}", crate::tokens::format::new_id());
    let command = format!("authgate token {action} -c {}", path.display());
    sink.record(AuditEvent::of_operator(
        std::time::SystemTime::now(),
        OperatorAction {
            request_id: &request_id,
            client_ip: "127.0.0.1".into(),
            method: "CLI",
            path: &command,
            query: None,
            username: Some(user.to_string()),
            token_id: Some(token_id.to_string()),
            latency_us: 0,
        },
        Verdict {
            decision,
            reason: &format!("token_{action}"),
            status: 0,
            bytes_sent: 0,
        },
    ));
    sink.flush().await;
}

/// `token create`: prints the id, then the secret on a line of its own.
pub async fn create(path: &Path, args: CreateArgs) -> Result<ExitCode> {
    let (config, store, sink) = open(path).await?;
    let expires_in = match args.expires_in.as_deref() {
        Some(t) => Some(manage::parse_expiry(t).context("--expires-in")?),
        None => None,
    };
    let created = manage::create(
        &store,
        &config.tokens,
        Utc::now(),
        CreateRequest {
            user: args.user.clone(),
            name: args.name,
            expires_in,
            read_only: args.read_only,
            created_by: CREATED_BY.into(),
            enforce_limit: false,
            groups: (!args.groups.is_empty()).then(|| args.groups.clone()),
        },
    )
    .await;
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            audit(&sink, path, "create", &args.user, "", "deny").await;
            return Err(e).with_context(|| format!("cannot create a token for {}", args.user));
        }
    };
    audit(
        &sink,
        path,
        "create",
        &created.record.username,
        &created.record.id,
        "allow",
    )
    .await;
    let r = &created.record;
    println!(
        "id {}  user {}  name {}  expires {}{}",
        r.id,
        manage::visible(&r.username),
        manage::visible(&r.name),
        manage::rfc3339(r.expires_at),
        if r.read_only { "  read-only" } else { "" }
    );
    println!("{}", created.token);
    eprintln!("This is the only time the token is shown; store it now.");
    Ok(ExitCode::SUCCESS)
}

/// `token list`: one line per token, revoked ones included (never a secret).
pub async fn list(path: &Path, user: Option<&str>) -> Result<ExitCode> {
    let (_, store, _) = open(path).await?;
    let records = store.list(user).await.context("cannot list tokens")?;
    let now = Utc::now();
    println!(
        "{:<16}  {:<20}  {:<24}  {:<20}  {:<9}  STATE",
        "ID", "USER", "NAME", "EXPIRES", "ACCESS"
    );
    for r in &records {
        println!(
            "{:<16}  {:<20}  {:<24}  {:<20}  {:<9}  {}",
            r.id,
            manage::visible(&r.username),
            manage::visible(&r.name),
            manage::rfc3339(r.expires_at),
            if r.read_only { "read-only" } else { "full" },
            state(r.revoked_at, r.expires_at, now)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn state(revoked: Option<DateTime<Utc>>, expires: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match revoked {
        Some(at) => format!("revoked {}", manage::rfc3339(at)),
        None if expires <= now => "expired".into(),
        None => "live".into(),
    }
}

/// `token revoke ID`.
pub async fn revoke(path: &Path, id: &str) -> Result<ExitCode> {
    let (_, store, sink) = open(path).await?;
    match manage::revoke(&store, Utc::now(), id, |_| true).await {
        Ok(r) => {
            audit(&sink, path, "revoke", &r.username, &r.id, "allow").await;
            println!("revoked {} ({} / {})", r.id, r.username, r.name);
            println!("Gateways stop accepting it within 5 seconds.");
            Ok(ExitCode::SUCCESS)
        }
        Err(manage::ManageError::NotFound) => {
            audit(&sink, path, "revoke", "", id, "deny").await;
            anyhow::bail!("no token has the id {id:?} (see `authgate token list`)")
        }
        Err(e) => Err(e).context("cannot revoke the token"),
    }
}
