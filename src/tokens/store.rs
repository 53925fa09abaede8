//! The `gateway_tokens` table (migrations `0002_tokens.sql`, one per database).
//!
//! Owns: the rows and the SQL. One [`TokenStore`] works on Postgres and SQLite alike: the
//! statements are written once with `$N` placeholders (SQLite reads them as `?N`), and the
//! tiny `on_pool!` macro runs the same builder chain on whichever pool is configured. Only
//! the SHA-256 of a token is stored; this module never sees a secret.

use chrono::{DateTime, Utc};

use crate::db::Db;

/// One token row. `hash` is the SHA-256 hex of the whole token; the secret is not stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    /// Public id (16 hex).
    pub id: String,
    /// The user the token acts as.
    pub username: String,
    /// Unique per user.
    pub name: String,
    /// SHA-256 hex of the token.
    pub hash: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Last use seen (written at most once a minute, off the request path).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Only reads are allowed with it.
    pub read_only: bool,
    /// Who made it (the user, an admin, `admin-api` or `cli`).
    pub created_by: String,
    /// The creator's groups when it was made, a JSON array (`None`: none recorded).
    pub groups: Option<String>,
}

impl TokenRecord {
    /// The recorded groups (none when none were recorded or the column is not a JSON array
    /// of strings).
    pub fn group_list(&self) -> Vec<String> {
        self.groups
            .as_deref()
            .and_then(|g| serde_json::from_str(g).ok())
            .unwrap_or_default()
    }

    /// Counts toward `max_per_user`: neither revoked nor expired at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The user already has a token with this name (unique (username, name)).
    #[error("a token with this name already exists for this user")]
    DuplicateName,
    /// The database could not be reached or refused the statement.
    #[error("token database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The token table on the shared database.
#[derive(Debug, Clone)]
pub struct TokenStore {
    db: Db,
}

const COLUMNS: &str =
    "id, username, name, hash, created_at, expires_at, last_used_at, revoked_at, read_only, created_by, groups";

/// Runs `$body` with `$pool` bound to the configured pool and `$sql` to the statement in that
/// database's placeholder syntax. A macro because the same builder chain has to be
/// type-checked once per database; a generic function would need a bound per bound type.
macro_rules! on_pool {
    ($db:expr, $pg_sql:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match $db {
            Db::Postgres($pool) => {
                let $sql: &str = &$pg_sql;
                $body
            }
            Db::Sqlite($pool) => {
                let lite = $pg_sql.replace('$', "?");
                let $sql: &str = &lite;
                $body
            }
        }
    };
}

impl TokenStore {
    /// A store on `db` (the pool in `Shared`).
    pub fn new(db: Db) -> Self {
        TokenStore { db }
    }

    /// The database the tokens live in (the token page keeps its sessions there too).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts a new row.
    pub async fn insert(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO gateway_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let res = on_pool!(&self.db, sql, |pool, sql| sqlx::query(sql)
            .bind(&r.id)
            .bind(&r.username)
            .bind(&r.name)
            .bind(&r.hash)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.last_used_at)
            .bind(r.revoked_at)
            .bind(r.read_only)
            .bind(&r.created_by)
            .bind(&r.groups)
            .execute(pool)
            .await
            .map(|_| ()));
        res.map_err(|e| match e.as_database_error() {
            Some(d) if d.is_unique_violation() => StoreError::DuplicateName,
            _ => StoreError::Database(e),
        })
    }

    /// The row whose hash is `hash`, if any (the pipeline's lookup).
    pub async fn by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM gateway_tokens WHERE hash = $1");
        Ok(on_pool!(&self.db, sql, |pool, sql| sqlx::query_as::<
            _,
            TokenRecord,
        >(sql)
        .bind(hash)
        .fetch_optional(pool)
        .await)?)
    }

    /// The row with this id, if any.
    pub async fn by_id(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM gateway_tokens WHERE id = $1");
        Ok(on_pool!(&self.db, sql, |pool, sql| sqlx::query_as::<
            _,
            TokenRecord,
        >(sql)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Every token of `user` (or of everyone), oldest first, revoked ones included.
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = match user {
            Some(u) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM gateway_tokens WHERE username = $1 ORDER BY created_at, id"
                );
                on_pool!(&self.db, sql, |pool, sql| sqlx::query_as::<_, TokenRecord>(
                    sql
                )
                .bind(u)
                .fetch_all(pool)
                .await)?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM gateway_tokens ORDER BY username, created_at, id"
                );
                on_pool!(&self.db, sql, |pool, sql| sqlx::query_as::<_, TokenRecord>(
                    sql
                )
                .fetch_all(pool)
                .await)?
            }
        };
        Ok(rows)
    }

    /// Marks the token revoked at `at`; false when it was already revoked (or is unknown).
    pub async fn revoke(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let sql = "UPDATE gateway_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        let done = on_pool!(&self.db, sql, |pool, sql| sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Records a use (called by the background toucher, never on the request path).
    pub async fn touch(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = "UPDATE gateway_tokens SET last_used_at = $1 WHERE id = $2";
        on_pool!(&self.db, sql, |pool, sql| sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
