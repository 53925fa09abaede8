//! The audit writer: a bounded queue (`audit.queue`) that requests push into without
//! waiting, and one task that inserts what it finds in batches (as soon as events arrive,
//! and at least every 200 ms it looks again).
//!
//! Order and loss: while the database answers and the spool is empty, batches go straight
//! in. The first failed insert sends that batch, and every later one, to the spool, until a
//! replay (retried with backoff) has emptied it; only then do direct inserts resume, so rows
//! land in the order they were recorded. A full queue sends the event to the spool from the
//! request itself (a buffered append; the writer fsyncs it within a tick): such overflow
//! rows can land before rows still queued, but `ts` keeps their true order. Inserts are
//! idempotent by event id, so an insert whose outcome was unknown is simply retried.
//! Events are lost only when the spool disk fails, or when the database refuses a row
//! outright (after the batch is retried row by row): both are counted and logged.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::jsonlog::JsonLog;
use super::options::WriterOptions;
use super::retention;
use super::spool::Spool;
use super::store::Store;
use super::{AuditError, AuditEvent, AuditStats, Rec};
use crate::db::is_unreachable;
use crate::db::Db;
use crate::metrics::Metrics;

/// Most rows per insert.
const MAX_BATCH: usize = 5000;
/// The writer looks at the queue and the spool at least this often.
const TICK: Duration = Duration::from_millis(200);
/// After the first queued event, the writer waits this long for more before it writes
/// (unless [`LINGER_ROWS`] are already there): one transaction per handful of rows cost the
/// database more than the rows themselves under load (measured: CPU per request fell from
/// 71 to ~45 µs with SQLite). Rows reach the database at most this much later.
const LINGER: Duration = Duration::from_millis(25);
/// Rows that end the linger early.
const LINGER_ROWS: usize = 1000;
/// Longest wait between two attempts to reach an unreachable database.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Spool chunks replayed before the writer looks at the queue again.
const CHUNKS_PER_ROUND: usize = 8;

const STATE_OK: u8 = 0;
const STATE_SPOOLING: u8 = 1;
const STATE_DISK_FAILED: u8 = 2;

/// Counts into both the atomics (tests) and the metrics (operators).
#[derive(Debug, Clone)]
struct Counters {
    stats: Arc<AuditStats>,
    metrics: Arc<Metrics>,
}

impl Counters {
    fn add(&self, field: &AtomicU64, metric: &'static str, n: u64) {
        if n > 0 {
            field.fetch_add(n, Ordering::Relaxed);
            self.metrics.count(metric, &[], n);
        }
    }
    fn written(&self, n: u64) {
        self.add(&self.stats.written, "authgate_audit_rows_written_total", n);
    }
    fn spooled(&self, n: u64) {
        self.add(&self.stats.spooled, "authgate_audit_rows_spooled_total", n);
    }
    fn replayed(&self, n: u64) {
        self.add(
            &self.stats.replayed,
            "authgate_audit_rows_replayed_total",
            n,
        );
    }
    fn write_error(&self) {
        self.add(
            &self.stats.write_errors,
            "authgate_audit_write_errors_total",
            1,
        );
    }
    fn dropped(&self, n: u64) {
        self.add(&self.stats.dropped, "authgate_audit_rows_dropped_total", n);
    }
}

/// The request side: queue sender, overflow to the spool, JSON lines.
#[derive(Debug)]
pub struct Handle {
    tx: mpsc::Sender<Rec>,
    ctl: mpsc::Sender<oneshot::Sender<()>>,
    spool: Arc<Spool>,
    pub(crate) stats: Arc<AuditStats>,
    counters: Counters,
    state: Arc<AtomicU8>,
    jsonlog: Option<JsonLog>,
    instance: u64,
    seq: AtomicU64,
    /// Dropped with the handle: stops the retention scheduler.
    _stop: watch::Sender<bool>,
}

impl Handle {
    pub(crate) fn start(o: WriterOptions) -> Result<Handle, AuditError> {
        let spool = Spool::open(&o.spool_dir).map_err(|source| AuditError::Spool {
            path: o.spool_dir.display().to_string(),
            source,
        })?;
        let jsonlog = JsonLog::open(&o.log)?;
        let (tx, rx) = mpsc::channel(o.queue.max(1));
        let (ctl_tx, ctl_rx) = mpsc::channel(8);
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(AuditStats::default());
        let counters = Counters {
            stats: Arc::clone(&stats),
            metrics: Arc::clone(&o.metrics),
        };
        let spool = Arc::new(spool);
        let state = Arc::new(AtomicU8::new(if o.migrate_first {
            STATE_SPOOLING
        } else {
            STATE_OK
        }));
        let store = Store::new(&o.db);
        if let Some((policy, every)) = o.retention {
            retention::spawn(
                store.clone(),
                policy,
                every,
                o.clock,
                Arc::clone(&o.metrics),
                stop_rx,
            );
        }
        let writer = Writer {
            rx,
            ctl: ctl_rx,
            store,
            db: o.db,
            needs_migration: o.migrate_first,
            spool: Arc::clone(&spool),
            counters: counters.clone(),
            state: Arc::clone(&state),
            metrics: o.metrics,
            db_up: !o.migrate_first,
            disk_failed: false,
            backoff: TICK,
            next_try: Instant::now(),
        };
        tokio::spawn(writer.run());
        Ok(Handle {
            tx,
            ctl: ctl_tx,
            spool,
            stats,
            counters,
            state,
            jsonlog,
            instance: rand::random(),
            seq: AtomicU64::new(0),
            _stop: stop,
        })
    }

    /// Queue, else spool, else a counted and logged drop. Never waits.
    pub(crate) fn record(&self, ev: AuditEvent) {
        if let Some(log) = &self.jsonlog {
            log.write(&ev);
        }
        let id = format!(
            "{:016x}{:016x}",
            self.instance,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        match self.tx.try_send(Rec { id, ev }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(rec) | mpsc::error::TrySendError::Closed(rec)) => {
                match self.spool.append(std::slice::from_ref(&rec), false) {
                    Ok(()) => self.counters.spooled(1),
                    Err(e) => {
                        self.counters.dropped(1);
                        self.state.store(STATE_DISK_FAILED, Ordering::Relaxed);
                        tracing::error!(error = %e, request_id = %rec.ev.request_id, "audit queue full and spool unwritable: event lost");
                    }
                }
            }
        }
    }

    pub(crate) fn ready(&self) -> Result<(), String> {
        match self.state.load(Ordering::Relaxed) {
            STATE_DISK_FAILED => Err("spool disk failing, audit events are being lost".into()),
            _ => Ok(()),
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            STATE_OK => "database reachable",
            STATE_SPOOLING => "database unreachable, spooling",
            _ => "spool disk failing",
        }
    }

    pub(crate) async fn flush(&self) {
        let (reply, done) = oneshot::channel();
        if self.ctl.send(reply).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// The writer task's state.
struct Writer {
    rx: mpsc::Receiver<Rec>,
    ctl: mpsc::Receiver<oneshot::Sender<()>>,
    store: Store,
    db: Db,
    needs_migration: bool,
    spool: Arc<Spool>,
    counters: Counters,
    state: Arc<AtomicU8>,
    metrics: Arc<Metrics>,
    db_up: bool,
    disk_failed: bool,
    backoff: Duration,
    next_try: Instant,
}

/// Runs blocking spool I/O off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

impl Writer {
    async fn run(mut self) {
        // Grows to what a batch really holds (5000 `Rec`s up front would be ~2.6 MB per
        // batch, allocated and touched on every write).
        let mut buf = Vec::new();
        loop {
            tokio::select! {
                biased;
                Some(reply) = self.ctl.recv() => {
                    self.flush().await;
                    let _ = reply.send(());
                }
                n = self.rx.recv_many(&mut buf, MAX_BATCH) => {
                    if n == 0 {
                        // Every handle is gone: write out what is left and stop.
                        self.flush().await;
                        return;
                    }
                    self.linger(&mut buf).await;
                    let batch = std::mem::take(&mut buf);
                    self.write(batch).await;
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            self.housekeeping().await;
        }
    }

    /// Collects more queued events into `buf` for up to [`LINGER`], or until it holds
    /// [`LINGER_ROWS`] (or the queue is closed).
    async fn linger(&mut self, buf: &mut Vec<Rec>) {
        let deadline = tokio::time::Instant::now() + LINGER;
        while buf.len() < LINGER_ROWS {
            let room = MAX_BATCH - buf.len();
            match tokio::time::timeout_at(deadline, self.rx.recv_many(buf, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// Everything queued now goes to the database (or the spool); then the spool is
    /// replayed if the database answers.
    async fn flush(&mut self) {
        for _ in 0..1000 {
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            self.write(batch).await;
        }
        for _ in 0..1000 {
            if !self.spool.has_data() || (!self.db_up && Instant::now() < self.next_try) {
                break;
            }
            self.replay().await;
        }
        self.housekeeping().await;
    }

    async fn write(&mut self, batch: Vec<Rec>) {
        let direct = !self.spool.has_data() && (self.db_up || Instant::now() >= self.next_try);
        if direct {
            match self.deliver(&batch, false).await {
                Ok(()) => {
                    self.came_back();
                    return;
                }
                Err(e) => self.went_down(&e),
            }
        }
        self.spool_batch(batch).await;
    }

    async fn spool_batch(&mut self, batch: Vec<Rec>) {
        let n = batch.len() as u64;
        let spool = Arc::clone(&self.spool);
        match blocking(move || spool.append(&batch, true)).await {
            Ok(()) => {
                self.counters.spooled(n);
                self.disk_failed = false;
            }
            Err(e) => {
                self.counters.dropped(n);
                self.disk_failed = true;
                tracing::error!(error = %e, lost = n, "audit spool unwritable: events lost");
            }
        }
    }

    /// Inserts `recs`; Err means "retry later" (nothing is lost: the caller spools or keeps).
    async fn deliver(&mut self, recs: &[Rec], replay: bool) -> Result<(), String> {
        if self.needs_migration {
            match self.db.migrate().await {
                Ok(()) => self.needs_migration = false,
                Err(e) => {
                    if !e.is_unreachable() {
                        tracing::error!(error = %e, "audit migration failed; events stay in the spool");
                    }
                    return Err(e.to_string());
                }
            }
        }
        match self.store.insert(recs).await {
            Ok(n) => {
                self.counters.written(n);
                if replay {
                    self.counters.replayed(n);
                }
                Ok(())
            }
            Err(e) => {
                self.counters.write_error();
                if is_unreachable(&e) {
                    return Err(e.to_string());
                }
                tracing::warn!(error = %e, rows = recs.len(), "audit batch refused; inserting row by row");
                self.one_by_one(recs, replay).await
            }
        }
    }

    /// Isolates a row the database refuses, so one bad row never blocks the others.
    async fn one_by_one(&mut self, recs: &[Rec], replay: bool) -> Result<(), String> {
        for r in recs {
            match self.store.insert(std::slice::from_ref(r)).await {
                Ok(n) => {
                    self.counters.written(n);
                    if replay {
                        self.counters.replayed(n);
                    }
                }
                Err(e) if is_unreachable(&e) => return Err(e.to_string()),
                Err(e) => {
                    self.counters.dropped(1);
                    tracing::error!(error = %e, request_id = %r.ev.request_id, "audit row refused by the database: lost");
                }
            }
        }
        Ok(())
    }

    fn went_down(&mut self, why: &str) {
        if self.db_up {
            tracing::warn!(error = %why, "audit database unreachable; spooling events");
        }
        self.db_up = false;
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn came_back(&mut self) {
        if !self.db_up {
            tracing::info!("audit database reachable again");
        }
        self.db_up = true;
        self.backoff = TICK;
    }

    /// Replays up to [`CHUNKS_PER_ROUND`] spool chunks, oldest first.
    async fn replay(&mut self) {
        for _ in 0..CHUNKS_PER_ROUND {
            let spool = Arc::clone(&self.spool);
            let chunk = match blocking(move || spool.next_chunk(MAX_BATCH)).await {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    self.disk_failed = true;
                    self.next_try = Instant::now() + MAX_BACKOFF;
                    tracing::error!(error = %e, "audit spool unreadable; retrying");
                    return;
                }
            };
            if chunk.bad > 0 {
                self.counters.dropped(chunk.bad);
                tracing::error!(lost = chunk.bad, "unreadable audit spool lines skipped");
            }
            if let Err(e) = self.deliver(&chunk.recs, true).await {
                self.went_down(&e);
                return;
            }
            self.came_back();
            let spool = Arc::clone(&self.spool);
            if let Err(e) = blocking(move || spool.commit(&chunk).map(|_| chunk.recs.len())).await {
                // The rows are in; replaying them again is harmless (idempotent insert).
                tracing::warn!(error = %e, "audit spool position not saved");
            }
        }
    }

    async fn housekeeping(&mut self) {
        let spool = Arc::clone(&self.spool);
        if self.spool.dirty() {
            if let Err(e) = blocking(move || spool.sync()).await {
                self.disk_failed = true;
                tracing::error!(error = %e, "audit spool fsync failed");
            }
        }
        if self.spool.has_data() && Instant::now() >= self.next_try {
            self.replay().await;
        }
        let state = if self.disk_failed {
            STATE_DISK_FAILED
        } else if !self.db_up || self.spool.has_data() {
            STATE_SPOOLING
        } else {
            STATE_OK
        };
        self.state.store(state, Ordering::Relaxed);
        self.metrics
            .gauge("authgate_audit_queue_depth", &[], self.rx.len() as f64);
        self.metrics.gauge(
            "authgate_audit_spool_rows",
            &[],
            self.spool.pending() as f64,
        );
    }
}
