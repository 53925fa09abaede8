//! The audit store suite, run the same against SQLite and a real PostgreSQL 15: insert and
//! read back every field, hostile text, filters, paging, idempotent inserts, retention under
//! both rules, and the Postgres retention lock.

use authgate::audit::{sample_event, AuditEvent, Filter, Policy, Rec, Store};
use authgate::config::{DatabaseKind, Secret};
use authgate::db::Db;
use chrono::{DateTime, Duration, Utc};

use crate::support::pg;

/// A migrated SQLite database in a temp dir (kept alive by the returned guard).
pub async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
    let db = Db::connect_lazy(DatabaseKind::Sqlite, &Secret::new(url)).unwrap();
    db.migrate().await.unwrap();
    (db, dir)
}

/// A migrated fresh database on the shared Postgres.
pub async fn postgres() -> Db {
    let db = Db::connect_lazy(DatabaseKind::Postgres, &Secret::new(pg::database())).unwrap();
    db.migrate().await.unwrap();
    db
}

fn rec(i: i64, user: &str, status: u16) -> Rec {
    Rec { id: format!("ev-{i}"), ev: sample_event(i, user, status) }
}

fn all(limit: u32) -> Filter {
    Filter { limit, ..Filter::default() }
}

fn ids(events: &[AuditEvent]) -> Vec<String> {
    events.iter().map(|e| e.request_id.clone()).collect()
}

fn reqs(r: impl IntoIterator<Item = i64>) -> Vec<String> {
    r.into_iter().map(|i| format!("req-{i}")).collect()
}

// === the suite ===

async fn every_field_round_trips(store: Store) {
    let mut hostile = sample_event(5, "bob", 403);
    hostile.username = Some("bob\u{0}\r\n\u{1b}[2J\u{202e}'); DROP TABLE audit;--".into());
    hostile.path = format!("/rest/{}", "x".repeat(10_000));
    hostile.query = None;
    hostile.provider = None;
    hostile.token_id = Some("0123456789abcdef".into());
    hostile.upstream_status = None;
    hostile.upstream_latency_us = None;
    hostile.ts = DateTime::parse_from_rfc3339("2026-01-01T00:00:05.123456Z").unwrap().with_timezone(&Utc);
    let hostile = hostile.sanitized();
    let plain = sample_event(1, "alice", 200);
    let n = store
        .insert(&[Rec { id: "a".into(), ev: plain.clone() }, Rec { id: "b".into(), ev: hostile.clone() }])
        .await
        .unwrap();
    assert_eq!(n, 2);
    let page = store.query(&all(10)).await.unwrap();
    assert_eq!(page.events, vec![hostile.clone(), plain], "newest first, every field equal");
    assert_eq!(page.next, None);
    let user = hostile.username.unwrap();
    assert_eq!(user, "bob\\x00\\x0d\\x0a\\x1b[2J\\u{202e}'); DROP TABLE audit;--");
    assert!(hostile.path.len() < 4200 && hostile.path.ends_with("bytes]"));
    assert_eq!(store.count().await.unwrap(), 2, "the table is still there");
}

async fn filters_select_the_right_rows(store: Store) {
    let recs: Vec<Rec> = (0..12)
        .map(|i| {
            let user = ["alice", "bob", "carol"][i as usize % 3];
            let status = [200, 401, 403, 200][i as usize % 4];
            rec(i, user, status)
        })
        .collect();
    store.insert(&recs).await.unwrap();
    let q = |f: Filter| {
        let store = store.clone();
        async move { ids(&store.query(&f).await.unwrap().events) }
    };
    let t = |s: i64| sample_event(s, "", 200).ts;
    assert_eq!(q(Filter { user: Some("bob".into()), ..all(100) }).await, reqs([10, 7, 4, 1]));
    assert_eq!(q(Filter { status: Some(403), ..all(100) }).await, reqs([10, 6, 2]));
    assert_eq!(q(Filter { decision: Some("deny".into()), ..all(100) }).await, reqs([10, 9, 6, 5, 2, 1]));
    assert_eq!(q(Filter { since: Some(t(8)), ..all(100) }).await, reqs([11, 10, 9, 8]));
    assert_eq!(q(Filter { until: Some(t(2)), ..all(100) }).await, reqs([1, 0]));
    assert_eq!(
        q(Filter { since: Some(t(3)), until: Some(t(9)), user: Some("alice".into()), ..all(100) }).await,
        reqs([6, 3])
    );
    assert_eq!(q(Filter { user: Some("nobody".into()), ..all(100) }).await, Vec::<String>::new());
}

async fn pages_follow_the_cursor(store: Store) {
    // Two rows share a timestamp: the id breaks the tie, so no row is skipped or repeated.
    let mut recs: Vec<Rec> = (0..10).map(|i| rec(i, "alice", 200)).collect();
    recs[5].ev.ts = recs[4].ev.ts;
    store.insert(&recs).await.unwrap();
    let mut seen = Vec::new();
    let mut f = all(3);
    for _ in 0..10 {
        let page = store.query(&f).await.unwrap();
        seen.extend(ids(&page.events));
        match page.next {
            Some(c) => f.cursor = Some(authgate::audit::Cursor::parse(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, reqs([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]));
}

async fn inserts_are_idempotent_by_event_id(store: Store) {
    let recs: Vec<Rec> = (0..5).map(|i| rec(i, "alice", 200)).collect();
    assert_eq!(store.insert(&recs).await.unwrap(), 5);
    assert_eq!(store.insert(&recs[2..]).await.unwrap(), 0, "a replayed batch inserts nothing");
    assert_eq!(store.insert(&[rec(2, "x", 200), rec(7, "x", 200)]).await.unwrap(), 1);
    assert_eq!(store.count().await.unwrap(), 6);
}

async fn retention_deletes_exactly_the_right_rows(store: Store) {
    // 30 rows, one per day: day 0 .. day 29 (row i at 2026-01-01 + i days).
    let recs: Vec<Rec> = (0..30).map(|i| rec(i * 86_400, "alice", 200)).collect();
    store.insert(&recs).await.unwrap();
    let now = sample_event(29 * 86_400, "", 200).ts + Duration::hours(1);
    // Age: older than 20 days before `now` (day 9, 01:00) = days 0..=9 (day 10 is 19d23h
    // old). Count: then keep the 15 newest of the 20 left = delete days 10..=14. Batch 4
    // forces several delete rounds for each rule.
    let policy = Policy { days: 20, max_rows: 15, batch: 4 };
    let report = authgate::audit::retention::run_once(&store, policy, now).await.unwrap();
    assert_eq!((report.skipped, report.by_age, report.by_count), (false, 10, 5));
    let left = ids(&store.query(&all(100)).await.unwrap().events);
    assert_eq!(left, reqs((15..30).rev().map(|d| d * 86_400)));
    // A second run has nothing to do.
    let again = authgate::audit::retention::run_once(&store, policy, now).await.unwrap();
    assert_eq!((again.by_age, again.by_count), (0, 0));
}

// === SQLite ===

#[tokio::test]
async fn sqlite_every_field_round_trips() {
    let (db, _d) = sqlite().await;
    every_field_round_trips(Store::new(&db)).await;
}

#[tokio::test]
async fn sqlite_filters_select_the_right_rows() {
    let (db, _d) = sqlite().await;
    filters_select_the_right_rows(Store::new(&db)).await;
}

#[tokio::test]
async fn sqlite_pages_follow_the_cursor() {
    let (db, _d) = sqlite().await;
    pages_follow_the_cursor(Store::new(&db)).await;
}

#[tokio::test]
async fn sqlite_inserts_are_idempotent_by_event_id() {
    let (db, _d) = sqlite().await;
    inserts_are_idempotent_by_event_id(Store::new(&db)).await;
}

#[tokio::test]
async fn sqlite_retention_deletes_exactly_the_right_rows() {
    let (db, _d) = sqlite().await;
    retention_deletes_exactly_the_right_rows(Store::new(&db)).await;
}

// === PostgreSQL ===

#[tokio::test]
async fn postgres_every_field_round_trips() {
    every_field_round_trips(Store::new(&postgres().await)).await;
}

#[tokio::test]
async fn postgres_filters_select_the_right_rows() {
    filters_select_the_right_rows(Store::new(&postgres().await)).await;
}

#[tokio::test]
async fn postgres_pages_follow_the_cursor() {
    pages_follow_the_cursor(Store::new(&postgres().await)).await;
}

#[tokio::test]
async fn postgres_inserts_are_idempotent_by_event_id() {
    inserts_are_idempotent_by_event_id(Store::new(&postgres().await)).await;
}

#[tokio::test]
async fn postgres_retention_deletes_exactly_the_right_rows() {
    retention_deletes_exactly_the_right_rows(Store::new(&postgres().await)).await;
}

#[tokio::test]
async fn postgres_retention_skips_while_another_replica_holds_the_lock() {
    let db = postgres().await;
    let store = Store::new(&db);
    store.insert(&(0..3).map(|i| rec(i, "a", 200)).collect::<Vec<_>>()).await.unwrap();
    let Db::Postgres(pool) = &db else { unreachable!() };
    let mut other = pool.acquire().await.unwrap();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(0x6175_7468_6761_7465_i64)
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert!(got);
    let policy = Policy { days: 1, max_rows: 1, batch: 10 };
    let now = Utc::now();
    let r = authgate::audit::retention::run_once(&store, policy, now).await.unwrap();
    assert!(r.skipped);
    assert_eq!(store.count().await.unwrap(), 3, "nothing deleted while locked");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(0x6175_7468_6761_7465_i64)
        .execute(&mut *other)
        .await
        .unwrap();
    let r = authgate::audit::retention::run_once(&store, policy, now).await.unwrap();
    assert_eq!((r.skipped, r.by_age), (false, 3));
}
