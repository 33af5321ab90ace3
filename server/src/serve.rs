//! `qlink serve`: migrations, pools, the HTTP server and the message worker as two tasks
//! under one shutdown signal (SIGTERM / Ctrl-C): the server stops taking requests and
//! finishes those in flight, the worker finishes its sends.

use crate::config::{DbArgs, HttpArgs, WhatsAppArgs, WorkerArgs};
use crate::http::{self, App, AppState};
use crate::webhook::WebhookState;
use crate::{accounts, db, migrate, worker};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Builds the application state: pools as the runtime role, and checks the database is
/// ready for this binary.
pub async fn build_state(db_args: &DbArgs, http_args: &HttpArgs, whatsapp: &WhatsAppArgs) -> anyhow::Result<AppState> {
    let pool = db::pool(db_args.app_config()?, db_args.pool_size)?;
    let read_db = match db_args.read_config()? {
        Some(cfg) => Some(db::pool(cfg, db_args.pool_size)?),
        None => None,
    };
    let public_origin = http::origin_of(&http_args.public_url)?;
    let dummy_password_hash =
        tokio::task::spawn_blocking(|| accounts::hash_password(&accounts::random_password())).await??;
    let state = AppState(Arc::new(App {
        webhook: WebhookState {
            pool: pool.clone(),
            verify_token: whatsapp.whatsapp_verify_token.clone(),
            app_secret: whatsapp.whatsapp_app_secret.clone(),
        },
        db: pool,
        read_db,
        public_url: http_args.public_url.trim_end_matches('/').to_string(),
        secure_cookies: public_origin.starts_with("https://"),
        public_origin,
        trusted_proxies: http_args.trusted_proxies.clone(),
        session_ttl: Duration::from_secs(u64::from(http_args.session_ttl_hours) * 3600),
        metrics: http::prometheus(),
        dummy_password_hash,
    }));
    match http::ops::check_ready(&state).await {
        Ok(version) => tracing::debug!(extension = %version, "database ready"),
        // A version mismatch (an upgrade half done: files installed, `qlink migrate` not run,
        // or the other way round) is said here, in the start-up log, and by /readyz.
        Err(reason) => anyhow::bail!("the database is not ready for this server: {reason}"),
    }
    Ok(state)
}

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

pub async fn run(
    db_args: DbArgs,
    http_args: HttpArgs,
    whatsapp: WhatsAppArgs,
    worker_args: WorkerArgs,
    no_migrate: bool,
    no_worker: bool,
) -> anyhow::Result<()> {
    if no_migrate {
        migrate::ensure_current(&db_args.database_url).await?;
    } else {
        let report = migrate::run(&db_args.database_url).await?;
        tracing::info!(applied = report.applied, extension = ?report.extension_after, "migrations up to date");
    }
    let state = build_state(&db_args, &http_args, &whatsapp).await?;
    let listener = tokio::net::TcpListener::bind(http_args.bind).await?;
    tracing::info!(address = %listener.local_addr()?, public_url = %state.public_url, "QLink is listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(shutdown_signal(shutdown.clone()));

    let app = http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = {
        let shutdown = shutdown.clone();
        async move {
            let result = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned()).await;
            shutdown.cancel();
            result.map_err(anyhow::Error::from)
        }
    };
    if no_worker {
        return server.await;
    }
    let worker = {
        let shutdown = shutdown.clone();
        let config = db_args.app_config()?;
        async move {
            let result = worker::run(config, state.public_url.clone(), whatsapp, worker_args, shutdown.clone()).await;
            shutdown.cancel();
            result
        }
    };
    let (served, worked) = tokio::join!(server, worker);
    served?;
    worked
}
