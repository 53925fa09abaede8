//! The audit writer under faults: batches land in order; a full queue spools instead of
//! dropping; Postgres stopped mid-traffic and restarted loses nothing and duplicates
//! nothing; a writer restarted while events are spooled replays them; the retention
//! scheduler follows the injected clock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use authgate::audit::{sample_event, AuditSink, Policy, Store, WriterOptions};
use authgate::clock::{ManualClock, SharedClock, SystemClock};
use authgate::config::{AuditLog, DatabaseKind, Secret};
use authgate::db::Db;
use authgate::metrics::Metrics;

use crate::audit::{postgres, sqlite};
use crate::support::pg;

pub fn options(db: Db, spool: &Path, queue: usize) -> WriterOptions {
    WriterOptions {
        queue,
        spool_dir: spool.to_path_buf(),
        log: AuditLog::Off,
        db,
        metrics: Arc::new(Metrics::new()),
        clock: Arc::new(SystemClock),
        migrate_first: false,
        retention: None,
    }
}

/// Request ids in insertion order.
pub async fn in_table(db: &Db) -> Vec<String> {
    let q = "SELECT request_id FROM audit ORDER BY id";
    match db {
        Db::Postgres(p) => sqlx::query_scalar(q).fetch_all(p).await.unwrap(),
        Db::Sqlite(p) => sqlx::query_scalar(q).fetch_all(p).await.unwrap(),
    }
}

fn reqs(r: std::ops::Range<i64>) -> Vec<String> {
    r.map(|i| format!("req-{i}")).collect()
}

/// Flushes until `n` rows are in (bounded: 120 rounds), for replays that wait on a backoff.
async fn flush_until(sink: &AuditSink, db: &Db, n: usize) {
    for _ in 0..120 {
        sink.flush().await;
        if in_table(db).await.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn batches_land_in_order(db: Db) {
    let spool = tempfile::tempdir().unwrap();
    let sink = AuditSink::start(options(db.clone(), spool.path(), 10_000)).unwrap();
    for i in 0..3000 {
        sink.record(sample_event(i, "alice", 200));
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    sink.flush().await;
    assert_eq!(in_table(&db).await, reqs(0..3000));
    let s = sink.stats();
    assert_eq!((s.written, s.spooled, s.dropped), (3000, 0, 0));
}

#[tokio::test]
async fn sqlite_writer_batches_land_in_order() {
    let (db, _d) = sqlite().await;
    batches_land_in_order(db).await;
}

#[tokio::test]
async fn postgres_writer_batches_land_in_order() {
    batches_land_in_order(postgres().await).await;
}

#[tokio::test]
async fn a_full_queue_spools_and_nothing_is_dropped() {
    let (db, _d) = sqlite().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = AuditSink::start(options(db.clone(), spool.path(), 1)).unwrap();
    // No await in between: on this single-threaded runtime the writer cannot drain the
    // queue of one, so 499 events overflow to the spool.
    for i in 0..500 {
        sink.record(sample_event(i, "alice", 200));
    }
    assert_eq!(sink.stats().spooled, 499);
    flush_until(&sink, &db, 500).await;
    let mut rows = in_table(&db).await;
    assert_eq!(rows.len(), 500, "every event is in, once");
    rows.sort_by_key(|r| r[4..].parse::<i64>().unwrap());
    assert_eq!(rows, reqs(0..500));
    let s = sink.stats();
    assert_eq!((s.written, s.spooled, s.replayed, s.dropped), (500, 500, 500, 0), "the queued one follows the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_traffic_loses_and_duplicates_nothing() {
    let server = Arc::new(pg::private());
    let url = server.fresh_database().unwrap();
    let db = Db::connect_lazy(DatabaseKind::Postgres, &Secret::new(url)).unwrap();
    db.migrate().await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let sink = AuditSink::start(options(db.clone(), spool.path(), 100_000)).unwrap();
    let send = |from: i64, to: i64| {
        let sink = sink.clone();
        async move {
            for i in from..to {
                sink.record(sample_event(i, "alice", 200));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    send(0, 100).await;
    sink.flush().await;
    assert_eq!(in_table(&db).await.len(), 100);
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.stop()).await.unwrap();
    send(100, 200).await;
    sink.flush().await;
    assert_eq!(sink.describe(), "database unreachable, spooling");
    assert!(sink.ready().await.is_ok(), "spooling is ready");
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.restart()).await.unwrap().unwrap();
    send(200, 300).await;
    flush_until(&sink, &db, 300).await;
    assert_eq!(in_table(&db).await, reqs(0..300), "all, in order, exactly once");
    let s = sink.stats();
    assert!(s.spooled >= 100 && s.replayed == s.spooled, "{s:?}");
    assert!(s.write_errors >= 1);
    assert_eq!(s.dropped, 0);
    assert_eq!(sink.describe(), "database reachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_restarted_while_events_are_spooled_replays_them() {
    let spool = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every connection attempt is refused.
    let down = Db::connect_lazy(DatabaseKind::Postgres, &Secret::new("postgres://authgate@127.0.0.1:1/x")).unwrap();
    let first = AuditSink::start(WriterOptions { migrate_first: true, ..options(down, spool.path(), 1000) }).unwrap();
    for i in 0..50 {
        first.record(sample_event(i, "bob", 403));
    }
    first.flush().await;
    assert_eq!(first.stats().spooled, 50);
    assert_eq!(first.stats().written, 0);
    drop(first);
    // A new process: an unmigrated database; the writer migrates before its first insert.
    let url = pg::database();
    let db = Db::connect_lazy(DatabaseKind::Postgres, &Secret::new(url)).unwrap();
    let second = AuditSink::start(WriterOptions { migrate_first: true, ..options(db.clone(), spool.path(), 1000) }).unwrap();
    second.record(sample_event(50, "bob", 403));
    flush_until(&second, &db, 51).await;
    assert_eq!(in_table(&db).await, reqs(0..51), "spooled first, then the new event");
    assert_eq!(second.stats().replayed, 51);
}

#[tokio::test]
async fn the_retention_scheduler_follows_the_injected_clock() {
    let (db, _d) = sqlite().await;
    let store = Store::new(&db);
    let recs: Vec<_> = (0..10)
        .map(|d| authgate::audit::Rec { id: format!("r{d}"), ev: sample_event(d * 86_400, "a", 200) })
        .collect();
    store.insert(&recs).await.unwrap();
    // "Now" is day 9 + 1h: 5 days of retention keeps days 5..=9.
    let now = SystemTime::from(sample_event(9 * 86_400 + 3600, "", 200).ts);
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let spool = tempfile::tempdir().unwrap();
    let opts = WriterOptions {
        clock,
        retention: Some((Policy { days: 5, max_rows: 1000, batch: 2 }, Duration::from_secs(3600))),
        ..options(db.clone(), spool.path(), 10)
    };
    let sink = AuditSink::start(opts).unwrap();
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = store.count().await.unwrap() as usize;
        if left == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 5);
    let page = store.query(&authgate::audit::Filter { limit: 100, ..Default::default() }).await.unwrap();
    let days: Vec<_> = page.events.iter().map(|e| e.request_id.clone()).collect();
    assert_eq!(days, [9, 8, 7, 6, 5].map(|d| format!("req-{}", d * 86_400)));
    drop(sink);
}
