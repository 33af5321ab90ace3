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

/// For `qlink serve --no-migrate`: refuses to start when migrations are pending.
pub async fn ensure_current(database_url: &str) -> anyhow::Result<()> {
    let (mut client, connection) =
        tokio_postgres::connect(database_url, tokio_postgres::NoTls).await.context("connecting to the database")?;
    tokio::spawn(connection);
    let mut runner = embedded::migrations::runner();
    let runner = runner.set_migration_table_name("qlink_schema_history");
    let latest = runner.get_migrations().iter().map(|m| m.version()).max().unwrap_or(0);
    let has_history = client
        .query_one("SELECT to_regclass('qlink_schema_history') IS NOT NULL", &[])
        .await
        .context("reading the migration history")?
        .get::<_, bool>(0);
    let applied = if has_history {
        runner
            .get_last_applied_migration_async(&mut client)
            .await
            .context("reading the migration history")?
            .map(|m| m.version())
            .unwrap_or(0)
    } else {
        0
    };
    if applied < latest {
        anyhow::bail!(
            "the database schema is behind (at migration {applied}, this binary needs {latest}): run `qlink migrate` first"
        );
    }
    Ok(())
}
