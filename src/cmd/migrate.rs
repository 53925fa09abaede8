//! `authgate migrate`: apply the database migrations of `migrations/` (README.md#commands).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::db::Db;

/// Applies the migrations to `audit.database_url` of the config at `path`.
pub async fn migrate(path: &Path) -> Result<ExitCode> {
    let config = crate::config::load(path)?;
    let db = Db::connect_lazy(config.audit.database_kind, &config.audit.database_url)
        .context("audit.database_url")?;
    db.migrate().await.context("audit.database_url")?;
    let kind = match db {
        Db::Postgres(_) => "postgres",
        Db::Sqlite(_) => "sqlite",
    };
    println!("migrations applied ({kind})");
    Ok(ExitCode::SUCCESS)
}
