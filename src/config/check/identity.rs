//! `[upstream.identity]`: the identity header, and the hand-off mode with the keys each mode
//! needs (`authorization` for `service_account`; `consumer_key`, `private_key_file` and
//! `base_url` for `oauth1`). A key given to a mode that does not read it is an error, so a
//! half-changed mode is never silently ignored. The `oauth1` key file itself is read when
//! the gateway is built and by `check-config` (`oauth1::key`).

use std::path::Path;

use http::HeaderName;

use super::super::raw::RawIdentity;
use super::super::{ConfigErrors, IdentityMode, IdentitySettings, OAuth1Settings, Secret};
use super::{file_path, is_loopback_host};

/// Checks `r`; `url` is `upstream.url` when it was valid (the default `base_url`).
pub(super) fn check_identity(
    r: &RawIdentity,
    url: Option<&http::Uri>,
    base: &Path,
    e: &mut ConfigErrors,
    warnings: &mut Vec<String>,
) -> Option<IdentitySettings> {
    let n = e.0.len();
    let header = match HeaderName::from_bytes(r.header.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            e.push(
                "upstream.identity.header",
                format!("`{}` is not a valid header name", r.header),
            );
            None
        }
    };
    if let Some(h) = &header {
        if is_reserved_header(h) {
            e.push(
                "upstream.identity.header",
                format!("`{h}` is a header authgate or HTTP itself manages; pick a dedicated one such as X-Forwarded-User"),
            );
        }
    }
    let mode_keys: [(&str, bool, &str); 4] = [
        (
            "authorization",
            r.authorization.is_some(),
            "service_account",
        ),
        ("consumer_key", r.consumer_key.is_some(), "oauth1"),
        ("private_key_file", r.private_key_file.is_some(), "oauth1"),
        ("base_url", r.base_url.is_some(), "oauth1"),
    ];
    for (key, given, owner) in mode_keys {
        if given
            && r.mode != owner
            && matches!(r.mode.as_str(), "header" | "service_account" | "oauth1")
        {
            e.push(
                format!("upstream.identity.{key}"),
                format!("applies only to mode = \"{owner}\"; remove it or change the mode"),
            );
        }
    }
    let mode = match r.mode.as_str() {
        "header" => Some(IdentityMode::Header),
        "service_account" => match &r.authorization {
            Some(a) if !a.trim().is_empty() => {
                if http::HeaderValue::from_str(a).is_err() {
                    e.push(
                        "upstream.identity.authorization",
                        "is not a valid header value",
                    );
                    None
                } else {
                    Some(IdentityMode::ServiceAccount(Secret::new(a.clone())))
                }
            }
            _ => {
                e.push(
                    "upstream.identity.authorization",
                    "is required for mode = \"service_account\" (a whole Authorization value, e.g. \"Basic …\")",
                );
                None
            }
        },
        "oauth1" => check_oauth1(r, url, base, e).map(IdentityMode::OAuth1),
        other => {
            e.push(
                "upstream.identity.mode",
                format!(
                    "`{other}` is not a mode; use \"header\", \"service_account\" or \"oauth1\""
                ),
            );
            None
        }
    };
    if let (Some(u), Some(IdentityMode::Header)) = (url, &mode) {
        let host = u
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        if !is_loopback_host(host) {
            warnings.push(format!(
                "upstream.identity.mode = \"header\" with upstream {host}: the product trusts the identity header, so it must be reachable only through authgate (firewall it)"
            ));
        }
    }
    if e.0.len() > n {
        return None;
    }
    Some(IdentitySettings {
        mode: mode?,
        header: header?,
    })
}

fn check_oauth1(
    r: &RawIdentity,
    url: Option<&http::Uri>,
    base: &Path,
    e: &mut ConfigErrors,
) -> Option<OAuth1Settings> {
    let consumer_key = match r.consumer_key.as_deref() {
        Some(k) if !k.trim().is_empty() && k.len() <= 255 && !k.chars().any(char::is_control) => {
            Some(k.to_string())
        }
        Some(_) => {
            e.push(
                "upstream.identity.consumer_key",
                "must be 1 to 255 characters without control characters",
            );
            None
        }
        None => {
            e.push(
                "upstream.identity.consumer_key",
                "is required for mode = \"oauth1\" (the consumer key of the application link's incoming authentication)",
            );
            None
        }
    };
    let private_key_file = match r.private_key_file.as_deref() {
        Some(f) if !f.trim().is_empty() => Some(file_path(base, f)),
        _ => {
            e.push(
                "upstream.identity.private_key_file",
                "is required for mode = \"oauth1\" (an RSA key of at least 2048 bits; `authgate applink --generate-key` makes one)",
            );
            None
        }
    };
    let base_url = match (r.base_url.as_deref(), url) {
        (Some(b), _) => match normalize_base_url(b) {
            Ok(b) => Some(b),
            Err(msg) => {
                e.push("upstream.identity.base_url", msg);
                None
            }
        },
        (None, Some(u)) => {
            let scheme = u.scheme_str().unwrap_or("http");
            let authority = u.authority().map(|a| a.as_str()).unwrap_or("");
            normalize_base_url(&format!("{scheme}://{authority}")).ok()
        }
        // upstream.url has its own error.
        (None, None) => None,
    };
    Some(OAuth1Settings {
        consumer_key: consumer_key?,
        private_key_file: private_key_file?,
        base_url: base_url?,
    })
}

/// Headers that may never be the identity header.
fn is_reserved_header(h: &HeaderName) -> bool {
    matches!(
        h.as_str(),
        "authorization"
            | "cookie"
            | "host"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-request-id"
            | "te"
            | "upgrade"
    )
}

/// Checks `upstream.identity.base_url`: `scheme://host[:port]`, http or https, nothing
/// else; returns its RFC 5849 §3.4.1.2 form (lower-case scheme and host, default port
/// dropped).
pub(crate) fn normalize_base_url(raw: &str) -> Result<String, String> {
    let uri: http::Uri = raw
        .parse()
        .map_err(|_| format!("`{raw}` is not a URL; use scheme://host[:port]"))?;
    let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(format!("`{raw}` must start with http:// or https://")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{raw}` has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("`{raw}` must not carry user information"));
    }
    let rest = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    if !(rest.is_empty() || rest == "/") || raw.ends_with('?') || raw.contains('#') {
        return Err(format!(
            "`{raw}` must be scheme://host[:port] only; the context path goes in upstream.context_path"
        ));
    }
    let host = authority.host().to_ascii_lowercase();
    let default = if scheme == "https" { 443 } else { 80 };
    Ok(match authority.port_u16() {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_base_url;

    #[test]
    fn base_url_is_scheme_host_and_port_only() {
        assert_eq!(
            normalize_base_url("HTTPS://Jira.Example.com:443").unwrap(),
            "https://jira.example.com"
        );
        assert_eq!(
            normalize_base_url("http://jira:8080/").unwrap(),
            "http://jira:8080"
        );
        for bad in [
            "jira.example.com",
            "ftp://jira",
            "https://jira/jira",
            "https://u:p@jira",
            "https://jira?x=1",
            "https://jira/#f",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }
}
