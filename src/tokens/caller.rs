//! Who is calling `/_authgate/*`: a provider token (JWT, or an opaque token when an
//! introspection provider exists) or Basic credentials that the product itself accepts.
//!
//! Owns: verifying Basic with the product (`/rest/api/2/myself?expand=groups` for Jira,
//! `/rest/api/user/current` + `memberof` for Confluence), made *as the caller* so no
//! privileged account is needed, and the [`AttemptLimiter`] that slows password guessing
//! (per username and per client IP). Basic is accepted here even with `disable_basic`: it is
//! how a user without an IdP token gets their first gateway token (CONTRACT §5).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderMap};
use serde_json::Value;

use crate::carriers::Params;
use crate::config::Product;
use crate::pipeline::credential::{self, Credential};
use crate::principal::{CredentialKind, Principal};
use crate::reject::{Reason, Rejection};
use crate::state::{AppState, Runtime};

/// Failed Basic attempts one username may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed Basic attempts one client IP may make per [`ATTEMPT_WINDOW`].
pub const MAX_FAILURES_PER_IP: u32 = 20;
/// The window counted from the first failure.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Confluence group pages read at most (200 groups each).
const MAX_GROUP_PAGES: usize = 50;

/// Counts failed Basic attempts at `/_authgate` per username and per client IP.
#[derive(Debug, Clone)]
pub struct AttemptLimiter {
    by_user: moka::sync::Cache<String, Arc<AtomicU32>>,
    by_ip: moka::sync::Cache<String, Arc<AtomicU32>>,
}

impl Default for AttemptLimiter {
    fn default() -> Self {
        let cache = || {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ATTEMPT_WINDOW)
                .build()
        };
        AttemptLimiter {
            by_user: cache(),
            by_ip: cache(),
        }
    }
}

impl AttemptLimiter {
    /// True when this username or IP has used up its failures.
    pub fn blocked(&self, user: &str, ip: &str) -> bool {
        let count = |c: &moka::sync::Cache<String, Arc<AtomicU32>>, k: &str| {
            c.get(k).map_or(0, |n| n.load(Ordering::Relaxed))
        };
        count(&self.by_user, &user.to_lowercase()) >= MAX_FAILURES_PER_USER
            || count(&self.by_ip, ip) >= MAX_FAILURES_PER_IP
    }

    /// Counts one failure (the window starts at the first one).
    pub fn failed(&self, user: &str, ip: &str) {
        // Usernames are case-insensitive in Jira and Confluence.
        for (c, k) in [
            (&self.by_user, user.to_lowercase()),
            (&self.by_ip, ip.to_string()),
        ] {
            c.get_with(k, || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The authenticated caller of `/_authgate`, with groups (from the product for Basic, from
/// `groups.source` for provider tokens).
pub async fn identify(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let cred = credential::classify(headers, &rt.config.upstream.carriers, &Params::default())?;
    match &cred {
        Credential::Basic { username } => basic(state, rt, headers, username, client_ip).await,
        Credential::Jwt(_) => rt.groups.resolve(rt.authn.authenticate(&cred).await?).await,
        Credential::Opaque(_) if rt.authn.has_introspection() => {
            rt.groups.resolve(rt.authn.authenticate(&cred).await?).await
        }
        Credential::None | Credential::Session => Err(Rejection::new(Reason::CredentialRequired)
            .detail("/_authgate needs a provider token or Basic credentials")),
        Credential::GatewayToken(_) | Credential::Pat(_) | Credential::Opaque(_) => {
            Err(Rejection::new(Reason::CredentialRejected)
                .detail("/_authgate accepts only a provider token or Basic credentials"))
        }
    }
}

async fn basic(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
    username: &str,
    client_ip: &str,
) -> Result<Principal, Rejection> {
    let limiter = rt.tokens.attempts();
    if limiter.blocked(username, client_ip) {
        return Err(Rejection::new(Reason::RateLimited)
            .detail("too many failed Basic attempts for this user or address at /_authgate"));
    }
    let cfg = &rt.config;
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let ask = |path: String| {
        let mut req = state
            .shared
            .http
            .get(product_url(
                &cfg.upstream.url,
                &cfg.upstream.context_path,
                &path,
            ))
            .header(header::ACCEPT, "application/json")
            .timeout(cfg.upstream.timeout);
        if let Some(a) = &authorization {
            req = req.header(header::AUTHORIZATION, a.clone());
        }
        req.send()
    };
    let who_path = match cfg.upstream.product {
        Product::Jira => "/rest/api/2/myself?expand=groups",
        Product::Confluence => "/rest/api/user/current",
    };
    let me = fetch_json(ask(who_path.to_string()).await).await;
    let me = match me {
        Err(Fetch::Refused(status)) => {
            limiter.failed(username, client_ip);
            return Err(Rejection::new(Reason::CredentialRejected).detail(format!(
                "the product refused the Basic credentials ({status})"
            )));
        }
        Err(Fetch::Broken(r)) => return Err(r),
        Ok(v) => v,
    };
    let (name_key, anonymous) = match cfg.upstream.product {
        Product::Jira => ("name", false),
        // Confluence answers an anonymous caller with `"type":"anonymous"` rather than 401.
        Product::Confluence => (
            "username",
            me.get("type").and_then(Value::as_str) == Some("anonymous"),
        ),
    };
    let name = match me.get(name_key).and_then(Value::as_str) {
        Some(n) if !n.is_empty() && !anonymous => n.to_string(),
        _ => {
            limiter.failed(username, client_ip);
            return Err(Rejection::new(Reason::CredentialRejected)
                .detail("the product did not name the Basic caller"));
        }
    };
    let groups = match cfg.upstream.product {
        Product::Jira => names(me.pointer("/groups/items")),
        Product::Confluence => {
            let mut all = Vec::new();
            let enc =
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
            for page in 0..MAX_GROUP_PAGES {
                let path = format!(
                    "/rest/api/user/memberof?username={enc}&start={}&limit=200",
                    page * 200
                );
                let v = fetch_json(ask(path).await).await.map_err(|f| match f {
                    Fetch::Refused(s) => Rejection::new(Reason::GroupsUnavailable)
                        .detail(format!("memberof answered {s}")),
                    Fetch::Broken(r) => r,
                })?;
                let got = names(v.get("results"));
                let n = got.len();
                all.extend(got);
                if n < 200 || v.pointer("/_links/next").is_none() {
                    break;
                }
            }
            all
        }
    };
    Ok(Principal::new(name, CredentialKind::Basic, None, None).with_groups(groups))
}

/// `base` + context path + `path` (the product as authgate reaches it).
fn product_url(base: &http::Uri, context_path: &str, path: &str) -> String {
    let base = base.to_string();
    format!("{}{context_path}{path}", base.trim_end_matches('/'))
}

/// `[{ "name": … }, …]` -> names.
fn names(items: Option<&Value>) -> Vec<String> {
    items
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

enum Fetch {
    /// 401 or 403: the product does not accept these credentials.
    Refused(u16),
    /// Anything else that is not a JSON 200 (the product is down or odd).
    Broken(Rejection),
}

async fn fetch_json(sent: Result<reqwest::Response, reqwest::Error>) -> Result<Value, Fetch> {
    let resp = sent.map_err(|e| {
        let reason = if e.is_timeout() {
            Reason::UpstreamTimeout
        } else {
            Reason::UpstreamUnreachable
        };
        Fetch::Broken(
            Rejection::new(reason).detail(format!("verifying Basic with the product: {e}")),
        )
    })?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(Fetch::Refused(status));
    }
    if status != 200 {
        return Err(Fetch::Broken(
            Rejection::new(Reason::UpstreamUnreachable)
                .detail(format!("the product answered {status} to a Basic check")),
        ));
    }
    resp.json::<Value>().await.map_err(|e| {
        Fetch::Broken(
            Rejection::new(Reason::UpstreamUnreachable)
                .detail(format!("the product's answer is not JSON: {e}")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_per_user_and_per_ip() {
        let l = AttemptLimiter::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(!l.blocked("Alice", "10.0.0.1"));
            l.failed("Alice", "10.0.0.1");
        }
        assert!(
            l.blocked("alice", "10.0.0.9"),
            "per user, whatever the case or address"
        );
        assert!(!l.blocked("bob", "10.0.0.9"));
        for i in 0..MAX_FAILURES_PER_IP {
            l.failed(&format!("u{i}"), "10.0.0.2");
        }
        assert!(
            l.blocked("carol", "10.0.0.2"),
            "per address, whatever the user"
        );
    }

    #[test]
    fn product_urls_keep_the_context_path() {
        let u: http::Uri = "http://127.0.0.1:8081/".parse().unwrap();
        assert_eq!(
            product_url(&u, "/jira", "/rest/api/2/myself?expand=groups"),
            "http://127.0.0.1:8081/jira/rest/api/2/myself?expand=groups"
        );
    }
}
