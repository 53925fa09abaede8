//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers.
//! - `proxy`    — issue 2: forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `pipeline` — issue 3: switches, rules, reserved paths, IP filter, identity hand-off.
//! - `audit`    — issue 9: the store suite, the same against SQLite and Postgres.
//! - `audit_writer` — issue 9: the writer under faults (Postgres stopped, queue full, restarts).
//! - `audit_gateway` — issue 9: audit end to end through a running gateway and `/admin/audit`.

mod audit;
mod audit_gateway;
mod audit_writer;
mod support;

mod pipeline;
mod proxy;
