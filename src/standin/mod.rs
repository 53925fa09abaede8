//! Stand-ins for the demo and the tests: a Jira that records what it receives, and an IdP.

pub mod idp;
