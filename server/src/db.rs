//! Connection pools. The server runs as the least-privilege role `qlink_app`, which can
//! only execute the `qlink.*` functions; migrations run as the owner.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// The runtime role created by the migrations.
pub const APP_ROLE: &str = "qlink_app";

/// The NOTIFY channel that wakes the message worker.
pub const MESSAGES_CHANNEL: &str = "qlink_messages";

pub fn pool(config: tokio_postgres::Config, size: usize) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Ok(Pool::builder(manager).max_size(size).build()?)
}

/// Connects one client outside any pool (the worker's LISTEN connection, CLI commands).
pub async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}
