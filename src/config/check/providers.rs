//! `[[providers]]`: exactly one key source per JWT provider, algorithms that fit the key,
//! introspection client settings, and the claim paths. Pure: no key file is read here.

use std::collections::HashSet;
use std::path::Path;

use regex::Regex;

use super::*;

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

/// The host of an `http://` URL that is not loopback.
fn cleartext_host(url: &str) -> Option<String> {
    let u = url.parse::<http::Uri>().ok()?;
    if u.scheme_str() != Some("http") {
        return None;
    }
    let host = u.host()?.trim_start_matches('[').trim_end_matches(']');
    (!is_loopback_host(host)).then(|| host.to_string())
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

pub(super) fn check_providers(
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
        // Tokens (introspection) or keys (JWKS, discovery) in clear text over the network:
        // allowed (an IdP behind a mesh sidecar), but said loudly (C-08 in docs/catalog.md).
        let fetched = match &kind {
            Some(ProviderKind::Jwt {
                key: KeySource::JwksUrl(u),
                ..
            }) => Some(("jwks_url", u, "the signing keys")),
            Some(ProviderKind::Jwt {
                key: KeySource::DiscoveryUrl(u),
                ..
            }) => Some(("discovery_url", u, "the signing keys")),
            Some(ProviderKind::Introspection { url, .. }) => Some((
                "introspection_url",
                url,
                "every token and the client secret",
            )),
            _ => None,
        };
        if let Some((key, url, what)) = fetched {
            if let Some(host) = cleartext_host(url) {
                warnings.push(format!(
                    "{p}.{key}: http:// to {host} sends {what} in clear text; use https:// (plain http is meant for a loopback IdP)"
                ));
            }
        }
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
