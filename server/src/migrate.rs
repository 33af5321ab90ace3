//! Schema migrations and the extension's version. `qlink migrate` applies the refinery
//! migrations (embedded from `migrations/`: tables, roles, `CREATE EXTENSION`) and then
//! `ALTER EXTENSION qlink UPDATE`, which runs the upgrade script from the installed release
//! to the one whose files are installed (`pg_ext/sql/qlink--A--B.sql`). It runs as the
//! database owner; creating or updating the C extension needs a superuser, or a DBA who did
//! that step first.

use anyhow::Context;
use refinery::Target;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// The functions' grants, re-applied after every update (see the file).
const PRIVILEGES: &str = include_str!("../../migrations/privileges.sql");

/// Every migrating process takes this advisory lock first, so several `qlink serve`
/// started at once (a rolling restart) migrate one after the other instead of colliding
/// on the same DDL.
const MIGRATION_LOCK: i64 = 0x716c_696e_6b00;

#[derive(Debug)]
pub struct MigrationReport {
    /// Migrations applied by this run.
    pub applied: usize,
    /// The extension version before this run (None: not installed yet) and after it.
    pub extension_before: Option<String>,
    pub extension_after: Option<String>,
}

/// Applies every pending migration, then updates the extension to the installed files.
pub async fn run(database_url: &str) -> anyhow::Result<MigrationReport> {
    migrate(database_url, None).await
}

/// Applies the migrations up to `version` and leaves the extension alone: how the upgrade
/// test rebuilds the database of an earlier release, whose migrations these still are.
pub async fn run_until(database_url: &str, version: u32) -> anyhow::Result<MigrationReport> {
    migrate(database_url, Some(version)).await
}

async fn migrate(database_url: &str, until: Option<u32>) -> anyhow::Result<MigrationReport> {
    let target = crate::db::Target::parse(database_url, "DATABASE_URL")?.primary();
    let (mut client, connection) =
        target.config.connect(target.tls()?).await.context("connecting to the database to migrate")?;
    let conn = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed");
        }
    });
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.context("waiting for other migrations")?;
    let extension_before = extension_version(&client).await?;
    let mut runner = embedded::migrations::runner();
    if let Some(version) = until {
        runner = runner.set_target(Target::Version(version));
    }
    runner.set_migration_table_name("qlink_schema_history");
    let report = runner.run_async(&mut client).await.context("applying migrations")?;
    if until.is_none() {
        let available: Option<String> = client
            .query_opt("SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'qlink'", &[])
            .await
            .context("reading the installed extension files")?
            .map(|r| r.get("default_version"));
        // Only when the files are newer: a no-op ALTER would put a NOTICE in every start-up log.
        if available.is_some() && available != extension_version(&client).await? {
            client.batch_execute("ALTER EXTENSION qlink UPDATE").await.context("updating the qlink extension")?;
        }
        client.batch_execute(PRIVILEGES).await.context("granting the qlink functions")?;
    }
    let extension_after = extension_version(&client).await?;
    if extension_before.is_some() && extension_before != extension_after {
        tracing::info!(from = ?extension_before, to = ?extension_after, "extension qlink updated");
    }
    drop(client);
    let _ = conn.await;
    Ok(MigrationReport { applied: report.applied_migrations().len(), extension_before, extension_after })
}

async fn extension_version(client: &tokio_postgres::Client) -> anyhow::Result<Option<String>> {
    let row = client
        .query_opt("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'qlink'", &[])
        .await
        .context("reading the installed extension version")?;
    Ok(row.map(|r| r.get("extversion")))
}

/// For `qlink serve --no-migrate`: refuses to start when migrations are pending.
pub async fn ensure_current(database_url: &str) -> anyhow::Result<()> {
    let target = crate::db::Target::parse(database_url, "DATABASE_URL")?.primary();
    let (mut client, connection) = target.config.connect(target.tls()?).await.context("connecting to the database")?;
    tokio::spawn(connection);
    let mut runner = embedded::migrations::runner();
    let runner = runner.set_migration_table_name("qlink_schema_history");
    let latest = runner.get_migrations().iter().map(|m| m.version()).max().unwrap_or(0);
    let has_history = client
        .query_one("SELECT to_regclass('qlink_schema_history') IS NOT NULL AS present", &[])
        .await
        .context("reading the migration history")?
        .get::<_, bool>("present");
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
