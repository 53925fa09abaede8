//! `authgate audit`: query the audit store, newest first (README.md#commands, fields in
//! docs/audit.md).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::audit::{AuditEvent, Filter, Store};
use crate::db::Db;

/// The filters of `authgate audit` (same names as the `/admin/audit` parameters).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditArgs {
    /// Only events at or after: a duration back from now (`1h`, `7d`) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before: a duration back from now or an RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this username.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this status sent to the client (e.g. 403).
    #[arg(long)]
    pub status: Option<String>,
    /// Only `allow` or `deny`.
    #[arg(long)]
    pub decision: Option<String>,
    /// At most this many events (1..=1000, default 100).
    #[arg(long)]
    pub limit: Option<String>,
    /// Continue after a previous page (the cursor it printed).
    #[arg(long)]
    pub cursor: Option<String>,
    /// One JSON object per line, with the field names of docs/audit.md.
    #[arg(long)]
    pub json: bool,
}

impl AuditArgs {
    /// The filter these arguments describe, relative to `now`.
    pub fn filter(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Filter, crate::audit::FilterError> {
        let pairs = [
            ("since", &self.since),
            ("until", &self.until),
            ("user", &self.user),
            ("status", &self.status),
            ("decision", &self.decision),
            ("limit", &self.limit),
            ("cursor", &self.cursor),
        ];
        Filter::from_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))),
            now,
        )
    }
}

/// Prints the events matching `args` from the store of the config at `path`.
pub async fn audit(path: &Path, args: &AuditArgs) -> Result<ExitCode> {
    let config = crate::config::load(path)?;
    let filter = args
        .filter(chrono::Utc::now())
        .map_err(|e| anyhow::anyhow!("--{e}"))?;
    let db = Db::connect_lazy(config.audit.database_kind, &config.audit.database_url)
        .context("audit.database_url")?;
    let page = Store::new(&db).query(&filter).await.context(
        "cannot query the audit table (audit.database_url; run `authgate migrate` first?)",
    )?;
    let mut out = String::new();
    for e in &page.events {
        if args.json {
            out.push_str(&serde_json::to_string(e)?);
            out.push('\n');
        } else {
            out.push_str(&row(e));
        }
    }
    print!("{out}");
    if let Some(next) = page.next {
        eprintln!("more: --cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One human-readable line (fields already sanitized when stored).
fn row(e: &AuditEvent) -> String {
    format!(
        "{} {} {:<5} {:<22} {:<6} {} {} user={} ip={} id={}\n",
        e.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        e.status,
        e.decision,
        e.reason,
        e.method,
        e.path,
        e.query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default(),
        e.username.as_deref().unwrap_or("-"),
        e.client_ip,
        e.request_id,
    )
}
