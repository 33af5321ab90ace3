//! Real concurrent connections against the real extension: the per-clinic lock holds,
//! clinics never wait for each other, and random mixed traffic keeps every invariant.

use qlink_tests::{connect, create_clinic, fresh_database, sqlstate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;
use uuid::Uuid;

async fn add_tokens(client: &tokio_postgres::Client, clinic: Uuid, n: usize) {
    for i in 0..n {
        client
            .query_one(
                "SELECT token_id FROM qlink.create_token($1, $2, $3)",
                &[&clinic, &format!("Patient {i}"), &format!("9{:09}", 100_000_000 + i)],
            )
            .await
            .expect("create token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_clients_pressing_next_together_advance_exactly_twenty_times() {
    let url = fresh_database().await;
    let setup = connect(&url).await;
    let clinic = create_clinic(&setup, "busy", serde_json::json!({"daily_token_limit": 100})).await;
    add_tokens(&setup, clinic, 30).await;

    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = url.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await;
            barrier.wait().await;
            client
                .query_one("SELECT now_serving_number FROM qlink.queue_action($1, 'NEXT')", &[&clinic])
                .await
                .unwrap();
        }));
    }
    // Watch for two SERVING at once while they run.
    let watch_url = url.clone();
    let watcher = tokio::spawn(async move {
        let client = connect(&watch_url).await;
        let mut max = 0i64;
        for _ in 0..200 {
            let n: i64 = client
                .query_one("SELECT count(*) FROM qlink.tokens WHERE status = 'SERVING'", &[])
                .await
                .unwrap()
                .get(0);
            max = max.max(n);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        max
    });
    for t in tasks {
        t.await.unwrap();
    }
    assert!(watcher.await.unwrap() <= 1, "two tokens were SERVING at once");

    let row = setup
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'SERVED'), count(*) FILTER (WHERE status = 'SERVING'), \
                    count(*) FILTER (WHERE status = 'WAITING'), \
                    max(token_number) FILTER (WHERE status = 'SERVING') \
             FROM qlink.tokens",
            &[],
        )
        .await
        .unwrap();
    let (served, serving, waiting, now): (i64, i64, i64, Option<i32>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((served, serving, waiting, now), (19, 1, 10, Some(20)));
    let nexts: i64 =
        setup.query_one("SELECT count(*) FROM qlink.audit_logs WHERE action = 'NEXT'", &[]).await.unwrap().get(0);
    assert_eq!(nexts, 20);
    let pointer: Option<i32> =
        setup.query_one("SELECT now_serving_number FROM qlink.sessions", &[]).await.unwrap().get(0);
    assert_eq!(pointer, Some(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clinic_waits_for_its_own_lock_but_never_for_another_clinic() {
    let url = fresh_database().await;
    let a_conn = connect(&url).await;
    let a = create_clinic(&a_conn, "clinic-a", serde_json::json!({})).await;
    let b = create_clinic(&a_conn, "clinic-b", serde_json::json!({})).await;
    add_tokens(&a_conn, a, 3).await;
    add_tokens(&a_conn, b, 3).await;

    // Clinic A's receptionist is mid-action (transaction open, session row locked).
    a_conn.batch_execute("BEGIN").await.unwrap();
    a_conn.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&a]).await.unwrap();

    let other = connect(&url).await;
    other.batch_execute("SET lock_timeout = '1s'").await.unwrap();
    // Clinic B goes ahead at once.
    other
        .query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&b])
        .await
        .expect("clinic B was blocked by clinic A");
    other
        .query_one("SELECT * FROM qlink.create_token($1, 'New', '9000000099')", &[&b])
        .await
        .expect("clinic B intake blocked");
    // A second action on clinic A has to wait for the first.
    let e = other.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&a]).await.unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("55P03"), "expected a lock timeout, got {e}");
    a_conn.batch_execute("COMMIT").await.unwrap();
    other.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&a]).await.unwrap();
}

/// Statuses a token may move between: forward by a staff action, backward only by UNDO.
const FORWARD: [(&str, &str); 7] = [
    ("WAITING", "SERVING"),
    ("SERVING", "SERVED"),
    ("SERVING", "SKIPPED"),
    ("WAITING", "SKIPPED"),
    ("SKIPPED", "WAITING"),
    ("WAITING", "CANCELLED"),
    ("SKIPPED", "CANCELLED"),
];

async fn clinic_state(client: &tokio_postgres::Client, clinic: Uuid) -> String {
    client
        .query_one(
            "SELECT concat_ws('|', \
               (SELECT concat_ws(',', status, closed_at, now_serving_number, service_p25_minutes, service_p75_minutes) \
                FROM qlink.sessions WHERE business_id = $1), \
               (SELECT string_agg(concat_ws(',', token_number, status, previous_status, is_priority, \
                                            called_at, served_at, cancelled_at), ';' ORDER BY token_number) \
                FROM qlink.tokens WHERE business_id = $1))",
            &[&clinic],
        )
        .await
        .unwrap()
        .get(0)
}

async fn pick(client: &tokio_postgres::Client, clinic: Uuid, status: &str, rng_pick: f64) -> Option<Uuid> {
    let rows = client
        .query(
            "SELECT id FROM qlink.tokens WHERE business_id = $1 AND status = $2 ORDER BY token_number",
            &[&clinic, &status],
        )
        .await
        .unwrap();
    if rows.is_empty() {
        None
    } else {
        let i = ((rows.len() as f64) * rng_pick) as usize;
        Some(rows[i.min(rows.len() - 1)].get(0))
    }
}

/// One randomly chosen action. Expected refusals (a conflict after a race, a limit) are
/// fine; any other error fails the test.
async fn random_step(client: &tokio_postgres::Client, clinic: Uuid, rng: &mut StdRng, n: &mut u32) {
    let roll: u32 = rng.gen_range(0..100);
    let result = match roll {
        0..=24 => {
            *n += 1;
            let phone = format!("7{:09}", rng.gen_range(0..1_000_000_000u32));
            client.query("SELECT * FROM qlink.create_token($1, $2, $3)", &[&clinic, &format!("P{n}"), &phone]).await
        }
        25..=27 => {
            client
                .query("SELECT * FROM qlink.create_token($1, 'Emergency', NULL, 'STAFF', NULL, true)", &[&clinic])
                .await
        }
        28..=54 => client.query("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await,
        55..=59 => client.query("SELECT * FROM qlink.queue_action($1, 'SERVED')", &[&clinic]).await,
        60..=65 => {
            let target = if rng.gen_bool(0.5) { pick(client, clinic, "WAITING", rng.gen()).await } else { None };
            client.query("SELECT * FROM qlink.queue_action($1, 'SKIP', $2)", &[&clinic, &target]).await
        }
        66..=71 => match pick(client, clinic, "SKIPPED", rng.gen()).await {
            Some(t) => client.query("SELECT * FROM qlink.queue_action($1, 'RECALL', $2)", &[&clinic, &t]).await,
            None => Ok(vec![]),
        },
        72..=76 => match pick(client, clinic, "WAITING", rng.gen()).await {
            Some(t) => client.query("SELECT * FROM qlink.queue_action($1, 'CANCEL', $2)", &[&clinic, &t]).await,
            None => Ok(vec![]),
        },
        77..=79 => match pick(client, clinic, "WAITING", rng.gen()).await {
            Some(t) => client.query("SELECT * FROM qlink.cancel_token($1)", &[&t]).await,
            None => Ok(vec![]),
        },
        80..=91 => client.query("SELECT * FROM qlink.queue_action($1, 'UNDO')", &[&clinic]).await,
        92..=97 => {
            // A staff action immediately undone, inside one transaction holding the clinic's
            // lock: UNDO must restore exactly the state before it.
            let action = ["NEXT", "SERVED", "SKIP"][rng.gen_range(0..3)];
            client.batch_execute("BEGIN").await.unwrap();
            client.query("SELECT 1 FROM qlink.sessions WHERE business_id = $1 FOR UPDATE", &[&clinic]).await.unwrap();
            let before = clinic_state(client, clinic).await;
            let done = client.query("SELECT * FROM qlink.queue_action($1, $2)", &[&clinic, &action]).await;
            // A NEXT that moved nobody is not undoable (UNDO would revert the action before it).
            let moved = done.is_ok() && clinic_state(client, clinic).await != before;
            if moved {
                client.query("SELECT * FROM qlink.queue_action($1, 'UNDO')", &[&clinic]).await.unwrap();
                let after = clinic_state(client, clinic).await;
                assert_eq!(before, after, "UNDO of {action} did not restore the state");
            }
            client.batch_execute("COMMIT").await.unwrap();
            done
        }
        98 => client.query("SELECT * FROM qlink.close_session($1)", &[&clinic]).await,
        _ => client.query("SELECT * FROM qlink.reset_session($1)", &[&clinic]).await,
    };
    if let Err(e) = result {
        let code = sqlstate(&e).unwrap_or_default();
        assert!(["55000", "54000", "42501"].contains(&code.as_str()), "unexpected error {code}: {e:?}");
        if client.is_closed() {
            panic!("connection lost: {e}");
        }
        // A failed statement inside our explicit transaction was rolled back with it.
        let _ = client.batch_execute("ROLLBACK").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_clinics_under_random_concurrent_actions_keep_every_invariant() {
    let seed: u64 = std::env::var("QLINK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let steps: usize = std::env::var("QLINK_RANDOM_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    println!("random concurrency test: QLINK_SEED={seed} QLINK_RANDOM_STEPS={steps}");
    let url = fresh_database().await;
    let setup = connect(&url).await;
    let mut clinics = Vec::new();
    for c in 0..10 {
        clinics.push(
            create_clinic(
                &setup,
                &format!("rand-{c}"),
                serde_json::json!({"max_tokens_per_phone_per_day": 50, "daily_token_limit": 10000}),
            )
            .await,
        );
    }
    // Open every clinic's day (UNDO restores queue state; it never deletes the session).
    for clinic in &clinics {
        add_tokens(&setup, *clinic, 1).await;
    }
    // 20 connections: two per clinic, acting at the same time.
    let mut tasks = Vec::new();
    for worker in 0..20u64 {
        let url = url.clone();
        let clinic = clinics[(worker % 10) as usize];
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await;
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker));
            let mut n = (worker as u32) * 100_000;
            for _ in 0..steps {
                random_step(&client, clinic, &mut rng, &mut n).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker failed (see seed above)");
    }

    // At most one SERVING per session, and the pointer follows it.
    let bad: i64 = setup
        .query_one(
            "SELECT count(*) FROM qlink.sessions s WHERE \
               (SELECT count(*) FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'SERVING') > 1 \
               OR s.now_serving_number IS DISTINCT FROM \
                  (SELECT token_number FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'SERVING') \
               OR s.waiting_count <> (SELECT count(*) FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'WAITING')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bad, 0, "a session has two SERVING, a wrong pointer or a wrong line length");
    // Numbers unique and gap-free per session.
    let gaps: i64 = setup
        .query_one(
            "SELECT count(*) FROM qlink.sessions s WHERE \
               (SELECT count(DISTINCT token_number) FROM qlink.tokens t WHERE t.session_id = s.id) <> s.last_token_number \
               OR (SELECT coalesce(max(token_number), 0) FROM qlink.tokens t WHERE t.session_id = s.id) <> s.last_token_number",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(gaps, 0, "token numbers are not 1..last_token_number");
    // Every recorded status change is along an allowed edge (UNDO: the reverse).
    let forward: HashSet<(String, String)> = FORWARD.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let rows = setup
        .query(
            "SELECT a.action, b.value->>'status', f.value->>'status' \
             FROM qlink.audit_logs a, jsonb_array_elements(a.before_state->'tokens') b, \
                  jsonb_array_elements(a.after_state->'tokens') f \
             WHERE b.value->>'id' = f.value->>'id' AND b.value->>'status' <> f.value->>'status'",
            &[],
        )
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let (action, from, to): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let edge = if action == "UNDO" { (to.clone(), from.clone()) } else { (from.clone(), to.clone()) };
        assert!(forward.contains(&edge), "{action}: {from} -> {to} is not an allowed move");
    }
    // The queue moved, and UNDO happened under load.
    let (nexts, undos): (i64, i64) = {
        let r = setup
            .query_one(
                "SELECT count(*) FILTER (WHERE action = 'NEXT'), count(*) FILTER (WHERE action = 'UNDO') FROM qlink.audit_logs",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    println!("actions: {nexts} NEXT, {undos} UNDO");
    assert!(nexts > 50 && undos > 10);
    // Positions agree with call order everywhere.
    let wrong: i64 = setup
        .query_one(
            "WITH w AS (SELECT t.id, row_number() OVER (PARTITION BY session_id ORDER BY is_priority DESC, token_number) AS pos \
                        FROM qlink.tokens t WHERE status = 'WAITING') \
             SELECT count(*) FROM w, LATERAL qlink.token_status(w.id) s WHERE s.queue_position <> w.pos",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0, "token_status positions disagree with call order");
}
