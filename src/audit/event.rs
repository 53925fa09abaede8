//! The constructors of an [`AuditEvent`]: one per kind of event, so a new field or a
//! redaction rule is written once.
//!
//! Owns: [`AuditEvent::of_request`] (a request on `listen`: the end of every request and the
//! self-service token actions), [`AuditEvent::of_operator`] (the admin API and the CLI) and
//! [`redact_query`], the one place that decides which query values never reach an audit row
//! or a log line.

use std::time::SystemTime;

use super::AuditEvent;
use crate::pipeline::RequestCtx;

/// Query keys whose values never reach a log or an audit row.
const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "password",
    "os_password",
    "jwt",
    "secret",
    "client_secret",
    "api_key",
];

/// The query with the values of sensitive keys replaced by `***` (keys kept). Keys are
/// compared after percent-decoding, so `acc%65ss_token=` is caught too.
pub fn redact_query(q: &str) -> String {
    let sensitive = |k: &str| {
        let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
        SENSITIVE_QUERY_KEYS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(k.trim()))
    };
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if sensitive(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// How a request or an action ended, for its row.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    /// `allow` or `deny`.
    pub decision: &'a str,
    /// The machine reason or the allow reason.
    pub reason: &'a str,
    /// The status sent (499 for a client that went away, 0 for the CLI).
    pub status: u16,
    /// Response body bytes sent.
    pub bytes_sent: u64,
}

/// Who did an operator action, and on what.
#[derive(Debug, Clone)]
pub struct OperatorAction<'a> {
    /// The request id (`cli-…` for the CLI).
    pub request_id: &'a str,
    /// The operator's address.
    pub client_ip: String,
    /// The HTTP method, or `CLI`.
    pub method: &'a str,
    /// The path, or the command line.
    pub path: &'a str,
    /// The raw query, redacted here.
    pub query: Option<&'a str>,
    /// The user whose token it is.
    pub username: Option<String>,
    /// The token.
    pub token_id: Option<String>,
    /// How long it took, microseconds.
    pub latency_us: u64,
}

impl AuditEvent {
    /// The row of a request on `listen`, from its context.
    pub fn of_request(now: SystemTime, ctx: &RequestCtx, v: Verdict<'_>) -> AuditEvent {
        AuditEvent {
            ts: now.into(),
            request_id: ctx.request_id.clone(),
            client_ip: ctx
                .client_ip
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| ctx.peer.ip().to_canonical().to_string()),
            method: ctx.method.to_string(),
            path: ctx.path.clone(),
            query: ctx.query.as_deref().map(redact_query),
            credential: ctx.credential.as_str().to_string(),
            provider: ctx.provider.clone(),
            username: ctx.username.clone(),
            token_id: ctx.token_id.clone(),
            decision: v.decision.to_string(),
            reason: v.reason.to_string(),
            status: v.status,
            upstream_status: ctx.upstream_status,
            latency_us: ctx.started.elapsed().as_micros() as u64,
            upstream_latency_us: ctx.upstream_latency_us,
            bytes_sent: v.bytes_sent,
            detail: ctx.detail.clone(),
        }
    }

    /// The row of an operator action (admin API, CLI): no credential, no upstream.
    pub fn of_operator(now: SystemTime, a: OperatorAction<'_>, v: Verdict<'_>) -> AuditEvent {
        AuditEvent {
            ts: now.into(),
            request_id: a.request_id.to_string(),
            client_ip: a.client_ip,
            method: a.method.to_string(),
            path: a.path.to_string(),
            query: a.query.map(redact_query),
            credential: "none".into(),
            provider: None,
            username: a.username,
            token_id: a.token_id,
            decision: v.decision.to_string(),
            reason: v.reason.to_string(),
            status: v.status,
            upstream_status: None,
            latency_us: a.latency_us,
            upstream_latency_us: None,
            bytes_sent: v.bytes_sent,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_query_values_are_redacted() {
        assert_eq!(
            redact_query("jql=a&token=abc&os_password=x&Access_Token=y&api_key"),
            "jql=a&token=***&os_password=***&Access_Token=***&api_key"
        );
        assert_eq!(
            redact_query("acc%65ss_token=x&password=p&jwt=j&secret=s&client_secret=c&api_key=k&PASSWORD=q"),
            "acc%65ss_token=***&password=***&jwt=***&secret=***&client_secret=***&api_key=***&PASSWORD=***"
        );
    }
}
