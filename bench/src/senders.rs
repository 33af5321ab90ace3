//! `qlink-bench senders`: one worker draining a backlog over three clinics' own sender
//! numbers with different configured rates, against the fake Cloud API with a realistic
//! latency. The claim: each number achieves at least 95 % of its own rate over its backlog
//! and none goes above it. The baseline, measured in the same run: the fastest of the three
//! numbers alone, with the same worker settings and latency, so a shortfall of the shared
//! run can be told apart from what one number achieves on this machine anyway.

use crate::setup;
use qlink_server::config::{Secret, WorkerArgs};
use qlink_server::crypto::SecretKey;
use qlink_tests::fake_whatsapp::{FakeWhatsApp, Received};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const KEY_HEX: &str = "5d0c8b2a4e6f1a3c5e7d9b0f2a4c6e8d1b3f5a7c9e0d2b4f6a8c0e2d4f6b8a0c";
/// Meta's Cloud API answers a send in about this long from India (TLS already set up).
const LATENCY: Duration = Duration::from_millis(200);

struct Number {
    phone_number_id: String,
    token: String,
    rate: f64,
    messages: i64,
}

/// The senders' numbers with their rates and their share of the backlog: proportional to the
/// rate, so every number is busy for the whole run.
fn numbers(total: i64, rates: &[f64]) -> Vec<Number> {
    let sum: f64 = rates.iter().sum();
    rates
        .iter()
        .enumerate()
        .map(|(i, rate)| Number {
            phone_number_id: format!("40000000000000{i}"),
            token: format!("EAAG-bench-sender-{i}"),
            rate: *rate,
            messages: (total as f64 * rate / sum).round() as i64,
        })
        .collect()
}

struct Run {
    /// Per number: sends, achieved sends/s over its backlog, busiest one-second window.
    per_number: Vec<(usize, f64, usize)>,
    took: f64,
}

async fn run(admin_url: &str, numbers: &[Number]) -> anyhow::Result<Run> {
    let db = setup::fresh_database(admin_url, "qlink_bench").await?;
    let owner = setup::connect(&db).await?;
    let total: i64 = numbers.iter().map(|n| n.messages).sum();
    let per_clinic = numbers.iter().map(|n| n.messages).max().unwrap_or(0) as usize;
    let clinics = setup::clinics(&owner, numbers.len(), per_clinic).await?;
    let key = SecretKey::parse(KEY_HEX)?;
    for (i, (clinic, n)) in clinics.iter().zip(numbers).enumerate() {
        let waba = format!("50000000000000{i}");
        let sealed = key.seal(n.phone_number_id.as_bytes(), n.token.as_bytes());
        let display = format!("+9198000000{i:02}");
        owner
            .query_one(
                "SELECT qlink.set_clinic_sender($1, $2, $3, $4, $5)",
                &[clinic, &n.phone_number_id, &display, &waba, &sealed],
            )
            .await?;
        // The account's daily recipient cap would defer most of the backlog (it is not
        // what is measured).
        owner.query_one("SELECT qlink.set_recipient_limit($1, 1000000)", &[&waba]).await?;
        let rate = n.rate as f32;
        owner
            .execute(
                "UPDATE qlink.whatsapp_senders SET rate_per_second = $2 WHERE phone_number_id = $1",
                &[&n.phone_number_id, &rate],
            )
            .await?;
        owner
            .execute(
                "INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone, language, payload, \
                                                 sender_phone_number_id) \
                 SELECT t.business_id, t.id, 'WELCOME', t.patient_phone, 'en', \
                        jsonb_build_object('clinic_name', 'Bench clinic', 'token_number', t.token_number, \
                                           'token_id', t.id::text, 'people_ahead', 3), $2 \
                 FROM qlink.tokens t WHERE t.business_id = $1 ORDER BY t.token_number LIMIT $3",
                &[clinic, &n.phone_number_id, &n.messages],
            )
            .await?;
    }
    let fake = FakeWhatsApp::start().await;
    for n in numbers {
        fake.add_sender(&n.phone_number_id, &n.token);
    }
    fake.set_latency(LATENCY);
    let stop = CancellationToken::new();
    let args = WorkerArgs {
        // The installation's rate is above all three: only each number's own rate paces it.
        whatsapp_rate_per_second: 80.0,
        worker_concurrency: 64,
        worker_poll_seconds: 3,
        worker_lease_seconds: 30,
        worker_batch_size: 200,
        retention_days: 90,
    };
    let mut cfg: tokio_postgres::Config = db.parse()?;
    cfg.user("qlink_worker");
    let whatsapp =
        qlink_server::config::WhatsAppArgs { secret_key: Some(Secret::new(KEY_HEX)), ..fake.whatsapp_args() };
    let started = Instant::now();
    let worker =
        tokio::spawn(qlink_server::worker::run(cfg, "http://127.0.0.1:8080".into(), whatsapp, args, stop.clone()));
    let longest = numbers.iter().map(|n| n.messages as f64 / n.rate).fold(0.0, f64::max);
    let deadline = started + Duration::from_secs_f64(longest * 1.5 + 30.0);
    while fake.received().iter().filter(|r| r.wamid.is_some()).count() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = worker.await;
    let received = fake.received();
    let per_number = numbers
        .iter()
        .map(|n| {
            let own: Vec<&Received> = received.iter().filter(|r| r.phone_number_id() == n.phone_number_id).collect();
            let count = own.len();
            if count < 2 {
                return (count, 0.0, count);
            }
            let span = (own[count - 1].at - own[0].at).as_secs_f64();
            let mut busiest = 0;
            let mut j = 0;
            for i in 0..count {
                while j < count && own[j].at - own[i].at < Duration::from_secs(1) {
                    j += 1;
                }
                busiest = busiest.max(j - i);
            }
            (count, (count - 1) as f64 / span, busiest)
        })
        .collect();
    Ok(Run { per_number, took })
}

pub async fn bench(admin_url: &str, total: i64) -> anyhow::Result<()> {
    let rates = [20.0, 40.0, 60.0];
    println!(
        "\n### Sender numbers paced apart: {total} messages over three numbers (fake API, {} ms latency)\n",
        LATENCY.as_millis()
    );
    // The baseline: the fastest number alone, for as long as the shared run lasts.
    let alone = numbers(total, &rates).pop().expect("three numbers");
    let baseline = run(admin_url, &[alone]).await?;
    let (_, baseline_rate, _) = baseline.per_number[0];
    let shared = numbers(total, &rates);
    let together = run(admin_url, &shared).await?;
    println!("| number | configured | messages | sent | achieved | of its rate | busiest second |\n|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| baseline: {}/s alone | {:.0}/s | {} | {} | {baseline_rate:.2}/s | **{:.1}%** | {} |",
        rates[2],
        rates[2],
        (total as f64 * rates[2] / rates.iter().sum::<f64>()).round(),
        baseline.per_number[0].0,
        100.0 * baseline_rate / rates[2],
        baseline.per_number[0].2
    );
    let mut misses = Vec::new();
    for (n, (sent, achieved, busiest)) in shared.iter().zip(&together.per_number) {
        println!(
            "| {} | {:.0}/s | {} | {sent} | {achieved:.2}/s | **{:.1}%** | {busiest} |",
            n.phone_number_id,
            n.rate,
            n.messages,
            100.0 * achieved / n.rate
        );
        if *achieved < 0.95 * n.rate {
            misses.push(format!("{} below 95 % of its rate", n.phone_number_id));
        }
        if *achieved > n.rate * 1.005 {
            misses.push(format!("{} above its rate", n.phone_number_id));
        }
        if *sent as i64 != n.messages {
            misses.push(format!("{} sent {sent} of {}", n.phone_number_id, n.messages));
        }
    }
    println!(
        "\nshared run: {:.1} s for {total} messages; the fastest number achieved {:.1}% of what it achieves alone",
        together.took,
        100.0 * together.per_number[2].1 / baseline_rate
    );
    if misses.is_empty() {
        println!("claim held: every number ≥ 95 % of its rate and none above it");
    } else {
        println!("claim missed: {}", misses.join("; "));
    }
    Ok(())
}
