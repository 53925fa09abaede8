//! Asking the product who a user is and which groups they are in
//! (docs/product-notes.md#who-am-i-and-groups).
//!
//! Owns: [`ProductClient`], the only code that calls the product's user and group endpoints
//! (used by `groups` for `source = "upstream"` and by `passthrough`), and [`LookupError`].
//! Jira: `GET /rest/api/2/user?username=…&expand=groups` and `/rest/api/2/myself?expand=groups`
//! (groups in `groups.items[].name`; an answer whose `size` is larger than its items is
//! refused rather than read as fewer groups). Confluence: `/rest/api/user/current` and the
//! paged `/rest/api/user/memberof?username=…&start=&limit=`. Answers are read up to 1 MiB;
//! the shared client follows no redirect. The caller decides which headers go along.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::config::{Product, UpstreamSettings};
use crate::upstream_identity::UpstreamIdentity;

/// Largest answer read from the product.
const MAX_BODY: usize = 1 << 20;
/// Confluence `memberof` page size.
const PAGE: usize = 200;
/// At most this many `memberof` pages (10 000 groups).
const MAX_PAGES: usize = 50;
/// Lookups never wait longer than this, whatever `upstream.timeout` says.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The product refused the credential (401, or 403 on the who-am-I call).
    #[error("the product refused the credential ({0})")]
    Rejected(u16),
    /// No usable answer: unreachable, timeout, 5xx, redirect, unexpected status or shape.
    #[error("{0}")]
    Unavailable(String),
    /// The product refused a request authgate signed (`oauth1`): its `oauth_problem`.
    #[error("the product refused the signed request: oauth_problem={0}")]
    OAuthProblem(String),
}

/// A user and their groups, as the product reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The product's username.
    pub username: String,
    /// Group names.
    pub groups: Vec<String>,
}

/// Calls the product's user and group endpoints.
#[derive(Debug, Clone)]
pub struct ProductClient {
    http: reqwest::Client,
    /// `upstream.url` + context path.
    base: String,
    /// The context path alone (part of the path a signature covers).
    context_path: String,
    product: Product,
    timeout: Duration,
}

impl ProductClient {
    /// A client for `upstream.url` + `upstream.context_path`.
    pub fn new(upstream: &UpstreamSettings, http: &reqwest::Client) -> Self {
        let scheme = upstream.url.scheme_str().unwrap_or("http");
        let authority = upstream.url.authority().map(|a| a.as_str()).unwrap_or("");
        ProductClient {
            http: http.clone(),
            base: format!("{scheme}://{authority}{}", upstream.context_path),
            context_path: upstream.context_path.clone(),
            product: upstream.product,
            timeout: upstream.timeout.min(MAX_TIMEOUT),
        }
    }

    /// True when `other` asks the same product the same way (a cache built for one is
    /// valid for the other across a reload).
    pub fn same_target(&self, other: &ProductClient) -> bool {
        self.base == other.base && self.product == other.product
    }

    /// Groups of `username`, asked as that user through `identity_handoff` (the identity header, the
    /// service account, or a request signed for the user).
    pub async fn user_groups(
        &self,
        username: &str,
        identity_handoff: &UpstreamIdentity,
        now: SystemTime,
    ) -> Result<Vec<String>, LookupError> {
        let user = utf8_percent_encode(username, NON_ALPHANUMERIC).to_string();
        let ask = Ask::As {
            identity_handoff,
            user: username,
            now,
        };
        match self.product {
            Product::Jira => {
                let v = self
                    .get(
                        "/rest/api/2/user",
                        &format!("username={user}&expand=groups"),
                        &ask,
                        false,
                    )
                    .await?;
                if let Some(name) = v.get("name").and_then(Value::as_str) {
                    if !name.eq_ignore_ascii_case(username) {
                        return Err(LookupError::Unavailable(format!(
                            "asked for `{}`, the product answered `{}`",
                            username.escape_default(),
                            name.escape_default()
                        )));
                    }
                }
                jira_groups(&v)
            }
            Product::Confluence => self.memberof(username, &ask).await,
        }
    }

    /// Who the product sees when asked as `user` through `identity_handoff` (`check-upstream`): the
    /// "who am I" endpoint, handed over as a forwarded request would be.
    pub async fn whoami_as(
        &self,
        user: &str,
        identity_handoff: &UpstreamIdentity,
        now: SystemTime,
    ) -> Result<Identity, LookupError> {
        self.whoami_with(&Ask::As {
            identity_handoff,
            user,
            now,
        })
        .await
    }

    /// True when the product answers its `/status` endpoint with `RUNNING` (no credential).
    pub async fn running(&self) -> Result<String, LookupError> {
        let empty = HeaderMap::new();
        let v = self
            .get(
                "/status",
                "",
                &Ask::With {
                    headers: &empty,
                    params: "",
                },
                false,
            )
            .await?;
        Ok(v.get("state")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// Who the holder of the credential in `headers` (and in `params`, credential
    /// parameters such as `os_username=…&os_password=…`, empty for none) is, with their groups.
    pub async fn whoami(&self, headers: &HeaderMap, params: &str) -> Result<Identity, LookupError> {
        self.whoami_with(&Ask::With { headers, params }).await
    }

    async fn whoami_with(&self, ask: &Ask<'_>) -> Result<Identity, LookupError> {
        match self.product {
            Product::Jira => {
                let v = self
                    .get("/rest/api/2/myself", "expand=groups", ask, true)
                    .await?;
                let username = name_of(&v, "name")?;
                Ok(Identity {
                    groups: jira_groups(&v)?,
                    username,
                })
            }
            Product::Confluence => {
                let v = self.get("/rest/api/user/current", "", ask, true).await?;
                if v.get("type").and_then(Value::as_str) == Some("anonymous") {
                    // Confluence answers 200 for anonymous callers: the credential did not count.
                    return Err(LookupError::Rejected(200));
                }
                let username = name_of(&v, "username")?;
                let groups = self.memberof(&username, ask).await?;
                Ok(Identity { username, groups })
            }
        }
    }

    async fn memberof(&self, username: &str, ask: &Ask<'_>) -> Result<Vec<String>, LookupError> {
        let user = utf8_percent_encode(username, NON_ALPHANUMERIC);
        let mut groups = Vec::new();
        for page in 0..MAX_PAGES {
            let start = page * PAGE;
            let v = self
                .get(
                    "/rest/api/user/memberof",
                    &format!("username={user}&start={start}&limit={PAGE}"),
                    ask,
                    false,
                )
                .await?;
            let results = v.get("results").and_then(Value::as_array).ok_or_else(|| {
                LookupError::Unavailable("memberof answer has no `results`".into())
            })?;
            for r in results {
                let name = r.get("name").and_then(Value::as_str).ok_or_else(|| {
                    LookupError::Unavailable("memberof result without a name".into())
                })?;
                groups.push(name.to_string());
            }
            let has_next = v.pointer("/_links/next").is_some_and(|n| !n.is_null());
            if results.len() < PAGE || !has_next {
                return Ok(groups);
            }
        }
        Err(LookupError::Unavailable(format!(
            "more than {} groups",
            PAGE * MAX_PAGES
        )))
    }

    /// GET `path?query` (`query` may be empty) as `ask` says; `who` marks the who-am-I
    /// call, where 403 refuses the credential (Jira's CAPTCHA lock-out) rather than a
    /// permission.
    async fn get(
        &self,
        path: &str,
        query: &str,
        ask: &Ask<'_>,
        who: bool,
    ) -> Result<Value, LookupError> {
        let (headers, query) = match ask {
            Ask::With { headers, params } => {
                let q = with_params(query, params);
                ((*headers).clone(), (!q.is_empty()).then_some(q))
            }
            Ask::As {
                identity_handoff,
                user,
                now,
            } => identity_handoff
                .as_user(
                    user,
                    &format!("{}{path}", self.context_path),
                    (!query.is_empty()).then_some(query),
                    *now,
                )
                .map_err(|_| {
                    LookupError::Unavailable("the username is not a header value".into())
                })?,
        };
        let url = match query {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        };
        let mut resp = self
            .http
            .get(&url)
            .headers(headers)
            .header(http::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                LookupError::Unavailable(format!("product lookup {what}: {}", without_url(&e)))
            })?;
        let status = resp.status();
        let signed = matches!(
            ask,
            Ask::As {
                identity_handoff: UpstreamIdentity::OAuth1 { .. },
                ..
            }
        );
        if signed && status == StatusCode::UNAUTHORIZED {
            if let Some(problem) = crate::oauth1::problem::refusal(resp.headers()) {
                return Err(LookupError::OAuthProblem(problem));
            }
        }
        if status == StatusCode::UNAUTHORIZED || (who && status == StatusCode::FORBIDDEN) {
            return Err(LookupError::Rejected(status.as_u16()));
        }
        if !status.is_success() {
            return Err(LookupError::Unavailable(format!(
                "product answered {status} to a user lookup"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            LookupError::Unavailable(format!("reading the product's answer: {}", without_url(&e)))
        })? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(LookupError::Unavailable(
                    "the product's answer is larger than 1 MiB".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|_| LookupError::Unavailable("the product's answer is not JSON".into()))
    }
}

/// `query` with the caller's credential parameters appended.
fn with_params(query: &str, params: &str) -> String {
    match (query.is_empty(), params.is_empty()) {
        (_, true) => query.to_string(),
        (true, false) => params.to_string(),
        (false, false) => format!("{query}&{params}"),
    }
}

/// How a lookup is authenticated.
enum Ask<'a> {
    /// The caller's own credential: its headers and credential parameters.
    With {
        headers: &'a HeaderMap,
        params: &'a str,
    },
    /// As `user`, through the identity hand-off.
    As {
        identity_handoff: &'a UpstreamIdentity,
        user: &'a str,
        now: SystemTime,
    },
}

/// `reqwest` errors name the URL; the query holds a username, which is fine, but keep the
/// message short and free of upstream addresses anyway.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<product>");
    }
    s
}

fn name_of(v: &Value, field: &str) -> Result<String, LookupError> {
    match v.get(field).and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(LookupError::Unavailable(format!(
            "the product's user record has no `{field}`"
        ))),
    }
}

/// `groups.items[].name`; a missing or truncated list is an error, never "no groups".
fn jira_groups(v: &Value) -> Result<Vec<String>, LookupError> {
    let g = v
        .get("groups")
        .ok_or_else(|| LookupError::Unavailable("the user record has no `groups`".into()))?;
    let items = g
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| LookupError::Unavailable("`groups` has no `items`".into()))?;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let name = i
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| LookupError::Unavailable("a group without a name".into()))?;
        out.push(name.to_string());
    }
    if let Some(size) = g.get("size").and_then(Value::as_u64) {
        if size > out.len() as u64 {
            return Err(LookupError::Unavailable(format!(
                "the product listed {} of {size} groups",
                out.len()
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jira_groups_are_read_strictly() {
        let ok =
            json!({"name": "bob", "groups": {"size": 2, "items": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(jira_groups(&ok), Ok(vec!["a".to_string(), "b".to_string()]));
        let none = json!({"name": "carol", "groups": {"size": 0, "items": []}});
        assert_eq!(jira_groups(&none), Ok(vec![]));
        for bad in [
            json!({"name": "x"}),
            json!({"groups": {"size": 1}}),
            json!({"groups": {"size": 3, "items": [{"name": "a"}]}}),
            json!({"groups": {"items": [{"nam": "a"}]}}),
            json!({"groups": {"items": [{"name": 5}]}}),
        ] {
            assert!(
                matches!(jira_groups(&bad), Err(LookupError::Unavailable(_))),
                "{bad}"
            );
        }
    }
}
