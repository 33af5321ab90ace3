//! Connection pools. The server runs as the least-privilege role `qlink_app`, which can
//! only execute the `qlink.*` functions; migrations run as the owner.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// The runtime role created by the migrations.
pub const APP_ROLE: &str = "qlink_app";

/// The NOTIFY channel that wakes the message worker.
pub const MESSAGES_CHANNEL: &str = "qlink_messages";

/// How long a request waits for a connection, or for a new one to be made, before it is
/// answered 503: a database that silently drops packets must not hold requests until the
/// request timeout.
const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn pool(mut config: tokio_postgres::Config, size: usize) -> anyhow::Result<Pool> {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(POOL_TIMEOUT);
    }
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()?)
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
