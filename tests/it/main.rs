//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.

mod support;
mod authz;
mod rate_limit;
