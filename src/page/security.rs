//! What keeps the token page safe in a browser: its response headers, its session cookie,
//! and the check every state-changing form passes (own origin, per-session CSRF token).
//!
//! Owns: the header set of docs/tokens.md#the-token-page (applied to every answer of the page, assets and
//! refusals included), whether the page is served as `https` (authgate's own TLS, or a
//! trusted proxy's `X-Forwarded-Proto`), the page's own origin and path, the `Set-Cookie`
//! values, and [`check_form`]. It makes no decision about tokens.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;

use super::session::{same_secret, PageSession};
use crate::reject::{Reason, Rejection};

/// The page's own cookie (an opaque random value; the row is found by its SHA-256).
pub const COOKIE: &str = "authgate_page";

/// Only the page's own script and stylesheet; nothing loads it in a frame; forms post to
/// itself only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Sets the headers of docs/tokens.md#the-token-page on an answer of the page.
pub fn apply_headers(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // `same-origin`, not `no-referrer`: with the latter browsers send `Origin: null` on the
    // page's own form posts, which the origin check must refuse.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    // For browsers that predate `frame-ancestors`.
    set(headers, header::X_FRAME_OPTIONS, "DENY");
}

/// True when the browser reached the page over `https`: authgate's own TLS (`proto`), or a
/// trusted proxy (`peer_trusted`) saying so in `X-Forwarded-Proto` (its last value).
pub fn is_https(parts: &Parts, proto: &str, peer_trusted: bool) -> bool {
    if proto == "https" {
        return true;
    }
    peer_trusted
        && parts
            .headers
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// True unless the browser says this is not a navigation (`Sec-Fetch-Mode` other than
/// `navigate`: an image, script or fetch from some page). Browsers without the header count
/// as navigating.
pub fn is_navigation(parts: &Parts) -> bool {
    parts
        .headers
        .get("sec-fetch-mode")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|m| m.eq_ignore_ascii_case("navigate"))
}

/// The page's own origin (`scheme://host[:port]`, from `Host` or the HTTP/2 authority).
pub fn own_origin(parts: &Parts, https: bool) -> Option<String> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_string()))?;
    Some(format!(
        "{}://{}",
        if https { "https" } else { "http" },
        host.to_ascii_lowercase()
    ))
}

/// The page's own path (`/_authgate/`, or under the context path `/jira/_authgate/`): the
/// cookie's `Path`, and where its redirects go. `path` is the canonical request path.
pub fn page_path(path: &str) -> String {
    match path.find("/_authgate") {
        Some(i) => format!("{}/_authgate/", &path[..i]),
        None => "/_authgate/".to_string(),
    }
}

/// The value of the page's cookie in `headers`, if sent (the first one).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session (`value`), or, with `None`, one that removes it.
pub fn set_cookie(value: Option<&str>, path: &str, https: bool) -> HeaderValue {
    let (value, age) = match value {
        Some(v) => (v, String::new()),
        None => ("", "; Max-Age=0".to_string()),
    };
    let secure = if https { "; Secure" } else { "" };
    let text = format!("{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}{age}");
    HeaderValue::from_str(&text).expect("hex value and a canonical path are header-safe")
}

/// Refuses a state-changing form (403 `csrf_rejected`) sent from another origin (a present
/// `Origin` that is not the page's own, `null` included), or without the CSRF token of a
/// live session (`session` `None`: the form is refused unless `needs_session` is false, as
/// for the sign-in form, which has no session yet).
pub fn check_form(
    parts: &Parts,
    https: bool,
    session: Option<&PageSession>,
    csrf: Option<&str>,
    needs_session: bool,
) -> Result<(), Rejection> {
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let own = own_origin(parts, https);
        let sent = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if own.as_deref() != Some(sent.as_str()) {
            return Err(Rejection::new(Reason::CsrfRejected).detail(format!(
                "token page form from origin {:?}, not the page's own",
                sent.escape_default().to_string()
            )));
        }
    }
    if !needs_session {
        return Ok(());
    }
    match (session, csrf) {
        (Some(s), Some(c)) if same_secret(&s.csrf, c) => Ok(()),
        (None, _) => Err(Rejection::new(Reason::CsrfRejected)
            .detail("token page form without a live page session")),
        _ => Err(Rejection::new(Reason::CsrfRejected)
            .detail("token page form without this session's CSRF token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_path_keeps_the_context_path() {
        assert_eq!(page_path("/_authgate/"), "/_authgate/");
        assert_eq!(page_path("/jira/_authgate/create"), "/jira/_authgate/");
        assert_eq!(page_path("/jira/_authgate"), "/jira/_authgate/");
    }

    #[test]
    fn cookies_are_strict_and_secure_over_https() {
        let c = set_cookie(Some("ab12"), "/jira/_authgate/", true);
        assert_eq!(
            c,
            "authgate_page=ab12; Path=/jira/_authgate/; HttpOnly; SameSite=Strict; Secure"
        );
        let gone = set_cookie(None, "/_authgate/", false);
        assert!(gone.to_str().unwrap().ends_with("Max-Age=0"));
    }

    #[test]
    fn only_a_hex_cookie_value_is_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("JSESSIONID=x; authgate_page=00ff"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("00ff"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("authgate_page=<x>"),
        );
        assert_eq!(session_cookie(&h), None);
    }
}
