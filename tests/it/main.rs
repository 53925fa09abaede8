//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.
//! - `tokens`  — gateway-issued tokens: self-service, admin API, CLI, use in the pipeline.

mod support;
mod tokens;
