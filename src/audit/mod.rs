//! Audit (docs/audit.md): one event per decision, handed to a writer that never blocks a request.
//!
//! Owns: the [`AuditEvent`] row, the [`AuditSink`] handle every request records into, and
//! the text hygiene applied to every field ([`sanitize`]). The parts:
//!
//! - `writer`    — bounded queue, batch writer task, replay of the spool.
//! - `spool`     — append-only segment files used while the database is unreachable or the
//!   queue is full; survives restarts.
//! - `store`     — insert, query (filters, newest first, cursor) and retention deletes, with
//!   `store_pg` / `store_sqlite` for the two databases.
//! - `retention` — the cleanup scheduler (one replica at a time on Postgres).
//! - `jsonlog`   — the optional one-JSON-line-per-event output (`audit.log`).
//!
//! - `event`     — one constructor per kind of event, and query redaction.

mod event;
mod jsonlog;
mod options;
mod query;
pub mod retention;
mod spool;
pub mod store;
mod store_pg;
mod store_sqlite;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use event::{redact_query, OperatorAction, Verdict};
pub use options::WriterOptions;
pub use retention::{Policy, Report};
#[cfg(any(test, feature = "testkit"))]
pub use store::sample_event;
pub use store::{Cursor, Filter, FilterError, Page, Store};

/// One audit row (field names as in docs/audit.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// RFC 3339 time.
    pub ts: chrono::DateTime<chrono::Utc>,
    /// Request id (also in the access log line).
    pub request_id: String,
    /// Derived client IP.
    pub client_ip: String,
    /// Method.
    pub method: String,
    /// Canonical path.
    pub path: String,
    /// Query with sensitive values replaced by `***`.
    pub query: Option<String>,
    /// `jwt` | `introspection` | `gateway_token` | `pat` | `basic` | `session` | `native_oauth` | `anonymous` | `none`.
    pub credential: String,
    /// Provider name.
    pub provider: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Token id or short hash.
    pub token_id: Option<String>,
    /// `allow` | `deny`.
    pub decision: String,
    /// Machine reason (`token_expired`), or the allow reason (`authenticated`, `bypass`…).
    pub reason: String,
    /// Status sent to the client.
    pub status: u16,
    /// Status the upstream answered.
    pub upstream_status: Option<u16>,
    /// Whole request, microseconds.
    pub latency_us: u64,
    /// Upstream part, microseconds.
    pub upstream_latency_us: Option<u64>,
    /// Response body bytes sent.
    pub bytes_sent: u64,
    /// What an operator needs to know about the reason (the log line's `detail`: which
    /// check failed, the product's `oauth_problem`…); never a secret, never sent to the
    /// client. Absent in rows written before the column existed.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Longest text kept in one field; longer text is cut at a character boundary and marked.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Kept as-is: anything but control characters and bidi overrides.
fn is_clean(c: char) -> bool {
    !(c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

/// `s` with NUL, control characters and bidi overrides escaped (`\x00`, `\x1b`, `\u{202e}`)
/// and cut to [`MAX_FIELD_BYTES`] with a `…[+N bytes]` marker, so no field can break an
/// insert (Postgres refuses NUL in `text`) or forge a log line. Other text is kept as-is.
pub fn sanitize(s: &str) -> String {
    let clean = is_clean;
    let mut out = if s.chars().all(clean) {
        s.to_string()
    } else {
        let mut out = String::with_capacity(s.len() + 8);
        for c in s.chars() {
            if clean(c) {
                out.push(c);
            } else if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        }
        out
    };
    if out.len() > MAX_FIELD_BYTES {
        let mut cut = MAX_FIELD_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let extra = out.len() - cut;
        out.truncate(cut);
        out.push_str(&format!("…[+{extra} bytes]"));
    }
    out
}

impl AuditEvent {
    /// Applies [`sanitize`] to every text field.
    pub fn sanitized(mut self) -> AuditEvent {
        // Most fields are clean and short: leave those untouched (no copy on the request path).
        fn fix(s: &mut String) {
            if s.len() > MAX_FIELD_BYTES || !s.chars().all(is_clean) {
                *s = sanitize(s);
            }
        }
        fn opt(v: &mut Option<String>) {
            if let Some(s) = v {
                fix(s);
            }
        }
        for s in [
            &mut self.request_id,
            &mut self.client_ip,
            &mut self.method,
            &mut self.path,
            &mut self.credential,
            &mut self.decision,
            &mut self.reason,
        ] {
            fix(s);
        }
        opt(&mut self.query);
        opt(&mut self.provider);
        opt(&mut self.username);
        opt(&mut self.token_id);
        opt(&mut self.detail);
        self
    }
}

/// An event with the id that makes its insert idempotent (replays never duplicate a row).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rec {
    /// Unique per event: random per writer start, then a counter.
    pub id: String,
    /// The event, already sanitized.
    pub ev: AuditEvent,
}

/// Counters of the audit pipeline (also exported as Prometheus metrics).
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Rows inserted into the database (direct and replayed).
    pub written: AtomicU64,
    /// Rows written to the spool.
    pub spooled: AtomicU64,
    /// Rows inserted from the spool.
    pub replayed: AtomicU64,
    /// Failed insert attempts.
    pub write_errors: AtomicU64,
    /// Events lost (spool disk failure, unreadable spool lines, rows the database refused).
    pub dropped: AtomicU64,
}

/// A snapshot of [`AuditStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Rows inserted.
    pub written: u64,
    /// Rows spooled.
    pub spooled: u64,
    /// Rows replayed from the spool.
    pub replayed: u64,
    /// Failed insert attempts.
    pub write_errors: u64,
    /// Events lost.
    pub dropped: u64,
}

impl AuditStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            written: self.written.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Where events go. Cheap to clone; every clone feeds the same writer.
#[derive(Debug, Clone, Default)]
pub enum AuditSink {
    /// `audit.enabled = false`: nothing is recorded.
    #[default]
    Off,
    /// Events kept in memory (tests).
    Memory(Arc<Mutex<Vec<AuditEvent>>>),
    /// The real pipeline: queue, writer task, spool, database.
    Writer(Arc<writer::Handle>),
}

impl AuditSink {
    /// An in-memory sink (tests read it back with [`AuditSink::events`]).
    pub fn memory() -> AuditSink {
        AuditSink::Memory(Arc::default())
    }

    /// Starts the writer (and the retention scheduler) for `opts`. Must run inside a Tokio
    /// runtime. Fails only when the spool directory cannot be opened or the log file created.
    pub fn start(opts: WriterOptions) -> Result<AuditSink, AuditError> {
        Ok(AuditSink::Writer(Arc::new(writer::Handle::start(opts)?)))
    }

    /// False for `audit.enabled = false` (callers skip building events nobody keeps).
    pub fn is_enabled(&self) -> bool {
        !matches!(self, AuditSink::Off)
    }

    /// Hands one event off; never waits (queue, else spool file, else counted drop).
    pub fn record(&self, event: AuditEvent) {
        match self {
            AuditSink::Off => {}
            AuditSink::Memory(m) => {
                if let Ok(mut v) = m.lock() {
                    v.push(event.sanitized());
                }
            }
            AuditSink::Writer(h) => h.record(event.sanitized()),
        }
    }

    /// Events recorded so far (in-memory sink only; empty otherwise).
    pub fn events(&self) -> Vec<AuditEvent> {
        match self {
            AuditSink::Memory(m) => m.lock().map(|v| v.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Ok when the database is reachable or events are being spooled (for `/readyz`);
    /// an error only when events are being lost (the spool disk fails).
    pub async fn ready(&self) -> Result<(), String> {
        match self {
            AuditSink::Writer(h) => h.ready(),
            _ => Ok(()),
        }
    }

    /// One phrase for `/readyz`: `database reachable`, `database unreachable, spooling`…
    pub fn describe(&self) -> &'static str {
        match self {
            AuditSink::Off => "disabled",
            AuditSink::Memory(_) => "in memory",
            AuditSink::Writer(h) => h.describe(),
        }
    }

    /// Writes out everything queued (called at shutdown): into the database when it is
    /// reachable, else into the fsynced spool (replayed at the next start).
    pub async fn flush(&self) {
        if let AuditSink::Writer(h) = self {
            h.flush().await;
        }
    }

    /// Counters (zero unless this is the real writer).
    pub fn stats(&self) -> StatsSnapshot {
        match self {
            AuditSink::Writer(h) => h.stats.snapshot(),
            _ => StatsSnapshot::default(),
        }
    }
}

/// Why the audit pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The spool directory could not be created or read.
    #[error("audit.spool_dir {path}: {source}")]
    Spool {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JSON log file could not be opened.
    #[error("audit.log {path}: {source}")]
    Log {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_nul_are_escaped() {
        assert_eq!(sanitize("bob\u{0}"), "bob\\x00");
        assert_eq!(sanitize("a\r\nb\x1b[2J"), "a\\x0d\\x0ab\\x1b[2J");
        assert_eq!(sanitize("x\u{202e}y\u{85}"), "x\\u{202e}y\\u{85}");
        assert_eq!(
            sanitize("'); DROP TABLE audit;--"),
            "'); DROP TABLE audit;--"
        );
        assert_eq!(sanitize("ünï cødé"), "ünï cødé");
    }

    #[test]
    fn long_fields_are_cut_with_a_marker() {
        let long = "é".repeat(5000); // 10 000 bytes
        let s = sanitize(&long);
        assert!(s.starts_with(&"é".repeat(2048)));
        assert!(s.ends_with("…[+5904 bytes]"), "{}", &s[s.len() - 20..]);
    }

    #[test]
    fn memory_sink_keeps_events_and_off_records_nothing() {
        let sink = AuditSink::memory();
        let ev = store::sample_event(0, "alice", 200);
        sink.record(ev.clone());
        assert_eq!(sink.events(), vec![ev.clone()]);
        let off = AuditSink::Off;
        off.record(ev);
        assert!(off.events().is_empty());
    }
}
