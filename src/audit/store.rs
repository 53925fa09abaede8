//! The audit store: insert batches, query with filters (newest first, paged by cursor), and
//! the retention deletes — one API over Postgres (`store_pg`) and SQLite (`store_sqlite`),
//! which differ only in SQL dialect (placeholders, time columns, `RETURNING`).
//!
//! The [`Filter`] and the opaque [`Cursor`] live in `query` (both dialects read them). Does
//! not own the schema: see `migrations/`.

use chrono::{DateTime, Utc};

pub use super::query::{
    parse_decision, parse_limit, parse_time, Cursor, Filter, FilterError, Page, DEFAULT_LIMIT,
    MAX_LIMIT,
};
use super::{store_pg, store_sqlite, Rec};
pub use crate::db::is_unreachable;
use crate::db::Db;

/// The audit table of one database.
#[derive(Debug, Clone)]
pub enum Store {
    /// PostgreSQL.
    Pg(sqlx::PgPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

impl Store {
    /// The store on `db`'s pool.
    pub fn new(db: &Db) -> Store {
        match db {
            Db::Postgres(p) => Store::Pg(p.clone()),
            Db::Sqlite(p) => Store::Sqlite(p.clone()),
        }
    }

    /// Inserts `recs` in order in one statement / transaction. Rows whose event id is
    /// already present are skipped (replays are idempotent). Returns rows inserted.
    pub async fn insert(&self, recs: &[Rec]) -> Result<u64, sqlx::Error> {
        if recs.is_empty() {
            return Ok(0);
        }
        match self {
            Store::Pg(p) => store_pg::insert(p, recs).await,
            Store::Sqlite(p) => store_sqlite::insert(p, recs).await,
        }
    }

    /// One page, newest first (by `ts`, then `id`).
    pub async fn query(&self, f: &Filter) -> Result<Page, sqlx::Error> {
        let limit = f.limit.clamp(1, MAX_LIMIT);
        let mut rows = match self {
            Store::Pg(p) => store_pg::query(p, f, limit + 1).await?,
            Store::Sqlite(p) => store_sqlite::query(p, f, limit + 1).await?,
        };
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last()
                .map(|(id, e)| Cursor { ts: e.ts, id: *id }.to_string())
        } else {
            None
        };
        Ok(Page {
            events: rows.into_iter().map(|(_, e)| e).collect(),
            next,
        })
    }

    /// Rows in the table.
    pub async fn count(&self) -> Result<u64, sqlx::Error> {
        match self {
            Store::Pg(p) => store_pg::count(p).await,
            Store::Sqlite(p) => store_sqlite::count(p).await,
        }
    }

    /// Deletes at most `batch` rows older than `cutoff` (oldest first); returns how many.
    pub async fn delete_older(
        &self,
        cutoff: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, sqlx::Error> {
        match self {
            Store::Pg(p) => store_pg::delete_older(p, cutoff, batch).await,
            Store::Sqlite(p) => store_sqlite::delete_older(p, cutoff, batch).await,
        }
    }

    /// The newest row that is beyond the `keep` newest (the boundary of the row-count rule).
    pub async fn boundary_beyond(&self, keep: u64) -> Result<Option<Cursor>, sqlx::Error> {
        match self {
            Store::Pg(p) => store_pg::boundary_beyond(p, keep).await,
            Store::Sqlite(p) => store_sqlite::boundary_beyond(p, keep).await,
        }
    }

    /// Deletes at most `batch` rows at or before `upto` (oldest first); returns how many.
    pub async fn delete_upto(&self, upto: Cursor, batch: u32) -> Result<u64, sqlx::Error> {
        match self {
            Store::Pg(p) => store_pg::delete_upto(p, upto, batch).await,
            Store::Sqlite(p) => store_sqlite::delete_upto(p, upto, batch).await,
        }
    }
}

/// A plain event for tests and benches: `ts` = 2026-01-01T00:00:00Z + `secs` seconds.
#[cfg(any(test, feature = "testkit"))]
pub fn sample_event(secs: i64, user: &str, status: u16) -> super::AuditEvent {
    super::AuditEvent {
        ts: DateTime::<Utc>::from_timestamp(1_767_225_600 + secs, 0).unwrap_or_default(),
        request_id: format!("req-{secs}"),
        client_ip: "127.0.0.1".into(),
        method: "GET".into(),
        path: "/rest/api/2/issue/ABC-1".into(),
        query: Some("expand=names&token=***".into()),
        credential: "jwt".into(),
        provider: Some("corp".into()),
        username: Some(user.into()),
        token_id: None,
        decision: if status < 400 { "allow" } else { "deny" }.into(),
        reason: if status < 400 {
            "authenticated"
        } else {
            "group_missing"
        }
        .into(),
        status,
        upstream_status: (status < 400).then_some(status),
        latency_us: 1234,
        upstream_latency_us: (status < 400).then_some(1000),
        bytes_sent: 42,
        detail: (status >= 400).then(|| "groups [] miss jira-users".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn filters_parse_from_the_same_names_as_the_command() {
        let f = Filter::from_pairs(
            [
                ("since", "1h"),
                ("until", "2026-03-01T11:30:00Z"),
                ("user", "bob"),
                ("status", "403"),
                ("decision", "deny"),
                ("limit", "5"),
            ],
            now(),
        )
        .unwrap();
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-03-01T11:00:00+00:00");
        assert_eq!(f.until.unwrap().to_rfc3339(), "2026-03-01T11:30:00+00:00");
        assert_eq!(
            (f.user.as_deref(), f.status, f.decision.as_deref(), f.limit),
            (Some("bob"), Some(403), Some("deny"), 5)
        );
        assert_eq!(Filter::from_pairs([], now()).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_filters_name_the_parameter() {
        let e = |k, v| Filter::from_pairs([(k, v)], now()).unwrap_err().to_string();
        assert_eq!(e("decision", "maybe"), "decision: use allow or deny");
        assert_eq!(e("limit", "0"), "limit: use a number from 1 to 1000");
        assert_eq!(e("status", "x"), "status: \"x\" is not an HTTP status");
        assert_eq!(
            e("cursor", "zz"),
            "cursor: not a cursor from a previous page"
        );
        assert!(e("since", "yesterday").starts_with("since: \"yesterday\" is neither"));
        assert_eq!(e("color", "red"), "query: unknown parameter \"color\"");
    }

    #[test]
    fn cursor_round_trips() {
        let c = Cursor { ts: now(), id: 42 };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
    }
}
