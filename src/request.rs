//! The request types every layer shares, at the bottom of the module graph: the per-request
//! state [`RequestCtx`] (created when a request arrives, passed by `&mut` through every stage,
//! then turned into the access log line and the audit row), the [`Stage`] that decided,
//! the derived [`ClientIp`] and the [`Credential`] the caller presented. The pipeline decides
//! with them; the forwarding, identity-lookup and audit code read them without depending on
//! the pipeline.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::principal::CredentialKind;
use crate::reject::RateHeaders;

/// The client as far as authgate can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIp {
    /// A well-formed address (IPv4-mapped IPv6 already folded to IPv4).
    Addr(IpAddr),
    /// A malformed `client_ip_header` entry from a trusted proxy; it matches no rule.
    Malformed(String),
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIp::Addr(a) => write!(f, "{a}"),
            ClientIp::Malformed(s) => {
                // Escape so a hostile header cannot forge log lines.
                write!(f, "malformed:{}", s.escape_default())
            }
        }
    }
}

/// What `Authorization` (or the cookie) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP Basic; the username is decoded for per-user limits and identity lookups.
    Basic {
        /// Decoded username.
        username: String,
    },
    /// An authgate token (`gw_…`).
    GatewayToken(String),
    /// Three base64url parts.
    Jwt(String),
    /// A product Personal Access Token.
    Pat(String),
    /// Any other bearer token.
    Opaque(String),
    /// The product's session cookie.
    Session,
    /// Nothing.
    None,
}

impl Credential {
    /// The audit `credential` value for this class before validation.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Basic { .. } => CredentialKind::Basic,
            Credential::GatewayToken(_) => CredentialKind::GatewayToken,
            Credential::Jwt(_) => CredentialKind::Jwt,
            Credential::Pat(_) => CredentialKind::Pat,
            Credential::Opaque(_) => CredentialKind::NativeOauth,
            Credential::Session => CredentialKind::Session,
            Credential::None => CredentialKind::Anonymous,
        }
    }
}

/// Which stage decided (the `stage` in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Stage {
    Path,
    Reserved,
    IpFilter,
    Scope,
    Credential,
    Authn,
    Authz,
    RateLimit,
    Forward,
}

impl Stage {
    /// Name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Path => "path",
            Stage::Reserved => "reserved",
            Stage::IpFilter => "ip_filter",
            Stage::Scope => "scope",
            Stage::Credential => "credential",
            Stage::Authn => "authn",
            Stage::Authz => "authz",
            Stage::RateLimit => "rate_limit",
            Stage::Forward => "forward",
        }
    }
}

/// Everything known about one request, filled in as the stages run.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// The client's `X-Request-Id` when well-formed, else a new one.
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
    /// TCP peer.
    pub peer: SocketAddr,
    /// Derived client (after trusted proxies).
    pub client_ip: Option<ClientIp>,
    /// Method as received.
    pub method: http::Method,
    /// Canonical path, or the raw path when it was rejected.
    pub path: String,
    /// Raw query string (redacted only when recorded).
    pub query: Option<String>,
    /// True when the path is an API path.
    pub is_api: bool,
    /// What the caller presented.
    pub credential: CredentialKind,
    /// Provider that validated the token.
    pub provider: Option<String>,
    /// Username, once known.
    pub username: Option<String>,
    /// Short token hash or gateway token id.
    pub token_id: Option<String>,
    /// Short hash of every product credential a pass-through caller presented (the
    /// rate-limit key when nobody identified the caller).
    pub credential_hash: Option<String>,
    /// The stage that decided last.
    pub stage: Stage,
    /// The request is being (or was) handed to the product: from here it may act on it.
    pub forwarded: bool,
    /// What one of authgate's own endpoints did (`token_create`, `token_revoke`): the allow
    /// reason of its audit row.
    pub action: Option<&'static str>,
    /// The rule that matched (`bypass: GET /status`), for the log and audit.
    pub rule: Option<String>,
    /// Rate-limit state, put on the response.
    pub rate: Option<RateHeaders>,
    /// Detail of a rejection (never a secret).
    pub detail: Option<String>,
    /// Status the upstream answered.
    pub upstream_status: Option<u16>,
    /// Time spent waiting for the upstream head, microseconds.
    pub upstream_latency_us: Option<u64>,
}

impl RequestCtx {
    /// A fresh context.
    pub fn new(request_id: String, peer: SocketAddr, method: http::Method, path: String) -> Self {
        RequestCtx {
            request_id,
            started: Instant::now(),
            peer,
            client_ip: None,
            method,
            path,
            query: None,
            is_api: false,
            credential: CredentialKind::None,
            provider: None,
            username: None,
            token_id: None,
            credential_hash: None,
            stage: Stage::Path,
            forwarded: false,
            action: None,
            rule: None,
            rate: None,
            detail: None,
            upstream_status: None,
            upstream_latency_us: None,
        }
    }
}

/// The client's request id if it is 1–128 characters of `A-Za-z0-9._-`, else a new one.
pub fn request_id(headers: &http::HeaderMap) -> String {
    if let Some(v) = headers.get(&crate::headers::X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            // Checked ASCII above.
            return String::from_utf8_lossy(b).into_owned();
        }
    }
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}
