//! Starting and stopping a whole gateway: both listeners, the runtime, reload, shutdown.
//!
//! Owns: [`Gateway::start`] (used by `authgate run`, `authgate demo` and the integration
//! tests alike, so tests exercise the real start-up) and [`reload`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::ReloadFn;
use crate::audit::{AuditSink, WriterOptions};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::state::{AppState, Runtime, Shared};

/// How often recorded histogram samples are drained into their buckets.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("{0}")]
    Bind(String),
    /// A part could not be built (keys, JWKS, database…).
    #[error("{0}")]
    Build(String),
}

/// Options for [`Gateway::start`].
#[derive(Default)]
pub struct StartOptions {
    /// Use this listener for `listen` instead of binding `server.listen`.
    pub listener: Option<TcpListener>,
    /// Use this listener for `admin_listen`.
    pub admin_listener: Option<TcpListener>,
    /// Wall clock (tests inject a manual one).
    pub clock: Option<SharedClock>,
}

/// A running gateway.
pub struct Gateway {
    /// Client address.
    pub addr: SocketAddr,
    /// Operator address.
    pub admin_addr: SocketAddr,
    /// Shared state (tests read the runtime and metrics through it).
    pub state: Arc<AppState>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Builds everything from `config` and starts serving. Nothing is left half-started on error.
    pub async fn start(config: Config, opts: StartOptions) -> Result<Gateway, StartError> {
        for w in &config.warnings {
            tracing::warn!(warning = %w, "configuration warning");
        }
        let listener = match opts.listener {
            Some(l) => l,
            None => crate::server::bind("server.listen", config.server.listen)
                .await
                .map_err(StartError::Bind)?,
        };
        let admin_listener = match opts.admin_listener {
            Some(l) => l,
            None => crate::server::bind("server.admin_listen", config.server.admin_listen)
                .await
                .map_err(StartError::Bind)?,
        };
        let tls = match &config.server.tls {
            Some((c, k)) => Some(crate::server::tls_acceptor(c, k).map_err(StartError::Build)?),
            None => None,
        };
        let clock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let db =
            crate::db::Db::connect_lazy(config.audit.database_kind, &config.audit.database_url)
                .map_err(|e| StartError::Build(e.to_string()))?;
        // A database that cannot be reached at start is not fatal: the audit writer spools
        // and applies the migrations before its first insert. Any other migration failure is.
        let mut migrate_first = false;
        if config.audit.migrate {
            match db.migrate().await {
                Ok(()) => {}
                Err(e) if e.is_unreachable() => {
                    tracing::warn!(error = %e, "audit database unreachable at start; spooling until it answers");
                    migrate_first = true;
                }
                Err(e) => return Err(StartError::Build(format!("audit.database_url: {e}"))),
            }
        }
        let mut shared = Shared::new(AuditSink::Off, Arc::clone(&clock), db);
        if config.audit.enabled {
            let opts = WriterOptions::from_settings(
                &config.audit,
                shared.db.clone(),
                Arc::clone(&shared.metrics),
                clock,
                migrate_first,
            );
            shared.audit = AuditSink::start(opts).map_err(|e| StartError::Build(e.to_string()))?;
        }
        let runtime = Runtime::build(Arc::new(config), &shared, None)
            .await
            .map_err(|e| StartError::Build(e.to_string()))?;
        let state = AppState::new(runtime, shared);
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(e.to_string()))?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|e| StartError::Bind(e.to_string()))?;
        let (stop, stop_rx) = watch::channel(false);
        let wait = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let reload_state = Arc::clone(&state);
        let reload_fn: ReloadFn = Arc::new(move || {
            let st = Arc::clone(&reload_state);
            Box::pin(async move { reload(&st).await })
        });
        let t1 = tokio::spawn(crate::server::serve(
            listener,
            Arc::clone(&state),
            tls,
            wait(stop_rx.clone()),
        ));
        let t2 = tokio::spawn(crate::admin::serve(
            admin_listener,
            Arc::clone(&state),
            reload_fn,
            wait(stop_rx.clone()),
        ));
        // Histogram samples wait in the recorder until drained; drain them every few seconds
        // so memory stays flat whether or not anyone scrapes /metrics.
        let metrics = Arc::clone(&state.shared.metrics);
        let upkeep_stop = wait(stop_rx);
        let t3 = tokio::spawn(async move {
            tokio::pin!(upkeep_stop);
            let mut tick = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => metrics.upkeep(),
                    _ = &mut upkeep_stop => break,
                }
            }
        });
        Ok(Gateway {
            addr,
            admin_addr,
            state,
            stop,
            tasks: vec![t1, t2, t3],
        })
    }

    /// Drains and stops (waits up to `server.shutdown_grace` for in-flight requests).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.shared.audit.flush().await;
    }

    /// Swaps in a runtime built from `config` (what a reload does after reading the file).
    pub async fn reload_with(&self, config: Config) -> Result<(), String> {
        swap(&self.state, config).await
    }
}

/// Re-reads the config file and swaps the runtime; on any error the old one keeps serving.
pub async fn reload(state: &Arc<AppState>) -> Result<(), String> {
    let current = state.runtime.load_full();
    let Some(path) = current.config.source.clone() else {
        return Err("this gateway was not started from a file".into());
    };
    let config = crate::config::load(&path).map_err(|e| e.to_string())?;
    swap(state, config).await
}

async fn swap(state: &Arc<AppState>, config: Config) -> Result<(), String> {
    let current = state.runtime.load_full();
    let runtime = Runtime::build(Arc::new(config), &state.shared, Some(&current))
        .await
        .map_err(|e| e.to_string())?;
    state.runtime.store(Arc::new(runtime));
    tracing::info!("configuration reloaded");
    Ok(())
}
