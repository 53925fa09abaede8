//! The pure check: raw schema -> runtime [`Config`], collecting every error with its path.
//!
//! Owns: every rule about which values are legal together (exactly one key source, HMAC
//! length, algorithms that fit the key, trusted proxies that are not the whole internet…)
//! and the start-up warnings for legal-but-risky settings. Touches no sockets, no database
//! and no key files (those are read when the gateway is built from the checked config).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::raw::*;
use super::*;

mod identity;
mod policy;
mod providers;

use crate::rules::RuleSet;
use identity::check_identity;
use policy::*;
use providers::check_providers;

/// Checks `raw`; relative file paths resolve against `base_dir`.
pub fn check(raw: &RawConfig, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut e = ConfigErrors::default();
    let mut warnings = Vec::new();
    let server = check_server(&raw.server, base_dir, &mut e);
    let upstream = check_upstream(&raw.upstream, base_dir, &mut e, &mut warnings);
    let auth = check_auth(&raw.auth, &mut e);
    let providers = check_providers(&raw.providers, base_dir, &mut e, &mut warnings);
    let groups = check_groups(&raw.groups, &mut e);
    let access = check_access(&raw.access, &raw.upstream.product, &mut e);
    let ip = check_ip(&raw.ip, &mut e);
    let rate_limit = check_rate_limit(&raw.rate_limit, &mut e);
    let tokens = check_tokens(&raw.tokens, &mut e);
    let audit = check_audit(&raw.audit, base_dir, &mut e);
    let log = check_log(&raw.log, &mut e);
    if !e.is_empty() {
        return Err(e);
    }
    if let (Some(u), Some(a), Some(x), Some(r)) = (&upstream, &auth, &access, &rate_limit) {
        warnings.extend(policy_holes(u, a, x, r));
    }
    // All `Some` once no error was recorded: every checker records an error when it returns None.
    Ok(Config {
        source: None,
        server: server.expect("checked"),
        upstream: upstream.expect("checked"),
        auth: auth.expect("checked"),
        providers,
        groups: groups.expect("checked"),
        access: access.expect("checked"),
        ip: ip.expect("checked"),
        rate_limit: rate_limit.expect("checked"),
        tokens: tokens.expect("checked"),
        audit: audit.expect("checked"),
        log: log.expect("checked"),
        warnings,
    })
}

/// Legal policies with a hole that is easy to miss: group rules that do not reach the
/// product's other ways in, a password-to-session endpoint left open while Basic is off,
/// group rules that pass-through callers escape when nobody asks the product who they are.
fn policy_holes(
    upstream: &UpstreamSettings,
    auth: &AuthSwitches,
    access: &AccessSettings,
    rate_limit: &RateLimitSettings,
) -> Vec<String> {
    let mut w = Vec::new();
    let group_rules = !access.allowed_groups.is_empty() || !access.read_only_groups.is_empty();
    let (other, sample) = match upstream.product {
        Product::Jira => ("/secure/**", "/secure/CreateIssueDetails.jspa"),
        Product::Confluence => ("/rpc/**", "/rpc/json-rpc/confluenceservice-v2/storePage"),
    };
    if group_rules
        && auth
            .api_paths
            .first_match(&http::Method::POST, sample)
            .is_none()
    {
        w.push(format!(
            "access.allowed_groups / read_only_groups are set but auth.api_paths does not cover {other}: the product's actions there take the same credentials and no group rule applies to them"
        ));
    }
    let session = "/rest/auth/1/session";
    let needs_credential = auth.require_authentication
        || access
            .public_restricted
            .first_match(&http::Method::POST, session)
            .is_some();
    if upstream.product == Product::Jira
        && auth.disable_basic
        && access
            .deny
            .first_match(&http::Method::POST, session)
            .is_none()
        && !(auth
            .api_paths
            .first_match(&http::Method::POST, session)
            .is_some()
            && needs_credential)
    {
        w.push(format!(
            "auth.disable_basic = true but POST {session} (a password for a session cookie) is neither denied nor behind a credential: add it to access.deny"
        ));
    }
    let passthrough = auth.allow_pat || !auth.disable_basic || auth.allow_session_cookies;
    if !auth.resolve_passthrough_identity
        && passthrough
        && (group_rules || !rate_limit.overrides.is_empty())
    {
        w.push(
            "auth.resolve_passthrough_identity = false: PAT, Basic and session callers are not identified, so access.allowed_groups, read_only_groups and rate-limit overrides do not apply to them".to_string(),
        );
    }
    w
}

fn socket_addr(path: &str, v: &str, e: &mut ConfigErrors) -> Option<SocketAddr> {
    match v.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            e.push(
                path,
                format!("`{v}` is not an address:port (e.g. \"0.0.0.0:8080\" or \"[::1]:8080\")"),
            );
            None
        }
    }
}

fn file_path(base: &Path, v: &str) -> PathBuf {
    let p = PathBuf::from(v);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn check_server(r: &RawServer, base: &Path, e: &mut ConfigErrors) -> Option<ServerSettings> {
    let n = e.0.len();
    let listen = socket_addr("server.listen", &r.listen, e);
    let admin_listen = socket_addr("server.admin_listen", &r.admin_listen, e);
    if let (Some(a), Some(b)) = (listen, admin_listen) {
        if a == b && a.port() != 0 {
            e.push(
                "server.admin_listen",
                "must differ from server.listen (operator endpoints are not for clients)",
            );
        }
    }
    let admin_token = match &r.admin_token {
        Some(t) if t.len() < 16 => {
            e.push(
                "server.admin_token",
                "must be at least 16 characters (or leave it unset to disable /admin/*)",
            );
            None
        }
        Some(t) => Some(Secret::new(t.clone())),
        None => None,
    };
    if r.max_header_bytes < 1024 {
        e.push("server.max_header_bytes", "must be at least 1024");
    }
    if r.max_connections == 0 {
        e.push("server.max_connections", "must be at least 1");
    }
    let header_timeout = e.positive_duration("server.header_timeout", &r.header_timeout);
    let request_timeout = e.positive_duration("server.request_timeout", &r.request_timeout);
    let shutdown_grace = e.duration("server.shutdown_grace", &r.shutdown_grace);
    let tls = match (&r.tls_cert, &r.tls_key) {
        (Some(c), Some(k)) => Some((file_path(base, c), file_path(base, k))),
        (None, None) => None,
        (Some(_), None) => {
            e.push("server.tls_key", "is required when server.tls_cert is set");
            None
        }
        (None, Some(_)) => {
            e.push("server.tls_cert", "is required when server.tls_key is set");
            None
        }
    };
    if e.0.len() > n {
        return None;
    }
    Some(ServerSettings {
        listen: listen?,
        admin_listen: admin_listen?,
        admin_token,
        max_header_bytes: r.max_header_bytes,
        header_timeout: header_timeout?,
        max_connections: r.max_connections,
        max_body_bytes: (r.max_body_bytes > 0).then_some(r.max_body_bytes),
        request_timeout: request_timeout?,
        shutdown_grace: shutdown_grace?,
        tls,
    })
}

fn check_upstream(
    r: &RawUpstream,
    base: &Path,
    e: &mut ConfigErrors,
    warnings: &mut Vec<String>,
) -> Option<UpstreamSettings> {
    let n = e.0.len();
    let url = match r.url.parse::<http::Uri>() {
        Ok(u)
            if matches!(u.scheme_str(), Some("http") | Some("https"))
                && u.authority().is_some()
                && u.query().is_none() =>
        {
            Some(u)
        }
        _ => {
            e.push(
                "upstream.url",
                format!(
                    "`{}` is not an http:// or https:// URL with a host (and no query)",
                    r.url
                ),
            );
            None
        }
    };
    if let Some(u) = &url {
        if u.path() != "/" && !u.path().is_empty() {
            e.push(
                "upstream.url",
                "must not have a path; put the product's context path in upstream.context_path",
            );
        }
    }
    let product = match r.product.as_str() {
        "jira" => Some(Product::Jira),
        "confluence" => Some(Product::Confluence),
        other => {
            e.push(
                "upstream.product",
                format!("`{other}` is not a product; use \"jira\" or \"confluence\""),
            );
            None
        }
    };
    let cp = r.context_path.trim_end_matches('/');
    if !cp.is_empty()
        && (!cp.starts_with('/')
            || cp.contains("//")
            || !cp[1..].split('/').all(|s| {
                !s.is_empty() && s != "." && s != ".." && s.bytes().all(is_plain_path_byte)
            }))
    {
        e.push(
            "upstream.context_path",
            format!(
                "`{}` must look like \"/jira\": a leading `/`, plain segments",
                r.context_path
            ),
        );
    }
    for (i, name) in r.session_cookies.iter().enumerate() {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            e.push(
                format!("upstream.session_cookies[{i}]"),
                format!("`{}` is not a cookie name", name.escape_default()),
            );
        }
    }
    let connect_timeout = e.positive_duration("upstream.connect_timeout", &r.connect_timeout);
    let timeout = e.positive_duration("upstream.timeout", &r.timeout);
    let identity = check_identity(&r.identity, url.as_ref(), base, e, warnings);
    if e.0.len() > n {
        return None;
    }
    Some(UpstreamSettings {
        url: url?,
        product: product?,
        context_path: cp.to_string(),
        connect_timeout: connect_timeout?,
        timeout: timeout?,
        carriers: crate::carriers::Carriers::new(
            match product? {
                Product::Jira => crate::carriers::JIRA_SESSION_COOKIES,
                Product::Confluence => crate::carriers::CONFLUENCE_SESSION_COOKIES,
            },
            &r.session_cookies,
        ),
        identity: identity?,
    })
}

fn is_plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn rules(path: &str, patterns: &[String], e: &mut ConfigErrors) -> Option<RuleSet> {
    match RuleSet::compile(patterns) {
        Ok(r) => Some(r),
        Err(errs) => {
            for (i, err) in errs {
                e.push(format!("{path}[{i}]"), format!("{err}"));
            }
            None
        }
    }
}

fn check_auth(r: &RawAuth, e: &mut ConfigErrors) -> Option<AuthSwitches> {
    let api_paths = rules("auth.api_paths", &r.api_paths, e)?;
    Some(AuthSwitches {
        enabled: r.enabled,
        api_paths,
        disable_basic: r.disable_basic,
        allow_pat: r.allow_pat,
        allow_native_oauth: r.allow_native_oauth,
        gateway_tokens: r.gateway_tokens,
        allow_session_cookies: r.allow_session_cookies,
        require_authentication: r.require_authentication,
        resolve_passthrough_identity: r.resolve_passthrough_identity,
    })
}

/// `localhost` or a loopback address (brackets already removed).
pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

fn http_url(path: &str, v: &str, e: &mut ConfigErrors) -> Option<String> {
    match v.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() => {
            Some(v.to_string())
        }
        _ => {
            e.push(path, format!("`{v}` is not an http:// or https:// URL"));
            None
        }
    }
}

#[cfg(test)]
#[path = "tests_startup.rs"]
mod tests_startup;
