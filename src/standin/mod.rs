//! Stand-ins: a Jira that records what it receives (shipped: `authgate demo` runs it), and,
//! for the tests and benches only (`testkit`), an IdP and a Postgres launcher.
//!
//! - `jira` — the Jira / Confluence Data Center stand-in.
//! - `idp`  — an IdP: JWKS, OIDC discovery and RFC 7662 introspection with switchable answers.
//! - `postgres` — a real PostgreSQL 15 for tests and benches.
//! - `redis` — a real Redis for tests and benches.

#[cfg(any(test, feature = "testkit"))]
pub mod idp;
pub mod jira;
#[cfg(any(test, feature = "testkit"))]
pub mod postgres;
#[cfg(any(test, feature = "testkit"))]
pub mod redis;

/// A free loopback port (bound, then released) for a server a test starts.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// True when this process runs as root (servers are then started as `nobody`).
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
