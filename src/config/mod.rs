//! Configuration: load one TOML file, check it once, hand out typed runtime values.
//!
//! Owns: [`load`] / [`from_toml`], `${VAR}` interpolation, and the runtime [`Config`] with
//! one typed struct per table. `raw.rs` is the schema; `check.rs` turns raw into runtime
//! values and collects every error with its TOML path. Runtime code never re-parses strings.

pub mod check;
pub mod defaults;
pub mod errors;
mod parse;
pub mod rate_limit;
pub mod raw;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use regex::Regex;

pub use errors::{ConfigError, ConfigErrors, Secret};
pub use parse::parse_raw;
pub use rate_limit::{OnStoreError, Quota, RateLimitSettings, RateStore, RedisSettings};

use crate::pipeline::ip_filter::IpFilter;
use crate::rules::RuleSet;

/// The checked configuration: everything the gateway needs, already parsed.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (reload re-reads it); `None` for configs built from strings.
    pub source: Option<PathBuf>,
    /// `[server]`
    pub server: ServerSettings,
    /// `[upstream]`
    pub upstream: UpstreamSettings,
    /// `[auth]`
    pub auth: AuthSwitches,
    /// `[[providers]]`, in file order.
    pub providers: Vec<ProviderSettings>,
    /// `[groups]`
    pub groups: GroupsSettings,
    /// `[access]`
    pub access: AccessSettings,
    /// `[ip]`, compiled.
    pub ip: IpFilter,
    /// `[rate_limit]`
    pub rate_limit: RateLimitSettings,
    /// `[tokens]`
    pub tokens: TokenSettings,
    /// `[audit]`
    pub audit: AuditSettings,
    /// `[log]`
    pub log: LogSettings,
    /// Things that are legal but probably a mistake; logged loudly at start.
    pub warnings: Vec<String>,
}

/// `[server]`
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Client listener.
    pub listen: SocketAddr,
    /// Operator listener.
    pub admin_listen: SocketAddr,
    /// Bearer secret for `/admin/*`; `None` disables `/admin/*`.
    pub admin_token: Option<Secret>,
    /// Request head limit in bytes (-> 431).
    pub max_header_bytes: usize,
    /// The whole head must arrive within this.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Body limit (-> 413); `None` = unlimited.
    pub max_body_bytes: Option<u64>,
    /// Whole request, upstream included (-> 504).
    pub request_timeout: Duration,
    /// Drain time after SIGTERM.
    pub shutdown_grace: Duration,
    /// TLS on `listen`: (certificate chain, key), PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Which product is behind authgate; picks the user and group endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// Jira DC (`/rest/api/2/myself`, `/rest/api/2/user`).
    Jira,
    /// Confluence DC (`/rest/api/user/current`, `/rest/api/user/memberof`).
    Confluence,
}

/// `[upstream]`
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Scheme and authority (and optional base path) of the product.
    pub url: http::Uri,
    /// Jira or Confluence.
    pub product: Product,
    /// e.g. `/jira`; empty when the product is at the root. Never ends with `/`.
    pub context_path: String,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Time to the upstream's response head.
    pub timeout: Duration,
    /// Identity hand-off.
    pub identity: IdentitySettings,
    /// Everything by which the product could authenticate a request (its session cookies
    /// plus `upstream.session_cookies`).
    pub carriers: crate::carriers::Carriers,
}

/// How the authenticated user is handed to the product (docs/http.md#what-reaches-the-product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMode {
    /// The identity header carries the username; the product trusts it.
    Header,
    /// `Authorization` is replaced by this value; the identity header still names the user.
    ServiceAccount(Secret),
    /// 2-legged OAuth 1.0a with user impersonation, signed as an application link
    /// (`oauth1`); no identity header is sent.
    OAuth1(OAuth1Settings),
}

/// `mode = "oauth1"` settings (docs/oauth1.md). The key file is read when the runtime is
/// built (and by `check-config`), not by the pure check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth1Settings {
    /// The link's consumer key.
    pub consumer_key: String,
    /// The RSA private key (PEM).
    pub private_key_file: PathBuf,
    /// `scheme://host[:port]` in its signature form (lower case, no default port).
    pub base_url: String,
}

/// `[upstream.identity]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    /// Header, service account or oauth1.
    pub mode: IdentityMode,
    /// The identity header name (lower-cased).
    pub header: HeaderName,
}

/// `[auth]`: the global switches.
#[derive(Debug, Clone)]
pub struct AuthSwitches {
    /// false: forward everything (IP filter and audit still apply).
    pub enabled: bool,
    /// What counts as an API call.
    pub api_paths: RuleSet,
    /// Basic on API paths -> 401.
    pub disable_basic: bool,
    /// Product PATs pass through.
    pub allow_pat: bool,
    /// Opaque bearer tokens pass through when no introspection provider exists.
    pub allow_native_oauth: bool,
    /// Accept `gw_` tokens.
    pub gateway_tokens: bool,
    /// Session cookies pass through; false: they are removed and the caller is anonymous.
    pub allow_session_cookies: bool,
    /// Anonymous API calls -> 401.
    pub require_authentication: bool,
    /// Learn user and groups of pass-through callers from the product.
    pub resolve_passthrough_identity: bool,
}

/// A JWS algorithm a provider accepts (the allow-list is fixed at config time).
pub use jsonwebtoken::Algorithm;

/// Where a JWT provider's keys come from: exactly one per provider.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// PEM public key (RSA, EC P-256/P-384, Ed25519).
    PublicKeyFile(PathBuf),
    /// PEM X.509 certificate; its key is used.
    CertificateFile(PathBuf),
    /// JWKS document URL.
    JwksUrl(String),
    /// OIDC discovery document URL (its `jwks_uri` is used; its `issuer` must equal ours).
    DiscoveryUrl(String),
    /// Shared HMAC secret (at least 32 bytes).
    HmacSecret(Secret),
}

/// Client authentication towards an introspection endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// What kind of provider, with the settings only that kind has.
#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// Verified locally.
    Jwt {
        /// Must equal `iss`.
        issuer: String,
        /// Allowed `alg` values, each fitting the key source.
        algorithms: Vec<Algorithm>,
        /// The key source.
        key: KeySource,
    },
    /// RFC 7662.
    Introspection {
        /// Optional expected `iss`.
        issuer: Option<String>,
        /// Endpoint URL.
        url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
        /// Basic or post.
        auth_method: ClientAuthMethod,
        /// How long an answer is cached (never past `exp`).
        cache_ttl: Duration,
        /// Request timeout.
        timeout: Duration,
    },
}

/// One checked `[[providers]]` entry.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Unique name.
    pub name: String,
    /// Kind-specific settings.
    pub kind: ProviderKind,
    /// `aud` must contain one; empty = not checked.
    pub audiences: Vec<String>,
    /// Allowed clock skew.
    pub leeway: Duration,
    /// Optional maximum age of `iat` / lifetime `exp - iat`.
    pub max_token_age: Option<Duration>,
    /// Dotted path, split.
    pub username_claim: Vec<String>,
    /// First capture group becomes the username (the whole value must match).
    pub username_regex: Option<Regex>,
    /// Dotted path to the groups, split.
    pub groups_claim: Option<Vec<String>>,
}

/// Where groups come from.
#[derive(Debug, Clone)]
pub enum GroupSource {
    /// From the principal (token claim).
    Claim,
    /// Ask the product, cached.
    Upstream,
    /// From `[groups.static]`.
    Static(BTreeMap<String, Vec<String>>),
}

/// `[groups]`
#[derive(Debug, Clone)]
pub struct GroupsSettings {
    /// Source of groups.
    pub source: GroupSource,
    /// Cache lifetime of product answers.
    pub cache_ttl: Duration,
}

/// `[access]`, compiled.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// Non-empty: only members of one may call the APIs.
    pub allowed_groups: Vec<String>,
    /// Members may only read.
    pub read_only_groups: Vec<String>,
    /// POSTs that only read.
    pub read_posts: RuleSet,
    /// Non-empty: only members of one may create tokens.
    pub token_creation_groups: Vec<String>,
    /// May manage every user's tokens.
    pub admin_groups: Vec<String>,
    /// Need a credential even if the product allows anonymous.
    pub public_restricted: RuleSet,
    /// Not authenticated by authgate.
    pub bypass: RuleSet,
    /// Always 403.
    pub deny: RuleSet,
}

/// `[tokens]`
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// false: only admins create tokens.
    pub allow_user_creation: bool,
    /// Lifetime when none is asked for.
    pub default_expiry: Duration,
    /// Longest lifetime.
    pub max_expiry: Duration,
    /// Live tokens per user.
    pub max_per_user: u32,
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `postgres://` or `postgresql://`
    Postgres,
    /// `sqlite:`
    Sqlite,
}

/// Where the audit JSON lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLog {
    /// One JSON line per event on stdout.
    Stdout,
    /// No audit lines.
    Off,
    /// Appended to this file.
    File(PathBuf),
}

/// `[audit]`
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Record events at all.
    pub enabled: bool,
    /// The database kind.
    pub database_kind: DatabaseKind,
    /// The URL (may hold a password); SQLite paths already made relative to the config dir.
    pub database_url: Secret,
    /// Rows older than this are deleted.
    pub retention_days: u32,
    /// The oldest rows beyond this count are deleted.
    pub retention_max_rows: u64,
    /// Scheduler period.
    pub cleanup_interval: Duration,
    /// Apply migrations at start.
    pub migrate: bool,
    /// In-memory queue capacity.
    pub queue: usize,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// JSON line sink.
    pub log: AuditLog,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// `[log]`
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// JSON or pretty.
    pub format: LogFormat,
    /// Filter directive; `RUST_LOG` overrides.
    pub level: String,
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config file {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so `{:#}` does not repeat it).
        error: std::io::Error,
    },
    /// The file was read but is not valid: one line for one error, else the list.
    #[error("config file {}{}", .path.display(), invalid_summary(.errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        errors: ConfigErrors,
    },
}

fn invalid_summary(errors: &ConfigErrors) -> String {
    match errors.0.as_slice() {
        // A file-level error (bad TOML) already names the file.
        [one] if one.path == "file" => match one.line {
            Some(l) => format!(": {} (line {l})", one.message),
            None => format!(": {}", one.message),
        },
        [one] => format!(": {one}"),
        many => format!(" has {} errors:\n{errors}", many.len()),
    }
}

/// Reads, interpolates and checks `path`. Relative paths inside resolve against its directory.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let mut config =
        from_toml_with(&text, &base, &|name| std::env::var(name).ok()).map_err(|errors| {
            LoadError::Invalid {
                path: path.to_path_buf(),
                errors,
            }
        })?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// Checks a TOML string, reading `${VAR}` from the process environment, with relative paths
/// against the current directory.
pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
    from_toml_with(text, Path::new("."), &|name| std::env::var(name).ok())
}

/// The core: parse `text`, interpolate with `env`, check. Pure apart from `env`.
pub fn from_toml_with(
    text: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let (raw, mut errors) = parse::parse_interpolated(text, env)?;
    match check::check(&raw, base_dir) {
        Ok(config) if errors.is_empty() => return Ok(config),
        Ok(_) => {}
        Err(found) => {
            // A key whose variable is missing was checked empty: its own error says why.
            let unset: Vec<String> = errors.0.iter().map(|e| e.path.clone()).collect();
            errors.0.extend(
                found
                    .0
                    .into_iter()
                    .filter(|e| !unset.iter().any(|u| parse::is_within(&e.path, u))),
            );
        }
    }
    // Point every error at its line (sorted in file order).
    parse::add_lines(text, &mut errors);
    Err(errors)
}
