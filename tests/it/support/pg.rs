//! A real PostgreSQL 15 for the tests (the launcher is `authgate::standin::postgres`, shared
//! with the benches): initdb in a temp dir, run as an unprivileged user (`nobody` under
//! root) on a free loopback port.
//!
//! - [`database`] — a fresh, empty database on the server every test shares.
//! - [`private`] — a server of one's own, for fault tests that stop and restart it (never
//!   stop the shared one: other tests are using it).

use std::sync::OnceLock;

use authgate::standin::postgres::Postgres;

static SERVER: OnceLock<Postgres> = OnceLock::new();

/// The shared server (started on first use; stopped by its watchdog when the binary exits).
pub fn server() -> &'static Postgres {
    SERVER.get_or_init(|| Postgres::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A new empty database on the shared server; returns its URL.
pub fn database() -> String {
    server().fresh_database().unwrap_or_else(|e| panic!("{e}"))
}

/// A server of its own (stopped and removed when dropped).
pub fn private() -> Postgres {
    Postgres::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Stops the SHARED server. Only for a test binary that runs nothing else against it;
/// fault tests use [`private`] instead.
pub fn stop() {
    server().stop()
}

/// Starts the shared server again on the same port and data.
pub fn restart() {
    server().restart().unwrap_or_else(|e| panic!("{e}"))
}
