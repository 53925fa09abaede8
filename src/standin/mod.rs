//! Stand-ins for the demo and the tests: a Jira that records what it receives, and an IdP.
//!
//! - `jira` — the Jira / Confluence Data Center stand-in.

pub mod jira;
