//! The documented default of every key of the TOML schema (`raw.rs` uses them).

/// Default client listener.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
/// Default operator listener (`/healthz`, `/readyz`, `/metrics`, `/admin/*`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Largest request head accepted, in bytes; larger -> 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// The whole request head must arrive within this.
pub const DEFAULT_HEADER_TIMEOUT: &str = "10s";
/// Accepted connections beyond this wait in the kernel backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Largest request body; 0 = no limit.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 0;
/// Whole request, upstream included -> 504 past it.
pub const DEFAULT_REQUEST_TIMEOUT: &str = "60s";
/// How long in-flight requests may finish after SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: &str = "30s";
/// The product, as authgate reaches it.
pub const DEFAULT_UPSTREAM_URL: &str = "http://127.0.0.1:8081";
/// Upstream TCP (and TLS) connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: &str = "5s";
/// Upstream response-head timeout.
pub const DEFAULT_UPSTREAM_TIMEOUT: &str = "60s";
/// Identity header read by the product's header authenticator.
pub const DEFAULT_IDENTITY_HEADER: &str = "X-Forwarded-User";
/// What counts as an API call.
pub const DEFAULT_API_PATHS: &[&str] = &["/rest/**"];
/// POSTs that only read, allowed for read-only callers: Jira's JQL search.
pub const DEFAULT_READ_POSTS: &[&str] =
    &["POST /rest/api/2/search", "POST /rest/api/latest/search"];
/// The same for Confluence (`upstream.product = "confluence"`): converting a body between
/// representations (storage to view, say) reads and writes nothing.
pub const DEFAULT_READ_POSTS_CONFLUENCE: &[&str] = &["POST /rest/api/contentbody/convert/*"];
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: &str = "30s";
/// Claim holding the username.
pub const DEFAULT_USERNAME_CLAIM: &str = "preferred_username";
/// Introspection results are cached this long (never past the token's `exp`).
pub const DEFAULT_INTROSPECTION_CACHE_TTL: &str = "60s";
/// Introspection request timeout.
pub const DEFAULT_INTROSPECTION_TIMEOUT: &str = "5s";
/// Group lookups from the product are cached this long.
pub const DEFAULT_GROUPS_CACHE_TTL: &str = "5m";
/// Header carrying the client address when the peer is a trusted proxy.
pub const DEFAULT_CLIENT_IP_HEADER: &str = "X-Forwarded-For";
/// Requests per `per` for each rate-limit key.
pub const DEFAULT_RATE_REQUESTS: u32 = 100;
/// Rate-limit window.
pub const DEFAULT_RATE_PER: &str = "1m";
/// Default token lifetime when `expires_in` is not given.
pub const DEFAULT_TOKEN_EXPIRY: &str = "90d";
/// Longest token lifetime a user may ask for.
pub const DEFAULT_TOKEN_MAX_EXPIRY: &str = "365d";
/// Tokens one user may hold (revoked and expired ones do not count).
pub const DEFAULT_TOKENS_PER_USER: u32 = 20;
/// Embedded audit store.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://authgate.db?mode=rwc";
/// Rows older than this many days are deleted.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The oldest rows beyond this count are deleted.
pub const DEFAULT_RETENTION_MAX_ROWS: u64 = 10_000_000;
/// How often the retention scheduler runs.
pub const DEFAULT_CLEANUP_INTERVAL: &str = "1h";
/// In-memory audit events before the spool is used.
pub const DEFAULT_AUDIT_QUEUE: usize = 10_000;
/// Where audit events wait while the database is unreachable.
pub const DEFAULT_SPOOL_DIR: &str = "audit-spool";
