//! WhatsApp messaging end to end: the real extension's outbox in PostgreSQL, the worker
//! (`qlink_server::worker::run` as the least-privilege role `qlink_worker`, and the real
//! `qlink worker` binary for crash safety), a fake WhatsApp Cloud API on loopback, and the
//! delivery-status webhook served on loopback.

use hmac::{Hmac, Mac};
use qlink_server::config::{Secret, WhatsAppArgs, WorkerArgs};
use qlink_server::webhook::{self, WebhookState};
use qlink_server::worker;
use qlink_tests::fake_whatsapp::{FakeWhatsApp, Fault, Received, ACCESS_TOKEN, API_VERSION, PHONE_NUMBER_ID};
use qlink_tests::{connect, create_clinic, fresh_database, qlink_bin, url_as};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PUBLIC_URL: &str = "https://queue.example.in";

/// A fresh database with one clinic, a superuser connection for set-up and checks, and the
/// runtime role's URL for the worker.
struct Setup {
    db_url: String,
    /// The webhook role's URL (`qlink_webhook`).
    webhook_url: String,
    /// The worker role's URL (`qlink_worker`).
    worker_url: String,
    db: Client,
    clinic: Uuid,
}

async fn setup(settings: Value) -> Setup {
    let db_url = fresh_database().await;
    let db = connect(&db_url).await;
    let clinic = create_clinic(&db, "sunrise", settings).await;
    // These tests send hundreds of patients a message; the daily recipient cap has its own
    // tests (tests/tests/senders.rs), so the installation's account is at Meta's top tier.
    db.query_one("SELECT qlink.set_recipient_limit('installation', 1000000)", &[]).await.expect("recipient limit");
    Setup {
        webhook_url: url_as(&db_url, "qlink_webhook"),
        worker_url: url_as(&db_url, "qlink_worker"),
        db_url,
        db,
        clinic,
    }
}

fn worker_args(poll_seconds: u64, lease_seconds: u64) -> WorkerArgs {
    WorkerArgs {
        whatsapp_rate_per_second: 200.0,
        worker_concurrency: 8,
        worker_poll_seconds: poll_seconds,
        worker_lease_seconds: lease_seconds,
        worker_batch_size: 50,
        retention_days: 90,
    }
}

fn log_provider() -> WhatsAppArgs {
    WhatsAppArgs {
        whatsapp_api_base: "http://127.0.0.1:9".into(),
        whatsapp_api_version: API_VERSION.into(),
        whatsapp_phone_number_id: None,
        whatsapp_access_token: None,
        whatsapp_app_secret: None,
        whatsapp_verify_token: None,
        whatsapp_display_number: None,
        secret_key: None,
    }
}

/// `worker::run` in this process, connecting as `qlink_worker`.
struct Worker {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_worker(setup: &Setup, whatsapp: WhatsAppArgs, args: WorkerArgs) -> Worker {
    let config = tokio_postgres::Config::from_str(&setup.worker_url).expect("worker URL");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker::run(config, PUBLIC_URL.to_string(), whatsapp, args, shutdown.clone()));
    Worker { shutdown, task }
}

impl Worker {
    /// Cancels the worker and waits for it; returns how long it took to stop.
    async fn stop(self) -> Duration {
        let started = Instant::now();
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the worker did not stop within 30 s")
            .expect("worker task")
            .expect("worker result");
        started.elapsed()
    }
}

async fn notify(db: &Client) {
    db.batch_execute("NOTIFY qlink_messages").await.expect("NOTIFY");
}

/// A patient's token through the SQL API; returns (token id, token number).
async fn take_token(db: &Client, clinic: Uuid, name: &str, phone: &str, language: Option<&str>) -> (Uuid, i32) {
    let row = db
        .query_one(
            "SELECT token_id, token_number FROM qlink.create_token($1, $2, $3, language => $4)",
            &[&clinic, &name, &phone, &language],
        )
        .await
        .expect("create_token");
    (row.get(0), row.get(1))
}

async fn queue_action(db: &Client, clinic: Uuid, action: &str) {
    db.query_one("SELECT * FROM qlink.queue_action($1, $2)", &[&clinic, &action]).await.expect("queue_action");
}

/// One outbox row as the tests look at it.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    message_type: String,
    to_phone: Option<String>,
    status: String,
    attempts: i32,
    provider: Option<String>,
    provider_message_id: Option<String>,
    provider_response: Option<Value>,
    leased: bool,
}

async fn rows(db: &Client) -> Vec<Row> {
    db.query(
        "SELECT id, message_type, to_phone, status, attempts, provider, provider_message_id, provider_response, \
                locked_until IS NOT NULL AND locked_until > now() \
         FROM qlink.message_logs ORDER BY id",
        &[],
    )
    .await
    .expect("read message_logs")
    .into_iter()
    .map(|r| Row {
        id: r.get(0),
        message_type: r.get(1),
        to_phone: r.get(2),
        status: r.get(3),
        attempts: r.get(4),
        provider: r.get(5),
        provider_message_id: r.get(6),
        provider_response: r.get(7),
        leased: r.get(8),
    })
    .collect()
}

/// Polls the outbox until `done` holds, or panics after `timeout`.
async fn wait_for_rows(db: &Client, timeout: Duration, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + timeout;
    loop {
        let current = rows(db).await;
        if done(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}: {current:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn tracking_link(token: Uuid) -> String {
    format!("{PUBLIC_URL}/t/{token}")
}

fn summary(received: &[Received]) -> Vec<(String, String, Vec<String>)> {
    received.iter().map(|r| (r.template().to_string(), r.language().to_string(), r.parameters())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_life_sends_welcome_reminder_and_called_once_each_in_order() {
    let s = setup(json!({"reminder_at_position": 2})).await;
    let fake = FakeWhatsApp::start().await;
    // A long poll: every send below must come from the NOTIFY wake-up.
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(30, 30));
    let clinic_name = "Clinic sunrise";

    let (asha, _) = take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    let (bala, _) = take_token(&s.db, s.clinic, "Bala", "9876500002", None).await;
    let (chitra, chitra_number) = take_token(&s.db, s.clinic, "Chitra", "09876500003", Some("hi")).await;
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "three WELCOMEs", |r| r.len() == 3).await;

    // Asha called; Chitra reaches position 2 and is reminded. Bala was told on joining that
    // only one person was ahead, so he gets no separate REMINDER.
    queue_action(&s.db, s.clinic, "NEXT").await;
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "Asha's CALLED and Chitra's REMINDER", |r| r.len() == 5).await;
    queue_action(&s.db, s.clinic, "NEXT").await; // Bala called
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "Bala's CALLED", |r| r.len() == 6).await;
    queue_action(&s.db, s.clinic, "NEXT").await; // Chitra called
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "Chitra's CALLED", |r| r.len() == 7).await;

    let link = tracking_link(chitra);
    let n = chitra_number.to_string();
    assert_eq!(
        summary(&fake.received_by("+919876500003")),
        vec![
            ("qlink_welcome".into(), "hi".into(), vec![clinic_name.into(), n.clone(), link.clone(), "2".into()]),
            ("qlink_reminder".into(), "hi".into(), vec![clinic_name.into(), n.clone(), link.clone(), "2".into()]),
            ("qlink_called".into(), "hi".into(), vec![clinic_name.into(), n.clone(), link.clone()]),
        ],
        "Chitra's messages, in order"
    );
    let templates = |phone: &str| fake.received_by(phone).iter().map(|r| r.template().to_string()).collect::<Vec<_>>();
    assert_eq!(templates("919876500001"), ["qlink_welcome", "qlink_called"]);
    assert_eq!(templates("919876500002"), ["qlink_welcome", "qlink_called"]);
    let asha_welcome = &fake.received_by("919876500001")[0];
    assert_eq!(asha_welcome.language(), "en");
    assert_eq!(asha_welcome.parameters(), vec![clinic_name.to_string(), "1".into(), tracking_link(asha), "0".into()]);
    assert_eq!(fake.received_by("919876500002")[0].parameters()[2], tracking_link(bala));
    assert!(fake.received().iter().all(|r| r.authorized && r.body["recipient_type"] == "individual"));

    // Every row SENT once, with the wamid the API gave it.
    let outbox =
        wait_for_rows(&s.db, Duration::from_secs(5), "all SENT", |r| r.iter().all(|m| m.status == "SENT")).await;
    assert_eq!(outbox.len(), 7);
    let wamids: Vec<String> = fake.received().iter().filter_map(|r| r.wamid.clone()).collect();
    for row in &outbox {
        assert_eq!(
            (row.status.as_str(), row.attempts, row.provider.as_deref()),
            ("SENT", 1, Some("whatsapp")),
            "{row:?}"
        );
        assert!(wamids.contains(row.provider_message_id.as_ref().expect("wamid")), "{row:?}");
        // The patient's number is not copied into the provider response (it outlives the purge).
        assert!(!row.provider_response.as_ref().unwrap().to_string().contains("98765"), "{row:?}");
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_backoff_until_sent() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    fake.fail_next(2, Fault::ServerError);
    // Poll every 30 s: the retries must come from the worker's own schedule, not a poll.
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(30, 30));
    take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    let started = Instant::now();
    notify(&s.db).await;

    let done = wait_for_rows(&s.db, Duration::from_secs(20), "SENT", |r| r[0].status == "SENT").await;
    let elapsed = started.elapsed();
    assert_eq!(done[0].attempts, 3);
    let received = fake.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received.iter().map(|r| r.fault.clone()).collect::<Vec<_>>(),
        [Some(Fault::ServerError), Some(Fault::ServerError), None]
    );
    // Backoff 2 s then 4 s, and the patient still has the message within ~15 s.
    let first_gap = received[1].at - received[0].at;
    let second_gap = received[2].at - received[1].at;
    assert!(first_gap >= Duration::from_millis(1900) && first_gap < Duration::from_secs(4), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(3900) && second_gap < Duration::from_secs(7), "{second_gap:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_third_transient_failure_is_permanent() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    fake.fail_next(4, Fault::ServerError);
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(1, 30));
    take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    notify(&s.db).await;

    let done =
        wait_for_rows(&s.db, Duration::from_secs(20), "PERMANENTLY_FAILED", |r| r[0].status == "PERMANENTLY_FAILED")
            .await;
    assert_eq!(done[0].attempts, 3);
    let response = done[0].provider_response.as_ref().expect("Meta's error kept");
    assert_eq!(response["http_status"], 500);
    assert_eq!(response["error"]["code"], 131000);
    // A few polls later: no fourth try.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.received().len(), 3);
    assert_eq!(fake.faults_left(), 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_defers_without_spending_an_attempt() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    fake.fail_next(1, Fault::Throttle { retry_after: Some(2) });
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(30, 30));
    take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    notify(&s.db).await;

    // Deferred: still PENDING, no attempt spent, Meta's answer kept.
    let deferred = wait_for_rows(&s.db, Duration::from_secs(5), "the throttled answer recorded", |r| {
        r[0].provider_response.as_ref().is_some_and(|p| p["error"]["code"] == 130429)
    })
    .await;
    assert_eq!((deferred[0].status.as_str(), deferred[0].attempts), ("PENDING", 0), "{:?}", deferred[0]);

    let done = wait_for_rows(&s.db, Duration::from_secs(10), "SENT", |r| r[0].status == "SENT").await;
    assert_eq!(done[0].attempts, 1, "only the successful send counts");
    let received = fake.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(1900) && gap < Duration::from_secs(5), "Retry-After honoured: {gap:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_at_once() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    fake.fail_next(1, Fault::Permanent(131026));
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(1, 30));
    take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    take_token(&s.db, s.clinic, "Bala", "9876500002", None).await;
    notify(&s.db).await;

    let done = wait_for_rows(&s.db, Duration::from_secs(5), "both finished", |r| {
        r.iter().all(|m| m.status != "PENDING" && m.status != "FAILED")
    })
    .await;
    let failed: Vec<&Row> = done.iter().filter(|r| r.status == "PERMANENTLY_FAILED").collect();
    assert_eq!(failed.len(), 1, "{done:#?}");
    assert_eq!(failed[0].attempts, 1);
    let response = failed[0].provider_response.as_ref().unwrap();
    assert_eq!(response["error"]["code"], 131026);
    assert_eq!(response["error"]["type"], "OAuthException");
    assert!(response["error"]["error_data"]["details"].is_string());
    assert_eq!(done.iter().filter(|r| r.status == "SENT").count(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.received().len(), 2, "the failed message is not tried again");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_actions_stay_fast_while_whatsapp_hangs() {
    let s = setup(json!({"daily_token_limit": 100})).await;
    let fake = FakeWhatsApp::start().await;
    fake.fail_next(1000, Fault::Hang(Duration::from_secs(60)));
    // A 3 s lease: the worker gives up on each hanging send before the lease ends.
    let w = start_worker(&s, fake.whatsapp_args(), WorkerArgs { worker_concurrency: 4, ..worker_args(1, 3) });
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        take_token(&s.db, s.clinic, &format!("Patient {i}"), &format!("98765{:05}", i), None).await;
        notify(&s.db).await;
        slowest = slowest.max(started.elapsed());
    }
    fake.wait_for(Duration::from_secs(5), "sends hanging", |r| r.len() >= 4).await;
    for _ in 0..20 {
        let started = Instant::now();
        queue_action(&s.db, s.clinic, "NEXT").await;
        notify(&s.db).await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "a queue call took {slowest:?} while WhatsApp hung");
    // The hung sends were cut short and recorded as transient failures.
    wait_for_rows(&s.db, Duration::from_secs(10), "a timed-out send recorded as a retry", |r| {
        r.iter().any(|m| m.attempts >= 1 && m.status == "FAILED")
    })
    .await;
    let stopped_in = w.stop().await;
    assert!(stopped_in < Duration::from_secs(5), "shutdown took {stopped_in:?}");
    assert!(rows(&s.db).await.iter().all(|r| r.status != "SENT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_sends_in_flight_and_hands_back_the_rest() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    fake.set_latency(Duration::from_millis(1500));
    let w = start_worker(&s, fake.whatsapp_args(), WorkerArgs { worker_concurrency: 2, ..worker_args(30, 30) });
    for i in 0..6 {
        take_token(&s.db, s.clinic, &format!("Patient {i}"), &format!("98765{:05}", i), None).await;
    }
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "two sends in flight", |r| r.len() == 2).await;
    let stopped_in = w.stop().await;
    assert!(stopped_in < Duration::from_secs(5), "{stopped_in:?}");
    assert_eq!(fake.received().len(), 2, "nothing new is sent after shutdown");

    let outbox = rows(&s.db).await;
    let sent: Vec<_> = outbox.iter().filter(|r| r.status == "SENT").collect();
    assert_eq!(sent.len(), 2, "the sends in flight were recorded: {outbox:#?}");
    for row in outbox.iter().filter(|r| r.status != "SENT") {
        // Handed back at once: not leased, no attempt spent.
        assert_eq!((row.status.as_str(), row.attempts, row.leased), ("PENDING", 0, false), "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_sent_at_the_configured_rate() {
    let s = setup(json!({"daily_token_limit": 1000, "reminder_at_position": 0})).await;
    s.db.query(
        "SELECT qlink.create_token($1, 'Patient ' || g, '97' || lpad(g::text, 8, '0')) FROM generate_series(1, 150) g",
        &[&s.clinic],
    )
    .await
    .expect("150 tokens");
    let fake = FakeWhatsApp::start().await;
    let rate = 50.0;
    let w = start_worker(
        &s,
        fake.whatsapp_args(),
        WorkerArgs { whatsapp_rate_per_second: rate, worker_batch_size: 20, ..worker_args(30, 30) },
    );
    let received = fake.wait_for(Duration::from_secs(15), "150 sends", |r| r.len() == 150).await;
    let span = (received[149].at - received[0].at).as_secs_f64();
    let achieved = 149.0 / span;
    // The limit is the claim; the floor only shows the limiter does not starve the backlog.
    // It is loose because a loaded 2-core CI machine once delivered 46.6/s of 50/s.
    assert!(achieved >= 0.8 * rate, "achieved {achieved:.1}/s of {rate}/s");
    assert!(achieved <= 1.05 * rate, "over the limit: {achieved:.1}/s of {rate}/s");
    // No burst: no one-second window holds much more than the rate. (A stalled test process
    // can bunch a few arrival times together, hence the 10 %.)
    for (i, first) in received.iter().enumerate() {
        let in_window = received[i..].iter().take_while(|r| r.at - first.at < Duration::from_secs(1)).count();
        assert!(in_window as f64 <= rate * 1.1, "{in_window} sends within one second");
    }
    wait_for_rows(&s.db, Duration::from_secs(5), "all SENT", |r| r.iter().all(|m| m.status == "SENT")).await;
    w.stop().await;
}

/// The listener's backend pid, once it is listening.
async fn listener_pid(db: &Client, timeout: Duration) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        let row = db
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                   AND application_name = $1 ORDER BY backend_start DESC LIMIT 1",
                &[&worker::LISTEN_APPLICATION_NAME],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "the worker is not listening after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a token, optionally NOTIFYs, and returns how long until its WELCOME arrived.
async fn time_to_welcome(
    s: &Setup,
    fake: &FakeWhatsApp,
    phone: &str,
    send_notify: bool,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    take_token(&s.db, s.clinic, "Patient", phone, None).await;
    if send_notify {
        notify(&s.db).await;
    }
    fake.wait_for(timeout, "the WELCOME", |r| r.iter().any(|m| m.to() == format!("91{phone}"))).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_the_worker_and_polling_covers_a_lost_one() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(3, 30));
    listener_pid(&s.db, Duration::from_secs(5)).await;
    // Let the start-up claim and the first poll pass, so timing starts from an idle worker.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let woken = time_to_welcome(&s, &fake, "9876500001", true, Duration::from_secs(5)).await;
    assert!(woken < Duration::from_secs(1), "NOTIFY wake-up took {woken:?}");
    // Queued from psql without a NOTIFY: the poll finds it.
    let polled = time_to_welcome(&s, &fake, "9876500002", false, Duration::from_secs(6)).await;
    assert!(polled <= Duration::from_millis(3500), "poll took {polled:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_connection_is_replaced_and_nothing_waits_longer_than_a_poll() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(4, 30));
    let first = listener_pid(&s.db, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let killed: bool = s.db.query_one("SELECT pg_terminate_backend($1)", &[&first]).await.unwrap().get(0);
    assert!(killed);
    // Queued while the listener is down: a NOTIFY may find nobody listening.
    let during = time_to_welcome(&s, &fake, "9876500001", true, Duration::from_secs(8)).await;
    assert!(during <= Duration::from_millis(4500), "took {during:?} with the listener down");

    // The listener comes back on a new connection and NOTIFY works again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let pid = listener_pid(&s.db, Duration::from_secs(10)).await;
        if pid != first {
            break pid;
        }
        assert!(Instant::now() < deadline, "the listener did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(second, first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let woken = time_to_welcome(&s, &fake, "9876500002", true, Duration::from_secs(6)).await;
    assert!(woken < Duration::from_secs(1), "NOTIFY after reconnecting took {woken:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_messages_go_to_the_log_and_count_as_sent() {
    let metrics = metrics_handle();
    let s = setup(json!({})).await;
    let w = start_worker(&s, log_provider(), worker_args(1, 30));
    take_token(&s.db, s.clinic, "Asha", "9876500001", None).await;
    notify(&s.db).await;
    let done = wait_for_rows(&s.db, Duration::from_secs(5), "SENT", |r| r[0].status == "SENT").await;
    assert_eq!(done[0].provider.as_deref(), Some("log"));
    assert_eq!(done[0].provider_message_id, None);
    w.stop().await;

    let rendered = metrics.render();
    assert!(rendered.contains(r#"qlink_messages_total{type="WELCOME",outcome="sent"}"#), "{rendered}");
    assert!(rendered.contains("qlink_message_send_seconds"), "{rendered}");
    assert!(rendered.contains("qlink_outbox_lag_seconds"), "{rendered}");
}

/// A Prometheus recorder for this test process (installed once; tests share it).
fn metrics_handle() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().expect("recorder"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_does_the_housekeeping_under_an_advisory_lock() {
    let s = setup(json!({"whatsapp_enabled": false})).await;
    // A token from 100 days ago, past the 90-day retention, and one from today.
    s.db.batch_execute("SET qlink.clock_override = '2020-01-01 10:00:00+00'").await.unwrap();
    let (old, _) = take_token(&s.db, s.clinic, "Old Patient", "9876500001", None).await;
    s.db.batch_execute("RESET qlink.clock_override").await.unwrap();
    let (today, _) = take_token(&s.db, s.clinic, "New Patient", "9876500002", None).await;

    let a = start_worker(&s, log_provider(), worker_args(1, 30));
    let b = start_worker(&s, log_provider(), worker_args(1, 30));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let name: Option<String> =
            s.db.query_one("SELECT patient_name FROM qlink.tokens WHERE id = $1", &[&old]).await.unwrap().get(0);
        if name.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "the old token was not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept: Option<String> =
        s.db.query_one("SELECT patient_name FROM qlink.tokens WHERE id = $1", &[&today]).await.unwrap().get(0);
    assert_eq!(kept.as_deref(), Some("New Patient"));
    // Exactly one of the two workers holds the housekeeping lock, on its LISTEN connection.
    let holders =
        s.db.query(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
                   (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
            &[&worker::HOUSEKEEPING_LOCK_KEY],
        )
        .await
        .unwrap();
    let names: Vec<String> = holders.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, [worker::LISTEN_APPLICATION_NAME]);
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------
// Crash safety with the real binary.

/// `qlink worker` as a child process pointed at the fake API.
fn spawn_qlink_worker(s: &Setup, fake: &FakeWhatsApp) -> std::process::Child {
    std::process::Command::new(qlink_bin())
        .arg("worker")
        .env("DATABASE_URL", &s.db_url)
        .env("QLINK_WORKER_DATABASE_URL", &s.worker_url)
        .env("QLINK_PUBLIC_URL", PUBLIC_URL)
        .env("WHATSAPP_API_BASE", fake.base_url())
        .env("WHATSAPP_API_VERSION", API_VERSION)
        .env("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
        .env("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
        .env("QLINK_WHATSAPP_RATE", "250")
        .env("QLINK_WORKER_CONCURRENCY", "8")
        .env("QLINK_WORKER_POLL_SECONDS", "1")
        .env("QLINK_WORKER_LEASE_SECONDS", "2")
        .env("QLINK_WORKER_BATCH", "50")
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start qlink worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_workers_lose_no_message_and_resend_at_most_once_per_kill() {
    let s = setup(json!({"daily_token_limit": 1000, "daily_message_limit": 1000, "reminder_at_position": 0})).await;
    s.db.query(
        "SELECT qlink.create_token($1, 'Patient ' || g, '96' || lpad(g::text, 8, '0')) FROM generate_series(1, 500) g",
        &[&s.clinic],
    )
    .await
    .expect("500 tokens");
    // 500 patients are more than the default daily recipient cap (250) of the
    // installation's account: the cap is not what this test is about.
    s.db.query_one("SELECT qlink.set_recipient_limit('installation', 1000)", &[]).await.expect("recipient limit");
    let fake = FakeWhatsApp::start().await;
    // A little latency so that sends are in flight when the kill lands.
    fake.set_latency(Duration::from_millis(5));

    let kills = 4;
    for round in 0..kills {
        let mut child = spawn_qlink_worker(&s, &fake);
        let before = fake.received().len();
        // Kill it mid-run: once it has sent something (or after a while if it is slow to start).
        let deadline = Instant::now() + Duration::from_secs(5);
        while fake.received().len() < before + 40 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
        child.wait().expect("reap");
        assert!(fake.received().len() > before, "round {round}: the worker sent nothing");
    }
    // A last worker drains the rest, then stops gracefully on SIGTERM.
    let mut last = spawn_qlink_worker(&s, &fake);
    let done = wait_for_rows(&s.db, Duration::from_secs(60), "every message SENT", |r| {
        r.len() == 500 && r.iter().all(|m| m.status == "SENT")
    })
    .await;
    let status = std::process::Command::new("kill").args(["-TERM", &last.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || last.wait()).await.unwrap().unwrap();
    assert!(exited.success(), "qlink worker exit: {exited:?}");

    let mut seen: HashMap<String, Vec<Received>> = HashMap::new();
    for r in fake.received() {
        seen.entry(r.to().to_string()).or_default().push(r);
    }
    for row in &done {
        let phone = row.to_phone.as_deref().unwrap().trim_start_matches('+');
        let sends = seen.get(phone).map(Vec::as_slice).unwrap_or_default();
        assert!(!sends.is_empty(), "message {} never reached the API", row.id);
        assert!(sends.len() <= 1 + kills, "message {} sent {} times with {kills} kills", row.id, sends.len());
        let wamid = row.provider_message_id.as_deref().expect("wamid recorded");
        assert!(sends.iter().any(|r| r.wamid.as_deref() == Some(wamid)), "message {}: wamid not from the API", row.id);
        assert_eq!(row.message_type, "WELCOME");
    }
    let duplicates: usize = seen.values().map(|v| v.len() - 1).sum();
    eprintln!(
        "crash test: {} requests for 500 messages, {duplicates} re-sent after {kills} kills",
        fake.received().len()
    );
}

// ---------------------------------------------------------------------------------------
// The webhook.

const APP_SECRET: &str = "meta-app-secret";
const VERIFY_TOKEN: &str = "verify-me-please";

/// Serves `webhook::routes()` on loopback with a pool connecting as `qlink_webhook`.
async fn serve_webhook(s: &Setup, verify_token: Option<&str>, app_secret: Option<&str>) -> (String, CancellationToken) {
    let config = tokio_postgres::Config::from_str(&s.webhook_url).unwrap();
    let state = WebhookState {
        pool: qlink_server::db::pool(config, 2).unwrap(),
        verify_token: verify_token.map(Secret::new),
        app_secret: app_secret.map(Secret::new),
    };
    let app = webhook::routes::<WebhookState>().with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}{}", listener.local_addr().unwrap(), webhook::WEBHOOK_PATH);
    let stop = CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(until.cancelled_owned()).await });
    (base, stop)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's status webhook for `(wamid, status)` pairs.
fn status_payload(statuses: &[(&str, &str)]) -> Vec<u8> {
    let statuses: Vec<Value> = statuses
        .iter()
        .map(|(id, status)| {
            let mut s = json!({"id": id, "status": status, "timestamp": "1767225600", "recipient_id": "919876500001"});
            if *status == "failed" {
                s["errors"] = json!([{"code": 131026, "title": "Message undeliverable",
                                       "error_data": {"details": "Message Undeliverable."}}]);
            }
            s
        })
        .collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": statuses
        }}]}]
    }))
    .unwrap()
}

async fn post_statuses(url: &str, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    request.send().await.unwrap()
}

/// Three SENT messages with known wamids, through the worker's own SQL protocol.
async fn sent_messages(s: &Setup) -> Vec<(i64, String)> {
    for (i, phone) in ["9876500001", "9876500002", "9876500003"].iter().enumerate() {
        take_token(&s.db, s.clinic, &format!("Patient {i}"), phone, None).await;
    }
    let app = connect(&s.worker_url).await;
    let claimed = app.query("SELECT id FROM qlink.claim_messages(10, interval '30 seconds')", &[]).await.unwrap();
    let mut sent = Vec::new();
    for row in claimed {
        let id: i64 = row.get(0);
        let wamid = format!("wamid.TEST{id}");
        app.query_one("SELECT * FROM qlink.finish_message($1, 'SENT', 'whatsapp', $2)", &[&id, &wamid]).await.unwrap();
        sent.push((id, wamid));
    }
    assert_eq!(sent.len(), 3);
    sent
}

async fn status_of(db: &Client, id: i64) -> (String, Option<Value>) {
    let row =
        db.query_one("SELECT status, provider_response FROM qlink.message_logs WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_handshake_answers_the_challenge_only_with_the_verify_token() {
    let s = setup(json!({})).await;
    let (url, stop) = serve_webhook(&s, Some(VERIFY_TOKEN), Some(APP_SECRET)).await;
    let http = reqwest::Client::new();
    let get = |mode: &str, token: &str| {
        http.get(&url).query(&[("hub.mode", mode), ("hub.verify_token", token), ("hub.challenge", "1158201444")]).send()
    };
    let ok = get("subscribe", VERIFY_TOKEN).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");

    for (mode, token) in [("subscribe", "wrong-token"), ("subscribe", ""), ("unsubscribe", VERIFY_TOKEN)] {
        let refused = get(mode, token).await.unwrap();
        assert_eq!(refused.status(), 403, "{mode} {token}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
    }
    stop.cancel();

    // No verify token configured: nobody can subscribe.
    let (url, stop) = serve_webhook(&s, None, Some(APP_SECRET)).await;
    let refused = http
        .get(&url)
        .query(&[("hub.mode", "subscribe"), ("hub.verify_token", ""), ("hub.challenge", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_applies_signed_statuses_and_refuses_unsigned_ones() {
    let s = setup(json!({})).await;
    let sent = sent_messages(&s).await;
    let (url, stop) = serve_webhook(&s, Some(VERIFY_TOKEN), Some(APP_SECRET)).await;
    let (first, first_wamid) = (sent[0].0, sent[0].1.as_str());

    // Refused, and nothing changes: no signature, a wrong one, one for another body.
    let body = status_payload(&[(first_wamid, "read")]);
    for signature in
        [None, Some("sha256=00".to_string()), Some(sign("not-the-secret", &body)), Some(sign(APP_SECRET, b"{}"))]
    {
        let r = post_statuses(&url, body.clone(), signature.clone()).await;
        assert_eq!(r.status(), 401, "{signature:?}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unauthorized");
        assert_eq!(status_of(&s.db, first).await.0, "SENT");
    }

    let r = post_statuses(&url, body.clone(), Some(sign(APP_SECRET, &body))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"applied": 1, "ignored": 0, "messages": 0}));
    assert_eq!(status_of(&s.db, first).await.0, "READ");

    // Unknown wamids (another app's messages) are ignored, the request still succeeds.
    let body = status_payload(&[("wamid.SOMEONE-ELSE", "delivered")]);
    let r = post_statuses(&url, body.clone(), Some(sign(APP_SECRET, &body))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"applied": 0, "ignored": 1, "messages": 0}));
    stop.cancel();

    // Without an app secret configured no POST is believed.
    let (url, stop) = serve_webhook(&s, Some(VERIFY_TOKEN), None).await;
    let body = status_payload(&[(sent[1].1.as_str(), "delivered")]);
    let r = post_statuses(&url, body.clone(), Some(sign(APP_SECRET, &body))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(status_of(&s.db, sent[1].0).await.0, "SENT");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_out_of_order_statuses_end_in_the_right_state() {
    let s = setup(json!({})).await;
    let sent = sent_messages(&s).await;
    let (url, stop) = serve_webhook(&s, Some(VERIFY_TOKEN), Some(APP_SECRET)).await;
    let post = |statuses: Vec<(&str, &str)>| {
        let body = status_payload(&statuses);
        let signature = sign(APP_SECRET, &body);
        let url = url.clone();
        async move {
            let r = post_statuses(&url, body, Some(signature)).await;
            assert_eq!(r.status(), 200);
        }
    };
    let (a, b, c) = (sent[0].1.as_str(), sent[1].1.as_str(), sent[2].1.as_str());

    // a: read arrives before delivered and sent, some twice; a late failure can't undo a read.
    post(vec![(a, "read")]).await;
    post(vec![(a, "delivered"), (a, "sent")]).await;
    post(vec![(a, "read"), (a, "delivered")]).await;
    post(vec![(a, "failed")]).await;
    // b: delivered then a late, duplicated sent.
    post(vec![(b, "delivered"), (b, "sent")]).await;
    post(vec![(b, "sent")]).await;
    // c: failed with Meta's error kept; a duplicate changes nothing.
    post(vec![(c, "failed")]).await;
    post(vec![(c, "failed"), (c, "sent")]).await;

    assert_eq!(status_of(&s.db, sent[0].0).await.0, "READ");
    assert_eq!(status_of(&s.db, sent[1].0).await.0, "DELIVERED");
    let (status, response) = status_of(&s.db, sent[2].0).await;
    assert_eq!(status, "PERMANENTLY_FAILED");
    let response = response.expect("details kept");
    assert_eq!(response["status_failed"]["errors"][0]["code"], 131026, "{response}");
    assert!(!response.to_string().contains("919876500001"), "the recipient's number is not kept: {response}");
    stop.cancel();
}

/// Not a test: serves the fake WhatsApp API for trying QLink locally without Meta.
/// `QLINK_FAKE_WHATSAPP_BIND=127.0.0.1:9099 cargo test -p qlink-tests --test messaging -- --ignored --nocapture fake_whatsapp_for_local_development`
/// then run `qlink serve` with `WHATSAPP_API_BASE=http://127.0.0.1:9099`,
/// `WHATSAPP_PHONE_NUMBER_ID=106540352242922`, `WHATSAPP_ACCESS_TOKEN=EAAG-fake-access-token`.
#[tokio::test]
#[ignore]
async fn fake_whatsapp_for_local_development() {
    let Ok(bind) = std::env::var("QLINK_FAKE_WHATSAPP_BIND") else {
        eprintln!("set QLINK_FAKE_WHATSAPP_BIND=127.0.0.1:9099 to run the fake WhatsApp API");
        return;
    };
    let fake = FakeWhatsApp::start_on(bind.parse().expect("QLINK_FAKE_WHATSAPP_BIND is host:port")).await;
    eprintln!("fake WhatsApp Cloud API on {} (phone number id {PHONE_NUMBER_ID}); Ctrl-C to stop", fake.base_url());
    let mut printed = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let received = fake.received();
        for r in &received[printed..] {
            eprintln!("→ {} {} to {}: {:?}", r.template(), r.language(), r.to(), r.parameters());
        }
        printed = received.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_called_message_names_the_label_and_the_room_in_a_clinic_with_several_rooms() {
    let s = setup(json!({})).await;
    let fake = FakeWhatsApp::start().await;
    let w = start_worker(&s, fake.whatsapp_args(), worker_args(30, 30));
    let dr_b: Uuid = s.db.query_one("SELECT qlink.create_queue($1, 'Dr. B', 'B')", &[&s.clinic]).await.unwrap().get(0);
    let room_2: Uuid =
        s.db.query_one("SELECT qlink.create_room($1, 'Room 2', ARRAY[$2]::uuid[])", &[&s.clinic, &dr_b])
            .await
            .unwrap()
            .get(0);
    let token: Uuid =
        s.db.query_one(
            "SELECT token_id FROM qlink.create_token($1, 'Meera', '9876500009', language => 'hi', queue_id => $2)",
            &[&s.clinic, &dr_b],
        )
        .await
        .unwrap()
        .get(0);
    s.db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&s.clinic, &room_2]).await.unwrap();
    notify(&s.db).await;
    fake.wait_for(Duration::from_secs(5), "the WELCOME and the CALLED", |r| r.len() == 2).await;
    // Both were queued before the worker woke, and it sends concurrently: in either order.
    let mut got = summary(&fake.received_by("919876500009"));
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "qlink_called".into(),
                "hi".into(),
                vec!["Clinic sunrise".into(), "B-1 (Room 2)".into(), tracking_link(token)]
            ),
            (
                "qlink_welcome".into(),
                "hi".into(),
                vec!["Clinic sunrise".into(), "B-1".into(), tracking_link(token), "0".into()]
            ),
        ]
    );
    w.stop().await;
}
