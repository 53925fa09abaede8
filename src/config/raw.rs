//! The TOML schema, exactly as operators write it (every key documented in
//! `config/authgate.example.toml`).
//!
//! Owns: the serde structs and their defaults (named consts, documented). Does not own: any
//! checking beyond what serde does — `check.rs` turns these into runtime values. Every table
//! refuses unknown keys, and nothing here uses `#[serde(flatten)]` (it would bypass that).

use std::collections::BTreeMap;

use serde::Deserialize;

// The defaults are named consts, documented, in `defaults.rs`.
pub use super::defaults::*;

fn s(v: &str) -> String {
    v.to_string()
}
fn t() -> bool {
    true
}

// === the file ===

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[server]`
    #[serde(default)]
    pub server: RawServer,
    /// `[upstream]`
    #[serde(default)]
    pub upstream: RawUpstream,
    /// `[auth]`
    #[serde(default)]
    pub auth: RawAuth,
    /// `[[providers]]`
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    /// `[groups]`
    #[serde(default)]
    pub groups: RawGroups,
    /// `[access]`
    #[serde(default)]
    pub access: RawAccess,
    /// `[ip]`
    #[serde(default)]
    pub ip: RawIp,
    /// `[rate_limit]`
    #[serde(default)]
    pub rate_limit: RawRateLimit,
    /// `[tokens]`
    #[serde(default)]
    pub tokens: RawTokens,
    /// `[audit]`
    #[serde(default)]
    pub audit: RawAudit,
    /// `[log]`
    #[serde(default)]
    pub log: RawLog,
}

/// `[server]`: the listeners and the limits of the client side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Client traffic address. Default [`DEFAULT_LISTEN`].
    pub listen: String,
    /// Operator address. Default [`DEFAULT_ADMIN_LISTEN`].
    pub admin_listen: String,
    /// Bearer secret for `/admin/*`; unset = `/admin/*` disabled.
    pub admin_token: Option<String>,
    /// Bytes of request head; default [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Duration; default [`DEFAULT_HEADER_TIMEOUT`]. Bounds the TLS handshake, the first
    /// bytes of a connection and every HTTP/1 request head (slowloris, idle connections).
    pub header_timeout: String,
    /// Default [`DEFAULT_MAX_CONNECTIONS`]. The cap on connections served at once: past it,
    /// authgate stops accepting and new clients wait in the kernel's listen backlog until a
    /// slot frees (an idle or slow connection frees its slot after `header_timeout`).
    pub max_connections: usize,
    /// Bytes; 0 = unlimited. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// Duration; default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: String,
    /// Duration; default [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: String,
    /// PEM certificate chain: terminate TLS on `listen` (with `tls_key`).
    pub tls_cert: Option<String>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: s(DEFAULT_LISTEN),
            admin_listen: s(DEFAULT_ADMIN_LISTEN),
            admin_token: None,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_timeout: s(DEFAULT_HEADER_TIMEOUT),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: s(DEFAULT_REQUEST_TIMEOUT),
            shutdown_grace: s(DEFAULT_SHUTDOWN_GRACE),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[upstream]`: the product behind authgate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    /// `http://` or `https://` base URL. Default [`DEFAULT_UPSTREAM_URL`].
    pub url: String,
    /// `"jira"` or `"confluence"`: picks the user and group endpoints.
    pub product: String,
    /// e.g. `"/jira"`; stripped once before rules are matched. Default empty.
    pub context_path: String,
    /// Duration; default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: String,
    /// Duration; default [`DEFAULT_UPSTREAM_TIMEOUT`].
    pub timeout: String,
    /// Extra cookie names that carry a product session (added to the product's own).
    pub session_cookies: Vec<String>,
    /// `[upstream.identity]`
    pub identity: RawIdentity,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            url: s(DEFAULT_UPSTREAM_URL),
            product: s("jira"),
            context_path: String::new(),
            connect_timeout: s(DEFAULT_CONNECT_TIMEOUT),
            timeout: s(DEFAULT_UPSTREAM_TIMEOUT),
            session_cookies: Vec::new(),
            identity: RawIdentity::default(),
        }
    }
}

/// `[upstream.identity]`: how the authenticated user is handed to the product
/// (docs/http.md#what-reaches-the-product).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIdentity {
    /// `"header"` (default), `"service_account"` or `"oauth1"`.
    pub mode: String,
    /// Identity header name. Default [`DEFAULT_IDENTITY_HEADER`].
    pub header: String,
    /// service_account mode: the whole `Authorization` value sent to the product.
    pub authorization: Option<String>,
    /// oauth1 mode: the application link's consumer key.
    pub consumer_key: Option<String>,
    /// oauth1 mode: the RSA private key (PEM), relative to the config file.
    pub private_key_file: Option<String>,
    /// oauth1 mode: the product's own URL, `scheme://host[:port]`. Default: `upstream.url`.
    pub base_url: Option<String>,
}

impl Default for RawIdentity {
    fn default() -> Self {
        Self {
            mode: s("header"),
            header: s(DEFAULT_IDENTITY_HEADER),
            authorization: None,
            consumer_key: None,
            private_key_file: None,
            base_url: None,
        }
    }
}

/// `[auth]`: the global switches of the original admin screen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// false: authgate only forwards and audits. Default true.
    pub enabled: bool,
    /// Rule patterns for what counts as an API call. Default [`DEFAULT_API_PATHS`].
    pub api_paths: Vec<String>,
    /// Basic on API paths -> 401. Default false.
    pub disable_basic: bool,
    /// Product PATs pass through. Default true.
    pub allow_pat: bool,
    /// Other opaque bearer tokens pass through. Default false.
    pub allow_native_oauth: bool,
    /// Accept authgate-issued tokens. Default true.
    pub gateway_tokens: bool,
    /// Browser calls with the product's session cookie pass through. Default true.
    pub allow_session_cookies: bool,
    /// Anonymous API calls -> 401. Default false.
    pub require_authentication: bool,
    /// Learn user and groups of pass-through callers from the product. Default true.
    pub resolve_passthrough_identity: bool,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            enabled: true,
            api_paths: DEFAULT_API_PATHS.iter().map(|p| s(p)).collect(),
            disable_basic: false,
            allow_pat: true,
            allow_native_oauth: false,
            gateway_tokens: true,
            allow_session_cookies: true,
            require_authentication: false,
            resolve_passthrough_identity: true,
        }
    }
}

/// One `[[providers]]` entry; which keys apply depends on `kind`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// Unique name, shown in logs and audit rows.
    pub name: String,
    /// `"jwt"` or `"introspection"`.
    pub kind: String,
    /// jwt: required; matched against `iss`. introspection: optional.
    pub issuer: Option<String>,
    /// `aud` must contain one; empty = not checked (warned).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allow-list of `alg` values. Default: `["RS256"]`.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Key source: PEM public key (RSA, EC P-256/P-384, Ed25519).
    pub public_key_file: Option<String>,
    /// Key source: PEM X.509 certificate.
    pub certificate_file: Option<String>,
    /// Key source: JWKS URL.
    pub jwks_url: Option<String>,
    /// Key source: OIDC discovery document URL.
    pub discovery_url: Option<String>,
    /// Key source: shared HMAC secret, at least 32 bytes.
    pub hmac_secret: Option<String>,
    /// Duration; default [`DEFAULT_LEEWAY`].
    pub leeway: Option<String>,
    /// Duration: reject tokens whose `iat` is older, or whose `exp - iat` is longer.
    pub max_token_age: Option<String>,
    /// Dotted claim path. Default [`DEFAULT_USERNAME_CLAIM`].
    pub username_claim: Option<String>,
    /// First capture group becomes the username; no match -> 401.
    pub username_regex: Option<String>,
    /// Dotted path to an array of strings.
    pub groups_claim: Option<String>,
    /// introspection: RFC 7662 endpoint.
    pub introspection_url: Option<String>,
    /// introspection: client id.
    pub client_id: Option<String>,
    /// introspection: client secret.
    pub client_secret: Option<String>,
    /// introspection: `"client_secret_basic"` (default) or `"client_secret_post"`.
    pub auth_method: Option<String>,
    /// introspection: duration; default [`DEFAULT_INTROSPECTION_CACHE_TTL`].
    pub cache_ttl: Option<String>,
    /// introspection: duration; default [`DEFAULT_INTROSPECTION_TIMEOUT`].
    pub timeout: Option<String>,
}

/// `[groups]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGroups {
    /// `"claim"` (default), `"upstream"` or `"static"`.
    pub source: String,
    /// Duration; default [`DEFAULT_GROUPS_CACHE_TTL`].
    pub cache_ttl: String,
    /// `[groups.static]`: username -> groups.
    #[serde(rename = "static")]
    pub static_groups: BTreeMap<String, Vec<String>>,
}

impl Default for RawGroups {
    fn default() -> Self {
        Self {
            source: s("claim"),
            cache_ttl: s(DEFAULT_GROUPS_CACHE_TTL),
            static_groups: BTreeMap::new(),
        }
    }
}

/// `[access]`: group-based restrictions and path rules.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawAccess {
    /// Non-empty: only members of one may call the APIs.
    pub allowed_groups: Vec<String>,
    /// Members may only read.
    pub read_only_groups: Vec<String>,
    /// POSTs that only read. Default by product: [`DEFAULT_READ_POSTS`] for Jira,
    /// [`DEFAULT_READ_POSTS_CONFLUENCE`] for Confluence.
    pub read_posts: Option<Vec<String>>,
    /// Non-empty: only members of one may create tokens.
    pub token_creation_groups: Vec<String>,
    /// May manage every user's tokens.
    pub admin_groups: Vec<String>,
    /// Need a credential even if the product allows anonymous.
    pub public_restricted: Vec<String>,
    /// authgate does not authenticate these.
    pub bypass: Vec<String>,
    /// Always 403.
    pub deny: Vec<String>,
}

/// `[ip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIp {
    /// IPs and CIDRs; empty = every address.
    pub allow: Vec<String>,
    /// `"api"` (default) or `"all"`.
    pub scope: String,
    /// Peers allowed to set `client_ip_header`.
    pub trusted_proxies: Vec<String>,
    /// Default [`DEFAULT_CLIENT_IP_HEADER`].
    pub client_ip_header: String,
}

impl Default for RawIp {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            scope: s("api"),
            trusted_proxies: Vec::new(),
            client_ip_header: s(DEFAULT_CLIENT_IP_HEADER),
        }
    }
}

/// `[rate_limit]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimit {
    /// Default false.
    pub enabled: bool,
    /// Default [`DEFAULT_RATE_REQUESTS`].
    pub requests: u32,
    /// Duration; default [`DEFAULT_RATE_PER`].
    pub per: String,
    /// Bucket size; defaults to `requests`.
    pub burst: Option<u32>,
    /// `[[rate_limit.overrides]]`
    pub overrides: Vec<RawRateOverride>,
    /// `"memory"` (default) or `"redis"`.
    pub store: String,
    /// redis store: `redis://` or `rediss://` URL (a secret: it may carry a password).
    pub redis_url: Option<String>,
    /// redis store: one limiter round trip. Default [`DEFAULT_REDIS_TIMEOUT`].
    pub redis_timeout: String,
    /// redis store: `"local"` (default), `"deny"` or `"allow"`.
    pub on_store_error: String,
}

/// One limiter round trip to Redis, by default.
pub const DEFAULT_REDIS_TIMEOUT: &str = "50ms";

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            enabled: false,
            requests: DEFAULT_RATE_REQUESTS,
            per: s(DEFAULT_RATE_PER),
            burst: None,
            overrides: Vec::new(),
            store: s("memory"),
            redis_url: None,
            redis_timeout: s(DEFAULT_REDIS_TIMEOUT),
            on_store_error: s("local"),
        }
    }
}

/// One `[[rate_limit.overrides]]`: a different limit for members of `group`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateOverride {
    /// Group whose members get this limit.
    pub group: String,
    /// Requests per `per`.
    pub requests: u32,
    /// Duration.
    pub per: String,
    /// Bucket size; defaults to `requests`.
    pub burst: Option<u32>,
}

/// `[tokens]`: gateway-issued API tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokens {
    /// false: only admins create tokens. Default true.
    pub allow_user_creation: bool,
    /// Duration; default [`DEFAULT_TOKEN_EXPIRY`].
    pub default_expiry: String,
    /// Duration; default [`DEFAULT_TOKEN_MAX_EXPIRY`].
    pub max_expiry: String,
    /// Default [`DEFAULT_TOKENS_PER_USER`].
    pub max_per_user: u32,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self {
            allow_user_creation: true,
            default_expiry: s(DEFAULT_TOKEN_EXPIRY),
            max_expiry: s(DEFAULT_TOKEN_MAX_EXPIRY),
            max_per_user: DEFAULT_TOKENS_PER_USER,
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// Default true.
    pub enabled: bool,
    /// `sqlite://…` or `postgres://…`. Default [`DEFAULT_DATABASE_URL`].
    pub database_url: String,
    /// Default [`DEFAULT_RETENTION_DAYS`].
    pub retention_days: u32,
    /// Default [`DEFAULT_RETENTION_MAX_ROWS`].
    pub retention_max_rows: u64,
    /// Duration; default [`DEFAULT_CLEANUP_INTERVAL`].
    pub cleanup_interval: String,
    /// Apply migrations at start. Default true.
    #[serde(default = "t")]
    pub migrate: bool,
    /// Default [`DEFAULT_AUDIT_QUEUE`].
    pub queue: usize,
    /// Default [`DEFAULT_SPOOL_DIR`].
    pub spool_dir: String,
    /// `"stdout"` (default), `"off"` or a file path.
    pub log: String,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            enabled: true,
            database_url: s(DEFAULT_DATABASE_URL),
            retention_days: DEFAULT_RETENTION_DAYS,
            retention_max_rows: DEFAULT_RETENTION_MAX_ROWS,
            cleanup_interval: s(DEFAULT_CLEANUP_INTERVAL),
            migrate: true,
            queue: DEFAULT_AUDIT_QUEUE,
            spool_dir: s(DEFAULT_SPOOL_DIR),
            log: s("stdout"),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `"json"` (default) or `"pretty"`.
    pub format: String,
    /// Default `"info"`; `RUST_LOG` overrides.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: s("json"),
            level: s("info"),
        }
    }
}
