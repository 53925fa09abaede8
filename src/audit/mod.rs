//! Audit (CONTRACT §7): one event per decision, handed to a writer that never blocks a request.
//!
//! Placeholder until issue 9 lands: [`AuditEvent`] is final; [`AuditSink`] only logs.

use serde::Serialize;

/// One audit row (field names as in CONTRACT §7).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
}

/// Where events go.
#[derive(Debug, Clone, Default)]
pub struct AuditSink;

impl AuditSink {
    /// Hands one event off; never waits.
    pub fn record(&self, event: AuditEvent) {
        tracing::debug!(target: "audit", request_id = %event.request_id, "audit event");
    }
}

impl AuditSink {
    /// Ok when the database is reachable or events are being spooled (for `/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

impl AuditSink {
    /// Writes out everything queued (called at shutdown).
    pub async fn flush(&self) {}
}
