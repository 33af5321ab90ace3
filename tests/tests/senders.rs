//! Clinics' own WhatsApp numbers (SPEC §11) end to end: the real extension's outbox, the
//! worker (`qlink_server::worker::run` as `qlink_worker`) and the fake Cloud API, which records
//! each request's phone number id and bearer token and accepts a token only for its own
//! number. A clinic's sender is set as the operator would, with `qlink.set_clinic_sender`
//! and a token sealed by `crypto::SecretKey`.

use qlink_server::config::{Secret, WhatsAppArgs, WorkerArgs};
use qlink_server::crypto::SecretKey;
use qlink_server::worker;
use qlink_tests::fake_whatsapp::{FakeWhatsApp, Received, ACCESS_TOKEN, PHONE_NUMBER_ID};
use qlink_tests::{connect, create_clinic, fresh_database, url_as};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PUBLIC_URL: &str = "https://queue.example.in";
const KEY_HEX: &str = "8f2c0e5a9b7d4c3e1f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e";
const B_NUMBER: &str = "200000000000001";
const B_TOKEN: &str = "EAAG-clinic-b-token";
const B_WABA: &str = "300000000000001";
const C_NUMBER: &str = "200000000000002";
const C_TOKEN: &str = "EAAG-clinic-c-token";
const C_WABA: &str = "300000000000002";

struct Setup {
    /// The worker role's URL (`qlink_worker`).
    worker_url: String,
    db: Client,
}

async fn setup() -> Setup {
    let db_url = fresh_database().await;
    let db = connect(&db_url).await;
    Setup { worker_url: url_as(&db_url, "qlink_worker"), db }
}

async fn clinic(s: &Setup, slug: &str) -> Uuid {
    create_clinic(&s.db, slug, json!({"daily_token_limit": 1000, "reminder_at_position": 0})).await
}

/// Makes `number` the clinic's own sender, with `token` sealed under `key` (None: the
/// installation's token is used for it).
async fn set_sender(s: &Setup, clinic: Uuid, number: &str, waba: &str, sealed: Option<Vec<u8>>) {
    let display = format!("+9198{}", &number[number.len() - 8..]);
    s.db.query_one("SELECT qlink.set_clinic_sender($1, $2, $3, $4, $5)", &[&clinic, &number, &display, &waba, &sealed])
        .await
        .expect("set_clinic_sender");
}

fn seal(key_hex: &str, number: &str, token: &str) -> Vec<u8> {
    SecretKey::parse(key_hex).unwrap().seal(number.as_bytes(), token.as_bytes())
}

fn whatsapp(fake: &FakeWhatsApp, key: Option<&str>) -> WhatsAppArgs {
    WhatsAppArgs { secret_key: key.map(Secret::new), ..fake.whatsapp_args() }
}

fn worker_args(rate: f64) -> WorkerArgs {
    WorkerArgs {
        whatsapp_rate_per_second: rate,
        worker_concurrency: 8,
        worker_poll_seconds: 1,
        worker_lease_seconds: 30,
        worker_batch_size: 50,
        retention_days: 90,
    }
}

struct Worker {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_worker(s: &Setup, whatsapp: WhatsAppArgs, args: WorkerArgs) -> Worker {
    let config = tokio_postgres::Config::from_str(&s.worker_url).expect("worker URL");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker::run(config, PUBLIC_URL.to_string(), whatsapp, args, shutdown.clone()));
    Worker { shutdown, task }
}

impl Worker {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the worker stops")
            .expect("worker task")
            .expect("worker result");
    }
}

async fn take_token(db: &Client, clinic: Uuid, phone: &str) -> Uuid {
    db.query_one("SELECT token_id FROM qlink.create_token($1, 'Patient', $2)", &[&clinic, &phone])
        .await
        .expect("create_token")
        .get(0)
}

#[derive(Debug, Clone)]
struct Message {
    business_id: Option<Uuid>,
    to_phone: Option<String>,
    status: String,
    reason: Option<String>,
    provider_response: Option<Value>,
}

async fn messages(db: &Client) -> Vec<Message> {
    db.query("SELECT business_id, to_phone, status, reason, provider_response FROM qlink.message_logs ORDER BY id", &[])
        .await
        .expect("message_logs")
        .iter()
        .map(|r| Message {
            business_id: r.get(0),
            to_phone: r.get(1),
            status: r.get(2),
            reason: r.get(3),
            provider_response: r.get(4),
        })
        .collect()
}

async fn wait_for(db: &Client, timeout: Duration, what: &str, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
    let deadline = Instant::now() + timeout;
    loop {
        let current = messages(db).await;
        if done(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}: {current:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn of(messages: &[Message], clinic: Uuid) -> Vec<Message> {
    messages.iter().filter(|m| m.business_id == Some(clinic)).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_clinic_sends_from_its_own_number_with_its_own_token() {
    let s = setup().await;
    let (a, b, c) = (clinic(&s, "alpha").await, clinic(&s, "bravo").await, clinic(&s, "charlie").await);
    set_sender(&s, b, B_NUMBER, B_WABA, Some(seal(KEY_HEX, B_NUMBER, B_TOKEN))).await;
    // C has its own number but no token of its own: the installation's token is used for it.
    set_sender(&s, c, C_NUMBER, C_WABA, None).await;
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(B_NUMBER, B_TOKEN);
    fake.add_sender(C_NUMBER, ACCESS_TOKEN);
    take_token(&s.db, a, "9811111111").await;
    take_token(&s.db, b, "9822222222").await;
    take_token(&s.db, c, "9833333333").await;
    let w = start_worker(&s, whatsapp(&fake, Some(KEY_HEX)), worker_args(50.0));
    let rows = wait_for(&s.db, Duration::from_secs(15), "three SENT", |m| {
        m.len() == 3 && m.iter().all(|m| m.status == "SENT")
    })
    .await;
    w.stop().await;
    let from = |phone: &str| -> Received {
        let got = fake.received_by(phone);
        assert_eq!(got.len(), 1, "{phone}: {got:#?}");
        got[0].clone()
    };
    let (ra, rb, rc) = (from("+919811111111"), from("+919822222222"), from("+919833333333"));
    assert_eq!((ra.phone_number_id(), ra.token.as_deref()), (PHONE_NUMBER_ID, Some(ACCESS_TOKEN)));
    assert_eq!((rb.phone_number_id(), rb.token.as_deref()), (B_NUMBER, Some(B_TOKEN)));
    assert_eq!((rc.phone_number_id(), rc.token.as_deref()), (C_NUMBER, Some(ACCESS_TOKEN)));
    for r in [&ra, &rb, &rc] {
        assert_eq!(r.template(), "qlink_welcome");
        assert_eq!(r.body["template"]["language"]["policy"], "deterministic");
        assert_eq!(r.button_payloads(), vec!["STATUS", "CANCEL", "STOP"]);
    }
    assert_eq!(rows.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_does_not_open_fails_only_its_clinics_message() {
    let s = setup().await;
    let (a, b) = (clinic(&s, "alpha").await, clinic(&s, "bravo").await);
    // Sealed under another key (QLINK_SECRET_KEY was changed since).
    let other_key = "11".repeat(32);
    set_sender(&s, b, B_NUMBER, B_WABA, Some(seal(&other_key, B_NUMBER, B_TOKEN))).await;
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(B_NUMBER, B_TOKEN);
    take_token(&s.db, b, "9822222222").await;
    take_token(&s.db, a, "9811111111").await;
    let w = start_worker(&s, whatsapp(&fake, Some(KEY_HEX)), worker_args(50.0));
    let rows = wait_for(&s.db, Duration::from_secs(15), "both finished", |m| {
        m.len() == 2 && m.iter().all(|m| m.status == "SENT" || m.status == "PERMANENTLY_FAILED")
    })
    .await;
    w.stop().await;
    let failed = &of(&rows, b)[0];
    assert_eq!(failed.status, "PERMANENTLY_FAILED", "{failed:?}");
    let response = failed.provider_response.clone().expect("the reason is kept");
    assert_eq!(
        response["error"]["message"],
        "the clinic's WhatsApp access token cannot be decrypted (QLINK_SECRET_KEY changed?)"
    );
    assert_eq!(response["error"]["source"], "qlink");
    assert_eq!(of(&rows, a)[0].status, "SENT");
    assert!(fake.received_by("+919822222222").is_empty(), "nothing went out for B");
    assert_eq!(fake.received_by("+919811111111").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_token_without_a_secret_key_fails_with_that_reason() {
    let s = setup().await;
    let (a, b) = (clinic(&s, "alpha").await, clinic(&s, "bravo").await);
    set_sender(&s, b, B_NUMBER, B_WABA, Some(seal(KEY_HEX, B_NUMBER, B_TOKEN))).await;
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(B_NUMBER, B_TOKEN);
    take_token(&s.db, b, "9822222222").await;
    take_token(&s.db, a, "9811111111").await;
    let w = start_worker(&s, whatsapp(&fake, None), worker_args(50.0));
    let rows = wait_for(&s.db, Duration::from_secs(15), "both finished", |m| {
        m.len() == 2 && m.iter().all(|m| m.status == "SENT" || m.status == "PERMANENTLY_FAILED")
    })
    .await;
    w.stop().await;
    let failed = &of(&rows, b)[0];
    assert_eq!(failed.status, "PERMANENTLY_FAILED");
    let message = failed.provider_response.as_ref().unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("QLINK_SECRET_KEY is not configured"), "{message}");
    assert_eq!(of(&rows, a)[0].status, "SENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_its_daily_recipient_cap_waits_while_other_clinics_flow() {
    let s = setup().await;
    let (a, b) = (clinic(&s, "alpha").await, clinic(&s, "bravo").await);
    set_sender(&s, b, B_NUMBER, B_WABA, Some(seal(KEY_HEX, B_NUMBER, B_TOKEN))).await;
    s.db.query_one("SELECT qlink.set_recipient_limit($1, 1)", &[&B_WABA]).await.expect("set_recipient_limit");
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(B_NUMBER, B_TOKEN);
    take_token(&s.db, b, "9822222221").await;
    take_token(&s.db, b, "9822222222").await;
    take_token(&s.db, a, "9811111111").await;
    take_token(&s.db, a, "9811111112").await;
    let w = start_worker(&s, whatsapp(&fake, Some(KEY_HEX)), worker_args(50.0));
    let rows = wait_for(&s.db, Duration::from_secs(15), "A's two and B's first SENT, B's second deferred", |m| {
        m.iter().filter(|m| m.status == "SENT").count() == 3
            && m.iter().any(|m| m.status == "PENDING" && m.reason.as_deref() == Some("daily_recipient_limit"))
    })
    .await;
    // It stays deferred (the window it waits for is a day away), and is never sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.stop().await;
    let rows_after = messages(&s.db).await;
    let b_rows = of(&rows_after, b);
    let deferred: Vec<_> = b_rows.iter().filter(|m| m.status == "PENDING").collect();
    assert_eq!(deferred.len(), 1, "{b_rows:#?}");
    assert_eq!(deferred[0].reason.as_deref(), Some("daily_recipient_limit"));
    assert!(of(&rows, a).iter().all(|m| m.status == "SENT"), "{rows:#?}");
    let b_sent: Vec<Received> = fake.received().into_iter().filter(|r| r.phone_number_id() == B_NUMBER).collect();
    assert_eq!(b_sent.len(), 1, "one recipient for B's account today: {b_sent:#?}");
    let deferred_phone = deferred[0].to_phone.clone().unwrap();
    assert!(fake.received_by(&deferred_phone).is_empty());
}

/// Achieved sends per second of one sender, and the most sends in any one-second window.
fn pace_of(received: &[Received]) -> (f64, usize) {
    let n = received.len();
    let span = (received[n - 1].at - received[0].at).as_secs_f64();
    let busiest = (0..n)
        .map(|i| received[i..].iter().take_while(|r| r.at - received[i].at < Duration::from_secs(1)).count())
        .max()
        .unwrap_or(0);
    ((n - 1) as f64 / span, busiest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sender_number_is_paced_at_its_own_rate() {
    let s = setup().await;
    let (b, c) = (clinic(&s, "bravo").await, clinic(&s, "charlie").await);
    set_sender(&s, b, B_NUMBER, B_WABA, Some(seal(KEY_HEX, B_NUMBER, B_TOKEN))).await;
    set_sender(&s, c, C_NUMBER, C_WABA, Some(seal(KEY_HEX, C_NUMBER, C_TOKEN))).await;
    let (b_rate, c_rate) = (10.0_f32, 25.0_f32);
    for (number, rate) in [(B_NUMBER, b_rate), (C_NUMBER, c_rate)] {
        s.db.execute(
            "UPDATE qlink.whatsapp_senders SET rate_per_second = $2 WHERE phone_number_id = $1",
            &[&number, &rate],
        )
        .await
        .expect("sender rate");
    }
    for (clinic, prefix) in [(b, "96"), (c, "95")] {
        s.db.query(
            "SELECT qlink.create_token($1, 'Patient ' || g, $2 || lpad(g::text, 8, '0')) FROM generate_series(1, 50) g",
            &[&clinic, &prefix],
        )
        .await
        .expect("50 tokens");
    }
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(B_NUMBER, B_TOKEN);
    fake.add_sender(C_NUMBER, C_TOKEN);
    fake.set_latency(Duration::from_millis(20));
    // The installation's own rate is far above both: only the senders' rates can hold them.
    let w = start_worker(&s, whatsapp(&fake, Some(KEY_HEX)), worker_args(500.0));
    fake.wait_for(Duration::from_secs(20), "100 sends", |r| r.len() >= 100).await;
    w.stop().await;
    let received = fake.received();
    for (number, rate) in [(B_NUMBER, f64::from(b_rate)), (C_NUMBER, f64::from(c_rate))] {
        let own: Vec<Received> = received.iter().filter(|r| r.phone_number_id() == number).cloned().collect();
        assert_eq!(own.len(), 50, "{number}");
        let (achieved, busiest) = pace_of(&own);
        assert!(achieved <= 1.05 * rate, "{number}: {achieved:.1}/s over its {rate}/s");
        // A stalled test process can bunch a few arrival times together.
        assert!(busiest as f64 <= rate * 1.1 + 1.0, "{number}: {busiest} sends within one second at {rate}/s");
        // The floor shows the other sender's backlog did not hold this one back.
        assert!(achieved >= 0.8 * rate, "{number}: only {achieved:.1}/s of {rate}/s");
    }
    // Both ran at once: the slower one's backlog did not wait for the faster one's.
    let first = |n: &str| received.iter().find(|r| r.phone_number_id() == n).unwrap().at;
    let gap = if first(B_NUMBER) > first(C_NUMBER) {
        first(B_NUMBER) - first(C_NUMBER)
    } else {
        first(C_NUMBER) - first(B_NUMBER)
    };
    assert!(gap < Duration::from_secs(1), "the senders started {gap:?} apart");
}
