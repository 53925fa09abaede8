//! The audit store on SQLite: batch insert as multi-row `INSERT OR IGNORE` statements in one
//! transaction (idempotent by `event_id`), queries and retention deletes. `ts` is stored as
//! fixed-width RFC 3339 text (`2026-01-01T00:00:00.000000Z`), so text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::query::{Cursor, Filter};
use super::{AuditEvent, Rec};

/// The most rows one statement inserts (19 parameters each, well under SQLite's 32 766).
/// A batch is cut into statements of 256, 128, ... 1 rows, so at most nine distinct INSERT
/// texts exist and each is parsed once and kept in the connection's statement cache (about
/// 1 MB for all nine) instead of being parsed again for every batch.
const ROWS_PER_STATEMENT: usize = 256;

/// `n` rows as statements of power-of-two sizes, largest first: 600 -> 256, 256, 64, 16, 8.
fn statement_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let size = if n >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << n.ilog2()
        };
        n -= size;
        Some(size)
    })
}

const COLUMNS: &str = "id, ts, request_id, client_ip, method, path, query, credential, provider, \
    username, token_id, decision, reason, status, upstream_status, latency_us, \
    upstream_latency_us, bytes_sent, detail";

fn ts_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) async fn insert(pool: &SqlitePool, recs: &[Rec]) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    let mut rest = recs;
    for size in statement_sizes(recs.len()) {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO audit (event_id, ts, request_id, client_ip, method, path, query, \
             credential, provider, username, token_id, decision, reason, status, upstream_status, \
             latency_us, upstream_latency_us, bytes_sent, detail) ",
        );
        q.push_values(chunk, |mut b, r| {
            let e = &r.ev;
            b.push_bind(r.id.as_str())
                .push_bind(ts_text(e.ts))
                .push_bind(e.request_id.as_str())
                .push_bind(e.client_ip.as_str())
                .push_bind(e.method.as_str())
                .push_bind(e.path.as_str())
                .push_bind(e.query.as_deref())
                .push_bind(e.credential.as_str())
                .push_bind(e.provider.as_deref())
                .push_bind(e.username.as_deref())
                .push_bind(e.token_id.as_deref())
                .push_bind(e.decision.as_str())
                .push_bind(e.reason.as_str())
                .push_bind(i64::from(e.status))
                .push_bind(e.upstream_status.map(i64::from))
                .push_bind(i64_of(e.latency_us))
                .push_bind(e.upstream_latency_us.map(i64_of))
                .push_bind(i64_of(e.bytes_sent))
                .push_bind(e.detail.as_deref());
        });
        // Kept in the statement cache: one of the nine texts of `statement_sizes`. (Caching
        // one text per batch size grew the gateway by ~100 MiB under load.)
        inserted += q.build().execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<(i64, AuditEvent), sqlx::Error> {
    let u16_of = |v: i64| u16::try_from(v).unwrap_or(0);
    let u64_of = |v: i64| u64::try_from(v).unwrap_or(0);
    let ts: String = row.try_get("ts")?;
    let ts = DateTime::parse_from_rfc3339(&ts)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
        .with_timezone(&Utc);
    Ok((
        row.try_get("id")?,
        AuditEvent {
            ts,
            request_id: row.try_get("request_id")?,
            client_ip: row.try_get("client_ip")?,
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            query: row.try_get("query")?,
            credential: row.try_get("credential")?,
            provider: row.try_get("provider")?,
            username: row.try_get("username")?,
            token_id: row.try_get("token_id")?,
            decision: row.try_get("decision")?,
            reason: row.try_get("reason")?,
            status: u16_of(row.try_get("status")?),
            upstream_status: row
                .try_get::<Option<i64>, _>("upstream_status")?
                .map(u16_of),
            latency_us: u64_of(row.try_get("latency_us")?),
            upstream_latency_us: row
                .try_get::<Option<i64>, _>("upstream_latency_us")?
                .map(u64_of),
            bytes_sent: u64_of(row.try_get("bytes_sent")?),
            detail: row.try_get("detail")?,
        },
    ))
}

pub(crate) async fn query(
    pool: &SqlitePool,
    f: &Filter,
    limit: u32,
) -> Result<Vec<(i64, AuditEvent)>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit WHERE 1"));
    if let Some(t) = f.since {
        q.push(" AND ts >= ").push_bind(ts_text(t));
    }
    if let Some(t) = f.until {
        q.push(" AND ts < ").push_bind(ts_text(t));
    }
    if let Some(u) = &f.user {
        q.push(" AND username = ").push_bind(u.clone());
    }
    if let Some(s) = f.status {
        q.push(" AND status = ").push_bind(i64::from(s));
    }
    if let Some(d) = &f.decision {
        q.push(" AND decision = ").push_bind(d.clone());
    }
    if let Some(c) = f.cursor {
        q.push(" AND (ts, id) < (")
            .push_bind(ts_text(c.ts))
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY ts DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn count(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit")
        .fetch_one(pool)
        .await?;
    Ok(n.max(0) as u64)
}

pub(crate) async fn delete_older(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE ts < ? ORDER BY ts, id LIMIT ?)",
    )
    .bind(ts_text(cutoff))
    .bind(i64::from(batch))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn boundary_beyond(
    pool: &SqlitePool,
    keep: u64,
) -> Result<Option<Cursor>, sqlx::Error> {
    let row = sqlx::query("SELECT ts, id FROM audit ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?")
        .bind(i64_of(keep))
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let ts: String = row.try_get("ts")?;
    let ts = DateTime::parse_from_rfc3339(&ts)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
        .with_timezone(&Utc);
    Ok(Some(Cursor {
        ts,
        id: row.try_get("id")?,
    }))
}

pub(crate) async fn delete_upto(
    pool: &SqlitePool,
    upto: Cursor,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE (ts, id) <= (?, ?) ORDER BY ts, id LIMIT ?)",
    )
    .bind(ts_text(upto.ts))
    .bind(upto.id)
    .bind(i64::from(batch))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::audit::store::sample_event;

    #[test]
    fn batches_are_cut_into_power_of_two_statements() {
        for n in 0..=1100 {
            let sizes: Vec<usize> = statement_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{n}: {sizes:?}");
            assert!(
                sizes
                    .iter()
                    .all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT),
                "{n}: {sizes:?}"
            );
        }
        assert_eq!(
            statement_sizes(600).collect::<Vec<_>>(),
            [256, 256, 64, 16, 8]
        );
    }

    #[tokio::test]
    async fn batches_of_every_size_keep_at_most_nine_statements_in_the_cache() {
        // A cached 256-row statement holds about half a megabyte; caching one text per batch
        // size grew the gateway by ~100 MiB under load.
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .expect("migrate");
        conn.close().await.expect("close");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("pool");
        let mut n = 0;
        for size in 1..=300 {
            let recs: Vec<Rec> = (0..size)
                .map(|_| {
                    n += 1;
                    Rec {
                        id: format!("id{n}"),
                        ev: sample_event(n, "alice", 200),
                    }
                })
                .collect();
            assert_eq!(insert(&pool, &recs).await.expect("insert"), size as u64);
        }
        let mut conn = pool.acquire().await.expect("connection");
        assert!(
            conn.cached_statements_size() <= 9,
            "{}",
            conn.cached_statements_size()
        );
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        assert_eq!(stored, (1..=300).sum::<i64>());
    }
}
