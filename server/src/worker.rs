// TEMPORARY STUB so the server compiles; the messaging engineer replaces this whole file.
pub async fn run(_db: tokio_postgres::Config, _public_url: String, _w: crate::config::WhatsAppArgs, _a: crate::config::WorkerArgs, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> { shutdown.cancelled().await; Ok(()) }
