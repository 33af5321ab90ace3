//! `qlink serve`: migrations, pools, the HTTP server and the message worker as two tasks
//! under one shutdown signal (SIGTERM / Ctrl-C): the server stops taking requests and
//! finishes those in flight, the worker finishes its sends.

use crate::app::Application;
use crate::config::Config;
use crate::{migrate, worker};
use tokio_util::sync::CancellationToken;

/// Resolves when the process is asked to stop.
pub async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = token.cancelled() => {},
    }
    tracing::info!("shutting down");
    token.cancel();
}

pub async fn run(config: Config, no_migrate: bool, no_worker: bool) -> anyhow::Result<()> {
    if no_migrate {
        migrate::ensure_current(&config.db.database_url).await?;
    } else {
        let report = migrate::run(&config.db.database_url).await?;
        tracing::info!(applied = report.applied, extension = ?report.extension_after, "migrations up to date");
    }
    let application = Application::build(&config).await?;
    let public_url = application.state().public_url.clone();
    tracing::info!(address = %application.local_addr(), %public_url, "QLink is listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(shutdown_signal(shutdown.clone()));

    let server = {
        let shutdown = shutdown.clone();
        async move {
            let result = application.run_until_stopped(shutdown.clone()).await;
            shutdown.cancel();
            result
        }
    };
    if no_worker {
        return server.await;
    }
    let worker = {
        let shutdown = shutdown.clone();
        let db = config.db.worker_config()?;
        async move {
            let result = worker::run(db, public_url, config.whatsapp, config.worker, shutdown.clone()).await;
            shutdown.cancel();
            result
        }
    };
    let (served, worked) = tokio::join!(server, worker);
    served?;
    worked
}
