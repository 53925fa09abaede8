//! The database: one pool for Postgres or SQLite, and the migrations of `migrations/`.
//!
//! Owns: connecting (with the URL kept secret in errors) and applying migrations. The audit
//! store and the gateway-token store both use the same [`Db`].

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::config::{DatabaseKind, Secret};

/// A connection pool to the configured database.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL (production; replicas share it).
    Postgres(sqlx::PgPool),
    /// SQLite (the embedded default).
    Sqlite(sqlx::SqlitePool),
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Connecting failed (the URL is not repeated: it may hold a password).
    #[error("cannot connect to the {kind} database: {source}")]
    Connect {
        /// Which database.
        kind: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether the database could not be reached (rather than refusing a statement): the
    /// audit writer spools and retries; a start-up migration is then deferred, not fatal.
    pub fn is_unreachable(&self) -> bool {
        use sqlx::migrate::MigrateError as M;
        match self {
            DbError::Connect { source, .. } => is_unreachable(source),
            DbError::Migrate(M::Execute(e) | M::ExecuteMigration(e, _)) => is_unreachable(e),
            DbError::Migrate(_) => false,
        }
    }
}

impl Db {
    /// Opens a pool lazily: no connection is made until first use, so a database that is
    /// down at start does not stop the gateway (audit spools meanwhile).
    pub fn connect_lazy(kind: DatabaseKind, url: &Secret) -> Result<Db, DbError> {
        match kind {
            DatabaseKind::Postgres => PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(3))
                .connect_lazy(url.expose())
                .map(Db::Postgres)
                .map_err(|source| DbError::Connect {
                    kind: "postgres",
                    source,
                }),
            DatabaseKind::Sqlite => {
                let opts: SqliteConnectOptions = url
                    .expose()
                    .parse::<SqliteConnectOptions>()
                    .map_err(|source| DbError::Connect {
                        kind: "sqlite",
                        source,
                    })?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                Ok(Db::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .connect_lazy_with(opts),
                ))
            }
        }
    }

    /// Applies the migrations for this kind of database.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
        }
        Ok(())
    }
}

/// Whether `e` means "the database cannot be reached right now" (spool and retry) rather
/// than "this statement is wrong".
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::BeginFailed => true,
        E::Database(d) => {
            let code = d.code().unwrap_or_default();
            // Postgres: 08 connection exception, 57P admin/crash shutdown or cannot connect
            // now, 53 insufficient resources. SQLite: 5 busy, 6 locked, 10 I/O, 13 full.
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || matches!(code.as_ref(), "5" | "6" | "10" | "13" | "261" | "517")
        }
        _ => false,
    }
}
