//! Stage 1, `path`: the method check and the one canonical form of the request path.
//!
//! Owns: refusing every path shape that Tomcat (which Jira and Confluence embed) could read
//! differently from us — `;`, encoded `/` `\` NUL `%`, dot segments, `//`, `${`, WEB-INF — and
//! producing the canonical string that rules are matched on AND that is forwarded, so what was
//! authorized is exactly what the product dispatches
//! (docs/product-notes.md#tomcat-path-handling). Escapes of bytes a path segment may hold
//! literally (RFC 3986 `pchar`: unreserved, sub-delims, `:` and `@`) are decoded, so every
//! spelling Tomcat reads as the same path has one canonical form here too (`/a%40b` is `/a@b`,
//! and a rule naming `/a@b` matches both); every other escape is kept, with upper-case hex.

use http::{Method, Uri, Version};

use crate::reject::{Reason, Rejection};

/// Longest request target accepted (path and query); longer -> 414.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// The canonical path, and where the API-relative part starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// What is forwarded (context path included).
    pub full: String,
    /// Byte offset in `full` after the context path; `None` when the path is outside it.
    rel_start: Option<usize>,
}

/// The suffixes Atlassian REST takes off the last segment of a `/rest/…` path before it
/// dispatches (it turns them into an `Accept` type): `/rest/api/2/user.json` is `/rest/api/2/user`.
pub const REST_SUFFIXES: &[&str] = &["json", "xml", "txt", "htm", "html", "atom"];

impl CanonicalPath {
    /// The path rules are matched on: the resource the product dispatches to. That is
    /// `full` without the context path and, on `/rest/…`, without a [`REST_SUFFIXES`]
    /// suffix on the last segment (any case; a trailing `/` after it goes too). `None` when
    /// the request is outside the context path (a non-API path).
    pub fn relative(&self) -> Option<&str> {
        self.rel_start.map(|i| {
            let r = &self.full[i..];
            if r.is_empty() {
                "/"
            } else {
                rest_resource(r)
            }
        })
    }
}

/// The paths the product's resource rewrite (`^/s/(.*)/_/(.*)`, any case) would serve for `relative`:
/// one per `/_/` after a leading `/s/` (the product's greedy match takes the last; every
/// one is offered, so no reading of the pattern is missed), each as `/<target>` with its
/// REST suffix removed.
pub fn s_alias_targets(relative: &str) -> impl Iterator<Item = &str> {
    // Confluence's rewrite rule matches without regard to case (`/S/…/_/`).
    let rest = match relative.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("/s/") => &relative[3..],
        _ => "",
    };
    rest.match_indices("/_/")
        .map(move |(i, _)| rest_resource(&rest[i + 2..]))
}

/// `path` without a REST suffix on its last segment (see [`CanonicalPath::relative`]).
pub fn rest_resource(path: &str) -> &str {
    if !path.starts_with("/rest/") {
        return path;
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let last_start = trimmed.rfind('/').map_or(0, |i| i + 1);
    let last = &trimmed[last_start..];
    match last.rfind('.') {
        // A segment that is only the suffix (`/issue/.json`) goes whole: the product strips
        // it the same way and dispatches to `/issue/`.
        Some(dot)
            if REST_SUFFIXES
                .iter()
                .any(|s| last[dot + 1..].eq_ignore_ascii_case(s)) =>
        {
            &trimmed[..last_start + dot]
        }
        _ => path,
    }
}

/// Methods no one may use through authgate.
pub fn check_method(method: &Method) -> Result<(), Rejection> {
    match method.as_str() {
        "TRACE" | "TRACK" | "CONNECT" => Err(Rejection::new(Reason::MethodNotAllowed)
            .detail(format!("method {method} is never allowed"))),
        _ => Ok(()),
    }
}

fn bad(detail: &str) -> Rejection {
    Rejection::new(Reason::BadPath).detail(detail.to_string())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// True for a byte that means the same in a path segment escaped or not: unreserved,
/// sub-delims other than `;` (refused anyway), `:` and `@`.
fn is_literal_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// Canonicalizes the request target of `uri` (see the module doc), with `context_path`
/// (`""` or `"/jira"`) removed once for [`CanonicalPath::relative`].
pub fn canonicalize(
    method: &Method,
    uri: &Uri,
    version: Version,
    context_path: &str,
) -> Result<CanonicalPath, Rejection> {
    // HTTP/2 always carries scheme and authority; in HTTP/1 they mean absolute-form.
    if version < Version::HTTP_2 && (uri.scheme().is_some() || uri.authority().is_some()) {
        return Err(bad("absolute-form request target"));
    }
    let raw = uri.path();
    if raw == "*" {
        return Err(bad(if method == Method::OPTIONS {
            "OPTIONS *"
        } else {
            "asterisk-form target"
        }));
    }
    let target_len = raw.len() + uri.query().map_or(0, |q| q.len() + 1);
    if target_len > MAX_TARGET_BYTES {
        return Err(
            Rejection::new(Reason::TargetTooLong).detail(format!("target of {target_len} bytes"))
        );
    }
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(bad("path does not start with /"));
    }
    // `out` is the canonical (still percent-encoded) form; `decoded` is the fully decoded
    // form of the current segment, used for the checks that must see through escapes.
    let mut out = String::with_capacity(raw.len());
    let mut decoded: Vec<u8> = Vec::with_capacity(64);
    let mut all_decoded: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i <= bytes.len() {
        let b = bytes.get(i).copied();
        if b.is_none() || b == Some(b'/') {
            // End of a segment (the first `/` opens the first one).
            if i > 0 {
                check_segment(&decoded)?;
            }
            decoded.clear();
            if let Some(b) = b {
                if bytes.get(i + 1) == Some(&b'/') {
                    return Err(bad("empty segment (//)"));
                }
                out.push(b as char);
                all_decoded.push(b);
            }
            i += 1;
            continue;
        }
        let b = b.expect("checked above");
        let (byte, encoded) = if b == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(bad("invalid percent-escape"));
            };
            i += 3;
            (h << 4 | l, true)
        } else {
            i += 1;
            (b, false)
        };
        match byte {
            b';' => return Err(bad("`;` in path")),
            b'\\' => return Err(bad("backslash in path")),
            0..=0x1f | 0x7f => return Err(bad("control byte in path")),
            b'/' if encoded => return Err(bad("encoded `/` in path")),
            b'%' if encoded => return Err(bad("encoded `%` in path")),
            _ => {}
        }
        if encoded && !is_literal_pchar(byte) {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(byte >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(byte & 15) as usize]));
        } else if byte.is_ascii() {
            out.push(byte as char);
        } else {
            // A raw non-ASCII byte cannot come through `http::Uri`; encode it to be sure.
            out.push_str(&format!("%{byte:02X}"));
        }
        decoded.push(byte);
        all_decoded.push(byte);
    }
    if std::str::from_utf8(&all_decoded).is_err() {
        return Err(bad("path is not valid UTF-8"));
    }
    if all_decoded.windows(2).any(|w| w == b"${") {
        return Err(bad("`${` in path"));
    }
    let rel_start = if context_path.is_empty() {
        Some(0)
    } else if out == context_path {
        Some(out.len())
    } else if out.starts_with(context_path) && out.as_bytes()[context_path.len()] == b'/' {
        Some(context_path.len())
    } else {
        None
    };
    Ok(CanonicalPath {
        full: out,
        rel_start,
    })
}

fn check_segment(seg: &[u8]) -> Result<(), Rejection> {
    if seg == b"." || seg == b".." {
        return Err(bad("dot segment in path"));
    }
    if seg.eq_ignore_ascii_case(b"WEB-INF") || seg.eq_ignore_ascii_case(b"META-INF") {
        return Err(bad("WEB-INF/META-INF segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
