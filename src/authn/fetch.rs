//! Talking to the IdP: one request, a bounded answer, no redirects.
//!
//! Owns: [`fetch`], used for JWKS, discovery and introspection. The shared client never
//! follows redirects (a 3xx is an error here), the whole exchange has a timeout, and the
//! body is read up to a cap and abandoned past it, so a hostile or broken IdP can cost
//! neither memory nor time.

use std::time::Duration;

/// Why the IdP gave no usable answer. Always means "fail closed" (503 `idp_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Connect, TLS, or read failure.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A status other than 200 (redirects included: they are never followed).
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The body is larger than the cap.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JSON object.
    #[error("answer is not a JSON object")]
    NotJson,
}

/// A 200 answer: its JSON object and `Cache-Control: max-age`, if any.
#[derive(Debug)]
pub struct Answer {
    /// The body.
    pub json: serde_json::Map<String, serde_json::Value>,
    /// `max-age` seconds from `Cache-Control`.
    pub max_age: Option<u64>,
}

/// Sends `req`, waits at most `timeout` for the whole answer, reads at most `cap` bytes and
/// parses a JSON object.
pub async fn fetch(req: reqwest::RequestBuilder, timeout: Duration, cap: usize) -> Result<Answer, FetchError> {
    match tokio::time::timeout(timeout, exchange(req, cap)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn exchange(req: reqwest::RequestBuilder, cap: usize) -> Result<Answer, FetchError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(without_url(&e)))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(FetchError::TooLarge(cap));
    }
    let max_age = resp
        .headers()
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|d| {
            let (k, v) = d.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case("max-age").then(|| v.trim().trim_matches('"').parse().ok())?
        });
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Unreachable(without_url(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Object(json)) => Ok(Answer { json, max_age }),
        _ => Err(FetchError::NotJson),
    }
}

/// reqwest errors name the URL; introspection URLs carry no secrets, but keep logs short.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "<idp>");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
