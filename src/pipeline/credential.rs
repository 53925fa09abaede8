//! Stage 5, `credential`: what the caller presented, and what the global switches make of it.
//!
//! Owns: classifying `Authorization` and the product's session cookies in the order of
//! docs/http.md step 5 (Basic · `Bearer gw_…` · Bearer JWT · Bearer PAT · other Bearer ·
//! session cookie · none) and applying `disable_basic`, `gateway_tokens`, `allow_pat`,
//! `allow_native_oauth`, `allow_session_cookies`, `require_authentication` and
//! `public_restricted`. Which parts of a request carry a credential is `carriers`' word
//! (cookies from raw bytes, `os_username` / `os_password` and OAuth parameters in the query or
//! a form body); this stage refuses what the product could read differently from authgate (two
//! session cookies of one name, a `Connection` header naming `Authorization` or `Cookie`, a
//! credential parameter sent twice) and counts `os_username`/`os_password` as Basic. Checking a
//! token is the `authn` stage's job.

use base64::Engine;
use http::{header, HeaderMap};

use crate::carriers::{self, Carriers, Params};
use crate::config::AuthSwitches;
use crate::reject::{Reason, Rejection};
pub use crate::request::Credential;

/// Bearer tokens longer than this are refused without parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What step 5 decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialDecision {
    /// authgate checks this bearer token (JWT, gateway token, or opaque via introspection).
    Authenticate(Credential),
    /// The product checks the caller's own credential; it goes through untouched.
    PassThrough(Credential),
    /// No credential, and anonymous access is allowed here.
    Anonymous,
}

/// `^[MNO][A-Za-z0-9+/]{43}$`
pub fn is_pat(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 44
        && matches!(b[0], b'M' | b'N' | b'O')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Three base64url parts (the signature may be empty: a stripped token is still a JWT and
/// is refused by validation, not passed to the product).
///
/// Every bearer token on the request path goes through here, so it is written to let the
/// compiler check 32 bytes at a time: no early exit inside a block, range compares instead
/// of a lookup per byte (a 640-byte RS256 token took ~0.45 µs byte by byte).
pub fn is_jwt(t: &str) -> bool {
    let b = t.as_bytes();
    let clean = b.chunks(32).all(|block| {
        block
            .iter()
            .fold(true, |ok, &c| ok & (is_b64url_byte(c) | (c == b'.')))
    });
    if !clean || b.iter().filter(|&&c| c == b'.').count() != 2 {
        return false;
    }
    // Exactly two dots: the header and the payload must not be empty.
    let first = b.iter().position(|&c| c == b'.').unwrap_or(0);
    first > 0 && b.get(first + 1).is_some_and(|&c| c != b'.')
}

/// `[A-Za-z0-9_-]`, without branches.
fn is_b64url_byte(c: u8) -> bool {
    (c.wrapping_sub(b'a') < 26)
        | (c.wrapping_sub(b'A') < 26)
        | (c.wrapping_sub(b'0') < 10)
        | (c == b'-')
        | (c == b'_')
}

/// Reads `Authorization`, the session cookies and the credential parameters (the first half
/// of step 5). `params` holds what the query and a form body carry.
pub fn classify(
    headers: &HeaderMap,
    carriers: &Carriers,
    params: &Params,
) -> Result<Credential, Rejection> {
    if let Some(name) = carriers::connection_names_credential(headers) {
        return Err(Rejection::new(Reason::MalformedRequest).detail(format!(
            "Connection names {name}: the product would not see it"
        )));
    }
    let cookies = carriers.session_cookies(headers);
    if let Some(name) = cookies.duplicate {
        return Err(Rejection::new(Reason::MalformedRequest)
            .detail(format!("two `{}` cookies", name.escape_default())));
    }
    if let Some(name) = &params.duplicate {
        return Err(Rejection::new(Reason::MalformedRequest).detail(format!(
            "the parameter `{}` sent twice",
            name.escape_default()
        )));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        if params.basic && !cookies.pieces.is_empty() {
            return Err(beside_another("a session cookie"));
        }
        return Ok(if params.basic {
            // Seraph logs the caller in from these parameters: the same credential as Basic.
            Credential::Basic {
                username: params.os_username.clone().unwrap_or_default(),
            }
        } else if !cookies.pieces.is_empty() {
            Credential::Session
        } else {
            Credential::None
        });
    };
    if values.next().is_some() {
        return Err(Rejection::new(Reason::MalformedRequest).detail("two Authorization headers"));
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::new(Reason::MalformedToken).detail("Authorization is not ASCII"))?;
    let (scheme, rest) = match value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest.trim()),
        // A bare scheme is an empty credential of that scheme.
        None if value.eq_ignore_ascii_case("bearer") || value.eq_ignore_ascii_case("basic") => {
            (value, "")
        }
        // A pasted raw token, or a scheme glued to its value by a tab: never logged.
        None => {
            return Err(Rejection::new(Reason::UnsupportedScheme)
                .detail("Authorization has no scheme followed by a space"))
        }
    };
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Rejection::new(Reason::MalformedToken).detail("Basic value is not base64 of UTF-8")
            })?;
        let username = decoded
            .split_once(':')
            .map(|(u, _)| u.to_string())
            .ok_or_else(|| {
                Rejection::new(Reason::MalformedToken).detail("Basic value has no `:`")
            })?;
        if params.basic {
            return Err(beside_another("Authorization"));
        }
        return Ok(Credential::Basic { username });
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Only something shaped like a scheme is named; anything else may be a secret.
        let shaped = scheme.len() <= 20
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        return Err(Rejection::new(Reason::UnsupportedScheme).detail(if shaped {
            format!("scheme `{scheme}`")
        } else {
            "Authorization value with no recognisable scheme".to_string()
        }));
    }
    if rest.is_empty() {
        return Err(Rejection::new(Reason::MalformedToken).detail("empty Bearer"));
    }
    if rest.len() > MAX_TOKEN_BYTES {
        return Err(
            Rejection::new(Reason::MalformedToken).detail(format!("token of {} bytes", rest.len()))
        );
    }
    let token = rest.to_string();
    let class = if token.starts_with("gw_") {
        Credential::GatewayToken(token)
    } else if is_jwt(&token) {
        Credential::Jwt(token)
    } else if is_pat(&token) {
        Credential::Pat(token)
    } else {
        Credential::Opaque(token)
    };
    // Beside a token authgate checks, the parameters are removed before forwarding; beside
    // one the product checks, which of the two it acts on is the product's choice.
    if params.basic && !matches!(class, Credential::GatewayToken(_) | Credential::Jwt(_)) {
        return Err(beside_another("Authorization"));
    }
    Ok(class)
}

/// `os_username`/`os_password` beside another product credential: the identity looked up
/// and the one the product acts on could differ, so the request is refused.
fn beside_another(what: &str) -> Rejection {
    Rejection::new(Reason::MalformedRequest)
        .detail(format!("os_username/os_password beside {what}"))
}

/// Applies the global switches (the second half of step 5). `restricted` is true when the
/// path matches `public_restricted`; `has_introspection` when an introspection provider exists;
/// `params` are the credential parameters of the query and form body. Credential parameters
/// ride along only with a caller authgate authenticates (they are removed before forwarding):
/// beside any other credential, `os_username`/`os_password` obey `disable_basic` and OAuth
/// parameters are refused like the `OAuth` scheme.
pub fn decide(
    credential: Credential,
    switches: &AuthSwitches,
    restricted: bool,
    has_introspection: bool,
    params: &Params,
) -> Result<CredentialDecision, Rejection> {
    let decision = decide_class(credential, switches, restricted, has_introspection)?;
    if !matches!(decision, CredentialDecision::Authenticate(_)) {
        if params.oauth {
            return Err(Rejection::new(Reason::UnsupportedScheme)
                .detail("OAuth parameters in the query or form body"));
        }
        if params.basic && switches.disable_basic {
            return Err(Rejection::new(Reason::BasicDisabled)
                .detail("os_username/os_password in the query or form body"));
        }
    }
    Ok(decision)
}

fn decide_class(
    credential: Credential,
    switches: &AuthSwitches,
    restricted: bool,
    has_introspection: bool,
) -> Result<CredentialDecision, Rejection> {
    match credential {
        Credential::Basic { .. } if switches.disable_basic => {
            Err(Rejection::new(Reason::BasicDisabled))
        }
        Credential::Basic { .. } => Ok(CredentialDecision::PassThrough(credential)),
        Credential::GatewayToken(_) if !switches.gateway_tokens => {
            Err(Rejection::new(Reason::UnknownToken).detail("gateway_tokens is off"))
        }
        Credential::GatewayToken(_) | Credential::Jwt(_) => {
            Ok(CredentialDecision::Authenticate(credential))
        }
        Credential::Pat(_) if !switches.allow_pat => Err(Rejection::new(Reason::PatDisabled)),
        Credential::Pat(_) => Ok(CredentialDecision::PassThrough(credential)),
        Credential::Opaque(_) if has_introspection => {
            Ok(CredentialDecision::Authenticate(credential))
        }
        Credential::Opaque(_) if switches.allow_native_oauth => {
            Ok(CredentialDecision::PassThrough(credential))
        }
        Credential::Opaque(_) => {
            Err(Rejection::new(Reason::UnknownToken).detail("opaque bearer token"))
        }
        Credential::Session if switches.allow_session_cookies => {
            Ok(CredentialDecision::PassThrough(credential))
        }
        // With session cookies off the cookies are stripped before forwarding and the caller
        // is anonymous.
        Credential::Session | Credential::None => {
            if switches.require_authentication || restricted {
                Err(Rejection::new(Reason::CredentialRequired))
            } else {
                Ok(CredentialDecision::Anonymous)
            }
        }
    }
}

#[cfg(test)]
mod tests;
