//! Product credentials: every part of a request by which the product could authenticate it.
//!
//! Owns: [`Carriers`], the one place that says which bytes of a request carry a credential
//! for the configured product, and the readers and removers every other module uses:
//!
//! - `Authorization` (read by `pipeline::credential`);
//! - the session and remember-me cookies (Jira: `JSESSIONID`, `seraph.rememberme.cookie`,
//!   `crowd.token_key`; Confluence: `JSESSIONID`, `seraph.confluence`, `crowd.token_key`;
//!   plus `upstream.session_cookies`), read from the raw header bytes;
//! - `os_username` / `os_password` and OAuth parameters (`oauth_*`, `xoauth_requestor_id`) in
//!   the query or a form body: Seraph and the OAuth filter read them with `getParameter`,
//!   which merges both.
//!
//! Cookies are read as Tomcat's parsers read them, and wider where they differ, so that
//! authgate never sees less than the product: a header is split on `;` (RFC 6265) and on `,`
//! (Tomcat's RFC 2109 mode after `$Version`), names are trimmed of whitespace and control
//! bytes and compared without regard to case, and bytes that are not ASCII are kept as
//! bytes (a lossy string conversion once hid a whole header). Parameter names are
//! percent-decoded (`+` is a space) and compared without regard to case.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Jira's session and remember-me cookies.
pub const JIRA_SESSION_COOKIES: &[&str] =
    &["JSESSIONID", "seraph.rememberme.cookie", "crowd.token_key"];
/// Confluence's session and remember-me cookies.
pub const CONFLUENCE_SESSION_COOKIES: &[&str] =
    &["JSESSIONID", "seraph.confluence", "crowd.token_key"];
/// Not a credential, but bound to a session: removed with the session cookies for callers
/// authgate authenticated.
const XSRF_COOKIE: &str = "atlassian.xsrf.token";

/// The credential carriers of one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carriers {
    session: Vec<String>,
}

/// What the cookies of a request hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SessionCookies<'a> {
    /// Every `;`-separated piece that carries a session cookie, raw, in client order.
    pub pieces: Vec<&'a [u8]>,
    /// A session cookie name sent more than once (Tomcat would take one of them).
    pub duplicate: Option<String>,
}

/// What the query and form parameters of a request hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params {
    /// `os_username` (decoded), when present.
    pub os_username: Option<String>,
    /// `os_username` or `os_password` is present: a Basic credential.
    pub basic: bool,
    /// An OAuth parameter is present.
    pub oauth: bool,
    /// Another Seraph `os_*` parameter (`os_authType`, `os_cookie`, `os_destination`…) is
    /// present: no credential, but removed with the credentials for callers authgate
    /// authenticated.
    pub seraph: bool,
    /// A credential parameter sent more than once (the product takes the first).
    pub duplicate: Option<String>,
    /// The carrier pairs, raw (still encoded), in order: what an identity lookup sends.
    pub pairs: Vec<String>,
}

impl Params {
    /// True when any credential parameter is present.
    pub fn any(&self) -> bool {
        self.basic || self.oauth || self.seraph
    }
}

impl Carriers {
    /// The product's own cookie names plus `extra` (`upstream.session_cookies`).
    pub fn new(product_cookies: &[&str], extra: &[String]) -> Self {
        let mut session: Vec<String> = product_cookies.iter().map(|s| s.to_string()).collect();
        for e in extra {
            if !session.iter().any(|s| s.eq_ignore_ascii_case(e)) {
                session.push(e.clone());
            }
        }
        Carriers { session }
    }

    /// The session cookie names, for summaries and docs.
    pub fn session_cookie_names(&self) -> &[String] {
        &self.session
    }

    fn is_session(&self, name: &[u8]) -> bool {
        self.session
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    }

    fn carries_session(&self, piece: &[u8]) -> bool {
        piece
            .split(|&b| b == b',')
            .any(|c| self.is_session(name_of(c)))
    }

    /// The session cookies of every `Cookie` header, in client order.
    pub fn session_cookies<'a>(&self, headers: &'a HeaderMap) -> SessionCookies<'a> {
        let mut out = SessionCookies::default();
        let mut seen: Vec<&[u8]> = Vec::new();
        for value in headers.get_all(header::COOKIE) {
            for piece in value.as_bytes().split(|&b| b == b';') {
                if !self.carries_session(piece) {
                    continue;
                }
                out.pieces.push(trim(piece));
                for name in piece.split(|&b| b == b',').map(name_of) {
                    if !self.is_session(name) {
                        continue;
                    }
                    if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                        out.duplicate
                            .get_or_insert_with(|| String::from_utf8_lossy(name).into_owned());
                    } else {
                        seen.push(name);
                    }
                }
            }
        }
        out
    }

    /// True when a `Cookie` header starts with `$Version` (Tomcat then reads it the
    /// RFC 2109 way, where `,` separates cookies too).
    pub fn rfc2109_mode(&self, headers: &HeaderMap) -> bool {
        headers.get_all(header::COOKIE).iter().any(|v| {
            let b = trim(v.as_bytes());
            b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"$version")
        })
    }

    /// True when a `Cookie` header carries a session cookie.
    pub fn has_session_cookie(&self, headers: &HeaderMap) -> bool {
        headers.get_all(header::COOKIE).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b';')
                .any(|p| self.carries_session(p))
        })
    }

    /// Removes every piece of every `Cookie` header that carries a session cookie (and,
    /// with `xsrf`, the XSRF cookie bound to the session); other cookies stay, byte for byte.
    pub fn strip_cookies(&self, headers: &mut HeaderMap, xsrf: bool) {
        let drop = |p: &[u8]| {
            self.carries_session(p)
                || (xsrf
                    && p.split(|&b| b == b',')
                        .any(|c| name_of(c).eq_ignore_ascii_case(XSRF_COOKIE.as_bytes())))
        };
        let touched = headers
            .get_all(header::COOKIE)
            .iter()
            .any(|v| v.as_bytes().split(|&b| b == b';').any(drop));
        if !touched {
            return;
        }
        let kept: Vec<HeaderValue> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| {
                let pieces: Vec<&[u8]> = v
                    .as_bytes()
                    .split(|&b| b == b';')
                    .map(trim)
                    .filter(|p| !p.is_empty() && !drop(p))
                    .collect();
                HeaderValue::from_bytes(&pieces.join(&b"; "[..])).ok()
            })
            .filter(|v| !v.is_empty())
            .collect();
        headers.remove(header::COOKIE);
        for v in kept {
            headers.append(header::COOKIE, v);
        }
    }

    /// Removes every `Set-Cookie` of a session cookie from an answer, so a caller authgate
    /// authenticated never receives a product session it could replay on its own.
    pub fn strip_set_cookie(&self, headers: &mut HeaderMap) {
        let session = |v: &HeaderValue| self.is_session(name_of(v.as_bytes()));
        if !headers.get_all(header::SET_COOKIE).iter().any(session) {
            return;
        }
        let kept: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter(|v| !session(v))
            .cloned()
            .collect();
        headers.remove(header::SET_COOKIE);
        for v in kept {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

/// True when `name` (decoded) is a credential parameter: `os_username`, `os_password`,
/// `oauth_*` or `xoauth_requestor_id`; or another Seraph `os_*` parameter.
fn param_kind(name: &str) -> Option<ParamKind> {
    let is = |want: &str| name.eq_ignore_ascii_case(want);
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if is("os_username") || is("os_password") {
        Some(ParamKind::Basic)
    } else if starts("oauth_") || is("xoauth_requestor_id") {
        Some(ParamKind::OAuth)
    } else if starts("os_") {
        Some(ParamKind::Seraph)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamKind {
    Basic,
    OAuth,
    /// Seraph's other login parameters: not a credential, never looked up with one.
    Seraph,
}

/// A parameter name or value as the servlet container decodes it (`%XX`, `+` is a space).
pub fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The decoded `name=value` pairs of a query string or form body, in order.
pub fn decoded_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Adds the credential parameters of `raw` (a query string or a form body) to `into`.
pub fn scan_params(raw: &str, into: &mut Params) {
    let mut names: Vec<String> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // Most names are plain and cannot be a credential: no decoding (no allocation) then.
        if !k.contains(['%', '+']) && param_kind(k).is_none() {
            continue;
        }
        let name = decode_component(k);
        let Some(kind) = param_kind(&name) else {
            continue;
        };
        if kind == ParamKind::Seraph {
            into.seraph = true;
            continue;
        }
        let lower = name.to_ascii_lowercase();
        match kind {
            ParamKind::Basic => {
                into.basic = true;
                if lower == "os_username" && into.os_username.is_none() {
                    into.os_username = Some(decode_component(v));
                }
            }
            ParamKind::OAuth => into.oauth = true,
            ParamKind::Seraph => {}
        }
        if names.contains(&lower) || into.pairs.iter().any(|p| pair_name(p) == lower) {
            into.duplicate.get_or_insert(lower.clone());
        }
        names.push(lower);
        into.pairs.push(pair.to_string());
    }
}

fn pair_name(pair: &str) -> String {
    decode_component(pair.split_once('=').map_or(pair, |(k, _)| k)).to_ascii_lowercase()
}

/// `raw` (a query string or form body) without its credential parameters; `None` when no
/// parameter is left. Other pairs are kept byte for byte and in order.
pub fn strip_params(raw: &str) -> Option<String> {
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            param_kind(&decode_component(p.split_once('=').map_or(p, |(k, _)| k))).is_none()
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// True when `raw` holds a credential parameter (fast: no allocation unless a name could
/// be one).
pub fn has_credential_params(raw: &str) -> bool {
    let mut p = Params::default();
    scan_params(raw, &mut p);
    p.any()
}

/// True when a `Connection` header names `Authorization` or `Cookie`: hop-by-hop removal
/// would take a credential away after authgate read it.
pub fn connection_names_credential(headers: &HeaderMap) -> Option<HeaderName> {
    headers.get_all(header::CONNECTION).iter().find_map(|v| {
        v.as_bytes().split(|&b| b == b',').find_map(|t| {
            let t = trim(t);
            if t.eq_ignore_ascii_case(b"authorization") {
                Some(header::AUTHORIZATION)
            } else if t.eq_ignore_ascii_case(b"cookie") {
                Some(header::COOKIE)
            } else {
                None
            }
        })
    })
}

/// True when the body is a form the servlet container would read parameters from.
/// Like Tomcat, only the first `Content-Type` counts (the pipeline refuses two).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let b = trim(v.as_bytes());
        let mime = trim(b.split(|&c| c == b';').next().unwrap_or(b""));
        mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

/// The cookie name of a `name=value` piece (or of a `Set-Cookie` value).
fn name_of(piece: &[u8]) -> &[u8] {
    let name = piece.split(|&b| b == b'=').next().unwrap_or(b"");
    trim(name)
}

/// Trims whitespace and control bytes (everything up to and including space, and DEL).
fn trim(b: &[u8]) -> &[u8] {
    let junk = |c: &u8| *c <= b' ' || *c == 0x7f;
    let start = b.iter().position(|c| !junk(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !junk(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests;
