//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.
//! - `cli`     — the binary on bad input (one sentence, exit 1) and `--help`.
//! - `config`  — every file under `config/` loads; the example documents every key.
//! - `demo`    — `authgate demo`'s printed curl commands do what they say.

mod cli;
mod config;
mod demo;
mod support;
