//! Stage 7, `authz`: may this principal make this call? (allowed and read-only groups)
//!
//! Owns: [`Authz`] and [`Permitted`], the only way to turn a `Principal` into something the
//! forwarder accepts. Input: a principal whose groups are already resolved (`groups` or
//! `passthrough`), the wire method, the canonical path relative to the context path, the
//! request headers and the raw query. Rules (docs/http.md step 7):
//!
//! - `allowed_groups` non-empty: the caller must be in one, else 403 `group_denied`.
//! - read-only callers (in a `read_only_groups` group, even if also in an allowed group, or
//!   holding a token created read-only) may only read. "Read" is an allow-list: the wire
//!   methods `GET`, `HEAD`, `OPTIONS` (case-sensitive, so `get` is not a read) and `POST` on a
//!   `read_posts` pattern. Anything else is 403 `read_only`, and so is any method-override
//!   header or `_method`-style query parameter, whatever it names: policy uses the wire method.

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::config::AccessSettings;
use crate::principal::Principal;
use crate::reject::{Reason, Rejection};

/// Headers some frameworks read to replace the wire method.
pub const OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// A principal that passed authorization. Only [`Authz::check`] makes one.
#[derive(Debug, Clone)]
pub struct Permitted {
    principal: Principal,
    read_only: bool,
}

impl Permitted {
    /// The authorized caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// True when the caller may only read (for logs and audit).
    pub fn read_only(&self) -> bool {
        self.read_only
    }
}

/// What [`Authz::decide`] needs to know about a caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// For the rejection detail only.
    pub username: &'a str,
    /// Resolved groups.
    pub groups: &'a [String],
    /// A gateway token created read-only.
    pub read_only_token: bool,
}

/// The compiled `[access]` group rules.
#[derive(Debug, Clone)]
pub struct Authz {
    access: AccessSettings,
}

impl Authz {
    /// Builds from checked config.
    pub fn new(access: &AccessSettings) -> Self {
        Authz {
            access: access.clone(),
        }
    }

    /// Checks `principal` for `method` on the relative `path`; the only maker of [`Permitted`].
    pub fn check(
        &self,
        principal: Principal,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Permitted, Rejection> {
        let caller = Caller {
            username: principal.username(),
            groups: principal.groups(),
            read_only_token: principal.read_only_token(),
        };
        let read_only = self.decide(&caller, method, path, headers, query)?;
        Ok(Permitted {
            principal,
            read_only,
        })
    }

    /// The decision alone: `Ok(read_only)` or the rejection. Pure; used by [`Authz::check`]
    /// and by the benchmarks.
    pub fn decide(
        &self,
        caller: &Caller<'_>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<bool, Rejection> {
        let a = &self.access;
        let in_any = |wanted: &[String]| crate::principal::in_any(caller.groups, wanted);
        if !a.allowed_groups.is_empty() && !in_any(&a.allowed_groups) {
            return Err(Rejection::new(Reason::GroupDenied).detail(format!(
                "`{}` is in none of access.allowed_groups",
                caller.username.escape_default()
            )));
        }
        let read_only = caller.read_only_token || in_any(&a.read_only_groups);
        if read_only {
            if let Some(h) = OVERRIDE_HEADERS.iter().find(|h| headers.contains_key(**h)) {
                return Err(Rejection::new(Reason::ReadOnly)
                    .detail(format!("read-only caller sent method-override header {h}")));
            }
            if query.is_some_and(has_override_param) {
                return Err(Rejection::new(Reason::ReadOnly)
                    .detail("read-only caller sent a method-override query parameter"));
            }
            if !self.is_read(method, path) {
                return Err(Rejection::new(Reason::ReadOnly).detail(format!(
                    "read-only caller: {} is not a read",
                    method.as_str().escape_default()
                )));
            }
        }
        Ok(read_only)
    }

    /// True when `method` on `path` only reads: an allow-list, never a deny-list.
    pub fn is_read(&self, method: &Method, path: &str) -> bool {
        *method == Method::GET
            || *method == Method::HEAD
            || *method == Method::OPTIONS
            || (*method == Method::POST
                && self.access.read_posts.first_match(method, path).is_some())
    }
}

/// True when the query carries a parameter that asks for another method (`_method`,
/// `x-http-method-override`, …), in any case, with `-` or `_`, percent-encoded or not.
pub fn has_override_param(query: &str) -> bool {
    query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or("");
        // Fast path: without an escape, a key that does not spell "method" cannot be one.
        if !key.contains('%')
            && !key
                .as_bytes()
                .windows(6)
                .any(|w| w.eq_ignore_ascii_case(b"method"))
        {
            return false;
        }
        let key = percent_decode_str(&key.replace('+', " "))
            .decode_utf8_lossy()
            .to_ascii_lowercase();
        let squashed: String = key.chars().filter(|c| *c != '-' && *c != '_').collect();
        (key.starts_with('_') && squashed == "method")
            || matches!(
                squashed.as_str(),
                "xhttpmethodoverride"
                    | "xhttpmethod"
                    | "xmethodoverride"
                    | "httpmethodoverride"
                    | "methodoverride"
            )
    })
}

#[cfg(test)]
mod tests;
