//! Rejections: the ONLY place that picks a status, a body and headers for a refused request.
//!
//! Owns: [`Reason`] (the machine reasons of docs/http.md#rejections, also the audit `reason`) and
//! [`Rejection`] (a reason plus what an operator needs: a detail for logs, rate-limit data).
//! Every stage returns a `Rejection`; `into_response` maps it exhaustively, so a new reason
//! without a status does not compile. Bodies are Jira's error shape and never carry details.

use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::body::{json_response, Body};

/// Whose error body a rejection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"errorMessages":[…],"errors":{},"reason","requestId"}`.
    Jira,
    /// `{"statusCode","data":{"authorized","valid","errors","successful"},"message","reason","requestId"}`.
    Confluence,
}

/// Machine reason of a rejection (docs/http.md#rejections). `as_str` is the wire and audit name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Reason {
    BadPath,
    MalformedRequest,
    ExpiryTooLong,
    CredentialRequired,
    BasicDisabled,
    PatDisabled,
    UnknownToken,
    UnsupportedScheme,
    MalformedToken,
    BadSignature,
    AlgNotAllowed,
    TokenExpired,
    TokenNotYetValid,
    TokenTooOld,
    UnknownIssuer,
    WrongAudience,
    UsernameMissing,
    UsernameInvalid,
    TokenInactive,
    TokenUnknown,
    TokenRevoked,
    CredentialRejected,
    IpDenied,
    DeniedPath,
    GroupDenied,
    ReadOnly,
    TokenCreationDenied,
    NotFound,
    MethodNotAllowed,
    TokenLimit,
    BodyTooLarge,
    TargetTooLong,
    HeadersTooLarge,
    RateLimited,
    UpstreamUnreachable,
    /// The product refused the identity authgate handed over (`oauth1`: a signed request).
    UpstreamIdentityRejected,
    IdpUnavailable,
    GroupsUnavailable,
    /// The shared rate-limit store is unreachable and `on_store_error = "deny"` (503).
    RateLimitUnavailable,
    UpstreamTimeout,
    /// Admin API without the right admin token (401).
    AdminUnauthorized,
    /// A token-page form without its session's CSRF token, or sent from another origin (403).
    CsrfRejected,
}

impl Reason {
    /// HTTP status for this reason.
    pub fn status(self) -> StatusCode {
        use Reason::*;
        match self {
            BadPath | MalformedRequest | ExpiryTooLong => StatusCode::BAD_REQUEST,
            CredentialRequired | BasicDisabled | PatDisabled | UnknownToken | UnsupportedScheme
            | MalformedToken | BadSignature | AlgNotAllowed | TokenExpired | TokenNotYetValid
            | TokenTooOld | UnknownIssuer | WrongAudience | UsernameMissing | UsernameInvalid
            | TokenInactive | TokenUnknown | TokenRevoked | CredentialRejected
            | AdminUnauthorized => StatusCode::UNAUTHORIZED,
            IpDenied | DeniedPath | GroupDenied | ReadOnly | TokenCreationDenied | CsrfRejected => {
                StatusCode::FORBIDDEN
            }
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TokenLimit => StatusCode::CONFLICT,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            TargetTooLong => StatusCode::URI_TOO_LONG,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            UpstreamUnreachable | UpstreamIdentityRejected => StatusCode::BAD_GATEWAY,
            IdpUnavailable | GroupsUnavailable | RateLimitUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The machine name (`token_expired`), used in bodies, logs, metrics and audit rows.
    pub fn as_str(self) -> &'static str {
        use Reason::*;
        match self {
            BadPath => "bad_path",
            MalformedRequest => "malformed_request",
            ExpiryTooLong => "expiry_too_long",
            CredentialRequired => "credential_required",
            BasicDisabled => "basic_disabled",
            PatDisabled => "pat_disabled",
            UnknownToken => "unknown_token",
            UnsupportedScheme => "unsupported_scheme",
            MalformedToken => "malformed_token",
            BadSignature => "bad_signature",
            AlgNotAllowed => "alg_not_allowed",
            TokenExpired => "token_expired",
            TokenNotYetValid => "token_not_yet_valid",
            TokenTooOld => "token_too_old",
            UnknownIssuer => "unknown_issuer",
            WrongAudience => "wrong_audience",
            UsernameMissing => "username_missing",
            UsernameInvalid => "username_invalid",
            TokenInactive => "token_inactive",
            TokenUnknown => "token_unknown",
            TokenRevoked => "token_revoked",
            CredentialRejected => "credential_rejected",
            IpDenied => "ip_denied",
            DeniedPath => "denied_path",
            GroupDenied => "group_denied",
            ReadOnly => "read_only",
            TokenCreationDenied => "token_creation_denied",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            TokenLimit => "token_limit",
            BodyTooLarge => "body_too_large",
            TargetTooLong => "target_too_long",
            HeadersTooLarge => "headers_too_large",
            RateLimited => "rate_limited",
            UpstreamUnreachable => "upstream_unreachable",
            UpstreamIdentityRejected => "upstream_identity_rejected",
            IdpUnavailable => "idp_unavailable",
            GroupsUnavailable => "groups_unavailable",
            RateLimitUnavailable => "rate_limit_unavailable",
            UpstreamTimeout => "upstream_timeout",
            AdminUnauthorized => "admin_unauthorized",
            CsrfRejected => "csrf_rejected",
        }
    }

    /// The fixed, human sentence in `errorMessages`. Never carries request data.
    pub fn message(self) -> &'static str {
        use Reason::*;
        match self {
            BadPath => "The request path is not allowed.",
            MalformedRequest => "The request is malformed.",
            ExpiryTooLong => "The requested token lifetime is longer than the maximum.",
            CredentialRequired => {
                "You are not authenticated. Authentication required to perform this operation."
            }
            BasicDisabled => "Basic authentication is disabled. Use a token.",
            PatDisabled => "Personal access tokens are not accepted here.",
            UnknownToken => "The token is not recognised.",
            UnsupportedScheme => "The authorization scheme is not supported.",
            MalformedToken => "The token is malformed.",
            BadSignature => "The token signature is invalid.",
            AlgNotAllowed => "The token algorithm is not allowed.",
            TokenExpired => "The token has expired.",
            TokenNotYetValid => "The token is not valid yet.",
            TokenTooOld => "The token is too old.",
            UnknownIssuer => "The token issuer is not trusted.",
            WrongAudience => "The token is not meant for this service.",
            UsernameMissing => "The token does not name a user.",
            UsernameInvalid => "The user named by the token is not valid.",
            TokenInactive => "The token is not active.",
            TokenUnknown => "The token is not recognised.",
            TokenRevoked => "The token has been revoked.",
            CredentialRejected => "The credentials were rejected.",
            IpDenied => "Access from this address is not allowed.",
            DeniedPath => "Access to this resource is not allowed.",
            GroupDenied => "You do not have permission to use this API.",
            ReadOnly => "You have read-only access.",
            TokenCreationDenied => "You are not allowed to create tokens.",
            NotFound => "Not found.",
            MethodNotAllowed => "The method is not allowed.",
            TokenLimit => "You have reached the maximum number of tokens.",
            BodyTooLarge => "The request body is too large.",
            TargetTooLong => "The request target is too long.",
            HeadersTooLarge => "The request headers are too large.",
            RateLimited => "Rate limit exceeded.",
            UpstreamUnreachable => "The service is unreachable.",
            UpstreamIdentityRejected => "The service refused the identity the gateway handed over.",
            IdpUnavailable => "The identity provider is unavailable.",
            GroupsUnavailable => "Group membership could not be determined.",
            RateLimitUnavailable => "The rate limit could not be checked. Try again later.",
            UpstreamTimeout => "The service did not answer in time.",
            AdminUnauthorized => "An admin token is required.",
            CsrfRejected => "The form was not sent from this page. Reload the page and try again.",
        }
    }
}

/// Rate-limit state reported on every API response (Jira DC header names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-RateLimit-Limit` (= burst).
    pub limit: u32,
    /// `X-RateLimit-Remaining` (whole tokens left).
    pub remaining: u32,
    /// `X-RateLimit-Interval-Seconds` (= `per` in seconds).
    pub interval_secs: u64,
    /// `X-RateLimit-FillRate` (= `requests`).
    pub fill_rate: u32,
    /// `Retry-After` (whole seconds until a token is free; 0 while tokens remain).
    pub retry_after_secs: u64,
}

impl RateHeaders {
    /// Writes the five headers onto `headers`.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert(
            "x-ratelimit-interval-seconds",
            HeaderValue::from(self.interval_secs),
        );
        headers.insert("x-ratelimit-fillrate", HeaderValue::from(self.fill_rate));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs),
        );
    }
}

/// A refused request: the reason, and what an operator needs to know (logs and audit only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The machine reason; picks status and body.
    pub reason: Reason,
    /// Detail for the log line and audit row (never sent to the client, never a secret).
    pub detail: Option<String>,
    /// Rate-limit headers, when the rate-limit stage ran (429 and any later rejection).
    pub rate: Option<RateHeaders>,
    /// Extra sentence for `errorMessages` where docs/http.md asks for one (e.g. the maximum
    /// token lifetime for `expiry_too_long`). Must not contain request data.
    pub public_note: Option<String>,
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Rejection::new(reason)
    }
}

impl Rejection {
    /// A rejection with no detail.
    pub fn new(reason: Reason) -> Self {
        Rejection {
            reason,
            detail: None,
            rate: None,
            public_note: None,
        }
    }

    /// Adds a detail for the log and the audit row.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a sentence for the client (fixed text, no request data).
    pub fn public_note(mut self, note: impl Into<String>) -> Self {
        self.public_note = Some(note.into());
        self
    }

    /// The response: status, Jira-shaped body, `WWW-Authenticate` on 401, rate headers,
    /// `X-Request-Id`.
    pub fn into_response(&self, request_id: &str) -> Response<Body> {
        self.into_response_as(ErrorShape::Jira, request_id)
    }

    /// The answer in `shape`: the error body of the product behind authgate, so clients read
    /// it as they read the product's own errors.
    pub fn into_response_as(&self, shape: ErrorShape, request_id: &str) -> Response<Body> {
        let status = self.reason.status();
        let mut messages = vec![self.reason.message().to_string()];
        if let Some(note) = &self.public_note {
            messages.push(note.clone());
        }
        let body = match shape {
            ErrorShape::Jira => json!({
                "errorMessages": messages,
                "errors": {},
                "reason": self.reason.as_str(),
                "requestId": request_id,
            }),
            ErrorShape::Confluence => json!({
                "statusCode": status.as_u16(),
                "data": {
                    "authorized": status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN,
                    "valid": true,
                    "errors": [],
                    "successful": false,
                },
                "message": messages.join(" "),
                "reason": self.reason.as_str(),
                "requestId": request_id,
            }),
        };
        let mut resp = json_response(status, &body);
        let h = resp.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="authgate", error="invalid_token""#),
            );
        }
        if let Some(rate) = &self.rate {
            rate.apply(h);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(crate::headers::X_REQUEST_ID, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_carries_www_authenticate_and_jira_shape() {
        let r = Rejection::new(Reason::TokenExpired).detail("exp=5");
        let resp = r.into_response("abc");
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="authgate", error="invalid_token""#
        );
        assert_eq!(resp.headers()["x-request-id"], "abc");
    }
}
