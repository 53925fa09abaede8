//! The audit store: insert batches, query with filters (newest first, paged by cursor), and
//! the retention deletes — one API over Postgres (`store_pg`) and SQLite (`store_sqlite`).
//!
//! Owns the [`Filter`] (shared by `authgate audit` and `GET /admin/audit`, parsed from the
//! same names) and the opaque [`Cursor`]. Does not own the schema: see `migrations/`.

use chrono::{DateTime, Utc};

use super::{store_pg, store_sqlite, AuditEvent, Rec};
use crate::db::Db;

/// Most rows one query page returns.
pub const MAX_LIMIT: u32 = 1000;
/// Rows per page when no limit is given.
pub const DEFAULT_LIMIT: u32 = 100;

/// The audit table of one database.
#[derive(Debug, Clone)]
pub enum Store {
    /// PostgreSQL.
    Pg(sqlx::PgPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

/// What to return (all filters optional; `limit` defaults to [`DEFAULT_LIMIT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `ts >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `ts < until`.
    pub until: Option<DateTime<Utc>>,
    /// Exact username.
    pub user: Option<String>,
    /// Exact status sent to the client.
    pub status: Option<u16>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    /// Page size (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// Continue after this row (from a previous [`Page::next`]).
    pub cursor: Option<Cursor>,
}

/// Where a page ended: the last row's time and id. Shown as `<micros>.<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Row time.
    pub ts: DateTime<Utc>,
    /// Row id.
    pub id: i64,
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Cursor for the next (older) page, when there is one.
    pub next: Option<String>,
}

/// A filter value that could not be understood (names the parameter).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {message}")]
pub struct FilterError {
    /// Parameter name (`since`, `status`…).
    pub name: &'static str,
    /// What is wrong.
    pub message: String,
}

fn bad(name: &'static str, message: impl Into<String>) -> FilterError {
    FilterError { name, message: message.into() }
}

impl Cursor {
    /// Parses `<micros>.<id>`.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (us, id) = s.split_once('.')?;
        let ts = DateTime::<Utc>::from_timestamp_micros(us.parse().ok()?)?;
        Some(Cursor { ts, id: id.parse().ok()? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.ts.timestamp_micros(), self.id)
    }
}

/// A time bound: a duration back from `now` (`1h`, `30m`, `7d`) or an RFC 3339 time.
pub fn parse_time(name: &'static str, v: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FilterError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(v)
        .map_err(|_| bad(name, format!("{v:?} is neither a duration like 1h nor an RFC 3339 time")))?;
    let d = chrono::Duration::from_std(d).map_err(|_| bad(name, "duration too large"))?;
    now.checked_sub_signed(d).ok_or_else(|| bad(name, "duration too large"))
}

impl Filter {
    /// Builds a filter from `name=value` pairs (query parameters of `/admin/audit`; the
    /// command line uses the same names). Unknown names are refused.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<Filter, FilterError> {
        let mut f = Filter { limit: DEFAULT_LIMIT, ..Filter::default() };
        for (k, v) in pairs {
            match k {
                "since" => f.since = Some(parse_time("since", v, now)?),
                "until" => f.until = Some(parse_time("until", v, now)?),
                "user" => f.user = Some(v.to_string()),
                "status" => {
                    f.status = Some(v.parse().map_err(|_| bad("status", format!("{v:?} is not an HTTP status")))?)
                }
                "decision" => f.decision = Some(parse_decision(v)?),
                "limit" => f.limit = parse_limit(v)?,
                "cursor" | "next" => {
                    f.cursor = Some(Cursor::parse(v).ok_or_else(|| bad("cursor", "not a cursor from a previous page"))?)
                }
                _ => return Err(bad("query", format!("unknown parameter {k:?}"))),
            }
        }
        Ok(f)
    }
}

/// `allow` or `deny`.
pub fn parse_decision(v: &str) -> Result<String, FilterError> {
    match v {
        "allow" | "deny" => Ok(v.to_string()),
        _ => Err(bad("decision", "use allow or deny")),
    }
}

/// 1..=[`MAX_LIMIT`].
pub fn parse_limit(v: &str) -> Result<u32, FilterError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad("limit", format!("use a number from 1 to {MAX_LIMIT}"))),
    }
}

/// Whether `e` means "the database cannot be reached right now" (spool and retry) rather
/// than "this statement is wrong".
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::BeginFailed => true,
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
            rows.last().map(|(id, e)| Cursor { ts: e.ts, id: *id }.to_string())
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
    pub async fn delete_older(&self, cutoff: DateTime<Utc>, batch: u32) -> Result<u64, sqlx::Error> {
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
#[doc(hidden)]
pub fn sample_event(secs: i64, user: &str, status: u16) -> AuditEvent {
    AuditEvent {
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
        reason: if status < 400 { "authenticated" } else { "group_missing" }.into(),
        status,
        upstream_status: (status < 400).then_some(status),
        latency_us: 1234,
        upstream_latency_us: (status < 400).then_some(1000),
        bytes_sent: 42,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn filters_parse_from_the_same_names_as_the_command() {
        let f = Filter::from_pairs(
            [("since", "1h"), ("until", "2026-03-01T11:30:00Z"), ("user", "bob"), ("status", "403"), ("decision", "deny"), ("limit", "5")],
            now(),
        )
        .unwrap();
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-03-01T11:00:00+00:00");
        assert_eq!(f.until.unwrap().to_rfc3339(), "2026-03-01T11:30:00+00:00");
        assert_eq!((f.user.as_deref(), f.status, f.decision.as_deref(), f.limit), (Some("bob"), Some(403), Some("deny"), 5));
        assert_eq!(Filter::from_pairs([], now()).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_filters_name_the_parameter() {
        let e = |k, v| Filter::from_pairs([(k, v)], now()).unwrap_err().to_string();
        assert_eq!(e("decision", "maybe"), "decision: use allow or deny");
        assert_eq!(e("limit", "0"), "limit: use a number from 1 to 1000");
        assert_eq!(e("status", "x"), "status: \"x\" is not an HTTP status");
        assert_eq!(e("cursor", "zz"), "cursor: not a cursor from a previous page");
        assert!(e("since", "yesterday").starts_with("since: \"yesterday\" is neither"));
        assert_eq!(e("color", "red"), "query: unknown parameter \"color\"");
    }

    #[test]
    fn cursor_round_trips() {
        let c = Cursor { ts: now(), id: 42 };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
    }
}
