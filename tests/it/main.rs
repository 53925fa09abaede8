//! The integration tests: one binary, real servers on loopback port 0.
//!
//! - `support`  — fixtures: a real Postgres, gateway start-up helpers, test tokens.
//! - `proxy`    — forwarding, streaming, path rejections, headers, upstream faults, reload.
//! - `proxy_pinned` — upstream connections pinned to client connections.
//! - `pipeline` — switches, rules, reserved paths, IP filter, identity hand-off.
//! - `authn*`   — token validation (static keys, JWKS, introspection, Wycheproof
//!   vectors, end to end through a gateway, test-token).
//! - `tokens`   — gateway-issued tokens: self-service, admin API, CLI, use in the pipeline.
//! - `audit` — the audit store suite, the same against SQLite and Postgres.
//! - `audit_writer` — the writer under faults (Postgres stopped, queue full, restarts).
//! - `authz`, `rate_limit` — group rules, pass-through identity, rate limits.
//! - `audit_gateway` — audit end to end through a running gateway and `/admin/audit`.
//! - `hostile`  — hostile clients (slowloris, floods, oversized heads, HTTP/2 attacks).
//! - `catalog_*` — the attack catalog, one file per section (case ids in docs/catalog.md).
//! - `fuzz_regressions` — replays `fuzz/regressions/*` through the fuzz harnesses.
//! - `cli`      — the binary on bad input (one sentence, exit 1) and `--help`.
//! - `config`   — every file under `config/` loads; the example documents every key.
//! - `demo`     — `authgate demo`'s printed curl commands do what they say.
//! - `page`     — the token page over HTTP; `page_browser` — the same in headless Chromium;
//!   `page_attacks` — the page under a security review's attacks.

mod audit;
mod audit_gateway;
mod audit_writer;
mod cli;
mod cli_oauth1;
mod config;
mod demo;
mod error_shapes;
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
mod cluster;
mod fuzz_regressions;
mod hostile;
mod oauth1;
mod oauth1_attacks;
mod oauth1_oauthlib;
mod page;
mod page_attacks;
mod page_browser;
mod pipeline;
mod proxy;
mod proxy_pinned;
mod rate_limit;
mod rate_limit_redis;
mod tokens;
