//! The one way the tests start a gateway: [`launch`] binds `listen` (or takes the test's own
//! listener) and `admin_listen` on loopback port 0 and starts [`Gateway`] with the test's
//! config and clock. Every fixture (`gateway::Setup`, `harden::Harness`, the token `Env`)
//! builds its config its own way and then calls this.

use authgate::app::{Gateway, StartOptions};
use authgate::clock::SharedClock;
use authgate::config::Config;
use tokio::net::TcpListener;

/// Starts `config` on `listener` (a fresh loopback port when `None`) with `clock` (the
/// system's when `None`); the error says why it did not start.
pub async fn launch(
    config: Config,
    listener: Option<TcpListener>,
    clock: Option<SharedClock>,
) -> Result<Gateway, String> {
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind listen: {e}"))?,
    };
    let admin = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind admin_listen: {e}"))?;
    Gateway::start(
        config,
        StartOptions {
            listener: Some(listener),
            admin_listener: Some(admin),
            clock,
        },
    )
    .await
    .map_err(|e| e.to_string())
}
