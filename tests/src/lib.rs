//! Shared helpers of the end-to-end tests: a migrated template database created once per
//! run, and a fresh database cloned from it for every test (fast, and tests never see
//! each other's rows).

pub mod app;
pub mod browser;
pub mod cluster;
pub mod fake_whatsapp;
pub mod load;
pub mod probe;

use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::{Client, NoTls};

/// The maintenance database URL (a superuser). `.ci/run` uses the machine's PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("QLINK_TEST_ADMIN_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn url_for(db: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    format!("{base}/{db}")
}

pub const TEMPLATE: &str = "qlink_test_template";

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Creates the template database (migrated, with the extension) if it does not exist.
/// Serialised across test processes with an advisory lock.
async fn ensure_template() {
    let admin = connect(&admin_url()).await;
    admin.execute("SELECT pg_advisory_lock(727274)", &[]).await.unwrap();
    let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE]).await.unwrap().is_some();
    if !exists {
        admin.batch_execute(&format!("CREATE DATABASE {TEMPLATE}")).await.unwrap();
        qlink_server::migrate::run(&url_for(TEMPLATE)).await.expect("migrate template");
    }
    admin.execute("SELECT pg_advisory_unlock(727274)", &[]).await.unwrap();
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, migrated database for one test. Returns its URL.
pub async fn fresh_database() -> String {
    ensure_template().await;
    let name = format!(
        "qlink_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap()
    );
    let admin = connect(&admin_url()).await;
    // Cloning needs the template to be idle; retry briefly if another process is cloning.
    let mut tries = 0;
    loop {
        match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).await {
            Ok(()) => break,
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("clone template: {e}"),
        }
    }
    url_for(&name)
}

/// Creates a clinic through the SQL API and returns its id.
pub async fn create_clinic(client: &Client, slug: &str, settings: serde_json::Value) -> uuid::Uuid {
    client
        .query_one(
            "SELECT qlink.create_business($1, $2, settings => $3)",
            &[&slug, &format!("Clinic {slug}"), &settings],
        )
        .await
        .expect("create clinic")
        .get(0)
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

/// The same database, connecting as another role (e.g. the runtime role `qlink_app`).
pub fn url_as(db_url: &str, role: &str) -> String {
    let (scheme, rest) = db_url.split_once("://").expect("postgres URL");
    let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{scheme}://{role}@{host}")
}

/// The `qlink` binary built by `cargo build -p qlink-server` (scripts/test.sh builds it
/// before the tests run). `QLINK_BIN` overrides.
pub fn qlink_bin() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("QLINK_BIN") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let bin = std::path::Path::new(&target).join("debug").join("qlink");
    assert!(bin.exists(), "{} not built: run cargo build -p qlink-server", bin.display());
    bin
}

/// Everything a clinic day consists of, as one string: clinics and settings, every token
/// with its state and times, the outbox, the audit trail's length, the sessions. Two
/// databases with the same picture hold the same day (backup and recovery tests).
pub async fn clinic_picture(client: &tokio_postgres::Client) -> String {
    client
        .query_one(
            "SELECT concat_ws('|', \
               (SELECT string_agg(concat_ws(',', slug, name, status, settings::text), ';' ORDER BY slug) FROM qlink.businesses), \
               (SELECT string_agg(concat_ws(',', token_number, status, previous_status, is_priority, patient_name, \
                                            patient_phone, called_at, served_at), ';' ORDER BY created_at, token_number) FROM qlink.tokens), \
               (SELECT string_agg(concat_ws(',', message_type, status, to_phone), ';' ORDER BY id) FROM qlink.message_logs), \
               (SELECT count(*) FROM qlink.audit_logs), \
               (SELECT string_agg(concat_ws(',', date, status, last_token_number, now_serving_number), ';' ORDER BY date) FROM qlink.sessions))",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}
