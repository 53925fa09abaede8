//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers.
//! - `proxy`    — issue 2: forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `pipeline` — issue 3: switches, rules, reserved paths, IP filter, identity hand-off.
//! - `tokens`   — issue 6: gateway-issued tokens: self-service, admin API, CLI, use in the pipeline.

mod support;

mod pipeline;
mod proxy;
mod tokens;
