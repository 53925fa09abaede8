//! The audit store on PostgreSQL: batch insert as one `INSERT … SELECT FROM UNNEST(arrays)`
//! (one round trip, one statement plan, idempotent by `event_id`), queries, retention
//! deletes, and the advisory lock that lets one replica at a time run retention.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::query::{Cursor, Filter};
use super::{AuditEvent, Rec};

const INSERT: &str =
    "INSERT INTO audit (event_id, ts, request_id, client_ip, method, path, query, \
    credential, provider, username, token_id, decision, reason, status, upstream_status, \
    latency_us, upstream_latency_us, bytes_sent, detail) \
    SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[], $14::int4[], $15::int4[], $16::int8[], $17::int8[], $18::int8[], $19::text[]) \
    ON CONFLICT (event_id) DO NOTHING";

const COLUMNS: &str = "id, ts, request_id, client_ip, method, path, query, credential, provider, \
    username, token_id, decision, reason, status, upstream_status, latency_us, \
    upstream_latency_us, bytes_sent, detail";

/// Key of the advisory lock held while retention runs ("authgate" + "audit").
pub(crate) const RETENTION_LOCK: i64 = 0x6175_7468_6761_7465;

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) async fn insert(pool: &PgPool, recs: &[Rec]) -> Result<u64, sqlx::Error> {
    let n = recs.len();
    let mut event_id = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut request_id = Vec::with_capacity(n);
    let mut client_ip = Vec::with_capacity(n);
    let mut method = Vec::with_capacity(n);
    let mut path = Vec::with_capacity(n);
    let mut query = Vec::with_capacity(n);
    let mut credential = Vec::with_capacity(n);
    let mut provider = Vec::with_capacity(n);
    let mut username = Vec::with_capacity(n);
    let mut token_id = Vec::with_capacity(n);
    let mut decision = Vec::with_capacity(n);
    let mut reason = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut upstream_status = Vec::with_capacity(n);
    let mut latency_us = Vec::with_capacity(n);
    let mut upstream_latency_us = Vec::with_capacity(n);
    let mut bytes_sent = Vec::with_capacity(n);
    let mut detail = Vec::with_capacity(n);
    for r in recs {
        let e = &r.ev;
        event_id.push(r.id.as_str());
        ts.push(e.ts);
        request_id.push(e.request_id.as_str());
        client_ip.push(e.client_ip.as_str());
        method.push(e.method.as_str());
        path.push(e.path.as_str());
        query.push(e.query.as_deref());
        credential.push(e.credential.as_str());
        provider.push(e.provider.as_deref());
        username.push(e.username.as_deref());
        token_id.push(e.token_id.as_deref());
        decision.push(e.decision.as_str());
        reason.push(e.reason.as_str());
        status.push(i32::from(e.status));
        upstream_status.push(e.upstream_status.map(i32::from));
        latency_us.push(i64_of(e.latency_us));
        upstream_latency_us.push(e.upstream_latency_us.map(i64_of));
        bytes_sent.push(i64_of(e.bytes_sent));
        detail.push(e.detail.as_deref());
    }
    let done = sqlx::query(INSERT)
        .bind(event_id)
        .bind(ts)
        .bind(request_id)
        .bind(client_ip)
        .bind(method)
        .bind(path)
        .bind(query)
        .bind(credential)
        .bind(provider)
        .bind(username)
        .bind(token_id)
        .bind(decision)
        .bind(reason)
        .bind(status)
        .bind(upstream_status)
        .bind(latency_us)
        .bind(upstream_latency_us)
        .bind(bytes_sent)
        .bind(detail)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<(i64, AuditEvent), sqlx::Error> {
    let u16_of = |v: i32| u16::try_from(v).unwrap_or(0);
    let u64_of = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok((
        row.try_get("id")?,
        AuditEvent {
            ts: row.try_get("ts")?,
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
                .try_get::<Option<i32>, _>("upstream_status")?
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
    pool: &PgPool,
    f: &Filter,
    limit: u32,
) -> Result<Vec<(i64, AuditEvent)>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit WHERE TRUE"));
    if let Some(t) = f.since {
        q.push(" AND ts >= ").push_bind(t);
    }
    if let Some(t) = f.until {
        q.push(" AND ts < ").push_bind(t);
    }
    if let Some(u) = &f.user {
        q.push(" AND username = ").push_bind(u.clone());
    }
    if let Some(s) = f.status {
        q.push(" AND status = ").push_bind(i32::from(s));
    }
    if let Some(d) = &f.decision {
        q.push(" AND decision = ").push_bind(d.clone());
    }
    if let Some(c) = f.cursor {
        q.push(" AND (ts, id) < (")
            .push_bind(c.ts)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY ts DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn count(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit")
        .fetch_one(pool)
        .await?;
    Ok(n.max(0) as u64)
}

pub(crate) async fn delete_older(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE ts < $1 ORDER BY ts, id LIMIT $2)",
    )
    .bind(cutoff)
    .bind(i64::from(batch))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn boundary_beyond(
    pool: &PgPool,
    keep: u64,
) -> Result<Option<Cursor>, sqlx::Error> {
    let row = sqlx::query("SELECT ts, id FROM audit ORDER BY ts DESC, id DESC LIMIT 1 OFFSET $1")
        .bind(i64_of(keep))
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(Cursor {
            ts: r.try_get("ts")?,
            id: r.try_get("id")?,
        })
    })
    .transpose()
}

pub(crate) async fn delete_upto(
    pool: &PgPool,
    upto: Cursor,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM audit WHERE id IN \
         (SELECT id FROM audit WHERE (ts, id) <= ($1, $2) ORDER BY ts, id LIMIT $3)",
    )
    .bind(upto.ts)
    .bind(upto.id)
    .bind(i64::from(batch))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Takes the retention lock on a dedicated connection; `None` when another replica holds it.
pub(crate) async fn try_lock(
    pool: &PgPool,
) -> Result<Option<sqlx::pool::PoolConnection<Postgres>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    Ok(got.then_some(conn))
}

/// Releases the lock taken by [`try_lock`] on the same connection.
pub(crate) async fn unlock(
    mut conn: sqlx::pool::PoolConnection<Postgres>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RETENTION_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
