//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers, test tokens.
//! - `proxy`    — issue 2: forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `pipeline` — issue 3: switches, rules, reserved paths, IP filter, identity hand-off.
//! - `authn*`   — issue 4: token validation (static keys, JWKS, introspection, Wycheproof
//!   vectors, end to end through a gateway, test-token).
//! - `hostile`  — issue 8: hostile clients (slowloris, floods, oversized heads, HTTP/2 attacks).
//! - `catalog_*` — issue 8: the attack catalog (research/security.md §P, §N, §H, §S, §M).
//! - `fuzz_regressions` — issue 8: replays `fuzz/regressions/*` through the fuzz harnesses.

mod support;

mod authn;
mod authn_introspection;
mod authn_jwks;
mod authn_wycheproof;
mod catalog_framing;
mod catalog_headers;
mod catalog_ip;
mod catalog_methods;
mod catalog_paths;
mod fuzz_regressions;
mod hostile;
mod pipeline;
mod proxy;
