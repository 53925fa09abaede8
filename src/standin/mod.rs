//! Stand-ins for the demo and the tests: a Jira that records what it receives, and an IdP.
//!
//! - `jira` — the Jira / Confluence Data Center stand-in.
//! - `idp`  — an IdP: JWKS, OIDC discovery and RFC 7662 introspection with switchable answers.

pub mod idp;
pub mod jira;
