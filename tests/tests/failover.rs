//! Failover (SPEC §13): a primary and a synchronous standby as throwaway clusters, the
//! real `qlink serve` and `qlink worker` given both hosts in one `DATABASE_URL`, and a
//! load of patients and receptionists. The primary is crashed (`pg_ctl -m immediate`) and
//! the standby promoted by script, as a failover manager (pg_auto_failover, Patroni) would.
//! Then:
//! - writes are acknowledged again within 30 s of the crash (the server and the worker
//!   find the new primary themselves: `target_session_attrs=read-write`);
//! - every token and NEXT acknowledged before, during and after is on the new primary
//!   (synchronous replication: a commit is acknowledged only once the standby has it);
//! - every request was answered 2xx or 503 `unavailable`, none hung;
//! - the outbox drains on the new primary and no message went out more than twice (one
//!   fault: a send in flight at the crash may be sent once more when its lease runs out).
//!
//! The figures are printed for RELIABILITY.md.

use qlink_tests::cluster::{workdir, Cluster, SYSTEM_BIN};
use qlink_tests::connect;
use qlink_tests::fake_whatsapp::FakeWhatsApp;
use qlink_tests::load::{
    create_clinics, delivery_report, log_in, lost_acknowledgements, ms, outcome_table, wait_for_drained_outbox, Ledger,
    Load, LoadPlan, Op, Outcome, Stack,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound: the clinic is back within this long of the primary's death.
const BACK_WITHIN: Duration = Duration::from_secs(30);

async fn sync_standby_attached(primary: &tokio_postgres::Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = primary.query_opt("SELECT sync_state FROM pg_stat_replication", &[]).await.unwrap();
        if row.is_some_and(|r| r.get::<_, String>(0) == "sync") {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_under_load_loses_no_acknowledged_write_and_writes_resume() {
    let base = workdir("qlink-failover");
    let primary = Cluster::init(
        &base.join("node-a"),
        Path::new(SYSTEM_BIN),
        "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on",
        "host replication postgres 127.0.0.1/32 trust",
    );
    connect(&primary.url("postgres", "postgres")).await.batch_execute("CREATE DATABASE qlink").await.unwrap();
    qlink_server::migrate::run(&primary.url("qlink", "postgres")).await.expect("migrate the primary");
    let clinics = create_clinics(&primary.url("qlink", "postgres"), "failover", 2).await;
    let standby = primary.standby(&base.join("node-b"));
    // Synchronous from here on. Set after the base backup on purpose: the standby, once
    // promoted, must not wait for a standby of its own.
    let a = connect(&primary.url("postgres", "postgres")).await;
    a.batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'").await.unwrap();
    a.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    assert!(sync_standby_attached(&a).await, "the standby never became synchronous");
    drop(a);

    // One URL naming both nodes, the primary first (the order must not matter after it dies).
    let both = format!("postgres://postgres@127.0.0.1:{},127.0.0.1:{}/qlink", primary.port, standby.port);
    let fake = FakeWhatsApp::start().await;
    fake.set_latency(Duration::from_millis(5));
    let mut stack = Stack::new(&both, &fake.base_url(), 1);
    stack.start_server();
    stack.wait_ready(Duration::from_secs(30)).await;
    stack.start_worker(0);
    let receptionists = log_in(&stack.base, &clinics).await;
    let plan = LoadPlan {
        base: stack.base.clone(),
        clinics: receptionists.clone(),
        take_token_every: Duration::from_millis(80),
        next_every: Duration::from_millis(200),
        pollers: 2,
        poll_every: Duration::from_millis(50),
        max_tokens_per_clinic: 5_000,
        max_duration: Duration::from_secs(120),
        request_timeout: Duration::from_secs(10),
    };
    let load = Load::start(plan, Arc::new(Ledger::default()));
    let ledger = load.ledger().clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = (ledger.tokens().len(), ledger.nexts().len());
    assert!(before.0 > 10 && before.1 > 5, "the load is running: {before:?}");

    tokio::task::block_in_place(|| primary.crash());
    let crashed = Instant::now();
    // A monitor promotes only after its health checks have failed for a while; until then
    // the standby is up and read-only, and must not be written to (or answered from as if
    // it were the primary): requests get 503.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let promote_started = Instant::now();
    tokio::task::block_in_place(|| standby.promote());
    let promoted_in = promote_started.elapsed();
    let back_after = ledger.wait_for_acked_write_since(crashed, BACK_WITHIN).await.unwrap_or_else(|| {
        panic!("no write acknowledged within {BACK_WITHIN:?} of the crash; logs in {}", stack.log_dir.display())
    });
    stack.wait_ready(BACK_WITHIN).await;
    let ready_after = crashed.elapsed();
    // More load on the new primary, then the checks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ledger = load.stop().await;
    stack.assert_alive();

    let new_primary = standby.url("qlink", "postgres");
    let losses = lost_acknowledgements(&new_primary, &receptionists, &ledger).await;
    assert!(losses.lost.is_empty(), "acknowledged writes lost in the failover: {:#?}", losses.lost);
    let after = (ledger.tokens().len() - before.0, ledger.nexts().len() - before.1);
    assert!(after.0 > 10 && after.1 > 5, "the load went on on the new primary: {after:?}");

    let samples = ledger.samples();
    let bad: Vec<_> = samples
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Ok | Outcome::Unavailable))
        .map(|s| (s.op, s.outcome.clone()))
        .take(10)
        .collect();
    assert!(bad.is_empty(), "answers other than 2xx / 503 unavailable during the failover: {bad:#?}");

    let (rows, drained_in) = wait_for_drained_outbox(&new_primary, Duration::from_secs(60)).await;
    let report = delivery_report(&rows, &fake.received());
    assert_eq!(report.by_status.keys().collect::<Vec<_>>(), ["SENT"], "every message SENT: {:?}", report.by_status);
    assert_eq!(report.stray_requests, 0, "requests at the API that match no outbox row");
    assert!(
        report.max_sends_of_one_row <= 2,
        "a message was sent {} times across one failover",
        report.max_sends_of_one_row
    );
    let panics = stack.log_lines_containing("panicked");
    assert!(panics.is_empty(), "panics in the logs: {panics:#?}");

    let counts = outcome_table(&samples);
    let count = |op: Op, kind: &str| counts.get(&(op, kind)).copied().unwrap_or(0);
    eprintln!("\n== failover: primary crashed under load, synchronous standby promoted ==");
    eprintln!(
        "primary down; promoted 2 s later (took {}); first acknowledged write {} after the crash ({} after promoting began); /readyz 200 {} after the crash",
        ms(promoted_in),
        ms(back_after),
        ms((crashed + back_after).saturating_duration_since(promote_started)),
        ms(ready_after)
    );
    for op in Op::ALL {
        eprintln!(
            "{:<12} {:>5} sent: {:>5} ok, {:>4} 503 unavailable",
            op.label(),
            samples.iter().filter(|s| s.op == op).count(),
            count(op, "ok"),
            count(op, "503 unavailable"),
        );
    }
    eprintln!(
        "acknowledged: {} tokens + {} NEXT, all on the new primary; committed but unacknowledged tokens: {}",
        losses.tokens_checked, losses.nexts_checked, losses.committed_unacknowledged
    );
    eprintln!(
        "outbox: {} rows SENT, drained {} after the load; {} sent twice (at most one per row allowed), {} requests",
        report.rows,
        ms(drained_in),
        report.rows_sent_more_than_once,
        report.requests
    );
    drop(stack);
    drop(standby);
    drop(primary);
    let _ = std::fs::remove_dir_all(&base);
}
