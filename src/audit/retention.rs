//! Retention (docs/audit.md): every `audit.cleanup_interval`, delete rows older than
//! `retention_days`, then the oldest rows beyond `retention_max_rows`.
//!
//! Deletes run in bounded batches (each its own short statement, so no long lock on the
//! table). On Postgres, several replicas share the table: a run first takes a session
//! advisory lock (`pg_try_advisory_lock`) and is skipped when another replica holds it.
//! Time comes from the injected clock, so tests decide what "90 days old" means.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::store::Store;
use super::store_pg;
use crate::clock::SharedClock;
use crate::metrics::Metrics;

/// Rows per delete statement.
pub const DELETE_BATCH: u32 = 5000;
/// Most delete statements per rule and run (the rest waits for the next run).
pub const MAX_BATCHES_PER_RUN: u32 = 2000;

/// The two rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Rows older than this many days are deleted.
    pub days: u32,
    /// Only this many newest rows are kept.
    pub max_rows: u64,
    /// Rows per delete statement.
    pub batch: u32,
}

/// What one run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Another replica held the lock: nothing was done.
    pub skipped: bool,
    /// Rows deleted for age.
    pub by_age: u64,
    /// Rows deleted for count.
    pub by_count: u64,
}

/// One retention run at time `now`.
pub async fn run_once(
    store: &Store,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Report, sqlx::Error> {
    let lock = match store {
        Store::Pg(pool) => match store_pg::try_lock(pool).await? {
            Some(conn) => Some(conn),
            None => {
                return Ok(Report {
                    skipped: true,
                    ..Report::default()
                })
            }
        },
        Store::Sqlite(_) => None,
    };
    let result = delete_both(store, policy, now).await;
    if let Some(conn) = lock {
        // Closing the connection would release it too; unlock so the pooled one is clean.
        store_pg::unlock(conn).await?;
    }
    result
}

async fn delete_both(
    store: &Store,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Report, sqlx::Error> {
    let batch = policy.batch.max(1);
    let mut report = Report::default();
    let cutoff = now - chrono::Duration::days(i64::from(policy.days));
    for _ in 0..MAX_BATCHES_PER_RUN {
        let n = store.delete_older(cutoff, batch).await?;
        report.by_age += n;
        if n < u64::from(batch) {
            break;
        }
        tokio::task::yield_now().await;
    }
    if let Some(upto) = store.boundary_beyond(policy.max_rows).await? {
        for _ in 0..MAX_BATCHES_PER_RUN {
            let n = store.delete_upto(upto, batch).await?;
            report.by_count += n;
            if n < u64::from(batch) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(report)
}

/// Runs retention now and then every `interval` until `stop` changes or is dropped.
pub(crate) fn spawn(
    store: Store,
    policy: Policy,
    interval: Duration,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = DateTime::<Utc>::from(clock.now());
            match run_once(&store, policy, now).await {
                Ok(r) if r.skipped => {
                    tracing::debug!("audit retention: another replica is running it")
                }
                Ok(r) => {
                    metrics.count(
                        "authgate_audit_rows_retention_deleted_total",
                        &[],
                        r.by_age + r.by_count,
                    );
                    if r.by_age + r.by_count > 0 {
                        tracing::info!(
                            by_age = r.by_age,
                            by_count = r.by_count,
                            "audit retention deleted rows"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit retention failed; retrying at the next interval")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
