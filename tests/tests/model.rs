//! A reference model of the queue rules, written independently of the extension, driven
//! against the real extension by random actions from 20 concurrent connections over 10
//! clinics. Each step takes the clinic's lock first, so the model sees the same order as
//! the database; after every step the clinic's whole state (statuses, priority, numbers,
//! pointer, positions) must equal the model's, and every refusal must be the one the model
//! predicts. `QLINK_SEED` replays a run; `QLINK_MODEL_STEPS` sets steps per connection.

use qlink_tests::{connect, create_clinic, fresh_database, sqlstate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Waiting,
    Serving,
    Served,
    Skipped,
    Cancelled,
}

impl St {
    fn sql(self) -> &'static str {
        match self {
            St::Waiting => "WAITING",
            St::Serving => "SERVING",
            St::Served => "SERVED",
            St::Skipped => "SKIPPED",
            St::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Clone, Debug)]
struct Tok {
    id: Uuid,
    status: St,
    priority: bool,
}

/// An undoable action: the state of what it touched, before and after.
#[derive(Clone, Debug)]
struct Entry {
    before: Vec<(usize, St, bool)>,
    after: Vec<(usize, St, bool)>,
    session_before: bool,
}

#[derive(Default, Debug)]
struct Model {
    tokens: Vec<Tok>,
    closed: bool,
    undo: Vec<Entry>,
}

impl Model {
    fn serving(&self) -> Option<usize> {
        self.tokens.iter().position(|t| t.status == St::Serving)
    }

    /// WAITING tokens in call order: priority first, then by number.
    fn line(&self) -> Vec<usize> {
        let mut w: Vec<usize> = (0..self.tokens.len()).filter(|&i| self.tokens[i].status == St::Waiting).collect();
        w.sort_by_key(|&i| (!self.tokens[i].priority, i));
        w
    }

    fn snap(&self, idx: &[usize]) -> Vec<(usize, St, bool)> {
        idx.iter().map(|&i| (i, self.tokens[i].status, self.tokens[i].priority)).collect()
    }

    /// Applies a staff action that moves `moves`, recording it for UNDO.
    fn apply(&mut self, moves: Vec<(usize, St, Option<bool>)>, closed: Option<bool>) {
        let idx: Vec<usize> = moves.iter().map(|m| m.0).collect();
        let before = self.snap(&idx);
        let session_before = self.closed;
        for (i, st, prio) in moves {
            self.tokens[i].status = st;
            if let Some(p) = prio {
                self.tokens[i].priority = p;
            }
        }
        if let Some(c) = closed {
            self.closed = c;
        }
        let after = self.snap(&idx);
        self.undo.push(Entry { before, after, session_before });
    }

    fn expected_state(&self) -> String {
        let toks: Vec<String> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{}:{}:{}", i + 1, t.status.sql(), t.priority))
            .collect();
        let pointer = self.serving().map(|i| (i + 1).to_string()).unwrap_or_default();
        let line = self.line();
        let positions: Vec<String> = line.iter().enumerate().map(|(p, &i)| format!("{}@{}", i + 1, p + 1)).collect();
        format!(
            "{}|{}|{}|{}|{}",
            if self.closed { "CLOSED" } else { "OPEN" },
            pointer,
            line.len(),
            toks.join(","),
            positions.join(",")
        )
    }
}

async fn db_state(db: &tokio_postgres::Transaction<'_>, clinic: Uuid) -> String {
    db.query_one(
        "SELECT concat_ws('|', s.status, coalesce(s.now_serving_number::text, ''), s.waiting_count, \
            coalesce((SELECT string_agg(t.token_number || ':' || t.status || ':' || t.is_priority, ',' ORDER BY t.token_number) \
                      FROM qlink.tokens t WHERE t.session_id = s.id), ''), \
            coalesce((SELECT string_agg(t.token_number || '@' || ts.queue_position, ',' ORDER BY ts.queue_position) \
                      FROM qlink.tokens t, LATERAL qlink.token_status(t.id) ts \
                      WHERE t.session_id = s.id AND t.status = 'WAITING'), '')) \
         FROM qlink.sessions s WHERE s.business_id = $1",
        &[&clinic],
    )
    .await
    .unwrap()
    .get(0)
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Create,
    Emergency,
    Next,
    Served,
    Skip,
    SkipWaiting,
    Recall,
    Cancel,
    PatientCancel,
    Undo,
    Close,
    Reset,
}

fn pick_act(rng: &mut StdRng) -> Act {
    match rng.gen_range(0..100) {
        0..=21 => Act::Create,
        22..=24 => Act::Emergency,
        25..=49 => Act::Next,
        50..=54 => Act::Served,
        55..=58 => Act::Skip,
        59..=62 => Act::SkipWaiting,
        63..=67 => Act::Recall,
        68..=71 => Act::Cancel,
        72..=75 => Act::PatientCancel,
        76..=96 => Act::Undo,
        97 => Act::Close,
        _ => Act::Reset,
    }
}

/// Runs one action in the database and in the model; returns what the model expected.
async fn step(
    db: &tokio_postgres::Transaction<'_>,
    clinic: Uuid,
    model: &mut Model,
    act: Act,
    rng: &mut StdRng,
    phone: &mut u64,
) -> Result<(), String> {
    let pick = |model: &Model, st: St, rng: &mut StdRng| -> Option<usize> {
        let c: Vec<usize> = (0..model.tokens.len()).filter(|&i| model.tokens[i].status == st).collect();
        if c.is_empty() {
            None
        } else {
            Some(c[rng.gen_range(0..c.len())])
        }
    };
    // (sql result, expected outcome: Ok(effect) or Err(sqlstate))
    let refused = |code: &str| Err::<(), String>(code.to_string());
    match act {
        Act::Create | Act::Emergency => {
            *phone += 1;
            let staff = matches!(act, Act::Emergency);
            let r = if staff {
                db.query_one(
                    "SELECT token_id FROM qlink.create_token($1, 'Emergency', NULL, 'STAFF', NULL, true)",
                    &[&clinic],
                )
                .await
            } else {
                db.query_one(
                    "SELECT token_id FROM qlink.create_token($1, 'Patient', $2)",
                    &[&clinic, &format!("7{:09}", *phone)],
                )
                .await
            };
            if !staff && model.closed {
                return check(r.map(|_| ()), refused("42501"));
            }
            let row = r.map_err(|e| format!("create failed: {e}"))?;
            model.tokens.push(Tok { id: row.get(0), status: St::Waiting, priority: staff });
            Ok(())
        }
        Act::Next => {
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await;
            let mut moves = Vec::new();
            if let Some(s) = model.serving() {
                moves.push((s, St::Served, None));
            }
            if let Some(&n) = model.line().first() {
                moves.push((n, St::Serving, None));
            }
            check(r.map(|_| ()), Ok(()))?;
            // A NEXT that moved nobody is not undoable: UNDO reverts the action before it.
            if !moves.is_empty() {
                model.apply(moves, None);
            }
            Ok(())
        }
        Act::Served => {
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'SERVED')", &[&clinic]).await;
            match model.serving() {
                None => check(r.map(|_| ()), refused("55000")),
                Some(s) => {
                    check(r.map(|_| ()), Ok(()))?;
                    model.apply(vec![(s, St::Served, None)], None);
                    Ok(())
                }
            }
        }
        Act::Skip => {
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'SKIP')", &[&clinic]).await;
            match model.serving() {
                None => check(r.map(|_| ()), refused("55000")),
                Some(s) => {
                    check(r.map(|_| ()), Ok(()))?;
                    model.apply(vec![(s, St::Skipped, None)], None);
                    Ok(())
                }
            }
        }
        Act::SkipWaiting | Act::Recall | Act::Cancel | Act::PatientCancel => {
            // Aim at a token in the status the action wants most of the time, and at any
            // token sometimes, so refusals are exercised too.
            let wanted = match act {
                Act::Recall => St::Skipped,
                _ => St::Waiting,
            };
            let target = if rng.gen_bool(0.85) {
                pick(model, wanted, rng)
            } else if model.tokens.is_empty() {
                None
            } else {
                Some(rng.gen_range(0..model.tokens.len()))
            };
            let Some(t) = target else { return Ok(()) };
            let id = model.tokens[t].id;
            let current = model.tokens[t].status;
            let r = match act {
                Act::SkipWaiting => {
                    db.query_one("SELECT * FROM qlink.queue_action($1, 'SKIP', $2)", &[&clinic, &id]).await.map(|_| ())
                }
                Act::Recall => db
                    .query_one("SELECT * FROM qlink.queue_action($1, 'RECALL', $2)", &[&clinic, &id])
                    .await
                    .map(|_| ()),
                Act::Cancel => db
                    .query_one("SELECT * FROM qlink.queue_action($1, 'CANCEL', $2)", &[&clinic, &id])
                    .await
                    .map(|_| ()),
                _ => db.query_one("SELECT * FROM qlink.cancel_token($1)", &[&id]).await.map(|_| ()),
            };
            let allowed = match act {
                Act::SkipWaiting => matches!(current, St::Waiting | St::Serving),
                Act::Recall => current == St::Skipped,
                _ => current == St::Waiting,
            };
            if !allowed {
                return check(r, refused("55000"));
            }
            check(r, Ok(()))?;
            match act {
                Act::SkipWaiting => model.apply(vec![(t, St::Skipped, None)], None),
                Act::Recall => model.apply(vec![(t, St::Waiting, Some(true))], None),
                Act::Cancel => model.apply(vec![(t, St::Cancelled, None)], None),
                _ => model.tokens[t].status = St::Cancelled, // the patient's own: not undoable
            }
            Ok(())
        }
        Act::Undo => {
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'UNDO')", &[&clinic]).await.map(|_| ());
            let Some(entry) = model.undo.last().cloned() else { return check(r, refused("55000")) };
            let drifted =
                entry.after.iter().any(|&(i, st, p)| model.tokens[i].status != st || model.tokens[i].priority != p);
            if drifted {
                return check(r, refused("55000"));
            }
            check(r, Ok(()))?;
            model.undo.pop();
            for (i, st, p) in entry.before {
                model.tokens[i].status = st;
                model.tokens[i].priority = p;
            }
            model.closed = entry.session_before;
            Ok(())
        }
        Act::Close => {
            let r = db.query_one("SELECT * FROM qlink.close_session($1)", &[&clinic]).await.map(|_| ());
            check(r, Ok(()))?;
            if !model.closed {
                model.apply(vec![], Some(true));
            }
            Ok(())
        }
        Act::Reset => {
            let r = db.query_one("SELECT * FROM qlink.reset_session($1)", &[&clinic]).await.map(|_| ());
            if model.serving().is_some() {
                return check(r, refused("55000"));
            }
            check(r, Ok(()))?;
            let moves = (0..model.tokens.len())
                .filter(|&i| matches!(model.tokens[i].status, St::Waiting | St::Skipped))
                .map(|i| (i, St::Cancelled, None))
                .collect();
            model.apply(moves, Some(false));
            Ok(())
        }
    }
}

fn check(got: Result<(), tokio_postgres::Error>, expected: Result<(), String>) -> Result<(), String> {
    match (got, expected) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Err(code)) if sqlstate(&e).as_deref() == Some(code.as_str()) => Err(format!("refused:{code}")),
        (Ok(()), Err(code)) => Err(format!("MISMATCH: the database accepted what the model refuses with {code}")),
        (Err(e), expected) => Err(format!("MISMATCH: database error {e:?}, model expected {expected:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_extension_matches_a_reference_model_under_concurrency() {
    let seed: u64 = std::env::var("QLINK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let steps: usize = std::env::var("QLINK_MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    println!("model test: QLINK_SEED={seed} QLINK_MODEL_STEPS={steps} (20 connections, 10 clinics)");
    let url = fresh_database().await;
    let setup = connect(&url).await;
    let mut clinics = Vec::new();
    for c in 0..10 {
        let id = create_clinic(
            &setup,
            &format!("model-{c}"),
            serde_json::json!({"daily_token_limit": 10000, "ip_tokens_per_10min": 10000}),
        )
        .await;
        // Open the day (one token; the model starts from it).
        let t: Uuid = setup
            .query_one("SELECT token_id FROM qlink.create_token($1, 'First', '7000000000')", &[&id])
            .await
            .unwrap()
            .get(0);
        let model = Model { tokens: vec![Tok { id: t, status: St::Waiting, priority: false }], ..Default::default() };
        clinics.push((id, Arc::new(Mutex::new(model))));
    }
    let clinics = Arc::new(clinics);
    let mut tasks = Vec::new();
    for worker in 0..20u64 {
        let (url, clinics) = (url.clone(), clinics.clone());
        tasks.push(tokio::spawn(async move {
            let mut db = connect(&url).await;
            let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(worker));
            let (clinic, model) = clinics[(worker % 10) as usize].clone();
            let mut phone = worker * 10_000_000;
            let mut counts = [0usize; 3]; // ok, refused, skipped
            for n in 0..steps {
                let act = pick_act(&mut rng);
                let tx = db.transaction().await.unwrap();
                // The clinic's lock first: the model then sees the database's order.
                tx.query_one("SELECT 1 FROM qlink.sessions WHERE business_id = $1 FOR UPDATE", &[&clinic])
                    .await
                    .unwrap();
                let mut model = model.lock().await;
                let result = step(&tx, clinic, &mut model, act, &mut rng, &mut phone).await;
                match result {
                    Ok(()) => {
                        let got = db_state(&tx, clinic).await;
                        let want = model.expected_state();
                        assert_eq!(got, want, "worker {worker} step {n} after {act:?} (seed {seed})");
                        tx.commit().await.unwrap();
                        counts[0] += 1;
                    }
                    Err(e) if e.starts_with("refused:") => {
                        tx.rollback().await.unwrap();
                        counts[1] += 1;
                    }
                    Err(e) => panic!("worker {worker} step {n} {act:?} (seed {seed}): {e}"),
                }
                drop(model);
            }
            counts
        }));
    }
    let mut total = [0usize; 3];
    for t in tasks {
        let c = t.await.expect("a worker failed: see the seed above");
        for k in 0..3 {
            total[k] += c[k];
        }
    }
    println!("model test: {} actions applied and matched, {} refusals predicted exactly", total[0], total[1]);
    assert!(total[0] + total[1] >= steps * 20 * 9 / 10);
}
