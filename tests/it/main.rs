//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.

mod support;
mod authn;
mod authn_introspection;
mod authn_jwks;
mod authn_wycheproof;
