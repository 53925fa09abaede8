//! `audit.log`: each event also as one JSON line on stdout or appended to a file, for ops
//! to scrape. The line carries `"log":"audit"` and the same `request_id` as the access log
//! line of the request. Fields are already sanitized and JSON escapes the rest, so a line
//! is always exactly one line.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::{AuditError, AuditEvent};
use crate::config::AuditLog;

/// Where the lines go.
pub(crate) struct JsonLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for JsonLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonLog")
    }
}

#[derive(Serialize)]
struct Line<'a> {
    log: &'static str,
    #[serde(flatten)]
    event: &'a AuditEvent,
}

impl JsonLog {
    /// Opens the destination; `None` for `off`.
    pub fn open(cfg: &AuditLog) -> Result<Option<JsonLog>, AuditError> {
        let out: Box<dyn Write + Send> = match cfg {
            AuditLog::Off => return Ok(None),
            AuditLog::Stdout => Box::new(std::io::stdout()),
            AuditLog::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditError::Log {
                        path: path.display().to_string(),
                        source,
                    })?,
            ),
        };
        Ok(Some(JsonLog {
            out: Mutex::new(out),
        }))
    }

    /// The line for `event` (with its newline).
    pub fn line(event: &AuditEvent) -> Vec<u8> {
        let mut v = serde_json::to_vec(&Line {
            log: "audit",
            event,
        })
        .unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Writes one line in a single write (lines from concurrent requests never interleave).
    pub fn write(&self, event: &AuditEvent) {
        let line = Self::line(event);
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::sample_event;

    #[test]
    fn one_line_per_event_with_the_audit_field_names() {
        let mut ev = sample_event(0, "bob\ninjected", 403).sanitized();
        ev.path = "/rest/a\u{1b}[2J".into();
        let ev = ev.sanitized();
        let line = JsonLog::line(&ev);
        let text = String::from_utf8(line).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["log"], "audit");
        assert_eq!(v["request_id"], "req-0");
        assert_eq!(v["username"], "bob\\x0ainjected");
        assert_eq!(v["path"], "/rest/a\\x1b[2J");
        assert_eq!(v["ts"], "2026-01-01T00:00:00Z");
        for k in [
            "client_ip",
            "method",
            "query",
            "credential",
            "provider",
            "token_id",
            "decision",
            "reason",
            "status",
            "upstream_status",
            "latency_us",
            "upstream_latency_us",
            "bytes_sent",
            "detail",
        ] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
    }

    #[test]
    fn file_destination_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = JsonLog::open(&AuditLog::File(path.clone()))
            .unwrap()
            .unwrap();
        log.write(&sample_event(1, "a", 200));
        log.write(&sample_event(2, "b", 401));
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(JsonLog::open(&AuditLog::Off).unwrap().is_none());
    }
}
