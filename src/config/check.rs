//! The pure check: raw schema -> runtime [`Config`], collecting every error with its path.
//!
//! Owns: every rule about which values are legal together (exactly one key source, HMAC
//! length, algorithms that fit the key, trusted proxies that are not the whole internet…)
//! and the start-up warnings for legal-but-risky settings. Touches no sockets, no database
//! and no key files (those are read when the gateway is built from the checked config).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use http::HeaderName;
use regex::Regex;

use super::raw::*;
use super::*;
use crate::pipeline::ip_filter::{IpFilter, IpScope};
use crate::rules::RuleSet;

/// Checks `raw`; relative file paths resolve against `base_dir`.
pub fn check(raw: &RawConfig, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut e = ConfigErrors::default();
    let mut warnings = Vec::new();
    let server = check_server(&raw.server, base_dir, &mut e);
    let upstream = check_upstream(&raw.upstream, &mut e, &mut warnings);
    let auth = check_auth(&raw.auth, &mut e);
    let providers = check_providers(&raw.providers, base_dir, &mut e, &mut warnings);
    let groups = check_groups(&raw.groups, &mut e);
    let access = check_access(&raw.access, &mut e);
    let ip = check_ip(&raw.ip, &mut e);
    let rate_limit = check_rate_limit(&raw.rate_limit, &mut e);
    let tokens = check_tokens(&raw.tokens, &mut e);
    let audit = check_audit(&raw.audit, base_dir, &mut e);
    let log = check_log(&raw.log, &mut e);
    if !e.is_empty() {
        return Err(e);
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
    let connect_timeout = e.positive_duration("upstream.connect_timeout", &r.connect_timeout);
    let timeout = e.positive_duration("upstream.timeout", &r.timeout);
    let header = match HeaderName::from_bytes(r.identity.header.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            e.push(
                "upstream.identity.header",
                format!("`{}` is not a valid header name", r.identity.header),
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
    let mode = match (r.identity.mode.as_str(), &r.identity.authorization) {
        ("header", None) => Some(IdentityMode::Header),
        ("header", Some(_)) => {
            e.push(
                "upstream.identity.authorization",
                "applies only to mode = \"service_account\"; remove it or change the mode",
            );
            None
        }
        ("service_account", Some(a)) if !a.trim().is_empty() => {
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
        ("service_account", _) => {
            e.push(
                "upstream.identity.authorization",
                "is required for mode = \"service_account\" (a whole Authorization value, e.g. \"Basic …\")",
            );
            None
        }
        (other, _) => {
            e.push(
                "upstream.identity.mode",
                format!("`{other}` is not a mode; use \"header\" or \"service_account\""),
            );
            None
        }
    };
    if let (Some(u), Some(IdentityMode::Header)) = (&url, &mode) {
        let host = u
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback());
        if !loopback {
            warnings.push(format!(
                "upstream.identity.mode = \"header\" with upstream {host}: the product trusts the identity header, so it must be reachable only through authgate (firewall it)"
            ));
        }
    }
    if e.0.len() > n {
        return None;
    }
    Some(UpstreamSettings {
        url: url?,
        product: product?,
        context_path: cp.to_string(),
        connect_timeout: connect_timeout?,
        timeout: timeout?,
        identity: IdentitySettings {
            mode: mode?,
            header: header?,
        },
    })
}

fn is_plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
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

fn parse_alg(s: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match s {
        "HS256" => HS256,
        "HS384" => HS384,
        "HS512" => HS512,
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        _ => return None,
    })
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn dotted(path: &str, v: &str, e: &mut ConfigErrors) -> Option<Vec<String>> {
    let parts: Vec<String> = v.split('.').map(str::to_string).collect();
    if v.is_empty() || parts.iter().any(String::is_empty) {
        e.push(
            path,
            format!("`{v}` is not a dotted claim path (e.g. \"user.login\")"),
        );
        return None;
    }
    Some(parts)
}

fn check_providers(
    list: &[RawProvider],
    base: &Path,
    e: &mut ConfigErrors,
    warnings: &mut Vec<String>,
) -> Vec<ProviderSettings> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut issuers = HashSet::new();
    for (i, r) in list.iter().enumerate() {
        let p = format!("providers[{i}]");
        let n = e.0.len();
        if r.name.trim().is_empty() {
            e.push(format!("{p}.name"), "is required (a short unique name)");
        } else if !names.insert(r.name.clone()) {
            e.push(
                format!("{p}.name"),
                format!("`{}` is used by another provider", r.name),
            );
        }
        let leeway = e.duration(
            &format!("{p}.leeway"),
            r.leeway.as_deref().unwrap_or(DEFAULT_LEEWAY),
        );
        if leeway.is_some_and(|l| l > std::time::Duration::from_secs(300)) {
            e.push(format!("{p}.leeway"), "must be at most 5m");
        }
        let max_token_age = r
            .max_token_age
            .as_deref()
            .and_then(|v| e.positive_duration(&format!("{p}.max_token_age"), v));
        let username_claim = dotted(
            &format!("{p}.username_claim"),
            r.username_claim
                .as_deref()
                .unwrap_or(DEFAULT_USERNAME_CLAIM),
            e,
        );
        let username_regex = r.username_regex.as_deref().and_then(|v| {
            // Anchored so the whole value must match; the first group is the username.
            match Regex::new(&format!("^(?:{v})$")) {
                Ok(re) if re.captures_len() >= 2 => Some(re),
                Ok(_) => {
                    e.push(
                        format!("{p}.username_regex"),
                        "needs a capture group: its first group becomes the username",
                    );
                    None
                }
                Err(err) => {
                    e.push(
                        format!("{p}.username_regex"),
                        format!("is not a valid regex: {err}"),
                    );
                    None
                }
            }
        });
        let groups_claim = r
            .groups_claim
            .as_deref()
            .and_then(|v| dotted(&format!("{p}.groups_claim"), v, e));
        let kind = match r.kind.as_str() {
            "jwt" => check_jwt_provider(&p, r, base, e, warnings),
            "introspection" => check_introspection_provider(&p, r, e),
            other => {
                e.push(
                    format!("{p}.kind"),
                    format!("`{other}` is not a provider kind; use \"jwt\" or \"introspection\""),
                );
                None
            }
        };
        if let Some(ProviderKind::Jwt { issuer, .. }) = &kind {
            if !issuers.insert(issuer.clone()) {
                e.push(
                    format!("{p}.issuer"),
                    "another jwt provider has the same issuer",
                );
            }
        }
        if r.audiences.is_empty() && e.0.len() == n {
            warnings.push(format!(
                "{p} ({}): audiences = [] — the token's aud is not checked, so tokens issued for other services are accepted",
                r.name
            ));
        }
        if e.0.len() > n {
            continue;
        }
        if let (Some(kind), Some(leeway), Some(username_claim)) = (kind, leeway, username_claim) {
            out.push(ProviderSettings {
                name: r.name.clone(),
                kind,
                audiences: r.audiences.clone(),
                leeway,
                max_token_age,
                username_claim,
                username_regex,
                groups_claim,
            });
        }
    }
    let introspection = out
        .iter()
        .filter(|p| matches!(p.kind, ProviderKind::Introspection { .. }))
        .count();
    if introspection > 1 {
        e.push(
            "providers",
            "at most one introspection provider is supported (opaque tokens carry no issuer to pick one by)",
        );
    }
    out
}

fn check_jwt_provider(
    p: &str,
    r: &RawProvider,
    base: &Path,
    e: &mut ConfigErrors,
    warnings: &mut Vec<String>,
) -> Option<ProviderKind> {
    let n = e.0.len();
    for (key, set) in [
        ("introspection_url", r.introspection_url.is_some()),
        ("client_id", r.client_id.is_some()),
        ("client_secret", r.client_secret.is_some()),
        ("auth_method", r.auth_method.is_some()),
        ("cache_ttl", r.cache_ttl.is_some()),
        ("timeout", r.timeout.is_some()),
    ] {
        if set {
            e.push(
                format!("{p}.{key}"),
                "applies only to kind = \"introspection\"",
            );
        }
    }
    let issuer = match &r.issuer {
        Some(i) if !i.is_empty() => Some(i.clone()),
        _ => {
            e.push(
                format!("{p}.issuer"),
                "is required for kind = \"jwt\" (it must equal the tokens' iss)",
            );
            None
        }
    };
    let sources: Vec<&str> = [
        ("public_key_file", r.public_key_file.is_some()),
        ("certificate_file", r.certificate_file.is_some()),
        ("jwks_url", r.jwks_url.is_some()),
        ("discovery_url", r.discovery_url.is_some()),
        ("hmac_secret", r.hmac_secret.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect();
    let key = if sources.len() != 1 {
        let found = if sources.is_empty() {
            "none".to_string()
        } else {
            sources.join(" and ")
        };
        e.push(
            p.to_string(),
            format!("exactly one key source is required (public_key_file, certificate_file, jwks_url, discovery_url or hmac_secret), found {found}"),
        );
        None
    } else if let Some(f) = &r.public_key_file {
        Some(KeySource::PublicKeyFile(file_path(base, f)))
    } else if let Some(f) = &r.certificate_file {
        Some(KeySource::CertificateFile(file_path(base, f)))
    } else if let Some(u) = &r.jwks_url {
        http_url(&format!("{p}.jwks_url"), u, e).map(KeySource::JwksUrl)
    } else if let Some(u) = &r.discovery_url {
        http_url(&format!("{p}.discovery_url"), u, e).map(KeySource::DiscoveryUrl)
    } else if let Some(s) = &r.hmac_secret {
        if s.len() < 32 {
            e.push(
                format!("{p}.hmac_secret"),
                format!(
                    "must be at least 32 bytes (it has {}); use a long random secret",
                    s.len()
                ),
            );
            None
        } else {
            Some(KeySource::HmacSecret(Secret::new(s.clone())))
        }
    } else {
        None
    };
    let names: Vec<String> = if r.algorithms.is_empty() {
        if matches!(key, Some(KeySource::HmacSecret(_))) {
            vec!["HS256".into()]
        } else {
            vec!["RS256".into()]
        }
    } else {
        r.algorithms.clone()
    };
    let mut algorithms = Vec::new();
    for (j, a) in names.iter().enumerate() {
        match parse_alg(a) {
            Some(alg) => algorithms.push(alg),
            None => e.push(
                format!("{p}.algorithms[{j}]"),
                format!("`{a}` is not an allowed algorithm (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA, HS256/384/512; never \"none\")"),
            ),
        }
    }
    if let Some(k) = &key {
        let hmac_key = matches!(k, KeySource::HmacSecret(_));
        for (j, a) in algorithms.iter().enumerate() {
            if is_hmac(*a) != hmac_key {
                e.push(
                    format!("{p}.algorithms[{j}]"),
                    if hmac_key {
                        format!("{a:?} does not fit hmac_secret; use HS256, HS384 or HS512")
                    } else {
                        format!("{a:?} needs hmac_secret; a public-key source allows only asymmetric algorithms")
                    },
                );
            }
        }
    }
    let _ = warnings;
    if e.0.len() > n {
        return None;
    }
    Some(ProviderKind::Jwt {
        issuer: issuer?,
        algorithms,
        key: key?,
    })
}

fn check_introspection_provider(
    p: &str,
    r: &RawProvider,
    e: &mut ConfigErrors,
) -> Option<ProviderKind> {
    let n = e.0.len();
    for (key, set) in [
        ("public_key_file", r.public_key_file.is_some()),
        ("certificate_file", r.certificate_file.is_some()),
        ("jwks_url", r.jwks_url.is_some()),
        ("discovery_url", r.discovery_url.is_some()),
        ("hmac_secret", r.hmac_secret.is_some()),
        ("algorithms", !r.algorithms.is_empty()),
    ] {
        if set {
            e.push(format!("{p}.{key}"), "applies only to kind = \"jwt\"");
        }
    }
    let url = match &r.introspection_url {
        Some(u) => http_url(&format!("{p}.introspection_url"), u, e),
        None => {
            e.push(
                format!("{p}.introspection_url"),
                "is required for kind = \"introspection\"",
            );
            None
        }
    };
    let client_id = match &r.client_id {
        Some(c) if !c.is_empty() => Some(c.clone()),
        _ => {
            e.push(
                format!("{p}.client_id"),
                "is required for kind = \"introspection\"",
            );
            None
        }
    };
    let client_secret = match &r.client_secret {
        Some(c) if !c.is_empty() => Some(Secret::new(c.clone())),
        _ => {
            e.push(
                format!("{p}.client_secret"),
                "is required for kind = \"introspection\"",
            );
            None
        }
    };
    let auth_method = match r.auth_method.as_deref().unwrap_or("client_secret_basic") {
        "client_secret_basic" => Some(ClientAuthMethod::ClientSecretBasic),
        "client_secret_post" => Some(ClientAuthMethod::ClientSecretPost),
        other => {
            e.push(
                format!("{p}.auth_method"),
                format!("`{other}` is not supported; use \"client_secret_basic\" or \"client_secret_post\""),
            );
            None
        }
    };
    let cache_ttl = e.duration(
        &format!("{p}.cache_ttl"),
        r.cache_ttl
            .as_deref()
            .unwrap_or(DEFAULT_INTROSPECTION_CACHE_TTL),
    );
    let timeout = e.positive_duration(
        &format!("{p}.timeout"),
        r.timeout
            .as_deref()
            .unwrap_or(DEFAULT_INTROSPECTION_TIMEOUT),
    );
    if e.0.len() > n {
        return None;
    }
    Some(ProviderKind::Introspection {
        issuer: r.issuer.clone().filter(|s| !s.is_empty()),
        url: url?,
        client_id: client_id?,
        client_secret: client_secret?,
        auth_method: auth_method?,
        cache_ttl: cache_ttl?,
        timeout: timeout?,
    })
}

fn check_groups(r: &RawGroups, e: &mut ConfigErrors) -> Option<GroupsSettings> {
    let n = e.0.len();
    let cache_ttl = e.duration("groups.cache_ttl", &r.cache_ttl);
    let source = match r.source.as_str() {
        "claim" | "upstream" if !r.static_groups.is_empty() => {
            e.push("groups.static", "applies only to source = \"static\"");
            None
        }
        "claim" => Some(GroupSource::Claim),
        "upstream" => Some(GroupSource::Upstream),
        "static" => Some(GroupSource::Static(r.static_groups.clone())),
        other => {
            e.push(
                "groups.source",
                format!("`{other}` is not a source; use \"claim\", \"upstream\" or \"static\""),
            );
            None
        }
    };
    if e.0.len() > n {
        return None;
    }
    Some(GroupsSettings {
        source: source?,
        cache_ttl: cache_ttl?,
    })
}

fn check_access(r: &RawAccess, e: &mut ConfigErrors) -> Option<AccessSettings> {
    let read_posts = rules("access.read_posts", &r.read_posts, e);
    let public_restricted = rules("access.public_restricted", &r.public_restricted, e);
    let bypass = rules("access.bypass", &r.bypass, e);
    let deny = rules("access.deny", &r.deny, e);
    for (key, list) in [
        ("allowed_groups", &r.allowed_groups),
        ("read_only_groups", &r.read_only_groups),
        ("token_creation_groups", &r.token_creation_groups),
        ("admin_groups", &r.admin_groups),
    ] {
        for (i, g) in list.iter().enumerate() {
            if g.trim().is_empty() {
                e.push(format!("access.{key}[{i}]"), "a group name cannot be empty");
            }
        }
    }
    Some(AccessSettings {
        allowed_groups: r.allowed_groups.clone(),
        read_only_groups: r.read_only_groups.clone(),
        read_posts: read_posts?,
        token_creation_groups: r.token_creation_groups.clone(),
        admin_groups: r.admin_groups.clone(),
        public_restricted: public_restricted?,
        bypass: bypass?,
        deny: deny?,
    })
}

fn check_ip(r: &RawIp, e: &mut ConfigErrors) -> Option<IpFilter> {
    let n = e.0.len();
    let mut allow = Vec::new();
    for (i, a) in r.allow.iter().enumerate() {
        match crate::pipeline::ip_filter::parse_net(a) {
            Some(net) => allow.push(net),
            None => e.push(
                format!("ip.allow[{i}]"),
                format!(
                    "`{a}` is not an IP address or CIDR (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")"
                ),
            ),
        }
    }
    let mut trusted = Vec::new();
    for (i, a) in r.trusted_proxies.iter().enumerate() {
        match crate::pipeline::ip_filter::parse_net(a) {
            Some(net) if net.prefix_len() == 0 => e.push(
                format!("ip.trusted_proxies[{i}]"),
                format!("`{a}` trusts every address, so any client could choose its own IP; list your proxies' addresses"),
            ),
            Some(net) => trusted.push(net),
            None => e.push(
                format!("ip.trusted_proxies[{i}]"),
                format!("`{a}` is not an IP address or CIDR"),
            ),
        }
    }
    let scope = match r.scope.as_str() {
        "api" => Some(IpScope::Api),
        "all" => Some(IpScope::All),
        other => {
            e.push(
                "ip.scope",
                format!("`{other}` is not a scope; use \"api\" or \"all\""),
            );
            None
        }
    };
    let header = match HeaderName::from_bytes(r.client_ip_header.as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            e.push(
                "ip.client_ip_header",
                format!("`{}` is not a valid header name", r.client_ip_header),
            );
            None
        }
    };
    if e.0.len() > n {
        return None;
    }
    Some(IpFilter::new(allow, scope?, trusted, header?))
}

fn quota(
    path: &str,
    requests: u32,
    per: &str,
    burst: Option<u32>,
    e: &mut ConfigErrors,
) -> Option<Quota> {
    let n = e.0.len();
    let req = NonZeroU32::new(requests);
    if req.is_none() {
        e.push(format!("{path}.requests"), "must be at least 1");
    }
    let per = e.positive_duration(&format!("{path}.per"), per);
    let burst = match burst {
        Some(b) => {
            let b = NonZeroU32::new(b);
            if b.is_none() {
                e.push(format!("{path}.burst"), "must be at least 1");
            }
            b
        }
        None => req,
    };
    if e.0.len() > n {
        return None;
    }
    Some(Quota {
        requests: req?,
        per: per?,
        burst: burst?,
    })
}

fn check_rate_limit(r: &RawRateLimit, e: &mut ConfigErrors) -> Option<RateLimitSettings> {
    let n = e.0.len();
    let q = quota("rate_limit", r.requests, &r.per, r.burst, e);
    let mut overrides = Vec::new();
    for (i, o) in r.overrides.iter().enumerate() {
        let p = format!("rate_limit.overrides[{i}]");
        if o.group.trim().is_empty() {
            e.push(format!("{p}.group"), "is required");
        }
        if let Some(q) = quota(&p, o.requests, &o.per, o.burst, e) {
            overrides.push((o.group.clone(), q));
        }
    }
    if e.0.len() > n {
        return None;
    }
    Some(RateLimitSettings {
        enabled: r.enabled,
        quota: q?,
        overrides,
    })
}

fn check_tokens(r: &RawTokens, e: &mut ConfigErrors) -> Option<TokenSettings> {
    let n = e.0.len();
    let default_expiry = e.positive_duration("tokens.default_expiry", &r.default_expiry);
    let max_expiry = e.positive_duration("tokens.max_expiry", &r.max_expiry);
    if let (Some(d), Some(m)) = (default_expiry, max_expiry) {
        if d > m {
            e.push("tokens.default_expiry", "is longer than tokens.max_expiry");
        }
    }
    if r.max_per_user == 0 {
        e.push("tokens.max_per_user", "must be at least 1");
    }
    if e.0.len() > n {
        return None;
    }
    Some(TokenSettings {
        allow_user_creation: r.allow_user_creation,
        default_expiry: default_expiry?,
        max_expiry: max_expiry?,
        max_per_user: r.max_per_user,
    })
}

fn check_audit(r: &RawAudit, base: &Path, e: &mut ConfigErrors) -> Option<AuditSettings> {
    let n = e.0.len();
    let url = r.database_url.trim();
    let (kind, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Some(DatabaseKind::Postgres), url.to_string())
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.trim_start_matches("//");
        let (file, query) = match rest.split_once('?') {
            Some((f, q)) => (f, Some(q)),
            None => (rest, None),
        };
        if file.is_empty() {
            e.push(
                "audit.database_url",
                "a sqlite URL needs a file, e.g. \"sqlite://authgate.db?mode=rwc\"",
            );
        }
        let resolved = if file == ":memory:" {
            file.to_string()
        } else {
            file_path(base, file).to_string_lossy().into_owned()
        };
        let url = match query {
            Some(q) => format!("sqlite://{resolved}?{q}"),
            None => format!("sqlite://{resolved}"),
        };
        (Some(DatabaseKind::Sqlite), url)
    } else {
        // Never echo the URL: it may hold a password.
        e.push(
            "audit.database_url",
            "must start with postgres://, postgresql:// or sqlite:",
        );
        (None, String::new())
    };
    if r.retention_days == 0 {
        e.push("audit.retention_days", "must be at least 1");
    }
    if r.retention_max_rows == 0 {
        e.push("audit.retention_max_rows", "must be at least 1");
    }
    if r.queue == 0 {
        e.push("audit.queue", "must be at least 1");
    }
    let cleanup_interval = e.positive_duration("audit.cleanup_interval", &r.cleanup_interval);
    if r.spool_dir.trim().is_empty() {
        e.push("audit.spool_dir", "is required");
    }
    let log = match r.log.as_str() {
        "stdout" => AuditLog::Stdout,
        "off" => AuditLog::Off,
        "" => {
            e.push("audit.log", "use \"stdout\", \"off\" or a file path");
            AuditLog::Off
        }
        path => AuditLog::File(file_path(base, path)),
    };
    if e.0.len() > n {
        return None;
    }
    Some(AuditSettings {
        enabled: r.enabled,
        database_kind: kind?,
        database_url: Secret::new(url),
        retention_days: r.retention_days,
        retention_max_rows: r.retention_max_rows,
        cleanup_interval: cleanup_interval?,
        migrate: r.migrate,
        queue: r.queue,
        spool_dir: file_path(base, &r.spool_dir),
        log,
    })
}

fn check_log(r: &RawLog, e: &mut ConfigErrors) -> Option<LogSettings> {
    let format = match r.format.as_str() {
        "json" => LogFormat::Json,
        "pretty" => LogFormat::Pretty,
        other => {
            e.push(
                "log.format",
                format!("`{other}` is not a format; use \"json\" or \"pretty\""),
            );
            return None;
        }
    };
    // EnvFilter reads a bare word as a target name ("inof" = everything from target `inof`,
    // i.e. silence), so a bare word must be a level; `target=level` directives are free.
    let bare_ok = r.level.split(',').map(str::trim).all(|d| {
        d.contains('=')
            || ["trace", "debug", "info", "warn", "error", "off"]
                .iter()
                .any(|l| l.eq_ignore_ascii_case(d))
    });
    if r.level.trim().is_empty()
        || !bare_ok
        || tracing_subscriber::EnvFilter::try_new(&r.level).is_err()
    {
        e.push(
            "log.level",
            format!(
                "`{}` is not a level: use trace, debug, info, warn, error or off, or directives like \"authgate=debug,info\"",
                r.level
            ),
        );
        return None;
    }
    Some(LogSettings {
        format,
        level: r.level.clone(),
    })
}

#[cfg(test)]
#[path = "tests_startup.rs"]
mod tests_startup;
