//! `[groups]`, `[access]`, `[ip]`, `[rate_limit]`, `[tokens]`, `[audit]` and `[log]`.

use std::num::NonZeroU32;
use std::path::Path;

use http::HeaderName;

use super::*;
use crate::pipeline::ip_filter::{IpFilter, IpScope};

pub(super) fn check_groups(r: &RawGroups, e: &mut ConfigErrors) -> Option<GroupsSettings> {
    let n = e.0.len();
    let cache_ttl = e.duration("groups.cache_ttl", &r.cache_ttl);
    let source = match r.source.as_str() {
        "claim" | "upstream" if !r.static_groups.is_empty() => {
            e.push("groups.static", "applies only to source = \"static\"");
            None
        }
        "claim" => Some(GroupSource::Claim),
        "upstream" => Some(GroupSource::Upstream),
        "static" => {
            // Usernames are case-insensitive: keys are stored lower-cased, and two keys that
            // differ only by case would make the answer depend on the spelling.
            let mut map = std::collections::BTreeMap::new();
            for (user, groups) in &r.static_groups {
                let key = crate::principal::name_key(user);
                if map.insert(key, groups.clone()).is_some() {
                    e.push(
                        format!("groups.static.{user}"),
                        "another key names the same user (usernames are case-insensitive)",
                    );
                }
            }
            Some(GroupSource::Static(map))
        }
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

pub(super) fn check_access(
    r: &RawAccess,
    product: &str,
    e: &mut ConfigErrors,
) -> Option<AccessSettings> {
    let default_read_posts = || {
        let list = match product {
            "confluence" => DEFAULT_READ_POSTS_CONFLUENCE,
            _ => DEFAULT_READ_POSTS,
        };
        list.iter().map(|p| p.to_string()).collect::<Vec<_>>()
    };
    let read_posts = rules(
        "access.read_posts",
        &r.read_posts.clone().unwrap_or_else(default_read_posts),
        e,
    );
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

pub(super) fn check_ip(r: &RawIp, e: &mut ConfigErrors) -> Option<IpFilter> {
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

pub(super) fn check_rate_limit(
    r: &RawRateLimit,
    e: &mut ConfigErrors,
) -> Option<RateLimitSettings> {
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
    let store = check_rate_store(r, e);
    if e.0.len() > n {
        return None;
    }
    Some(RateLimitSettings {
        enabled: r.enabled,
        quota: q?,
        overrides,
        store: store?,
    })
}

/// Longest `redis_timeout` accepted: it is added to every limited request while Redis is slow.
const MAX_REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn check_rate_store(r: &RawRateLimit, e: &mut ConfigErrors) -> Option<RateStore> {
    match r.store.as_str() {
        "memory" => {
            for (key, given) in [
                ("redis_url", r.redis_url.is_some()),
                ("redis_timeout", r.redis_timeout != DEFAULT_REDIS_TIMEOUT),
                ("on_store_error", r.on_store_error != "local"),
            ] {
                if given {
                    e.push(
                        format!("rate_limit.{key}"),
                        "applies only to store = \"redis\"; remove it or set store = \"redis\"",
                    );
                }
            }
            Some(RateStore::Memory)
        }
        "redis" => {
            let url = match r.redis_url.as_deref() {
                Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
                    match redis::IntoConnectionInfo::into_connection_info(u) {
                        Ok(_) => Some(Secret::new(u.to_string())),
                        // The message may hold the URL and its password: never shown.
                        Err(_) => {
                            e.push("rate_limit.redis_url", "is not a valid Redis URL");
                            None
                        }
                    }
                }
                Some(_) => {
                    e.push(
                        "rate_limit.redis_url",
                        "must start with redis:// or rediss://",
                    );
                    None
                }
                None => {
                    e.push(
                        "rate_limit.redis_url",
                        "is required for store = \"redis\" (e.g. \"redis://127.0.0.1:6379/0\", a password through \"${VAR}\")",
                    );
                    None
                }
            };
            let timeout = e.positive_duration("rate_limit.redis_timeout", &r.redis_timeout);
            if timeout.is_some_and(|t| t > MAX_REDIS_TIMEOUT) {
                e.push(
                    "rate_limit.redis_timeout",
                    "must be at most 5s: every limited request waits up to this long while Redis is slow",
                );
            }
            let on_error = match r.on_store_error.as_str() {
                "local" => Some(OnStoreError::Local),
                "deny" => Some(OnStoreError::Deny),
                "allow" => Some(OnStoreError::Allow),
                other => {
                    e.push(
                        "rate_limit.on_store_error",
                        format!("`{other}` is not one of \"local\", \"deny\", \"allow\""),
                    );
                    None
                }
            };
            Some(RateStore::Redis(RedisSettings {
                url: url?,
                timeout: timeout?,
                on_error: on_error?,
            }))
        }
        other => {
            e.push(
                "rate_limit.store",
                format!("`{other}` is not a store; use \"memory\" or \"redis\""),
            );
            None
        }
    }
}

pub(super) fn check_tokens(r: &RawTokens, e: &mut ConfigErrors) -> Option<TokenSettings> {
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

pub(super) fn check_audit(
    r: &RawAudit,
    base: &Path,
    e: &mut ConfigErrors,
) -> Option<AuditSettings> {
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

pub(super) fn check_log(r: &RawLog, e: &mut ConfigErrors) -> Option<LogSettings> {
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
