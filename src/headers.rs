//! Header rewriting towards the product (docs/http.md#what-reaches-the-product) and back to the
//! client.
//!
//! Owns: hop-by-hop removal (with the names listed in `Connection`, which can never remove
//! a header authgate sets because those are set afterwards), identity-header stripping in
//! every case and `_`/`-` spelling, the `X-Forwarded-*` and `X-Request-Id` headers, and
//! removing the caller's credentials when authgate authenticated the caller.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::carriers::Carriers;

/// Hop-by-hop headers (RFC 9110 §7.6.1 and the usual non-standard ones), parsed once.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The headers authgate sets on every forwarded request (the client's copies go first).
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = header::FORWARDED;
/// The request id header, on the forwarded request and on the answer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// True when `name` is `identity` spelled with any case and `_` or `-`.
pub fn is_identity_variant(name: &HeaderName, identity: &HeaderName) -> bool {
    let a = name.as_str().as_bytes();
    let b = identity.as_str().as_bytes();
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let x = if *x == b'_' { b'-' } else { *x };
            let y = if *y == b'_' { b'-' } else { *y };
            x == y
        })
}

/// Removes hop-by-hop headers and those `Connection` names. Keeps one framing: when
/// `Transfer-Encoding` is present, `Content-Length` goes too and the client re-frames.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut named: Vec<HeaderName> = Vec::new();
    for v in headers.get_all(header::CONNECTION) {
        if let Ok(s) = v.to_str() {
            // `HeaderName::from_bytes` folds case itself.
            named.extend(
                s.split(',')
                    .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok()),
            );
        }
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
    for n in named {
        headers.remove(n);
    }
}

/// Removes every copy of the identity header, whatever its spelling.
pub fn strip_identity(headers: &mut HeaderMap, identity: &HeaderName) {
    // Fast path: the exact name (the usual case) needs no scan.
    headers.remove(identity);
    let needs_scan = headers.keys().any(|k| is_identity_variant(k, identity));
    if needs_scan {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|k| is_identity_variant(k, identity))
            .cloned()
            .collect();
        for n in names {
            headers.remove(n);
        }
    }
}

/// Sets `X-Forwarded-For` (client chain + the peer when the peer is a trusted proxy, else
/// just the peer), `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id`.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer_trusted: bool,
    peer: std::net::IpAddr,
    proto: &'static str,
    host: Option<HeaderValue>,
    request_id: &str,
) {
    let peer = peer.to_canonical().to_string();
    let xff = if peer_trusted {
        let prior: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if prior.is_empty() {
            peer
        } else {
            format!("{}, {peer}", prior.join(", "))
        }
    } else {
        peer
    };
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(&X_FORWARDED_PROTO);
    headers.remove(&X_FORWARDED_HOST);
    headers.remove(&FORWARDED);
    // `try_from(String)` takes the buffer over instead of copying it.
    if let Ok(v) = HeaderValue::try_from(xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = host {
        headers.insert(X_FORWARDED_HOST, h);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, v);
    }
}

/// What the rewrite does with the caller's credentials and identity
/// (docs/http.md#what-reaches-the-product).
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// Pass-through, bypass, non-API: credentials untouched, no identity header.
    Untouched,
    /// Anonymous or pass-through with `allow_session_cookies = false`: the product's
    /// session cookies go, nothing else changes.
    StripSessionCookies,
    /// Authenticated by authgate: `Authorization` and session cookies go; in `header` and
    /// `service_account` mode the identity header names `username` (and `Authorization` is
    /// the service account's); in `oauth1` mode the signature is added by the forwarder,
    /// which owns the query.
    Authenticated {
        /// The principal's username.
        username: &'a str,
        /// What the identity hand-off puts in the head (`upstream_identity`).
        identity: IdentityHeader<'a>,
    },
}

/// What the head of an authenticated caller's request carries for the product.
#[derive(Debug, Clone, Copy)]
pub enum IdentityHeader<'a> {
    /// `header` and `service_account` modes: the identity header names the user; with a
    /// service account, `Authorization` is its value.
    Named {
        /// `service_account` mode: the whole `Authorization` value.
        authorization: Option<&'a HeaderValue>,
    },
    /// `oauth1` mode: no identity header (the request is signed by the forwarder).
    Omitted,
}

/// Where the request came from, for `X-Forwarded-*` and `X-Request-Id`.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The TCP peer.
    pub peer: std::net::IpAddr,
    /// True when the peer is a trusted proxy (its `X-Forwarded-For` is kept and extended).
    pub peer_trusted: bool,
    /// `http` or `https`, as the client spoke to authgate.
    pub proto: &'static str,
    /// The request id put on the forwarded request.
    pub request_id: &'a str,
    /// The authority of an HTTP/2 request (used when there is no `Host`).
    pub authority: Option<&'a str>,
}

/// Why a request head cannot be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// The username is not a valid header value.
    UsernameInvalid,
}

/// The whole request-head rewrite towards the product, in order: `Host` is taken out (it
/// becomes `X-Forwarded-Host`; the client re-sets `Host` for the upstream); hop-by-hop (and
/// the headers `Connection` names), so nothing set afterwards can be removed by the client;
/// every spelling of the identity header; `X-Forwarded-*` and `X-Request-Id`; then the
/// caller's credentials and identity.
pub fn rewrite_request(
    headers: &mut HeaderMap,
    identity: &HeaderName,
    carriers: &Carriers,
    caller: Caller<'_>,
    origin: Origin<'_>,
) -> Result<(), RewriteError> {
    let host = headers
        .remove(header::HOST)
        .or_else(|| origin.authority.and_then(|a| HeaderValue::from_str(a).ok()));
    strip_hop_by_hop(headers);
    strip_identity(headers, identity);
    set_forwarded(
        headers,
        origin.peer_trusted,
        origin.peer,
        origin.proto,
        host,
        origin.request_id,
    );
    match caller {
        Caller::Untouched => {}
        Caller::StripSessionCookies => carriers.strip_cookies(headers, true),
        Caller::Authenticated {
            username,
            identity: hand_off,
        } => {
            headers.remove(header::AUTHORIZATION);
            carriers.strip_cookies(headers, true);
            match hand_off {
                IdentityHeader::Named { authorization } => {
                    let user = HeaderValue::from_str(username)
                        .map_err(|_| RewriteError::UsernameInvalid)?;
                    if let Some(auth) = authorization {
                        headers.insert(header::AUTHORIZATION, auth.clone());
                    }
                    headers.insert(identity.clone(), user);
                }
                IdentityHeader::Omitted => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_variants_all_go() {
        let id = HeaderName::from_static("x-forwarded-user");
        let mut h = HeaderMap::new();
        for n in [
            "x-forwarded-user",
            "X-FORWARDED-USER",
            "x_forwarded_user",
            "X_Forwarded-User",
        ] {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("admin"),
            );
        }
        h.insert("x-forwarded-userx", HeaderValue::from_static("keep"));
        strip_identity(&mut h, &id);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-forwarded-userx"));
    }

    #[test]
    fn connection_cannot_remove_what_authgate_sets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, X-Forwarded-For, x-foo"),
        );
        h.insert("x-foo", HeaderValue::from_static("1"));
        h.insert("x-bar", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        set_forwarded(
            &mut h,
            false,
            "127.0.0.1".parse().unwrap(),
            "http",
            None,
            "rid",
        );
        assert!(!h.contains_key("x-foo"));
        assert!(h.contains_key("x-bar"));
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    }

    #[test]
    fn one_framing_when_both_are_sent() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        strip_hop_by_hop(&mut h);
        assert!(!h.contains_key(header::CONTENT_LENGTH));
        assert!(!h.contains_key(header::TRANSFER_ENCODING));
    }

    #[test]
    fn xff_from_untrusted_peer_is_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        set_forwarded(
            &mut h,
            false,
            "127.0.0.9".parse().unwrap(),
            "http",
            None,
            "r",
        );
        assert_eq!(h["x-forwarded-for"], "127.0.0.9");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        set_forwarded(
            &mut h,
            true,
            "127.0.0.3".parse().unwrap(),
            "http",
            None,
            "r",
        );
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 127.0.0.3");
    }
}
