//! Reliability (issue 7): the real `qlink serve` and `qlink worker` binaries under load
//! while processes and PostgreSQL fail, and the queue while an old snapshot pins vacuum.
//!
//! - `process_and_database_faults_under_load_lose_nothing`: patients take tokens and poll,
//!   receptionists press NEXT, while the server is SIGKILLed and restarted, workers are
//!   SIGKILLed and restarted, the server's and the workers' database sessions are
//!   terminated, and PostgreSQL itself is stopped and started. After every fault the server
//!   is ready again within 10 s and nothing acknowledged is lost; during the database outage
//!   every request is answered at once with 503 `unavailable`; at the end every message is
//!   SENT, and no row was sent more often than the faults that hit the worker can explain.
//! - `an_old_snapshot_pinning_vacuum_slows_the_queue_but_stops_nothing`: an idle
//!   REPEATABLE READ transaction holds the xmin horizon while the queue runs; polls, NEXT and
//!   the outbox keep working, and the slowdown is measured (printed, not asserted beyond
//!   generous sanity bounds).
//!
//! Both print their figures (for RELIABILITY.md). Quick form by default (CI: about a minute
//! for the file); `QLINK_FAULTS_FULL=1` runs the long form (23 faults, 3 of them PostgreSQL
//! restarts, and a snapshot pinned for five minutes: about nine minutes in all;
//! `QLINK_VACUUM_PINNED_SECONDS` sets the pin's length).
//! `QLINK_SEED` replays a run's fault order and timing. `QLINK_FAULTS_NO_PG_RESTART=1`
//! leaves PostgreSQL running (when others are using this machine's PostgreSQL right now).
//!
//! One of these tests restarts the machine's shared PostgreSQL. Test binaries run one
//! after another, but the tests of one binary run in parallel: both tests here hold
//! `SERIAL`, so the restart never lands in the middle of the other one.

use qlink_tests::fake_whatsapp::FakeWhatsApp;
use qlink_tests::load::{
    create_clinics, delivery_report, log_in, loopback_client, lost_acknowledgements, ms, outcome_table,
    terminate_backends, wait_for_drained_outbox, Cluster, ClusterGuard, Ledger, Load, LoadPlan, Op, Outcome,
    Percentiles, Receptionist, Stack, WORKER_LEASE_SECONDS,
};
use qlink_tests::{admin_url, connect, fresh_database, qlink_bin, url_for};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server must be ready again this soon after any fault (the requirement).
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
/// A request with no answer by then is a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn full_form() -> bool {
    std::env::var("QLINK_FAULTS_FULL").is_ok_and(|v| v == "1")
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn seed() -> u64 {
    std::env::var("QLINK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random)
}

async fn secs(s: f64) {
    tokio::time::sleep(Duration::from_secs_f64(s)).await;
}

// ---------------------------------------------------------------------------------------
// Process and database faults.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    /// SIGKILL `qlink serve` (requests in flight die with it) and start it again.
    KillServer,
    /// SIGKILL one `qlink worker` (sends in flight are never recorded) and start it again.
    KillWorker,
    /// `pg_terminate_backend` on the server's pooled connections.
    TerminateServerSessions,
    /// `pg_terminate_backend` on the workers' connections (pool and LISTEN).
    TerminateWorkerSessions,
    /// Stop PostgreSQL (fast shutdown), probe the server, start it again.
    RestartPostgres,
}

impl Fault {
    /// Whether the fault can interrupt a worker between a send and the recording of its
    /// outcome: the row then comes back when its lease ends and is sent once more.
    fn hits_the_worker(self) -> bool {
        matches!(self, Fault::KillWorker | Fault::TerminateWorkerSessions | Fault::RestartPostgres)
    }

    fn label(self) -> &'static str {
        match self {
            Fault::KillServer => "SIGKILL qlink serve + restart",
            Fault::KillWorker => "SIGKILL qlink worker + restart",
            Fault::TerminateServerSessions => "pg_terminate_backend(server's pool)",
            Fault::TerminateWorkerSessions => "pg_terminate_backend(workers' sessions)",
            Fault::RestartPostgres => "PostgreSQL stop + start",
        }
    }
}

/// One injected fault and how the system came back.
struct Injected {
    fault: Fault,
    /// The fault began and ended (an outage lasts; a kill is instantaneous).
    began: Instant,
    ended: Instant,
    detail: String,
    /// From `ended` to `/readyz` answering 200.
    ready_after: Duration,
    /// From `ended` to the first acknowledged write that started after `ended`.
    first_write_after: Duration,
    /// From `ended` to the next request at the WhatsApp API (the outbox moving again);
    /// None if none came within the recovery limit (the final drain still has to pass).
    first_message_after: Option<Duration>,
}

/// Waits for a request at the fake WhatsApp API that arrived at or after `t`.
async fn wait_for_message_since(fake: &FakeWhatsApp, t: Instant, timeout: Duration) -> Option<Duration> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(at) = fake.received().iter().map(|r| r.at).filter(|at| *at >= t).min() {
            return Some(at - t);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn schedule(rng: &mut StdRng, pg_restarts: bool) -> Vec<Fault> {
    let per_kind = |quick: usize, full: usize| if full_form() { full } else { quick };
    let mut faults = Vec::new();
    faults.extend(std::iter::repeat_n(Fault::KillServer, per_kind(2, 6)));
    faults.extend(std::iter::repeat_n(Fault::KillWorker, per_kind(2, 6)));
    faults.extend(std::iter::repeat_n(Fault::TerminateServerSessions, per_kind(2, 5)));
    faults.extend(std::iter::repeat_n(Fault::TerminateWorkerSessions, per_kind(1, 3)));
    if pg_restarts {
        faults.extend(std::iter::repeat_n(Fault::RestartPostgres, per_kind(1, 3)));
    }
    faults.shuffle(rng);
    faults
}

/// While PostgreSQL is down, each kind of request is answered at once: 503 with the
/// `unavailable` JSON error (and `/readyz` 503 `not_ready`), never a hang or a 500.
async fn probe_outage(base: &str, clinic: &Receptionist, token: Option<uuid::Uuid>) -> Vec<String> {
    let http = loopback_client(Duration::from_secs(5));
    let mut seen = Vec::new();

    let started = Instant::now();
    let r = http.get(format!("{base}/readyz")).send().await.expect("/readyz answers while the database is down");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("/readyz JSON");
    assert_eq!((status, body["status"].as_str()), (503, Some("not_ready")), "/readyz during the outage: {body}");
    seen.push(format!("/readyz {status} in {}", ms(started.elapsed())));

    let mut requests = vec![
        (
            "take token",
            http.post(format!("{base}/api/v1/clinics/{}/tokens", clinic.slug))
                .json(&json!({"patient_name": "During the outage", "patient_phone": "8000000001"})),
        ),
        (
            "NEXT",
            http.post(format!("{base}/api/v1/staff/queue/actions"))
                .bearer_auth(&clinic.bearer)
                .json(&json!({"action": "NEXT"})),
        ),
    ];
    if let Some(id) = token {
        requests.push(("status poll", http.get(format!("{base}/api/v1/tokens/{id}"))));
    }
    for (what, request) in requests {
        let started = Instant::now();
        let (outcome, _) = qlink_tests::load::send_classified(request).await;
        assert_eq!(outcome, Outcome::Unavailable, "{what} while PostgreSQL is down");
        seen.push(format!("{what} 503 unavailable in {}", ms(started.elapsed())));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_database_faults_under_load_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let run_started = Instant::now();
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let pg_restarts = !env_flag("QLINK_FAULTS_NO_PG_RESTART");
    let cluster = Cluster::from_env();
    // Declared first, dropped last: PostgreSQL is up again however this test ends.
    let _cluster_guard = ClusterGuard(cluster.clone());
    assert!(cluster.is_ready(), "PostgreSQL must be running before the test");

    let fake = FakeWhatsApp::start().await;
    // A little latency, so that sends are in flight when a worker is killed.
    fake.set_latency(Duration::from_millis(5));
    let db_url = fresh_database().await;
    let clinics = create_clinics(&db_url, "faults", 3).await;
    let mut stack = Stack::new(&db_url, &fake.base_url(), 2);
    stack.start_server();
    let first_start = stack.wait_ready(Duration::from_secs(30)).await;
    for slot in 0..stack.worker_slots() {
        stack.start_worker(slot);
    }
    let receptionists = log_in(&stack.base, &clinics).await;
    eprintln!(
        "faults: seed {seed} (QLINK_SEED to replay), {} form, logs in {}",
        if full_form() { "full" } else { "quick" },
        stack.log_dir.display()
    );

    let faults = schedule(&mut rng, pg_restarts);
    let gap = if full_form() { 2.0..6.0 } else { 1.0..2.0 };
    let plan = LoadPlan {
        base: stack.base.clone(),
        clinics: receptionists.clone(),
        take_token_every: Duration::from_millis(60),
        next_every: Duration::from_millis(150),
        pollers: 4,
        poll_every: Duration::from_millis(40),
        max_tokens_per_clinic: 9_000,
        // A bound, never reached by a run that goes well.
        max_duration: Duration::from_secs(if full_form() { 900 } else { 240 }),
        request_timeout: REQUEST_TIMEOUT,
    };
    let load = Load::start(plan, Arc::new(Ledger::default()));
    let ledger = load.ledger().clone();
    secs(1.5).await;

    let mut injected: Vec<Injected> = Vec::new();
    for fault in faults {
        secs(rng.gen_range(gap.clone())).await;
        stack.assert_alive();
        let began = Instant::now();
        let detail = match fault {
            Fault::KillServer => {
                stack.kill_server();
                // Restarted at once, as a supervisor would.
                stack.start_server();
                String::new()
            }
            Fault::KillWorker => {
                // The long form sometimes kills every worker at once: the outbox then
                // stands still until the restarted ones claim the expired leases. (For
                // the duplicate bound that is still one fault: a row is leased by one
                // worker at a time.)
                let slots: Vec<usize> = if full_form() && rng.gen_bool(0.3) {
                    (0..stack.worker_slots()).collect()
                } else {
                    vec![rng.gen_range(0..stack.worker_slots())]
                };
                for &slot in &slots {
                    stack.kill_worker(slot);
                }
                for &slot in &slots {
                    stack.start_worker(slot);
                }
                format!("workers {slots:?}")
            }
            Fault::TerminateServerSessions => {
                // The server's pool has no application_name; the workers' sessions do.
                let pids = terminate_backends(&db_url, "%", "qlink-worker%").await;
                assert!(!pids.is_empty(), "the server had no database session to terminate");
                format!("{} sessions", pids.len())
            }
            Fault::TerminateWorkerSessions => {
                let pids = terminate_backends(&db_url, "qlink-worker%", "").await;
                assert!(!pids.is_empty(), "the workers had no database session to terminate");
                format!("{} sessions", pids.len())
            }
            Fault::RestartPostgres => {
                let stopping = cluster.clone();
                tokio::task::spawn_blocking(move || stopping.stop()).await.expect("stop PostgreSQL");
                let token = ledger.tokens().last().map(|t| t.id);
                let probes = probe_outage(&stack.base, &receptionists[0], token).await;
                let starting = cluster.clone();
                tokio::task::spawn_blocking(move || starting.start()).await.expect("start PostgreSQL");
                probes.join(", ")
            }
        };
        let ended = Instant::now();
        let ready_after = stack.wait_ready(RECOVERY_LIMIT).await;
        let first_write_after = ledger
            .wait_for_acked_write_since(ended, RECOVERY_LIMIT)
            .await
            .unwrap_or_else(|| panic!("no write acknowledged within {RECOVERY_LIMIT:?} after {fault:?}"));
        let first_message_after = wait_for_message_since(&fake, ended, RECOVERY_LIMIT).await;
        let losses = lost_acknowledgements(&db_url, &receptionists, &ledger).await;
        assert!(losses.lost.is_empty(), "after {fault:?}: acknowledged writes lost: {:#?}", losses.lost);
        eprintln!(
            "  {:<42} {:<9} ready after {:>9}, first acknowledged write after {:>9}, next message after {:>9}{}",
            fault.label(),
            format!("@{:.1} s", began.duration_since(run_started).as_secs_f64()),
            ms(ready_after),
            ms(first_write_after),
            first_message_after.map_or("-".into(), ms),
            if detail.is_empty() { String::new() } else { format!("; {detail}") }
        );
        injected.push(Injected { fault, began, ended, detail, ready_after, first_write_after, first_message_after });
    }
    secs(1.0).await;
    let ledger = load.stop().await;
    stack.assert_alive();

    // Nothing acknowledged is lost.
    let losses = lost_acknowledgements(&db_url, &receptionists, &ledger).await;
    assert!(losses.lost.is_empty(), "acknowledged writes lost: {:#?}", losses.lost);

    // Every failure the clients saw was the documented 503, or the server process being down.
    let samples = ledger.samples();
    let unexpected: Vec<_> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Unexpected { .. } | Outcome::TimedOut))
        .map(|s| (s.op, s.outcome.clone()))
        .take(10)
        .collect();
    assert!(unexpected.is_empty(), "answers other than 2xx / 503 unavailable: {unexpected:#?}");
    // No answer at all only while the server process was down: requests that may have been
    // in flight at a kill, until shortly after the restarted server was ready (connections
    // kept alive to the killed process are found closed).
    let server_down: Vec<(Instant, Instant)> = injected
        .iter()
        .filter(|i| i.fault == Fault::KillServer)
        .map(|i| (i.began - REQUEST_TIMEOUT, i.ended + i.ready_after + Duration::from_secs(1)))
        .collect();
    let unanswered_elsewhere: Vec<_> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::NoAnswer(_)))
        .filter(|s| !server_down.iter().any(|(from, to)| s.started >= *from && s.started <= *to))
        .map(|s| (s.op, s.outcome.clone()))
        .take(10)
        .collect();
    assert!(
        unanswered_elsewhere.is_empty(),
        "requests unanswered while the server was running: {unanswered_elsewhere:#?}"
    );

    // Every message reaches a terminal state once the workers have drained the outbox.
    let (rows, drained_in) = wait_for_drained_outbox(&db_url, Duration::from_secs(60)).await;
    stack.assert_alive();
    let report = delivery_report(&rows, &fake.received());
    let welcomed: std::collections::HashSet<&str> =
        rows.iter().filter(|r| r.message_type == "WELCOME").map(|r| r.to.as_str()).collect();
    let tokens = ledger.tokens();
    let unwelcomed = tokens.iter().filter(|t| !welcomed.contains(format!("91{}", t.phone).as_str())).count();
    assert_eq!(unwelcomed, 0, "acknowledged tokens without a WELCOME in the outbox");
    assert_eq!(report.by_status.keys().collect::<Vec<_>>(), ["SENT"], "every message SENT: {:?}", report.by_status);
    assert!(
        report.unexplained_sent.is_empty(),
        "SENT rows whose wamid the API never issued: {:?}",
        report.unexplained_sent
    );
    assert_eq!(report.stray_requests, 0, "requests at the API that match no outbox row");
    // Each fault that can interrupt a worker between a send and its recording can cause one
    // more send of a row (the lease runs out, another claim sends it again), never more.
    let worker_faults = injected.iter().filter(|i| i.fault.hits_the_worker()).count();
    assert!(
        report.max_sends_of_one_row <= 1 + worker_faults,
        "a message was sent {} times with {worker_faults} faults hitting the workers",
        report.max_sends_of_one_row
    );
    let panics = stack.log_lines_containing("panicked");
    assert!(panics.is_empty(), "panics in the logs: {panics:#?}");

    // The figures.
    let counts = outcome_table(&samples);
    let count = |op: Op, kind: &str| counts.get(&(op, kind)).copied().unwrap_or(0);
    let mut by_fault: HashMap<Fault, usize> = HashMap::new();
    for i in &injected {
        *by_fault.entry(i.fault).or_insert(0) += 1;
    }
    let mut kinds: Vec<_> = by_fault.into_iter().collect();
    kinds.sort();
    let recovery = |pick: fn(&Injected) -> Duration| Percentiles::of(injected.iter().map(pick).collect()).unwrap();
    let worst = |fault: Fault| {
        injected.iter().filter(|i| i.fault == fault).map(|i| i.ready_after.max(i.first_write_after)).max()
    };
    eprintln!(
        "\n== process and database faults under load ({} form, seed {seed}) ==",
        if full_form() { "full" } else { "quick" }
    );
    eprintln!(
        "faults injected: {} ({})",
        injected.len(),
        kinds.iter().map(|(f, n)| format!("{n}× {}", f.label())).collect::<Vec<_>>().join(", ")
    );
    for op in Op::ALL {
        eprintln!(
            "{:<12} {:>6} sent: {:>6} ok, {:>5} 503 unavailable, {:>4} no answer (server down), 0 other",
            op.label(),
            samples.iter().filter(|s| s.op == op).count(),
            count(op, "ok"),
            count(op, "503 unavailable"),
            count(op, "no answer"),
        );
    }
    eprintln!(
        "acknowledged writes: {} tokens + {} NEXT; lost: {}; committed but unacknowledged tokens (the answer died with a connection): {}",
        losses.tokens_checked,
        losses.nexts_checked,
        losses.lost.len(),
        losses.committed_unacknowledged
    );
    eprintln!(
        "recovery (fault end → /readyz 200): {}; (fault end → first acknowledged write): {}; limit {RECOVERY_LIMIT:?}",
        recovery(|i| i.ready_after),
        recovery(|i| i.first_write_after)
    );
    for fault in [Fault::KillServer, Fault::TerminateServerSessions, Fault::RestartPostgres] {
        if let Some(w) = worst(fault) {
            eprintln!("  worst after {}: {}", fault.label(), ms(w));
        }
    }
    for i in injected.iter().filter(|i| i.fault == Fault::RestartPostgres) {
        eprintln!("  PostgreSQL outage {} ({})", ms(i.ended - i.began), i.detail);
    }
    let outbox_recovery: Vec<Option<Duration>> =
        injected.iter().filter(|i| i.fault.hits_the_worker()).map(|i| i.first_message_after).collect();
    let stalled = outbox_recovery.iter().filter(|d| d.is_none()).count();
    eprintln!(
        "outbox after worker-hitting faults (fault end → next message at the API): worst {}{}",
        outbox_recovery.iter().flatten().max().map_or("-".into(), |d| ms(*d)),
        if stalled > 0 { format!("; {stalled} with no message within {RECOVERY_LIMIT:?}") } else { String::new() }
    );
    eprintln!(
        "messages: {} outbox rows, all SENT, drained {} after the load stopped; {} requests at the API; \
         duplicates {} ({} rows sent twice or more, at most {} sends of one row; bound 1 + {worker_faults} worker-hitting faults)",
        report.rows,
        ms(drained_in),
        report.requests,
        report.duplicates,
        report.rows_sent_more_than_once,
        report.max_sends_of_one_row,
    );
    eprintln!(
        "server first start {}; worker lease {WORKER_LEASE_SECONDS} s; whole test {:.1} s\n",
        ms(first_start),
        run_started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Vacuum pinned by an old snapshot.

/// Dead row versions per table as the last VACUUM (or the statistics) counted them.
async fn dead_tuples(db: &tokio_postgres::Client) -> Vec<(String, i64)> {
    db.query(
        "SELECT relname::text, n_dead_tup FROM pg_stat_user_tables \
         WHERE schemaname = 'qlink' AND relname IN ('sessions', 'tokens', 'message_logs') ORDER BY relname",
        &[],
    )
    .await
    .expect("pg_stat_user_tables")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

async fn vacuum_queue_tables(db: &tokio_postgres::Client) {
    // One statement per call: VACUUM cannot run inside the implicit transaction of a
    // multi-statement query.
    for table in ["qlink.sessions", "qlink.tokens", "qlink.message_logs"] {
        db.batch_execute(&format!("VACUUM {table}")).await.expect("VACUUM");
    }
}

fn dead_summary(dead: &[(String, i64)]) -> String {
    dead.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_snapshot_pinning_vacuum_slows_the_queue_but_stops_nothing() {
    let _serial = SERIAL.lock().await;
    let run_started = Instant::now();
    let pinned_for = std::env::var("QLINK_VACUUM_PINNED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full_form() { 300.0 } else { 20.0 });
    let (baseline_for, after_for) = if full_form() { (60.0, 30.0) } else { (6.0, 5.0) };

    let fake = FakeWhatsApp::start().await;
    fake.set_latency(Duration::from_millis(5));
    let db_url = fresh_database().await;
    let clinics = create_clinics(&db_url, "pinned", 1).await;
    let mut stack = Stack::new(&db_url, &fake.base_url(), 1);
    // Nothing is killed here: a production-like lease, so that a slow database can delay a
    // message but never make the worker send it twice.
    stack.set_worker_lease(30);
    stack.start_server();
    stack.wait_ready(Duration::from_secs(30)).await;
    stack.start_worker(0);
    let receptionists = log_in(&stack.base, &clinics).await;
    eprintln!("vacuum pinned: logs in {}", stack.log_dir.display());

    // One clinic (every token and NEXT updates the same session row: the worst case for a
    // pinned horizon), paced so that every period carries the same work.
    let plan = LoadPlan {
        base: stack.base.clone(),
        clinics: receptionists.clone(),
        take_token_every: Duration::from_millis(100),
        next_every: Duration::from_millis(250),
        pollers: 4,
        poll_every: Duration::from_millis(40),
        max_tokens_per_clinic: 9_000,
        max_duration: Duration::from_secs_f64(baseline_for + pinned_for + after_for + 120.0),
        request_timeout: REQUEST_TIMEOUT,
    };
    let load_shape = format!(
        "1 clinic, a token every {} ms, NEXT every {} ms, {} pollers every {} ms",
        plan.take_token_every.as_millis(),
        plan.next_every.as_millis(),
        plan.pollers,
        plan.poll_every.as_millis()
    );
    let ledger = Arc::new(Ledger::default());
    let load = Load::start(plan.clone(), ledger.clone());
    secs(2.0).await; // warm-up: pools filled, statements prepared
    let before_from = Instant::now();
    secs(baseline_for).await;

    // The pin: an idle transaction holding a REPEATABLE READ snapshot (a forgotten psql
    // session, a stuck report, a long pg_dump).
    let pin = qlink_tests::connect(&db_url).await;
    pin.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1 FROM qlink.tokens LIMIT 1;").await.expect("pin");
    let pinned_from = Instant::now();
    let admin = qlink_tests::connect(&db_url).await;
    let pin_pid: i32 = pin.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0);
    let state = admin
        .query_one("SELECT state, backend_xmin IS NOT NULL FROM pg_stat_activity WHERE pid = $1", &[&pin_pid])
        .await
        .expect("pin state");
    assert_eq!((state.get::<_, String>(0), state.get::<_, bool>(1)), ("idle in transaction".to_string(), true));
    secs(pinned_for).await;
    let pinned_to = Instant::now();

    // Still pinned: stop the clients, and the outbox still drains completely.
    let ledger = load.stop().await;
    let (_, drained_while_pinned) = wait_for_drained_outbox(&db_url, Duration::from_secs(60)).await;
    let xmin_age: i32 = admin
        .query_one("SELECT age(backend_xmin) FROM pg_stat_activity WHERE pid = $1", &[&pin_pid])
        .await
        .expect("xmin age")
        .get(0);
    vacuum_queue_tables(&admin).await;
    let dead_while_pinned = dead_tuples(&admin).await;

    // Released: VACUUM can remove them now.
    pin.batch_execute("ROLLBACK").await.expect("release the pin");
    vacuum_queue_tables(&admin).await;
    let dead_after_release = dead_tuples(&admin).await;

    let load = Load::start(plan, ledger.clone());
    let after_from = Instant::now();
    secs(after_for).await;
    let after_to = Instant::now();
    let ledger = load.stop().await;
    stack.assert_alive();

    // Nothing failed and nothing was lost: no fault was injected, only a pinned horizon.
    let samples = ledger.samples();
    let failed: Vec<_> =
        samples.iter().filter(|s| s.outcome != Outcome::Ok).map(|s| (s.op, s.outcome.clone())).take(10).collect();
    assert!(failed.is_empty(), "requests failed: {failed:#?}");
    let losses = lost_acknowledgements(&db_url, &receptionists, &ledger).await;
    assert!(losses.lost.is_empty(), "acknowledged writes lost: {:#?}", losses.lost);
    let (rows, _) = wait_for_drained_outbox(&db_url, Duration::from_secs(60)).await;
    let report = delivery_report(&rows, &fake.received());
    assert_eq!(report.by_status.keys().collect::<Vec<_>>(), ["SENT"], "every message SENT: {:?}", report.by_status);
    assert_eq!(report.duplicates, 0, "messages sent twice without any fault");

    // WELCOME delivery: from the patient's 201 to the request reaching the WhatsApp API.
    let received = fake.received();
    let mut first_welcome: HashMap<String, Instant> = HashMap::new();
    for r in received.iter().filter(|r| r.template() == "qlink_welcome") {
        first_welcome.entry(r.to().to_string()).or_insert(r.at);
    }
    let tokens = ledger.tokens();
    let welcome_latency = |from: Instant, to: Instant| {
        Percentiles::of(
            tokens
                .iter()
                .filter(|t| t.acked_at >= from && t.acked_at < to)
                .filter_map(|t| {
                    first_welcome.get(&format!("91{}", t.phone)).map(|at| at.saturating_duration_since(t.acked_at))
                })
                .collect(),
        )
    };
    let sent_while_pinned = received.iter().filter(|r| r.at >= pinned_from && r.at < pinned_to).count();

    let pinned_mid = pinned_from + (pinned_to - pinned_from) / 2;
    let windows = [
        ("before", before_from, pinned_from),
        ("pinned, 1st half", pinned_from, pinned_mid),
        ("pinned, 2nd half", pinned_mid, pinned_to),
        ("after release", after_from, after_to),
    ];
    let cell = |p: Option<Percentiles>| p.map_or("-".to_string(), |p| format!("{} / {}", ms(p.p50), ms(p.p99)));
    eprintln!(
        "\n== vacuum pinned by an idle REPEATABLE READ transaction ({} form) ==",
        if full_form() { "full" } else { "quick" }
    );
    eprintln!(
        "baseline {baseline_for:.0} s, pinned {pinned_for:.0} s, after release {after_for:.0} s; load: {load_shape}"
    );
    eprintln!("| p50 / p99 | {} |", windows.map(|w| w.0).join(" | "));
    eprintln!("|---|{}", "---|".repeat(windows.len()));
    for op in [Op::Poll, Op::Next, Op::TakeToken] {
        eprintln!(
            "| {} | {} |",
            op.label(),
            windows.map(|(_, from, to)| cell(ledger.latency(op, from, to))).join(" | ")
        );
    }
    eprintln!("| WELCOME at the API | {} |", windows.map(|(_, from, to)| cell(welcome_latency(from, to))).join(" | "));
    eprintln!(
        "horizon held {} transactions back; dead row versions VACUUM could not remove while pinned: {}; after release + VACUUM: {}",
        xmin_age,
        dead_summary(&dead_while_pinned),
        dead_summary(&dead_after_release)
    );
    eprintln!(
        "while pinned: {} messages sent, the outbox drained in {} once the clients stopped; requests: {} ok, 0 failed; \
         acknowledged {} tokens + {} NEXT, lost 0; whole test {:.1} s\n",
        sent_while_pinned,
        ms(drained_while_pinned),
        samples.len(),
        losses.tokens_checked,
        losses.nexts_checked,
        run_started.elapsed().as_secs_f64()
    );

    // Generous sanity bounds only (the machine may be busy): a pinned horizon must slow the
    // queue, not stop it.
    for op in [Op::Poll, Op::Next] {
        let p = ledger.latency(op, pinned_from, pinned_to).expect("requests while pinned");
        assert!(p.p50 < Duration::from_secs(1), "{} p50 while pinned: {}", op.label(), ms(p.p50));
    }
    assert!(sent_while_pinned > 0, "no message was sent while the snapshot was pinned");
}

// ---------------------------------------------------------------------------------------
// Regression: the `qlink serve` switches as deployments write them.

/// `QLINK_NO_WORKER=1` (how the reliability stack runs the server beside separate workers)
/// made `qlink serve` refuse to start — "invalid value '1' for '--no-worker'" — because
/// clap's default parser for a bool switch accepts only `true`/`false` from the environment.
/// A supervisor would restart it forever. Now 1/0, true/false, yes/no, on/off are accepted
/// and anything else is still refused.
#[tokio::test]
async fn serve_switches_accept_1_and_0_from_the_environment() {
    let _serial = SERIAL.lock().await;
    // An empty database: with migrations off `qlink serve` refuses it; with them on it
    // migrates it, then stops because its address is taken (held here).
    let name = format!("qlink_test_switches_{}", uuid::Uuid::new_v4().simple());
    connect(&admin_url()).await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let url = url_for(&name);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bind = taken.local_addr().expect("address").to_string();
    let serve = |no_migrate: &str, no_worker: &str| {
        let out = std::process::Command::new(qlink_bin())
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("QLINK_BIND", &bind)
            .env("QLINK_NO_MIGRATE", no_migrate)
            .env("QLINK_NO_WORKER", no_worker)
            .env("RUST_LOG", "info")
            .output()
            .expect("run qlink serve");
        assert!(!out.status.success(), "qlink serve cannot keep running here");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };

    // "1" is on: no migration, so it refuses the empty database and says what to run.
    let text = serve("1", "1");
    assert!(text.contains("run `qlink migrate` first"), "{text}");
    // "0" is off: it migrates, and only then fails to bind.
    let text = serve("0", "0");
    assert!(text.contains("migrations up to date") && text.contains("in use"), "{text}");
    let migrated: bool = connect(&url)
        .await
        .query_one("SELECT to_regclass('qlink_schema_history') IS NOT NULL", &[])
        .await
        .expect("migration history")
        .get(0);
    assert!(migrated);
    // Anything else is refused by name, as before.
    let text = serve("maybe", "1");
    assert!(text.contains("invalid value 'maybe' for '--no-migrate'"), "{text}");
    drop(taken);
}
