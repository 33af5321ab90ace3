//! Schema migrations (refinery, embedded from `migrations/`). They run as the database
//! owner; creating the C extension needs a superuser, or a DBA who created it first.

use anyhow::Context;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Applies every pending migration and reports how many ran.
pub async fn run(database_url: &str) -> anyhow::Result<usize> {
    let (mut client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database to migrate")?;
    let conn = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed");
        }
    });
    let report = embedded::migrations::runner()
        .set_migration_table_name("qlink_schema_history")
        .run_async(&mut client)
        .await
        .context("applying migrations")?;
    drop(client);
    let _ = conn.await;
    Ok(report.applied_migrations().len())
}
