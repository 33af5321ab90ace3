//! The worker against the fake WhatsApp Cloud API: sustained sends per second at a sender
//! limit (how close to the limit), and the time to drain a backlog.

use crate::setup;
use qlink_server::config::WorkerArgs;
use qlink_tests::fake_whatsapp::FakeWhatsApp;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Writes `n` due WELCOME messages into the outbox (seeding is not what is measured).
async fn backlog(owner: &tokio_postgres::Client, n: i64) -> anyhow::Result<()> {
    owner
        .execute(
            "INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone, language, payload) \
             SELECT t.business_id, t.id, 'WELCOME', t.patient_phone, 'en', \
                    jsonb_build_object('clinic_name', 'Bench clinic', 'token_number', t.token_number, \
                                       'token_id', t.id::text, 'people_ahead', 3) \
             FROM qlink.tokens t ORDER BY t.token_number, t.business_id LIMIT $1",
            &[&n],
        )
        .await?;
    Ok(())
}

pub async fn bench(admin_url: &str, seconds: u64) -> anyhow::Result<()> {
    println!("\n### Message worker against the fake WhatsApp API\n");
    println!(
        "| sender limit | measured | sent | sends/s | of the limit | backlog drain |\n|---:|---|---:|---:|---:|---:|"
    );
    for (rate, backlog_size, window) in [(80.0, 2_000i64, Some(seconds)), (1000.0, 10_000, None)] {
        let db = setup::fresh_database(admin_url, "qlink_bench").await?;
        let owner = setup::connect(&db).await?;
        setup::clinics(&owner, 100, (backlog_size / 100) as usize).await?;
        backlog(&owner, backlog_size).await?;
        let fake = FakeWhatsApp::start().await;
        let stop = CancellationToken::new();
        let args = WorkerArgs {
            whatsapp_rate_per_second: rate,
            worker_concurrency: 64,
            worker_poll_seconds: 3,
            worker_lease_seconds: 30,
            worker_batch_size: 200,
            retention_days: 90,
        };
        let mut cfg: tokio_postgres::Config = db.parse()?;
        cfg.user("qlink_worker");
        let worker = tokio::spawn(qlink_server::worker::run(
            cfg,
            "http://127.0.0.1:8080".into(),
            fake.whatsapp_args(),
            args,
            stop.clone(),
        ));
        let started = Instant::now();
        match window {
            Some(secs) => {
                // Sustained rate: count sends over a window after a second of warm-up.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (t0, n0) = (Instant::now(), fake.received().len());
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let n1 = fake.received().len();
                let measured = (n1 - n0) as f64 / t0.elapsed().as_secs_f64();
                println!(
                    "| {rate:.0}/s | {secs} s window | {} | {measured:.1} | **{:.1}%** | – |",
                    n1 - n0,
                    100.0 * measured / rate
                );
            }
            None => {
                let deadline = started + Duration::from_secs(120);
                while fake.received().len() < backlog_size as usize && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let took = started.elapsed().as_secs_f64();
                let sent = fake.received().len();
                println!(
                    "| {rate:.0}/s | {backlog_size} backlog | {sent} | {:.1} | **{:.1}%** | {took:.1} s |",
                    sent as f64 / took,
                    100.0 * sent as f64 / took / rate
                );
            }
        }
        stop.cancel();
        let _ = worker.await;
    }
    Ok(())
}
