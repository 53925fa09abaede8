//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.
//! - `audit` — the audit store suite, the same against SQLite and Postgres.
//! - `audit_writer` — the writer under faults (Postgres stopped, queue full, restarts).
//! - `audit_gateway` — audit end to end through a running gateway and `/admin/audit`.

mod audit;
mod audit_gateway;
mod audit_writer;
mod support;
