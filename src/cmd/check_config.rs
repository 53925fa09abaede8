//! `authgate check-config`: check the file and print a one-screen summary, or every error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::{Config, IdentityMode, ProviderKind};

/// Checks `path`; exit 1 on any error.
pub fn check_config(path: &Path) -> Result<ExitCode> {
    match crate::config::load(path) {
        Ok(cfg) => {
            print!("{}", summary(&cfg));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("authgate: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The one-screen summary (no secrets).
pub fn summary(c: &Config) -> String {
    let mut s = String::new();
    let src = c
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    s.push_str(&format!("config {src}: OK\n"));
    s.push_str(&format!(
        "listen {}  admin {}  admin api {}\n",
        c.server.listen,
        c.server.admin_listen,
        if c.server.admin_token.is_some() {
            "on"
        } else {
            "off"
        }
    ));
    let mode = match c.upstream.identity.mode {
        IdentityMode::Header => "header",
        IdentityMode::ServiceAccount(_) => "service_account",
    };
    s.push_str(&format!(
        "upstream {} ({:?}) context_path {:?}  identity {} via {}\n",
        c.upstream.url,
        c.upstream.product,
        c.upstream.context_path,
        mode,
        c.upstream.identity.header
    ));
    s.push_str(&format!(
        "auth enabled={}  api_paths {} rule(s)\n",
        c.auth.enabled,
        c.auth.api_paths.len()
    ));
    for p in &c.providers {
        let what = match &p.kind {
            ProviderKind::Jwt {
                issuer, algorithms, ..
            } => format!("jwt issuer {issuer} algorithms {algorithms:?}"),
            ProviderKind::Introspection { url, .. } => format!("introspection {url}"),
        };
        s.push_str(&format!("provider {}: {what}\n", p.name));
    }
    s.push_str(&format!(
        "rules: deny {}  bypass {}  public_restricted {}  read_posts {}\n",
        c.access.deny.len(),
        c.access.bypass.len(),
        c.access.public_restricted.len(),
        c.access.read_posts.len()
    ));
    s.push_str(&format!(
        "ip allow {} entr(ies)  rate_limit {}\n",
        c.ip.allow_len(),
        if c.rate_limit.enabled { "on" } else { "off" }
    ));
    s.push_str(&format!(
        "audit {:?} enabled={}\n",
        c.audit.database_kind, c.audit.enabled
    ));
    for w in &c.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s
}
