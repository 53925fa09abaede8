//! `authgate run`: serve until SIGTERM/SIGINT; SIGHUP reloads the config file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};

use crate::app::{Gateway, StartOptions};

/// Runs the gateway from `path`.
pub async fn run(path: &Path) -> Result<ExitCode> {
    let config = crate::config::load(path)?;
    crate::logging::init(&config.log);
    let gw = Gateway::start(config, StartOptions::default())
        .await
        .with_context(|| format!("cannot start from {}", path.display()))?;
    tracing::info!(listen = %gw.addr, admin = %gw.admin_addr, "authgate ready");
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if let Err(e) = crate::app::reload(&gw.state).await {
                    tracing::error!(error = %e, "reload refused; the previous configuration keeps serving");
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down");
    gw.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
