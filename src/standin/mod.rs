//! Stand-ins for the demo and the tests: a Jira that records what it receives, and an IdP.
//!
//! - `jira` — the Jira / Confluence Data Center stand-in.
//! - `postgres` — a real PostgreSQL 15 started in a temp dir (tests and benches).

pub mod jira;
pub mod postgres;
