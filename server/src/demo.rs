//! `qlink demo`: a demo clinic to try QLink with, created once.

use anyhow::Context;

pub const DEMO_SLUG: &str = "demo-clinic";

pub async fn run(database_url: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(connection);
    let existing = client
        .query_opt("SELECT id FROM qlink.businesses WHERE slug = $1", &[&DEMO_SLUG])
        .await?;
    let id: uuid::Uuid = match existing {
        Some(row) => row.get(0),
        None => client
            .query_one(
                "SELECT qlink.create_business($1, 'QLink Demo Clinic', 'Asia/Kolkata', 'TRIAL', \
                 '{\"whatsapp_enabled\": true}', 'MG Road, Bengaluru')",
                &[&DEMO_SLUG],
            )
            .await
            .context("creating the demo clinic")?
            .get(0),
    };
    println!("Demo clinic \"{DEMO_SLUG}\": {id}");
    println!();
    println!("Drive it from psql (psql {database_url}):");
    println!("  SELECT * FROM qlink.create_token('{id}', 'Asha Rao', '9876543210');");
    println!("  SELECT * FROM qlink.queue_action('{id}', 'NEXT');");
    println!("  SELECT * FROM qlink.queue_snapshot('{id}');");
    println!("  SELECT * FROM qlink.token_status('<token_id from create_token>');");
    Ok(())
}
