//! How the audit writer is started: [`WriterOptions`], from `[audit]` or built by tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::retention::{self, Policy};
use crate::clock::SharedClock;
use crate::config::{AuditLog, AuditSettings};
use crate::db::Db;
use crate::metrics::Metrics;

/// How to start the writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Queue capacity (`audit.queue`).
    pub queue: usize,
    /// `audit.spool_dir`.
    pub spool_dir: PathBuf,
    /// `audit.log`.
    pub log: AuditLog,
    /// The database.
    pub db: Db,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Clock (retention).
    pub clock: SharedClock,
    /// Apply migrations before the first insert (they could not be applied at start).
    pub migrate_first: bool,
    /// Retention rules and period; `None` runs no scheduler.
    pub retention: Option<(Policy, Duration)>,
}

impl WriterOptions {
    /// Options from `[audit]`.
    pub fn from_settings(
        a: &AuditSettings,
        db: Db,
        metrics: Arc<Metrics>,
        clock: SharedClock,
        migrate_first: bool,
    ) -> Self {
        WriterOptions {
            queue: a.queue,
            spool_dir: a.spool_dir.clone(),
            log: a.log.clone(),
            db,
            metrics,
            clock,
            migrate_first,
            retention: Some((
                Policy {
                    days: a.retention_days,
                    max_rows: a.retention_max_rows,
                    batch: retention::DELETE_BATCH,
                },
                a.cleanup_interval,
            )),
        }
    }
}
