//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers, test tokens.
//! - `proxy`    — issue 2: forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `pipeline` — issue 3: switches, rules, reserved paths, IP filter, identity hand-off.
//! - `authn*`   — issue 4: token validation (static keys, JWKS, introspection, Wycheproof
//!   vectors, end to end through a gateway, test-token).
//! - `cli`      — the binary on bad input (one sentence, exit 1) and `--help`.
//! - `config`   — every file under `config/` loads; the example documents every key.
//! - `demo`     — `authgate demo`'s printed curl commands do what they say.

mod cli;
mod config;
mod demo;
mod support;

mod authn;
mod authn_introspection;
mod authn_jwks;
mod authn_wycheproof;
mod pipeline;
mod proxy;
