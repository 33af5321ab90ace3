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

/// Takes a clinic's locks the way its actions do (SPEC §9): its rooms first, then its
/// queues' sessions in queue order. Locking the sessions first would deadlock against an
/// action that already holds the room and waits for the session.
async fn lock_clinic(client: &tokio_postgres::Client, clinic: Uuid) {
    client
        .query("SELECT 1 FROM qlink.rooms WHERE business_id = $1 ORDER BY id FOR NO KEY UPDATE", &[&clinic])
        .await
        .unwrap();
    client
        .query("SELECT 1 FROM qlink.sessions WHERE business_id = $1 ORDER BY queue_id, date FOR UPDATE", &[&clinic])
        .await
        .unwrap();
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
            lock_clinic(client, clinic).await;
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

// ---- Rooms (SPEC §9) ----

/// The clinic's first queue and first room (a new clinic has exactly one of each).
async fn first_queue_and_room(client: &tokio_postgres::Client, clinic: Uuid) -> (Uuid, Uuid) {
    let q: Uuid =
        client.query_one("SELECT queue_id FROM qlink.list_queues($1) LIMIT 1", &[&clinic]).await.unwrap().get(0);
    let r: Uuid =
        client.query_one("SELECT room_id FROM qlink.list_rooms($1) LIMIT 1", &[&clinic]).await.unwrap().get(0);
    (q, r)
}

async fn create_room(client: &tokio_postgres::Client, clinic: Uuid, name: &str, queues: &[Uuid]) -> Uuid {
    client.query_one("SELECT qlink.create_room($1, $2, $3)", &[&clinic, &name, &queues]).await.unwrap().get(0)
}

async fn add_tokens_to(client: &tokio_postgres::Client, clinic: Uuid, queue: Uuid, n: usize, phones_from: usize) {
    for i in 0..n {
        client
            .query_one(
                "SELECT token_id FROM qlink.create_token($1, $2, $3, queue_id => $4)",
                &[&clinic, &format!("Patient {i}"), &format!("9{:09}", 100_000_000 + phones_from + i), &queue],
            )
            .await
            .expect("create token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_nexts_split_between_two_rooms_sharing_a_line_call_twenty_distinct_patients() {
    let url = fresh_database().await;
    let setup = connect(&url).await;
    let clinic = create_clinic(&setup, "dental", serde_json::json!({"daily_token_limit": 100})).await;
    let (line, chair1) = first_queue_and_room(&setup, clinic).await;
    let chair2 = create_room(&setup, clinic, "Chair 2", &[line]).await;
    add_tokens_to(&setup, clinic, line, 30, 0).await;

    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for worker in 0..20 {
        let url = url.clone();
        let barrier = barrier.clone();
        let room = if worker % 2 == 0 { chair1 } else { chair2 };
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await;
            barrier.wait().await;
            let row = client
                .query_one(
                    "SELECT affected_token_id, serving_token_id, room_id FROM qlink.queue_action($1, 'NEXT', room_id => $2)",
                    &[&clinic, &room],
                )
                .await
                .unwrap();
            let (called, serving, in_room): (Option<Uuid>, Option<Uuid>, Option<Uuid>) =
                (row.get(0), row.get(1), row.get(2));
            assert_eq!(in_room, Some(room));
            assert_eq!(called, serving, "the room is serving the patient it called");
            (room, called.expect("every NEXT calls someone: 30 are waiting"))
        }));
    }
    // Watch every room while they run: never two SERVING in one room, never more than two.
    let watch_url = url.clone();
    let watcher = tokio::spawn(async move {
        let client = connect(&watch_url).await;
        let (mut per_room, mut total) = (0i64, 0i64);
        for _ in 0..200 {
            let row = client
                .query_one(
                    "SELECT coalesce(max(n), 0), coalesce(sum(n), 0)::bigint FROM ( \
                         SELECT room_id, count(*) AS n FROM qlink.tokens WHERE status = 'SERVING' GROUP BY room_id) x",
                    &[],
                )
                .await
                .unwrap();
            per_room = per_room.max(row.get(0));
            total = total.max(row.get(1));
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        (per_room, total)
    });
    let mut called = Vec::new();
    for t in tasks {
        called.push(t.await.unwrap());
    }
    let (per_room, total) = watcher.await.unwrap();
    assert!(per_room <= 1, "a room served two patients at once");
    assert!(total <= 2, "more patients were SERVING than there are rooms");

    // 20 distinct patients, and they are the first 20 of the line.
    let distinct: HashSet<Uuid> = called.iter().map(|c| c.1).collect();
    assert_eq!(distinct.len(), 20, "two NEXTs called the same patient");
    let numbers: Vec<i32> = setup
        .query(
            "SELECT token_number FROM qlink.tokens WHERE id = ANY($1) ORDER BY token_number",
            &[&Vec::from_iter(distinct)],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<i32>>());
    // Each patient was called to the room whose NEXT called them; each room pressed 10 times.
    for (room, token) in &called {
        let r: Option<Uuid> =
            setup.query_one("SELECT room_id FROM qlink.tokens WHERE id = $1", &[token]).await.unwrap().get(0);
        assert_eq!(r.as_ref(), Some(room));
    }
    let row = setup
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'SERVED'), count(*) FILTER (WHERE status = 'WAITING'), \
                    count(*) FILTER (WHERE status = 'SERVING' AND room_id = $1), \
                    count(*) FILTER (WHERE status = 'SERVING' AND room_id = $2) \
             FROM qlink.tokens",
            &[&chair1, &chair2],
        )
        .await
        .unwrap();
    let counts: (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(counts, (18, 10, 1, 1));
    let presses: Vec<i64> = setup
        .query("SELECT count(*) FROM qlink.audit_logs WHERE action = 'NEXT' GROUP BY room_id ORDER BY room_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(presses, vec![10, 10]);
    // The line's book-keeping survived the race.
    let row = setup
        .query_one("SELECT waiting_count, last_token_number FROM qlink.sessions WHERE business_id = $1", &[&clinic])
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (10, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_room_holding_its_lock_never_delays_a_room_with_other_lines_but_delays_itself() {
    use std::time::{Duration, Instant};
    let url = fresh_database().await;
    let setup = connect(&url).await;
    let clinic = create_clinic(&setup, "two-doctors", serde_json::json!({})).await;
    let (qa, room1) = first_queue_and_room(&setup, clinic).await;
    setup.query_one("SELECT qlink.update_queue($1, $2, prefix => 'A')", &[&clinic, &qa]).await.unwrap();
    let qb: Uuid = setup.query_one("SELECT qlink.create_queue($1, 'Dr. B', 'B')", &[&clinic]).await.unwrap().get(0);
    let room2 = create_room(&setup, clinic, "Room 2", &[qb]).await;
    add_tokens_to(&setup, clinic, qa, 3, 0).await;
    add_tokens_to(&setup, clinic, qb, 3, 10).await;

    // Room 1's doctor pressed NEXT and the transaction is still open: room 1 and line A are locked.
    let held = connect(&url).await;
    held.batch_execute("BEGIN").await.unwrap();
    held.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&clinic, &room1]).await.unwrap();

    // Room 2 (line B only) goes ahead at once: NEXT, SKIP, UNDO, a new patient in line B, and
    // every read of the clinic.
    let other = connect(&url).await;
    other.batch_execute("SET lock_timeout = '10s'").await.unwrap();
    let quick = Duration::from_secs(2);
    for sql in [
        "SELECT serving_label FROM qlink.queue_action($1, 'NEXT', room_id => $2)",
        "SELECT serving_label FROM qlink.queue_action($1, 'NEXT', room_id => $2)",
        "SELECT serving_label FROM qlink.queue_action($1, 'UNDO', room_id => $2)",
        "SELECT serving_label FROM qlink.queue_action($1, 'SKIP', room_id => $2)",
        "SELECT serving_label FROM qlink.queue_action($1, 'UNDO', room_id => $2)",
    ] {
        let started = Instant::now();
        let row = tokio::time::timeout(quick, other.query_one(sql, &[&clinic, &room2]))
            .await
            .unwrap_or_else(|_| panic!("room 2 waited for room 1's lock: {sql}"))
            .unwrap();
        let _: Option<String> = row.get(0);
        assert!(started.elapsed() < quick);
    }
    tokio::time::timeout(
        quick,
        other.query_one(
            "SELECT token_label FROM qlink.create_token($1, 'New B', '9100000099', queue_id => $2)",
            &[&clinic, &qb],
        ),
    )
    .await
    .expect("intake in line B waited for room 1")
    .unwrap();
    for sql in [
        "SELECT count(*) FROM qlink.display_state($1)",
        "SELECT count(*) FROM qlink.list_rooms($1)",
        "SELECT count(*) FROM qlink.list_queues($1)",
        "SELECT count(*) FROM qlink.queue_summary($1)",
    ] {
        tokio::time::timeout(quick, other.query_one(sql, &[&clinic])).await.expect("a read waited").unwrap();
    }
    let b_serving: Option<String> = other
        .query_one("SELECT serving_label FROM qlink.queue_summary($1, $2)", &[&clinic, &room2])
        .await
        .unwrap()
        .get(0);
    // NEXT, NEXT, UNDO, SKIP, UNDO: B-1 is back in room 2.
    assert_eq!(b_serving.as_deref(), Some("B-1"));

    // Room 1's second NEXT (another connection, no lock timeout) has to wait for the first...
    let url2 = url.clone();
    let second = tokio::spawn(async move {
        let client = connect(&url2).await;
        let started = Instant::now();
        let label: Option<String> = client
            .query_one("SELECT serving_label FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&clinic, &room1])
            .await
            .unwrap()
            .get(0);
        (label, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!second.is_finished(), "room 1's second NEXT did not wait for the first");
    // ... shown waiting on a lock in pg_stat_activity ...
    let waiting: i64 = setup
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE '%queue_action%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 1);
    // ... and goes ahead once it commits, acting on its result: A-1 served, A-2 called.
    held.batch_execute("COMMIT").await.unwrap();
    let (label, waited) = tokio::time::timeout(Duration::from_secs(10), second).await.expect("still blocked").unwrap();
    assert_eq!(label.as_deref(), Some("A-2"));
    assert!(waited >= Duration::from_millis(1500), "waited only {waited:?}");
    let states: Vec<String> = setup
        .query(
            "SELECT token_label || ':' || status FROM qlink.tokens WHERE business_id = $1 AND status <> 'WAITING' \
             ORDER BY token_label",
            &[&clinic],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, ["A-1:SERVED", "A-2:SERVING", "B-1:SERVING"]);
}
