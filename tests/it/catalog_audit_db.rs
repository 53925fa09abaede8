//! Catalog §A (docs/catalog.md), the database-fault and volume cases: A-04 (database
//! down at start and mid-run), A-05 (a locked table), A-08 (shutdown with a full queue),
//! A-09 (a flood of refusals), against a real PostgreSQL 15. The oracles and the fixture are
//! those of `catalog_audit` (same status / upstream / audit-row checks); while the database is
//! down the rows are checked after it is back.

use std::sync::Arc;
use std::time::Duration;

use authgate::audit::{sample_event, AuditEvent, Store};
use sqlx::Connection;

use crate::catalog_audit::{bearer, pg_catalog, rows, start_on, try_rows};
use crate::catalog_rate::reason_of;
use crate::support::harden::{fixture, token, Harness, RawResponse, T};
use crate::support::pg;

/// A deny (no credential) and an allow; returns (request id, reason) of each after checking
/// status and upstream (not the row: the database may be down).
async fn pair(h: &Harness, case: &str) -> Vec<(String, &'static str)> {
    let rid = |r: &RawResponse| r.header("x-request-id").expect("X-Request-Id").to_string();
    let deny = h.get(T, &[]).await;
    assert_eq!(
        (deny.status, reason_of(&deny).as_str()),
        (401, "credential_required"),
        "{case}"
    );
    assert!(h.up.seen().is_empty(), "{case}: deny reached the upstream");
    let allow = h.get(T, &[&bearer(&token("alice", &["jira-users"]))]).await;
    assert_eq!(allow.status, 200, "{case}: {}", allow.text);
    assert_eq!(h.up.seen().len(), 1, "{case}");
    h.up.clear();
    vec![
        (rid(&deny), "credential_required"),
        (rid(&allow), "authenticated"),
    ]
}

/// Flushes until the table holds `n` rows (bounded: 120 rounds; the replay backs off up to
/// 5 s, and a database that was down at start gets its tables before the first replay).
async fn wait_rows(h: &Harness, n: usize) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    for _ in 0..120 {
        all = try_rows(h).await.unwrap_or_default();
        if all.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a04_database_down_at_start_and_mid_run_spools_then_replays_every_row() {
    // docs/audit.md picks the catalog's option (b): serve, spool to disk, replay in order.
    let server = Arc::new(pg::private());
    let url = server.fresh_database().expect("database");
    let stop = |s: &Arc<authgate::standin::postgres::Postgres>| {
        let s = Arc::clone(s);
        tokio::task::spawn_blocking(move || s.stop())
    };
    let restart = |s: &Arc<authgate::standin::postgres::Postgres>| {
        let s = Arc::clone(s);
        tokio::task::spawn_blocking(move || s.restart().expect("restart"))
    };
    stop(&server).await.expect("stop");
    let h = start_on(&fixture(""), &url).await;
    let audit = h.gw.state.shared.audit.clone();
    assert_eq!(
        audit.describe(),
        "database unreachable, spooling",
        "A-04 at start"
    );
    let mut sent = pair(&h, "A-04 down at start").await;
    audit.flush().await;
    assert_eq!(
        (audit.stats().spooled, audit.stats().written),
        (2, 0),
        "A-04"
    );
    restart(&server).await.expect("restart");
    assert_eq!(wait_rows(&h, 2).await.len(), 2, "A-04 replayed after start");
    sent.extend(pair(&h, "A-04 up").await);
    assert_eq!(wait_rows(&h, 4).await.len(), 4);
    stop(&server).await.expect("stop");
    sent.extend(pair(&h, "A-04 down mid-run").await);
    audit.flush().await;
    assert_eq!(
        audit.describe(),
        "database unreachable, spooling",
        "A-04 mid-run"
    );
    restart(&server).await.expect("restart");
    sent.extend(pair(&h, "A-04 back").await);
    let all = wait_rows(&h, 8).await;
    let got: Vec<(String, &str)> = all
        .iter()
        .map(|r| (r.request_id.clone(), r.reason.as_str()))
        .collect();
    let want: Vec<(String, &str)> = sent.iter().map(|(id, r)| (id.clone(), *r)).collect();
    assert_eq!(got, want, "A-04: every row, once, in order");
    assert_eq!(audit.stats().dropped, 0, "A-04 nothing lost");
    assert_eq!(audit.describe(), "database reachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a05_a_locked_audit_table_never_holds_a_request() {
    let url = pg::database();
    let h = start_on(&fixture(""), &url).await;
    let mut lock = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut lock)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE audit IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .expect("lock");
    let written = h.gw.state.shared.audit.stats().written;
    let mut sent = Vec::new();
    for i in 0..5 {
        // Each answer arrives (the raw client would give up after 10 s with status 0).
        sent.extend(pair(&h, &format!("A-05 while locked {i}")).await);
    }
    assert_eq!(
        h.gw.state.shared.audit.stats().written,
        written,
        "A-05: the writer is blocked"
    );
    sqlx::query("COMMIT")
        .execute(&mut lock)
        .await
        .expect("commit");
    let all = wait_rows(&h, sent.len()).await;
    let got: Vec<&str> = all.iter().map(|r| r.request_id.as_str()).collect();
    let want: Vec<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, want, "A-05: every row lands once the lock is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a08_shutdown_flushes_a_thousand_queued_rows() {
    let h = pg_catalog("").await;
    let audit = h.gw.state.shared.audit.clone();
    let db = h.gw.state.shared.db.clone();
    for i in 0..1000 {
        audit.record(sample_event(i, "alice", 200));
    }
    let Harness { gw, up, dir } = h;
    gw.shutdown().await; // what SIGTERM does after the drain (README.md#commands)
    assert_eq!(
        Store::new(&db).count().await.expect("count"),
        1000,
        "A-08 all flushed"
    );
    let s = audit.stats();
    assert_eq!((s.written, s.dropped), (1000, 0), "A-08: {s:?}");
    drop((up, dir));
}

#[tokio::test]
async fn a09_a_flood_of_refusals_is_audited_and_legitimate_traffic_still_passes() {
    // docs/audit.md: one row per API request (no sampling); rows go through a bounded queue,
    // then the spool, so requests never wait for the database.
    let h = pg_catalog("").await;
    let signed = token("alice", &["jira-users"]);
    let head = signed.rsplit_once('.').expect("jwt").0.to_string();
    for i in 0..300u32 {
        let resp = h.get(T, &[&bearer(&format!("{head}.{i:043}"))]).await;
        assert_eq!(resp.status, 401, "A-09 {i}");
    }
    assert!(h.up.seen().is_empty());
    let resp = h.get(T, &[&bearer(&signed)]).await;
    h.assert_forwarded(&resp, T, Some("alice"), "A-09 legitimate")
        .await;
    let all = rows(&h).await;
    assert_eq!(all.len(), 301, "A-09 every refusal is a row");
    assert_eq!(all.iter().filter(|r| r.decision == "deny").count(), 300);
}
