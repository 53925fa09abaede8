//! The stand-in's OAuth 1.0a service provider, as the products' own reads a request through an
//! application link with incoming 2-legged OAuth and impersonation.
//!
//! Owns: [`OAuthLink`] (the link's settings) and [`check`]: parameters gathered from the
//! `Authorization: OAuth` header, the query and (for a POST form) the body; 2-legged only when
//! all six of `oauth_consumer_key`, `oauth_token`, `oauth_signature_method`, `oauth_signature`,
//! `oauth_timestamp`, `oauth_nonce` are present and `oauth_token` is empty; then the consumer
//! key, the method (RSA-SHA1), the version, the ±5 minute window, nonce replay (remembered in
//! memory, per stand-in as per node), the signature over the link's base URL + the raw path, the
//! link's switches, and the user from `getParameter("xoauth_requestor_id")` (query first,
//! then the form; `user_id` as the fallback) resolved by username; a name the product does
//! not know runs the request anonymously. Refusals name an `oauth_problem`, except that
//! impersonation the link does not allow is refused as net.oauth's `sendError` does it: a 401
//! whose challenge echoes the request's `oauth_*` parameters and names no problem.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;

use super::{JiraOptions, RecordedRequest, StandinUser};
use crate::clock::SharedClock;
use crate::oauth1::base;

/// The accepted clock difference (net.oauth's default).
pub const WINDOW: Duration = Duration::from_secs(300);

/// An application link with incoming OAuth.
#[derive(Debug, Clone)]
pub struct OAuthLink {
    /// The consumer key.
    pub consumer_key: String,
    /// The consumer's public key.
    pub public_key: rsa::RsaPublicKey,
    /// The product's own URL as its connector believes it (`scheme://host[:port]`, no path).
    pub base_url: String,
    /// "Allow 2-legged OAuth".
    pub two_legged: bool,
    /// "Allow user impersonation through 2-legged OAuth".
    pub impersonation: bool,
    /// The product's clock.
    pub clock: SharedClock,
}

impl OAuthLink {
    /// A link for `public_key` with both switches on, the system clock, and `base_url`.
    pub fn new(consumer_key: &str, public_key: rsa::RsaPublicKey, base_url: &str) -> Self {
        OAuthLink {
            consumer_key: consumer_key.to_string(),
            public_key,
            base_url: base_url.to_string(),
            two_legged: true,
            impersonation: true,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        }
    }
}

/// Nonces seen, with their timestamps (forgotten once outside the window).
#[derive(Debug, Default)]
pub struct Nonces(Mutex<HashMap<String, u64>>);

/// What the OAuth filter decided.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// Not a 2-legged OAuth request: the other authenticators decide.
    NotOAuth,
    /// Signed correctly, acting as this user (`None`: no requestor, anonymous).
    As(Option<&'a StandinUser>),
    /// Refused with this `oauth_problem`.
    Problem(&'static str),
    /// Refused without a problem, the challenge echoing the request's `oauth_*` parameters.
    Echo,
}

/// Decides a request as the product's OAuth filter does.
pub fn check<'a>(options: &'a JiraOptions, nonces: &Nonces, req: &RecordedRequest) -> Verdict<'a> {
    let header = header_params(req);
    let query = req.target.split_once('?').map_or("", |(_, q)| q);
    let query_params = base::servlet_params(query);
    let body_params = if req.method == http::Method::POST && crate::carriers::is_form(&req.headers)
    {
        base::servlet_params(&String::from_utf8_lossy(&req.body))
    } else {
        Vec::new()
    };
    // net.oauth leaves `realm` out of the header's parameters only.
    let all: Vec<(String, String)> = header
        .iter()
        .filter(|(k, _)| k != "realm")
        .chain(&query_params)
        .chain(&body_params)
        .cloned()
        .collect();
    let get = |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let required = [
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_signature",
        "oauth_timestamp",
        "oauth_nonce",
    ];
    if required.iter().any(|k| get(k).is_none()) {
        return Verdict::NotOAuth;
    }
    if get("oauth_token") != Some("") {
        // 3-legged: the stand-in issues no access tokens.
        return Verdict::Problem("token_rejected");
    }
    let Some(link) = options.oauth1.as_ref() else {
        return Verdict::Problem("consumer_key_unknown");
    };
    if get("oauth_consumer_key") != Some(link.consumer_key.as_str()) {
        return Verdict::Problem("consumer_key_unknown");
    }
    if get("oauth_signature_method") != Some("RSA-SHA1") {
        return Verdict::Problem("signature_method_rejected");
    }
    if get("oauth_version").is_some_and(|v| v != "1.0") {
        return Verdict::Problem("version_rejected");
    }
    let now = link
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Some(ts) = get("oauth_timestamp").and_then(|t| t.parse::<u64>().ok()) else {
        return Verdict::Problem("timestamp_refused");
    };
    if ts.abs_diff(now) > WINDOW.as_secs() {
        return Verdict::Problem("timestamp_refused");
    }
    let nonce = get("oauth_nonce").unwrap_or_default().to_string();
    {
        let mut seen = nonces.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, t| t.abs_diff(now) <= WINDOW.as_secs());
        if seen.insert(nonce, ts).is_some() {
            return Verdict::Problem("nonce_used");
        }
    }
    let signed: Vec<(String, String)> = all
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .cloned()
        .collect();
    let uri = format!("{}{}", link.base_url, req.path());
    let text = base::base_string(req.method.as_str(), &uri, &signed);
    let verified = base64::engine::general_purpose::STANDARD
        .decode(get("oauth_signature").unwrap_or_default())
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok())
        .is_some_and(|s| {
            VerifyingKey::<sha1::Sha1>::new(link.public_key.clone())
                .verify(text.as_bytes(), &s)
                .is_ok()
        });
    if !verified {
        return Verdict::Problem("signature_invalid");
    }
    if !link.two_legged {
        return Verdict::Problem("permission_denied");
    }
    // getParameter: the query's first value, then the form's; never the header.
    let param = |name: &str| {
        query_params
            .iter()
            .chain(&body_params)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(requestor) = param("xoauth_requestor_id").or_else(|| param("user_id")) else {
        return Verdict::As(None);
    };
    if !link.impersonation {
        return Verdict::Echo;
    }
    // Resolved as a username (not an e-mail address, not a user key), any letter case; a
    // name the product does not know runs the request as nobody.
    Verdict::As(
        options
            .users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&requestor)),
    )
}

/// The parameters of an `Authorization: OAuth …` header, decoded (`realm` included; it is
/// never signed).
fn header_params(req: &RecordedRequest) -> Vec<(String, String)> {
    let Some(v) = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Vec::new();
    };
    let v = v.trim_start();
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case("oauth ") {
        return Vec::new();
    }
    v[6..]
        .split(',')
        .filter_map(|p| {
            let (k, val) = p.split_once('=')?;
            let val = val.trim().trim_matches('"');
            Some((
                k.trim().to_string(),
                percent_encoding::percent_decode_str(val)
                    .decode_utf8_lossy()
                    .into_owned(),
            ))
        })
        .collect()
}

/// `WWW-Authenticate` of a refusal, as the products send it: naming `problem`, or (`None`)
/// echoing the request's own `oauth_*` header parameters.
pub fn challenge(options: &JiraOptions, problem: Option<&str>, req: &RecordedRequest) -> String {
    let realm = options
        .oauth1
        .as_ref()
        .map(|l| base::encode(&l.base_url))
        .unwrap_or_default();
    match problem {
        Some(p) => format!("OAuth realm=\"{realm}\", oauth_problem=\"{p}\""),
        None => {
            let echo: Vec<String> = header_params(req)
                .iter()
                .filter(|(k, _)| k.starts_with("oauth_"))
                .map(|(k, v)| format!("{k}=\"{}\"", base::encode(v)))
                .collect();
            format!("OAuth realm=\"{realm}\", {}", echo.join(", "))
        }
    }
}
