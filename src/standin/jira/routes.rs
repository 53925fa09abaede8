//! The stand-in's answers: who the caller is, and what each endpoint returns, in the shapes
//! Jira and Confluence Data Center use (`{"errorMessages":[...],"errors":{}}` for Jira errors,
//! `{"statusCode":..,"message":..}` for Confluence's).

use base64::Engine;
use http::{header, HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};

use super::{JiraOptions, RecordedRequest, StandinUser};
use crate::body::{self, Body};
use crate::config::Product;

/// Who sent a request, as the product would decide it.
#[derive(Debug)]
pub(super) enum Caller<'a> {
    /// Authenticated as this user.
    User(&'a StandinUser),
    /// No credential (or one the product ignores, like an unknown session cookie).
    Anonymous,
    /// A credential the product refuses: 401 whatever the endpoint.
    Refused(&'static str),
    /// A 2-legged OAuth request the link refuses: 401 with this `oauth_problem`, or (`None`)
    /// with a challenge echoing the request's OAuth parameters.
    OAuthRefused(Option<&'static str>),
}

/// Decides who the caller is (identity header, Basic, PAT, session cookie, anonymous).
pub(super) fn authenticate<'a>(
    options: &'a JiraOptions,
    nonces: &super::oauth1::Nonces,
    req: &RecordedRequest,
) -> Caller<'a> {
    let find = |name: &str| options.users.iter().find(|u| u.name == name);
    match super::oauth1::check(options, nonces, req) {
        super::oauth1::Verdict::NotOAuth => {}
        super::oauth1::Verdict::As(Some(u)) => return Caller::User(u),
        super::oauth1::Verdict::As(None) => return Caller::Anonymous,
        super::oauth1::Verdict::Problem(p) => return Caller::OAuthRefused(Some(p)),
        super::oauth1::Verdict::Echo => return Caller::OAuthRefused(None),
    }
    // HeaderMap names are lower case already: this is the case-insensitive lookup.
    if let Some(v) = req.headers.get(options.identity_header.as_str()) {
        return match v.to_str().ok().and_then(find) {
            Some(u) => Caller::User(u),
            None => Caller::Refused("The user named in the identity header does not exist."),
        };
    }
    // Seraph's login filter reads these with getParameter: the query, or a form body.
    if let Some((name, password)) = os_login(req) {
        return match find(&name) {
            Some(u) if u.password == password => Caller::User(u),
            _ => Caller::Refused("Login failed: wrong username or password."),
        };
    }
    if let Some(v) = req.headers.get(header::AUTHORIZATION) {
        let v = v.to_str().unwrap_or("");
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((name, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Caller::Refused("Basic authentication could not be decoded.");
            };
            return match find(name) {
                Some(u) if u.password == password => Caller::User(u),
                _ => Caller::Refused("Basic authentication failed: wrong username or password."),
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return match options
                .users
                .iter()
                .find(|u| u.pats.iter().any(|p| p == rest))
            {
                Some(u) => Caller::User(u),
                None => Caller::Refused("The personal access token is not valid."),
            };
        }
        return Caller::Refused("The authentication scheme is not supported.");
    }
    // Cookies as Tomcat reads them: raw bytes, `;` between cookies (and `,` once the header
    // starts with `$Version`), the first session cookie of a name wins.
    let remember = match options.product {
        Product::Jira => "seraph.rememberme.cookie",
        Product::Confluence => "seraph.confluence",
    };
    for cookies in req.headers.get_all(header::COOKIE) {
        let bytes = cookies.as_bytes();
        let rfc2109 = bytes.trim_ascii_start().starts_with(b"$Version");
        for pair in bytes.split(|&b| b == b';' || (rfc2109 && b == b',')) {
            let pair = pair.trim_ascii();
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = (&pair[..eq], &pair[eq + 1..]);
            let value = std::str::from_utf8(value).unwrap_or("");
            let user = match name {
                b"JSESSIONID" => value.strip_suffix("-session").and_then(find),
                n if n == remember.as_bytes() => value.strip_suffix("-remember").and_then(find),
                _ => None,
            };
            if let Some(u) = user {
                return Caller::User(u);
            }
        }
    }
    Caller::Anonymous
}

/// `os_username` and `os_password` from the query or a form body (first value wins).
fn os_login(req: &RecordedRequest) -> Option<(String, String)> {
    let query = req
        .target
        .split_once('?')
        .map_or("", |(_, q)| q)
        .to_string();
    let form = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if form {
        String::from_utf8_lossy(&req.body).into_owned()
    } else {
        String::new()
    };
    let mut user = None;
    let mut password = None;
    for pair in query.split('&').chain(body.split('&')) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = crate::carriers::decode_component(k);
        let v = crate::carriers::decode_component(v);
        match k.as_str() {
            "os_username" if user.is_none() => user = Some(v),
            "os_password" if password.is_none() => password = Some(v),
            _ => {}
        }
    }
    Some((user?, password?))
}

/// The whole answer to one recorded request.
pub(super) fn answer(
    options: &JiraOptions,
    nonces: &super::oauth1::Nonces,
    failing: bool,
    req: &RecordedRequest,
) -> Response<Body> {
    let caller = authenticate(options, nonces, req);
    let mut resp = route(options, failing, req, &caller);
    // Seraph authenticators put a header-authenticated user in the session, and the answer
    // carries that session's cookie.
    if let (Caller::User(u), true) = (
        &caller,
        req.headers.contains_key(options.identity_header.as_str()),
    ) {
        if let Ok(v) =
            HeaderValue::from_str(&format!("JSESSIONID={}-session; Path=/; HttpOnly", u.name))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let who = match caller {
        Caller::User(u) => u.name.as_str(),
        _ => "anonymous",
    };
    if let Ok(v) = HeaderValue::from_str(who) {
        resp.headers_mut().insert("x-ausername", v);
    }
    resp
}

fn route(
    options: &JiraOptions,
    failing: bool,
    req: &RecordedRequest,
    caller: &Caller<'_>,
) -> Response<Body> {
    if let Caller::OAuthRefused(problem) = caller {
        let mut resp = error(
            options.product,
            StatusCode::UNAUTHORIZED,
            &format!(
                "OAuth request refused: {}",
                problem.unwrap_or("(no problem named)")
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&super::oauth1::challenge(options, *problem, req)) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }
    if let Caller::Refused(why) = caller {
        let mut resp = error(options.product, StatusCode::UNAUTHORIZED, why);
        resp.headers_mut().insert(
            "x-seraph-loginreason",
            HeaderValue::from_static("AUTHENTICATED_FAILED"),
        );
        return resp;
    }
    let user = match caller {
        Caller::User(u) => Some(*u),
        _ => None,
    };
    let path = req.path();
    let query = Query(req.target.split_once('?').map(|(_, q)| q).unwrap_or(""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    match (m, segments.as_slice()) {
        (&Method::GET, ["status"]) => ok(json!({"state": "RUNNING"})),
        (&Method::GET, ["rest", "api", "2", "serverInfo"]) => ok(json!({
            "baseUrl": "http://jira.example.com",
            "version": "9.12.0",
            "versionNumbers": [9, 12, 0],
            "deploymentType": "Server",
            "buildNumber": 912000,
            "serverTitle": "Jira stand-in",
        })),
        (&Method::GET, ["rest", "api", "2", "myself"]) => match user {
            _ if failing => lookup_failed(options.product),
            None => not_authenticated(options.product),
            Some(u) => ok(jira_user(u, query.expands_groups())),
        },
        (&Method::GET, ["rest", "api", "2", "user"]) => {
            if failing {
                return lookup_failed(options.product);
            }
            if user.is_none() {
                return not_authenticated(options.product);
            }
            let name = query.get("username").unwrap_or_default();
            match options.users.iter().find(|u| u.name == name) {
                Some(u) => ok(jira_user(u, query.expands_groups())),
                None => error(
                    options.product,
                    StatusCode::NOT_FOUND,
                    &format!("The user named '{name}' does not exist"),
                ),
            }
        }
        (&Method::GET, ["rest", "api", "2", "issue", key]) => ok(issue(key)),
        (&Method::PUT, ["rest", "api", "2", "issue", _]) => match user {
            None => not_authenticated(options.product),
            Some(_) => status_only(StatusCode::NO_CONTENT),
        },
        (&Method::POST, ["rest", "api", "2", "issue"]) => match user {
            None => not_authenticated(options.product),
            Some(_) => json_status(
                StatusCode::CREATED,
                json!({"id": "10002", "key": "DEMO-2", "self": "http://jira.example.com/rest/api/2/issue/10002"}),
            ),
        },
        (&Method::POST, ["rest", "api", "2", "search"]) => ok(json!({
            "expand": "schema,names",
            "startAt": 0,
            "maxResults": 50,
            "total": 1,
            "issues": [issue("DEMO-1")],
        })),
        (&Method::GET, ["rest", "api", "user", "current"]) => match user {
            _ if failing => lookup_failed(options.product),
            None => ok(json!({"type": "anonymous", "displayName": "Anonymous"})),
            Some(u) => ok(json!({
                "type": "known",
                "username": u.name,
                "userKey": user_key(u),
                "displayName": display_name(u),
            })),
        },
        (&Method::GET, ["rest", "api", "user", "memberof"]) => {
            if failing {
                return lookup_failed(options.product);
            }
            if user.is_none() {
                return not_authenticated(options.product);
            }
            let name = query.get("username").unwrap_or_default();
            match options.users.iter().find(|u| u.name == name) {
                Some(u) => ok(member_of(u, &query)),
                None => error(
                    options.product,
                    StatusCode::NOT_FOUND,
                    &format!("No user found with username: {name}"),
                ),
            }
        }
        _ => error(
            options.product,
            StatusCode::NOT_FOUND,
            "null for uri: the stand-in has no such resource",
        ),
    }
}

/// Confluence's paged `memberof` answer (`start`, `limit`, `_links.next` while more remain).
fn member_of(u: &StandinUser, query: &Query<'_>) -> Value {
    let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .clamp(1, 200);
    let page: Vec<Value> = u
        .groups
        .iter()
        .skip(start)
        .take(limit)
        .map(|g| json!({"type": "group", "name": g}))
        .collect();
    let mut links = json!({"base": "http://confluence.example.com", "context": ""});
    if start + page.len() < u.groups.len() {
        links["next"] = json!(format!(
            "/rest/api/user/memberof?username={}&start={}&limit={limit}",
            u.name,
            start + page.len()
        ));
    }
    json!({"results": page, "start": start, "limit": limit, "size": page.len(), "_links": links})
}

fn jira_user(u: &StandinUser, with_groups: bool) -> Value {
    let items: Vec<Value> = if with_groups {
        u.groups.iter().map(|g| json!({"name": g, "self": format!("http://jira.example.com/rest/api/2/group?groupname={g}")})).collect()
    } else {
        Vec::new()
    };
    json!({
        "self": format!("http://jira.example.com/rest/api/2/user?username={}", u.name),
        "key": user_key(u),
        "name": u.name,
        "emailAddress": format!("{}@example.com", u.name),
        "displayName": display_name(u),
        "active": true,
        "timeZone": "UTC",
        "locale": "en_US",
        "groups": {"size": u.groups.len(), "items": items},
        "applicationRoles": {"size": 1, "items": []},
        "expand": "groups,applicationRoles",
    })
}

fn user_key(u: &StandinUser) -> String {
    format!("JIRAUSER-{}", u.name)
}

fn display_name(u: &StandinUser) -> String {
    let mut chars = u.name.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn issue(key: &str) -> Value {
    json!({
        "id": "10001",
        "key": key,
        "self": format!("http://jira.example.com/rest/api/2/issue/{key}"),
        "fields": {"summary": "A stand-in issue", "status": {"name": "Open"}},
    })
}

/// The query string, looked up by key (values are returned percent-decoded).
struct Query<'a>(&'a str);

impl Query<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.0.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }

    fn expands_groups(&self) -> bool {
        self.get("expand")
            .is_some_and(|e| e.split(',').any(|x| x.trim() == "groups"))
    }
}

fn ok(value: Value) -> Response<Body> {
    json_status(StatusCode::OK, value)
}

fn json_status(status: StatusCode, value: Value) -> Response<Body> {
    body::json_response(status, &value)
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = status;
    resp
}

fn not_authenticated(product: Product) -> Response<Body> {
    error(
        product,
        StatusCode::UNAUTHORIZED,
        "You are not authenticated. Authentication required to perform this operation.",
    )
}

fn lookup_failed(product: Product) -> Response<Body> {
    error(
        product,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
    )
}

/// An error in the product's own shape.
fn error(product: Product, status: StatusCode, message: &str) -> Response<Body> {
    let value = match product {
        Product::Jira => json!({"errorMessages": [message], "errors": {}}),
        Product::Confluence => json!({
            "statusCode": status.as_u16(),
            "data": {"authorized": status != StatusCode::UNAUTHORIZED, "valid": true, "errors": []},
            "message": message,
        }),
    };
    json_status(status, value)
}
