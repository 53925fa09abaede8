//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers, test tokens.
//! - `proxy`    — issue 2: forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `proxy_pinned` — issue 7: upstream connections pinned to client connections.
//! - `pipeline` — issue 3: switches, rules, reserved paths, IP filter, identity hand-off.
//! - `authn*`   — issue 4: token validation (static keys, JWKS, introspection, Wycheproof
//!   vectors, end to end through a gateway, test-token).
//! - `tokens`   — issue 6: gateway-issued tokens: self-service, admin API, CLI, use in the pipeline.
//! - `audit` — the audit store suite, the same against SQLite and Postgres.
//! - `audit_writer` — the writer under faults (Postgres stopped, queue full, restarts).
//! - `authz`, `rate_limit` — issue 5: group rules, pass-through identity, rate limits.
//! - `audit_gateway` — audit end to end through a running gateway and `/admin/audit`.
//! - `hostile`  — issue 8: hostile clients (slowloris, floods, oversized heads, HTTP/2 attacks).
//! - `catalog_*` — issue 8: the attack catalog (research/security.md §P, §N, §H, §S, §M,
//!   §R, §A, §C).
//! - `fuzz_regressions` — issue 8: replays `fuzz/regressions/*` through the fuzz harnesses.
//! - `cli`      — the binary on bad input (one sentence, exit 1) and `--help`.
//! - `config`   — every file under `config/` loads; the example documents every key.
//! - `demo`     — `authgate demo`'s printed curl commands do what they say.

mod audit;
mod audit_gateway;
mod audit_writer;
mod cli;
mod config;
mod demo;
mod support;

mod authn;
mod authn_attacks;
mod authn_gateway;
mod authn_introspection;
mod authn_jwks;
mod authn_wycheproof;
mod authz;
mod bypasses;
mod catalog_audit;
mod catalog_audit_db;
mod catalog_config;
mod catalog_framing;
mod catalog_headers;
mod catalog_introspection;
mod catalog_ip;
mod catalog_jwt;
mod catalog_jwt_claims;
mod catalog_jwt_sources;
mod catalog_keys;
mod catalog_methods;
mod catalog_paths;
mod catalog_rate;
mod fuzz_regressions;
mod hostile;
mod pipeline;
mod proxy;
mod proxy_pinned;
mod rate_limit;
mod tokens;
