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
