//! `authgate check-config`: check the file and print a one-screen summary, or every error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::{Config, DatabaseKind, GroupSource, IdentityMode, Product, ProviderKind};

/// Checks `path`; exit 1 on any error.
pub fn check_config(path: &Path) -> Result<ExitCode> {
    match crate::config::load(path) {
        Ok(cfg) => {
            // The one file the pure check does not read: the oauth1 key (permissions, size).
            if let IdentityMode::OAuth1(o) = &cfg.upstream.identity.mode {
                if let Err(e) = crate::oauth1::key::load(&o.private_key_file) {
                    eprintln!(
                        "authgate: config file {}: upstream.identity.private_key_file: {e}",
                        path.display()
                    );
                    return Ok(ExitCode::from(1));
                }
            }
            print!("{}", summary(&cfg));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("authgate: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The one-screen summary (no secrets): one line per table, the keys an operator checks.
pub fn summary(c: &Config) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let mut s = String::new();
    let src = c
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(text)".into());
    s.push_str(&format!("config {src}: OK\n"));
    s.push_str(&format!(
        "server      listen {}, admin {} (/admin/* {}), request_timeout {}\n",
        c.server.listen,
        c.server.admin_listen,
        on(c.server.admin_token.is_some()),
        humantime::format_duration(c.server.request_timeout),
    ));
    let mode = match &c.upstream.identity.mode {
        IdentityMode::Header => format!("header via {}", c.upstream.identity.header),
        IdentityMode::ServiceAccount(_) => {
            format!("service_account via {}", c.upstream.identity.header)
        }
        IdentityMode::OAuth1(o) => format!(
            "oauth1 as consumer {:?}, signed for {}, key {}",
            o.consumer_key,
            o.base_url,
            o.private_key_file.display()
        ),
    };
    let product = match c.upstream.product {
        Product::Jira => "jira",
        Product::Confluence => "confluence",
    };
    s.push_str(&format!(
        "upstream    {} ({product}), context_path {:?}, identity {mode}\n",
        c.upstream.url, c.upstream.context_path
    ));
    s.push_str(&format!(
        "credentials Authorization, cookies {}, os_username/os_password and oauth_* parameters\n",
        c.upstream.carriers.session_cookie_names().join(", ")
    ));
    let a = &c.auth;
    s.push_str(&format!(
        "auth        {}, api_paths {} rule(s); basic {}, pat {}, native_oauth {}, gateway_tokens {}, session_cookies {}, require_authentication {}\n",
        if a.enabled { "enabled" } else { "DISABLED (forward only)" },
        a.api_paths.len(),
        on(!a.disable_basic),
        on(a.allow_pat),
        on(a.allow_native_oauth),
        on(a.gateway_tokens),
        on(a.allow_session_cookies),
        on(a.require_authentication),
    ));
    if c.providers.is_empty() {
        s.push_str("providers   none\n");
    }
    for p in &c.providers {
        let what = match &p.kind {
            ProviderKind::Jwt {
                issuer, algorithms, ..
            } => format!("jwt, issuer {issuer}, algorithms {algorithms:?}"),
            ProviderKind::Introspection { url, .. } => format!("introspection {url}"),
        };
        s.push_str(&format!(
            "provider    {}: {what}, audiences {:?}\n",
            p.name, p.audiences
        ));
    }
    let groups = match &c.groups.source {
        GroupSource::Claim => "claim".to_string(),
        GroupSource::Upstream => "upstream".to_string(),
        GroupSource::Static(m) => format!("static ({} user(s))", m.len()),
    };
    s.push_str(&format!(
        "access      groups from {groups}; allowed_groups {}, read_only_groups {}, admin_groups {}\n",
        c.access.allowed_groups.len(),
        c.access.read_only_groups.len(),
        c.access.admin_groups.len(),
    ));
    s.push_str(&format!(
        "rules       deny {}, bypass {}, public_restricted {}, read_posts {}\n",
        c.access.deny.len(),
        c.access.bypass.len(),
        c.access.public_restricted.len(),
        c.access.read_posts.len()
    ));
    s.push_str(&format!(
        "ip          allow {} entr(ies){}\n",
        c.ip.allow_len(),
        if c.ip.allow_len() == 0 {
            " (every address)"
        } else {
            ""
        }
    ));
    let q = &c.rate_limit.quota;
    let store = match &c.rate_limit.store {
        crate::config::RateStore::Memory => "memory".to_string(),
        // The URL may carry a password: only the settings around it.
        crate::config::RateStore::Redis(r) => format!(
            "redis (timeout {}, on error {:?})",
            humantime::format_duration(r.timeout),
            r.on_error
        ),
    };
    s.push_str(&format!(
        "rate_limit  {}: {} per {}, burst {}, {} override(s), store {store}\n",
        on(c.rate_limit.enabled),
        q.requests,
        humantime::format_duration(q.per),
        q.burst,
        c.rate_limit.overrides.len()
    ));
    let db = match c.audit.database_kind {
        DatabaseKind::Postgres => "postgres",
        DatabaseKind::Sqlite => "sqlite",
    };
    s.push_str(&format!(
        "audit       {}, {db}, retention {} day(s) / {} row(s)\n",
        on(c.audit.enabled),
        c.audit.retention_days,
        c.audit.retention_max_rows
    ));
    for w in &c.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s
}
