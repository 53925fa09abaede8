//! Sessions of the token page: the `page_sessions` table (migrations `0005_page_sessions.sql`).
//!
//! Owns: making a session (an opaque random cookie value, of which only the SHA-256 is
//! stored, and a per-session CSRF token), finding it again within its limits (idle
//! [`IDLE_TIMEOUT`], at most [`MAX_AGE`]), and ending it. Who the user is was decided before
//! (a sign-in checked by the product, or the product's own session cookie, `page::viewer`);
//! the groups recorded here are the ones the product reported then. Rows live in the token
//! database, so every replica that shares it knows every session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::Db;

/// A session unused this long is over.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after it began, however busy.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSession {
    /// SHA-256 hex of the cookie value (the row's key).
    pub hash: String,
    /// Who signed in.
    pub username: String,
    /// Their groups, as the product reported them at sign-in.
    pub groups: Vec<String>,
    /// The token every state-changing form of this session carries.
    pub csrf: String,
}

/// A new session: the row and the cookie value (never stored).
#[derive(Debug)]
pub struct NewSession {
    /// The session.
    pub session: PageSession,
    /// The cookie value, sent once in `Set-Cookie`.
    pub cookie: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    username: String,
    groups: String,
    csrf: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// The session table on the shared database.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: Db,
}

/// 32 random bytes, hex (256 bits).
fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// SHA-256 hex of a cookie value.
pub fn hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// `sql` (written with `$N` placeholders) in the placeholder syntax of `db`.
fn dialect(db: &Db, sql: &str) -> String {
    match db {
        Db::Postgres(_) => sql.to_string(),
        Db::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// Runs one statement built by `$build` (a closure-like expression over `q`) on either pool.
macro_rules! on_db {
    ($db:expr, $sql:expr, |$q:ident| $build:expr) => {{
        let sql = dialect($db, $sql);
        match $db {
            Db::Postgres(pool) => {
                let $q = sqlx::query(&sql);
                $build.execute(pool).await.map(|r| r.rows_affected())
            }
            Db::Sqlite(pool) => {
                let $q = sqlx::query(&sql);
                $build.execute(pool).await.map(|r| r.rows_affected())
            }
        }
    }};
}

impl Sessions {
    /// Sessions on `db` (the token database).
    pub fn new(db: Db) -> Self {
        Sessions { db }
    }

    /// Starts a session for `username` with `groups` at `now`; sessions already over are
    /// removed on the way (so the table holds at most the live ones and the last few).
    pub async fn start(
        &self,
        username: &str,
        groups: &[String],
        now: DateTime<Utc>,
    ) -> Result<NewSession, sqlx::Error> {
        self.sweep(now).await?;
        let cookie = random_hex();
        let session = PageSession {
            hash: hash(&cookie),
            username: username.to_string(),
            groups: groups.to_vec(),
            csrf: random_hex(),
        };
        let groups_json = serde_json::Value::from(groups.to_vec()).to_string();
        on_db!(
            &self.db,
            "INSERT INTO page_sessions (hash, username, groups, csrf, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            |q| q
                .bind(&session.hash)
                .bind(&session.username)
                .bind(&groups_json)
                .bind(&session.csrf)
                .bind(now)
                .bind(now)
        )?;
        Ok(NewSession { session, cookie })
    }

    /// The live session whose cookie value is `cookie`, marked as used at `now`; `None` when
    /// unknown, idle longer than [`IDLE_TIMEOUT`] or older than [`MAX_AGE`].
    pub async fn find(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PageSession>, sqlx::Error> {
        let key = hash(cookie);
        let sql = dialect(
            &self.db,
            "SELECT username, groups, csrf, created_at, last_seen_at FROM page_sessions WHERE hash = $1",
        );
        let row: Option<Row> = match &self.db {
            Db::Postgres(pool) => sqlx::query_as(&sql).bind(&key).fetch_optional(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(&sql).bind(&key).fetch_optional(pool).await?,
        };
        let Some(row) = row else { return Ok(None) };
        if !is_live(row.created_at, row.last_seen_at, now) {
            self.end(cookie).await?;
            return Ok(None);
        }
        on_db!(
            &self.db,
            "UPDATE page_sessions SET last_seen_at = $1 WHERE hash = $2",
            |q| q.bind(now).bind(&key)
        )?;
        Ok(Some(PageSession {
            hash: key,
            username: row.username,
            groups: serde_json::from_str(&row.groups).unwrap_or_default(),
            csrf: row.csrf,
        }))
    }

    /// Ends the session whose cookie value is `cookie` (sign-out); unknown is not an error.
    pub async fn end(&self, cookie: &str) -> Result<(), sqlx::Error> {
        let key = hash(cookie);
        on_db!(&self.db, "DELETE FROM page_sessions WHERE hash = $1", |q| q
            .bind(&key))?;
        Ok(())
    }

    /// Removes every session that is over at `now`.
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let idle = now - chrono::Duration::from_std(IDLE_TIMEOUT).unwrap_or_default();
        let old = now - chrono::Duration::from_std(MAX_AGE).unwrap_or_default();
        on_db!(
            &self.db,
            "DELETE FROM page_sessions WHERE last_seen_at <= $1 OR created_at <= $2",
            |q| q.bind(idle).bind(old)
        )?;
        Ok(())
    }
}

/// Whether a session begun at `created` and last used at `seen` is still live at `now`.
pub fn is_live(created: DateTime<Utc>, seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let within = |since: DateTime<Utc>, limit: Duration| {
        (now - since)
            .to_std()
            .map_or(true, |elapsed| elapsed < limit)
    };
    within(seen, IDLE_TIMEOUT) && within(created, MAX_AGE)
}

/// Compares two secrets in time independent of where they differ (their SHA-256, so the
/// time does not depend on the bytes either).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        let t0 = DateTime::<Utc>::from_timestamp(1_893_456_000, 0).unwrap();
        let min = |m: i64| chrono::Duration::minutes(m);
        assert!(is_live(t0, t0, t0 + min(29)));
        assert!(!is_live(t0, t0, t0 + min(30)), "idle 30 min");
        assert!(is_live(t0, t0 + min(470), t0 + min(479)));
        assert!(!is_live(t0, t0 + min(470), t0 + min(480)), "8 h at most");
    }

    #[test]
    fn cookies_are_random_and_stored_by_hash() {
        let (a, b) = (random_hex(), random_hex());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(hash(&a), a);
        assert!(same_secret(&a, &a.clone()) && !same_secret(&a, &b));
    }
}
