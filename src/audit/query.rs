//! What an audit query asks for: the [`Filter`] (shared by `authgate audit` and
//! `GET /admin/audit`, parsed from the same names), the opaque paging [`Cursor`] and a
//! [`Page`] of results. Read by the store and by both SQL dialects.

use chrono::{DateTime, Utc};

use super::AuditEvent;

/// Most rows one query page returns.
pub const MAX_LIMIT: u32 = 1000;
/// Rows per page when no limit is given.
pub const DEFAULT_LIMIT: u32 = 100;

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
    FilterError {
        name,
        message: message.into(),
    }
}

impl Cursor {
    /// Parses `<micros>.<id>`.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (us, id) = s.split_once('.')?;
        let ts = DateTime::<Utc>::from_timestamp_micros(us.parse().ok()?)?;
        Some(Cursor {
            ts,
            id: id.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.ts.timestamp_micros(), self.id)
    }
}

/// A time bound: a duration back from `now` (`1h`, `30m`, `7d`) or an RFC 3339 time.
pub fn parse_time(
    name: &'static str,
    v: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FilterError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(v).map_err(|_| {
        bad(
            name,
            format!("{v:?} is neither a duration like 1h nor an RFC 3339 time"),
        )
    })?;
    let d = chrono::Duration::from_std(d).map_err(|_| bad(name, "duration too large"))?;
    now.checked_sub_signed(d)
        .ok_or_else(|| bad(name, "duration too large"))
}

impl Filter {
    /// Builds a filter from `name=value` pairs (query parameters of `/admin/audit`; the
    /// command line uses the same names). Unknown names are refused.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<Filter, FilterError> {
        let mut f = Filter {
            limit: DEFAULT_LIMIT,
            ..Filter::default()
        };
        for (k, v) in pairs {
            match k {
                "since" => f.since = Some(parse_time("since", v, now)?),
                "until" => f.until = Some(parse_time("until", v, now)?),
                "user" => f.user = Some(v.to_string()),
                "status" => {
                    f.status = Some(
                        v.parse()
                            .map_err(|_| bad("status", format!("{v:?} is not an HTTP status")))?,
                    )
                }
                "decision" => f.decision = Some(parse_decision(v)?),
                "limit" => f.limit = parse_limit(v)?,
                "cursor" | "next" => {
                    f.cursor = Some(
                        Cursor::parse(v)
                            .ok_or_else(|| bad("cursor", "not a cursor from a previous page"))?,
                    )
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
