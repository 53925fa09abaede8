//! authgate: an authentication gateway for the REST APIs of Jira and Confluence Data Center.
//!
//! Layout (one module per concern; the pipeline stages are named as in the config and the
//! audit reasons):
//!
//! - `config`       — the TOML schema (`raw`), the pure check (`check`), runtime values.
//! - `server`       — listeners, connection cap, HTTP/1 + HTTP/2, graceful shutdown.
//! - `handler`      — one client request: pipeline, then forward or reject, then log + audit
//!   (the whole process is `app::Gateway`).
//! - `upstream_identity` — how an authenticated user is handed to the product (`[upstream.identity]`).
//! - `pipeline`     — the ordered stages: `path`, reserved, `ip_filter`, `scope`,
//!   `credential`, authn, `authz`, `rate_limit`.
//! - `request`      — the request types every layer shares (`RequestCtx`, `Credential`…),
//!   at the bottom of the module graph.
//! - `carriers`     — what carries a product credential (cookies, parameters), per product.
//! - `authn`        — JWT providers and RFC 7662 introspection (stage 6).
//! - `tokens`       — gateway-issued API tokens (`/_authgate/tokens`, stage 6 for `gw_`).
//! - `page`         — the token page for browsers (`/_authgate/`): sessions, sign-in, forms.
//! - `groups`       — group membership by `groups.source`.
//! - `passthrough`  — identity of PAT / Basic / cookie callers, learnt from the product.
//! - `proxy`        — the upstream connections (pinned to client connections, `proxy::pinned`)
//!   and forwarding; `headers` — the header rewrite.
//! - `oauth1`       — the `oauth1` identity hand-off: 2-legged OAuth 1.0a signing as an
//!   application link (base string, key, the product's refusals).
//! - `reject`       — the only place that maps a rejection to status, body and headers.
//! - `audit`        — audit events, the writer, the stores.
//! - `admin`        — `/healthz`, `/readyz`, `/metrics`, `/admin/*`.
//! - `metrics`, `logging`, `clock`, `state`, `body`, `rules`, `principal` — support.
//! - `standin`      — the Jira stand-in of the demo; with the `testkit` feature (tests, benches,
//!   fuzz) also an IdP and a Postgres launcher.
//! - `fuzzing`      — fuzz harnesses shared by `fuzz/` and the regression test (`testkit`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod authn;
pub mod body;
pub mod carriers;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod db;
#[cfg(any(test, feature = "testkit"))]
pub mod fuzzing;
pub mod groups;
pub mod handler;
pub mod headers;
pub mod logging;
pub mod metrics;
pub mod oauth1;
pub mod page;
pub mod passthrough;
pub mod pipeline;
pub mod principal;
pub mod proxy;
pub mod reject;
pub mod request;
pub mod rules;
pub mod server;
pub mod standin;
pub mod state;
pub mod tokens;
pub mod upstream_identity;
