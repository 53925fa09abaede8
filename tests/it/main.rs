//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support` — fixtures: a real Postgres, gateway start-up helpers.
//! - `hostile` — hostile clients (slowloris, floods, oversized heads, HTTP/2 attacks).
//! - `catalog_*` — the attack catalog (research/security.md §P, §N, §H, §S, §M) as cases.
//! - `fuzz_regressions` — replays `fuzz/regressions/*` through the fuzz harnesses.

mod support;
mod hostile;
mod fuzz_regressions;
mod catalog_framing;
mod catalog_headers;
mod catalog_ip;
mod catalog_methods;
mod catalog_paths;
