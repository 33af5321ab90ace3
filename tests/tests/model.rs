//! A reference model of the queue rules, written independently of the extension, driven
//! against the real extension by random actions from 20 concurrent connections over 10
//! clinics. Each step takes the clinic's lock first, so the model sees the same order as
//! the database; after every step the clinic's whole state (statuses, priority, holds,
//! call times, numbers, pointer, positions) must equal the model's, and every refusal must
//! be the one the model predicts. `QLINK_SEED` replays a run; `QLINK_MODEL_STEPS` sets
//! steps per connection.
//!
//! The first model also covers patient self-service (SPEC §12): stepping out
//! (`hold_token`), coming back (`return_token`) and holds running out. The queue clock
//! (`qlink.clock_override`) is pinned per step and moves in whole seconds, so the model
//! knows every timestamp: `held_at`, `held_until` and `called_at` (which decides whether
//! a returning patient's turn passed) are compared as seconds since `BASE`.

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

/// A token as the rules see it. Times are seconds of the queue clock since `BASE`.
#[derive(Clone, Debug)]
struct Tok {
    id: Uuid,
    status: St,
    priority: bool,
    /// When it was last called (NEXT stamps it; UNDO restores it).
    called_at: Option<i64>,
    /// A hold (SPEC §12): when the patient stepped out, and until when. A hold that ran out
    /// keeps both (the token is then SKIPPED); any staff or patient transition clears them.
    held_at: Option<i64>,
    held_until: Option<i64>,
}

impl Tok {
    fn new(id: Uuid, priority: bool) -> Tok {
        Tok { id, status: St::Waiting, priority, called_at: None, held_at: None, held_until: None }
    }
}

/// An undoable action: the state of what it touched, before and after.
#[derive(Clone, Debug)]
struct Entry {
    before: Vec<(usize, Tok)>,
    after: Vec<(usize, Tok)>,
    session_before: bool,
}

#[derive(Clone, Default, Debug)]
struct Model {
    tokens: Vec<Tok>,
    closed: bool,
    undo: Vec<Entry>,
    /// The queue clock: seconds since `BASE`.
    clock: i64,
    /// The clinic's `hold_minutes` (0: patients cannot step out).
    hold_max: i32,
    /// BACKs seen, by outcome: returned, front, expired.
    returns: [usize; 3],
}

impl Model {
    fn serving(&self) -> Option<usize> {
        self.tokens.iter().position(|t| t.status == St::Serving)
    }

    /// WAITING tokens in call order: priority first, then by number. Held tokens keep
    /// their place (and count in positions and the line's length).
    fn line(&self) -> Vec<usize> {
        let mut w: Vec<usize> = (0..self.tokens.len()).filter(|&i| self.tokens[i].status == St::Waiting).collect();
        w.sort_by_key(|&i| (!self.tokens[i].priority, i));
        w
    }

    /// A WAITING token's place in the line (1-based).
    fn position(&self, t: usize) -> Option<i32> {
        self.line().iter().position(|&i| i == t).map(|p| p as i32 + 1)
    }

    /// Whom NEXT calls: the first of the line who has not stepped out.
    fn next_to_call(&self) -> Option<usize> {
        self.line().into_iter().find(|&i| self.tokens[i].held_until.is_none())
    }

    /// Every function that locks the line's session first expires its run-out holds
    /// (`held_until <= now`): the token becomes SKIPPED, keeps its hold times, and this
    /// is not undoable (a HOLD_EXPIRED row, actor SYSTEM).
    fn expire(&mut self) {
        let now = self.clock;
        for t in &mut self.tokens {
            if t.status == St::Waiting && t.held_until.is_some_and(|u| u <= now) {
                t.status = St::Skipped;
            }
        }
    }

    /// A status change as `Token::transition` makes it: stamps `called_at` when called and
    /// ends any hold.
    fn transition(&mut self, i: usize, st: St, prio: Option<bool>) {
        let now = self.clock;
        let t = &mut self.tokens[i];
        t.status = st;
        if let Some(p) = prio {
            t.priority = p;
        }
        if st == St::Serving {
            t.called_at = Some(now);
        }
        t.held_at = None;
        t.held_until = None;
    }

    fn snap(&self, idx: &[usize]) -> Vec<(usize, Tok)> {
        idx.iter().map(|&i| (i, self.tokens[i].clone())).collect()
    }

    /// Applies a staff action that moves `moves`, recording it for UNDO. `transition`:
    /// the moves are transitions (they end holds); RESET cancels with a plain update that
    /// keeps them.
    fn apply(&mut self, moves: Vec<(usize, St, Option<bool>)>, closed: Option<bool>, transition: bool) {
        let idx: Vec<usize> = moves.iter().map(|m| m.0).collect();
        let before = self.snap(&idx);
        let session_before = self.closed;
        for (i, st, prio) in moves {
            if transition {
                self.transition(i, st, prio);
            } else {
                self.tokens[i].status = st;
            }
        }
        if let Some(c) = closed {
            self.closed = c;
        }
        let after = self.snap(&idx);
        self.undo.push(Entry { before, after, session_before });
    }

    /// Did someone after `t` in call order get called since `t` stepped out (`return_in`'s
    /// rule: `called_at >= held_at`, with the priorities as they are now)?
    fn passed_while_away(&self, t: usize) -> bool {
        let me = &self.tokens[t];
        let Some(held_at) = me.held_at else { return false };
        self.tokens.iter().enumerate().any(|(i, w)| {
            i != t
                && w.called_at.is_some_and(|c| c >= held_at)
                && ((me.priority && !w.priority) || (w.priority == me.priority && i > t))
        })
    }

    fn expected_state(&self) -> String {
        let secs = |v: Option<i64>| v.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let toks: Vec<String> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "{}:{}:{}:{}:{}:{}",
                    i + 1,
                    t.status.sql(),
                    t.priority,
                    secs(t.held_at),
                    secs(t.held_until),
                    secs(t.called_at)
                )
            })
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
            coalesce((SELECT string_agg(t.token_number || ':' || t.status || ':' || t.is_priority \
                          || ':' || coalesce(extract(epoch FROM t.held_at - c.base)::bigint::text, '-') \
                          || ':' || coalesce(extract(epoch FROM t.held_until - c.base)::bigint::text, '-') \
                          || ':' || coalesce(extract(epoch FROM t.called_at - c.base)::bigint::text, '-'), \
                          ',' ORDER BY t.token_number) \
                      FROM qlink.tokens t WHERE t.session_id = s.id), ''), \
            coalesce((SELECT string_agg(t.token_number || '@' || ts.queue_position, ',' ORDER BY ts.queue_position) \
                      FROM qlink.tokens t, LATERAL qlink.token_status(t.id) ts \
                      WHERE t.session_id = s.id AND t.status = 'WAITING'), '')) \
         FROM qlink.sessions s, (SELECT $2::text::timestamptz AS base) c WHERE s.business_id = $1",
        &[&clinic, &BASE],
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
    Hold,
    Return,
}

fn pick_act(rng: &mut StdRng) -> Act {
    match rng.gen_range(0..111) {
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
        98..=99 => Act::Reset,
        100..=105 => Act::Hold,
        _ => Act::Return,
    }
}

/// Runs one action in the database and in the model; returns what the model expected.
/// The model expires run-out holds (`Model::expire`) exactly where the database does: in
/// every call that locks the line's session (all but `close_session`), before its rules
/// look at anything. A refused call rolls back, expiry included: the caller then restores
/// the model as it was before the step.
///
/// UNDO and holds: HOLD, RETURN and HOLD_EXPIRED are not undoable, so UNDO reverts the
/// staff action before them; it is refused only when a token it restores changed status or
/// priority since (an expiry does; a hold does not), and it restores the tokens' hold and
/// call times from its `before` state (so it may bring back a hold that has already run
/// out, which the next action then expires).
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
    // Mostly one of `wanted` (70%), sometimes one of `also` (15%), else any token, so
    // every refusal comes up too.
    type Pred<'a> = &'a dyn Fn(&Tok) -> bool;
    let aim = |model: &Model, wanted: Pred, also: Pred, rng: &mut StdRng| -> Option<usize> {
        let among = |p: Pred, rng: &mut StdRng| {
            let c: Vec<usize> = (0..model.tokens.len()).filter(|&i| p(&model.tokens[i])).collect();
            (!c.is_empty()).then(|| c[rng.gen_range(0..c.len())])
        };
        let roll = rng.gen_range(0..100);
        let first = match roll {
            0..=69 => among(wanted, rng),
            70..=84 => among(also, rng),
            _ => None,
        };
        first.or_else(|| (!model.tokens.is_empty()).then(|| rng.gen_range(0..model.tokens.len())))
    };
    let here = |t: &Tok| t.status == St::Waiting && t.held_until.is_none();
    let away = |t: &Tok| t.held_until.is_some() && matches!(t.status, St::Waiting | St::Skipped);
    // (sql result, expected outcome: Ok(effect) or Err(sqlstate, or sqlstate/reason))
    let refused = |code: &str| Err::<(), String>(code.to_string());
    match act {
        Act::Create | Act::Emergency => {
            *phone += 1;
            let staff = matches!(act, Act::Emergency);
            model.expire();
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
            model.tokens.push(Tok::new(row.get(0), staff));
            Ok(())
        }
        Act::Next => {
            model.expire();
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await;
            let mut moves = Vec::new();
            if let Some(s) = model.serving() {
                moves.push((s, St::Served, None));
            }
            if let Some(n) = model.next_to_call() {
                moves.push((n, St::Serving, None));
            }
            check(r.map(|_| ()), Ok(()))?;
            // A NEXT that moved nobody is not undoable: UNDO reverts the action before it.
            if !moves.is_empty() {
                model.apply(moves, None, true);
            }
            Ok(())
        }
        Act::Served => {
            model.expire();
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'SERVED')", &[&clinic]).await;
            match model.serving() {
                None => check(r.map(|_| ()), refused("55000")),
                Some(s) => {
                    check(r.map(|_| ()), Ok(()))?;
                    model.apply(vec![(s, St::Served, None)], None, true);
                    Ok(())
                }
            }
        }
        Act::Skip => {
            model.expire();
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'SKIP')", &[&clinic]).await;
            match model.serving() {
                None => check(r.map(|_| ()), refused("55000")),
                Some(s) => {
                    check(r.map(|_| ()), Ok(()))?;
                    model.apply(vec![(s, St::Skipped, None)], None, true);
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
            model.expire();
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
            // Each of these ends a hold (SKIP, RECALL, CANCEL and the patient's cancel).
            match act {
                Act::SkipWaiting => model.apply(vec![(t, St::Skipped, None)], None, true),
                Act::Recall => model.apply(vec![(t, St::Waiting, Some(true))], None, true),
                Act::Cancel => model.apply(vec![(t, St::Cancelled, None)], None, true),
                _ => model.transition(t, St::Cancelled, None), // the patient's own: not undoable
            }
            Ok(())
        }
        Act::Hold => {
            // Mostly a patient in the line who is here; sometimes one away (held or expired),
            // or anyone, for the refusals.
            let Some(t) = aim(model, &here, &away, rng) else {
                return Ok(());
            };
            let minutes: Option<i32> = match rng.gen_range(0..100) {
                0..=11 => None, // the clinic's hold_minutes
                12..=19 => Some(if rng.gen_bool(0.5) { 0 } else { model.hold_max + 1 }),
                _ => Some(rng.gen_range(1..=model.hold_max.max(1))),
            };
            model.expire();
            let id = model.tokens[t].id;
            let r = db.query_one("SELECT status, queue_position FROM qlink.hold_token($1, $2)", &[&id, &minutes]).await;
            let (r, row) = split(r);
            let tok = &model.tokens[t];
            // hold_in's order: the token's state, then the clinic's setting, then the minutes.
            let minutes = minutes.unwrap_or(model.hold_max);
            let refusal = match (tok.status, tok.held_until.is_some()) {
                (St::Waiting, true) => Some("55000/already_held"),
                (St::Skipped, true) => Some("55000/hold_expired"),
                (St::Waiting, false) if model.hold_max <= 0 => Some("55000/holds_disabled"),
                (St::Waiting, false) if !(1..=model.hold_max).contains(&minutes) => Some("22023/invalid_hold_minutes"),
                (St::Waiting, false) => None,
                _ => Some("55000/not_holdable"),
            };
            if let Some(code) = refusal {
                return check(r, refused(code));
            }
            check(r, Ok(()))?;
            let now = model.clock;
            let tok = &mut model.tokens[t];
            tok.held_at = Some(now);
            tok.held_until = Some(now + 60 * i64::from(minutes));
            let row = row.expect("a row");
            let got: (String, Option<i32>) = (row.get(0), row.get(1));
            let want = ("WAITING".to_string(), model.position(t));
            if got != want {
                return Err(format!("MISMATCH: hold_token returned {got:?}, model expected {want:?}"));
            }
            Ok(())
        }
        Act::Return => {
            let Some(t) = aim(model, &away, &here, rng) else {
                return Ok(());
            };
            model.expire();
            let id = model.tokens[t].id;
            let r = db.query_one("SELECT status, outcome, queue_position FROM qlink.return_token($1)", &[&id]).await;
            let (r, row) = split(r);
            let tok = &model.tokens[t];
            let want: (&str, &str, Option<i32>) = match (tok.status, tok.held_until.is_some()) {
                // The hold ran out (perhaps just now, under this call's lock): committed, not
                // an error; the token stays SKIPPED with its hold times.
                (St::Skipped, true) => {
                    check(r, Ok(()))?;
                    model.returns[2] += 1;
                    ("SKIPPED", "expired", None)
                }
                (St::Waiting, true) => {
                    check(r, Ok(()))?;
                    let passed = model.passed_while_away(t);
                    let tok = &mut model.tokens[t];
                    tok.held_at = None;
                    tok.held_until = None;
                    tok.priority |= passed;
                    model.returns[usize::from(passed)] += 1;
                    ("WAITING", if passed { "front" } else { "returned" }, model.position(t))
                }
                _ => return check(r, refused("55000/not_held")),
            };
            let row = row.expect("a row");
            let got: (String, String, Option<i32>) = (row.get(0), row.get(1), row.get(2));
            if (got.0.as_str(), got.1.as_str(), got.2) != want {
                return Err(format!("MISMATCH: return_token returned {got:?}, model expected {want:?}"));
            }
            Ok(())
        }
        Act::Undo => {
            model.expire();
            let r = db.query_one("SELECT * FROM qlink.queue_action($1, 'UNDO')", &[&clinic]).await.map(|_| ());
            let Some(entry) = model.undo.last().cloned() else { return check(r, refused("55000")) };
            // The database compares status and priority only (not holds).
            let drifted = entry.after.iter().any(|(i, a)| {
                let now = &model.tokens[*i];
                now.status != a.status || now.priority != a.priority
            });
            if drifted {
                return check(r, refused("55000"));
            }
            check(r, Ok(()))?;
            model.undo.pop();
            // Status, priority, call time and hold, exactly as they were.
            for (i, before) in entry.before {
                model.tokens[i] = before;
            }
            model.closed = entry.session_before;
            Ok(())
        }
        Act::Close => {
            // close_session does not expire holds.
            let r = db.query_one("SELECT * FROM qlink.close_session($1)", &[&clinic]).await.map(|_| ());
            check(r, Ok(()))?;
            if !model.closed {
                model.apply(vec![], Some(true), true);
            }
            Ok(())
        }
        Act::Reset => {
            model.expire();
            let r = db.query_one("SELECT * FROM qlink.reset_session($1)", &[&clinic]).await.map(|_| ());
            if model.serving().is_some() {
                return check(r, refused("55000"));
            }
            check(r, Ok(()))?;
            let moves = (0..model.tokens.len())
                .filter(|&i| matches!(model.tokens[i].status, St::Waiting | St::Skipped))
                .map(|i| (i, St::Cancelled, None))
                .collect();
            // A plain UPDATE, not a transition: the cancelled tokens keep their hold times.
            model.apply(moves, Some(false), false);
            Ok(())
        }
    }
}

/// A call's outcome without its row, and the row.
fn split<T>(r: Result<T, tokio_postgres::Error>) -> (Result<(), tokio_postgres::Error>, Option<T>) {
    match r {
        Ok(row) => (Ok(()), Some(row)),
        Err(e) => (Err(e), None),
    }
}

/// Does a refusal match the expected `sqlstate` or `sqlstate/reason` (the DETAIL
/// `qlink:<reason>` every refusal carries)?
fn refusal_is(e: &tokio_postgres::Error, expected: &str) -> bool {
    let code = sqlstate(e);
    match expected.split_once('/') {
        None => code.as_deref() == Some(expected),
        Some((state, reason)) => {
            let detail = e.as_db_error().and_then(|d| d.detail()).map(str::to_string);
            code.as_deref() == Some(state) && detail == Some(format!("qlink:{reason}"))
        }
    }
}

fn check(got: Result<(), tokio_postgres::Error>, expected: Result<(), String>) -> Result<(), String> {
    match (got, expected) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Err(code)) if refusal_is(&e, &code) => Err(format!("refused:{code}")),
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
    // The queue clock starts at BASE; each step pins it (see below).
    setup.batch_execute(&format!("SET qlink.clock_override = '{BASE}'")).await.unwrap();
    let mut clinics = Vec::new();
    for c in 0..10 {
        // Short holds, so many run out while the clock moves; the last clinic has none.
        let hold_max = if c == 9 { 0 } else { 4 };
        let id = create_clinic(
            &setup,
            &format!("model-{c}"),
            serde_json::json!({"daily_token_limit": 10000, "ip_tokens_per_10min": 10000, "hold_minutes": hold_max}),
        )
        .await;
        // Open the day (one token; the model starts from it).
        let t: Uuid = setup
            .query_one("SELECT token_id FROM qlink.create_token($1, 'First', '7000000000')", &[&id])
            .await
            .unwrap()
            .get(0);
        let model = Model { tokens: vec![Tok::new(t, false)], hold_max, ..Default::default() };
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
            let mut refusals = std::collections::BTreeMap::<String, usize>::new();
            for n in 0..steps {
                let act = pick_act(&mut rng);
                let tx = db.transaction().await.unwrap();
                // The clinic's lock first: the model then sees the database's order.
                tx.query_one("SELECT 1 FROM qlink.sessions WHERE business_id = $1 FOR UPDATE", &[&clinic])
                    .await
                    .unwrap();
                let mut model = model.lock().await;
                // The clock moves a few seconds most steps (a 1–4 minute hold runs out some
                // 10–50 steps of the clinic later), sometimes not at all (ties: a call in
                // the same second as a hold counts as after it).
                if rng.gen_bool(0.7) {
                    model.clock += rng.gen_range(1..=12);
                }
                tx.query_one(
                    "SELECT set_config('qlink.clock_override', ($1::text::timestamptz + make_interval(secs => $2))::text, true)",
                    &[&BASE, &(model.clock as f64)],
                )
                .await
                .unwrap();
                let before = model.clone();
                let result = step(&tx, clinic, &mut model, act, &mut rng, &mut phone).await;
                match result {
                    Ok(()) => {
                        let got = db_state(&tx, clinic).await;
                        let want = model.expected_state();
                        assert_eq!(
                            got,
                            want,
                            "worker {worker} step {n} after {act:?} (seed {seed}); before: {}",
                            before.expected_state()
                        );
                        tx.commit().await.unwrap();
                        counts[0] += 1;
                    }
                    Err(e) if e.starts_with("refused:") => {
                        // The refusal rolled back everything, the expiry of holds included.
                        tx.rollback().await.unwrap();
                        *model = before;
                        counts[1] += 1;
                        *refusals.entry(e["refused:".len()..].to_string()).or_default() += 1;
                    }
                    Err(e) => panic!("worker {worker} step {n} {act:?} (seed {seed}): {e}; before: {}", before.expected_state()),
                }
                drop(model);
            }
            (counts, refusals)
        }));
    }
    let mut total = [0usize; 3];
    let mut refusals = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (c, r) = t.await.expect("a worker failed: see the seed above");
        for k in 0..3 {
            total[k] += c[k];
        }
        for (code, n) in r {
            *refusals.entry(code).or_default() += n;
        }
    }
    println!("model test: {} actions applied and matched, {} refusals predicted exactly", total[0], total[1]);
    println!("refusals: {refusals:?}");
    assert!(total[0] + total[1] >= steps * 20 * 9 / 10);
    // Self-service was exercised: holds, every BACK outcome, expiries, and each refusal.
    let audited: Vec<(String, i64)> = setup
        .query("SELECT action, count(*) FROM qlink.audit_logs GROUP BY action ORDER BY action", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut returns = [0usize; 3];
    for (_, model) in clinics.iter() {
        let model = model.lock().await;
        for (sum, n) in returns.iter_mut().zip(model.returns) {
            *sum += n;
        }
    }
    println!("audited: {audited:?}; BACK returned/front/expired: {returns:?}");
    for kind in ["HOLD", "RETURN", "HOLD_EXPIRED"] {
        assert!(audited.iter().any(|(k, _)| k == kind), "no {kind} under load: {audited:?}");
    }
    if steps >= 200 {
        assert!(returns.iter().all(|&n| n > 0), "a BACK outcome never came up: {returns:?}");
        for code in [
            "55000/already_held",
            "55000/hold_expired",
            "55000/not_holdable",
            "55000/holds_disabled",
            "22023/invalid_hold_minutes",
            "55000/not_held",
        ] {
            assert!(refusals.contains_key(code), "the refusal {code} never came up: {refusals:?}");
        }
    }
}

// ---- Several queues and rooms (SPEC §9) ----
//
// Each clinic has line A (rooms 1 and 2 call from it) and line B (rooms 2 and 3): room 2
// calls over both lines, priority first, then arrival (line_at), then the line's ticket
// (line_seq). The clock is pinned and moves in whole seconds (sometimes not at all, so
// arrivals tie), so the model knows every timestamp. The model follows the rules as
// queue.rs and audit.rs implement them: UNDO in a room pops the latest not-undone
// undoable entry made in that room, or with no room, whose own session is one of the
// room's lines; it is refused (55000) when a token it would restore changed status,
// priority or line since.

/// The lines each room calls from (indexes into the clinic's two queues, A and B).
const ROOM_LINES: [&[usize]; 3] = [&[0], &[0, 1], &[1]];
const PREFIXES: [&str; 2] = ["A", "B"];
const ROOM_NAMES: [&str; 3] = ["Room 1", "Room 2", "Room 3"];
const BASE: &str = "2026-03-10 04:00:00+00";

#[derive(Clone, Debug, PartialEq)]
struct RTok {
    id: Uuid,
    label: String,
    line: usize,
    number: i32,
    status: St,
    priority: bool,
    line_seq: i32,
    line_at: i64,
    room: Option<usize>,
    called_at: Option<i64>,
}

#[derive(Clone, Debug, Default)]
struct RLine {
    last_number: i32,
    last_seq: i32,
    last_at: i64,
    pointer: Option<i32>,
}

#[derive(Clone, Debug)]
struct REntry {
    action: &'static str,
    /// The room it was made in; None: a clinic-wide act.
    room: Option<usize>,
    /// The line of its own session (the acted-on token's line before the action).
    primary: usize,
    token: Option<usize>,
    /// Every line the action touched (re-read by its UNDO).
    lines: Vec<usize>,
    before: Vec<(usize, RTok)>,
    after: Vec<(usize, RTok)>,
    undone: bool,
}

#[derive(Default, Debug)]
struct Rooms {
    tokens: Vec<RTok>,
    lines: [RLine; 2],
    log: Vec<REntry>,
    clock: i64,
}

/// A move of one token in an action.
enum RMove {
    To(St, Option<bool>),
    Transfer(usize),
}

impl Rooms {
    fn serving_in(&self, room: usize) -> Option<usize> {
        self.tokens.iter().position(|t| t.status == St::Serving && t.room == Some(room))
    }

    fn call_key(&self, i: usize) -> (bool, i64, i32) {
        let t = &self.tokens[i];
        (!t.priority, t.line_at, t.line_seq)
    }

    /// The next patient a room calls, or Err when two lines' heads tie exactly (the
    /// database's choice between them is then arbitrary, so the step is skipped).
    fn next_for(&self, room: usize) -> Result<Option<usize>, ()> {
        let mut w: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| self.tokens[i].status == St::Waiting && ROOM_LINES[room].contains(&self.tokens[i].line))
            .collect();
        w.sort_by_key(|&i| self.call_key(i));
        if w.len() > 1 && self.call_key(w[0]) == self.call_key(w[1]) {
            return Err(());
        }
        Ok(w.first().copied())
    }

    /// WAITING tokens of a line in the order token_status counts positions.
    fn positions(&self, line: usize) -> Vec<usize> {
        let mut w: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| self.tokens[i].status == St::Waiting && self.tokens[i].line == line)
            .collect();
        w.sort_by_key(|&i| (!self.tokens[i].priority, self.tokens[i].line_seq));
        w
    }

    /// The line's latest called token still being served, as `served_left` and `reread` pick it.
    fn latest_serving(&self, line: usize) -> Option<i32> {
        (0..self.tokens.len())
            .filter(|&i| self.tokens[i].status == St::Serving && self.tokens[i].line == line)
            .max_by_key(|&i| (self.tokens[i].called_at, self.tokens[i].line_seq))
            .map(|i| self.tokens[i].number)
    }

    fn enter_line(&mut self, line: usize) -> (i32, i64) {
        let l = &mut self.lines[line];
        l.last_seq += 1;
        l.last_at = l.last_at.max(self.clock);
        (l.last_seq, l.last_at)
    }

    fn create(&mut self, id: Uuid, line: usize, priority: bool) {
        self.lines[line].last_number += 1;
        let number = self.lines[line].last_number;
        let (line_seq, line_at) = self.enter_line(line);
        self.tokens.push(RTok {
            id,
            label: format!("{}-{number}", PREFIXES[line]),
            line,
            number,
            status: St::Waiting,
            priority,
            line_seq,
            line_at,
            room: None,
            called_at: None,
        });
    }

    /// Applies an action's moves in order (as `apply` does) and records it for UNDO.
    fn apply(&mut self, action: &'static str, room: Option<usize>, moves: Vec<(usize, RMove)>, token: Option<usize>) {
        let idx: Vec<usize> = moves.iter().map(|m| m.0).collect();
        let before: Vec<(usize, RTok)> = idx.iter().map(|&i| (i, self.tokens[i].clone())).collect();
        let primary = self.tokens[*idx.last().expect("an undoable action moves someone")].line;
        let mut lines = vec![primary];
        for (i, m) in moves {
            let was_serving = self.tokens[i].status == St::Serving;
            let from = self.tokens[i].line;
            lines.push(from);
            match m {
                RMove::To(st, prio) => {
                    let t = &mut self.tokens[i];
                    t.status = st;
                    if let Some(p) = prio {
                        t.priority = p;
                    }
                    if st == St::Serving {
                        t.called_at = Some(self.clock);
                        t.room = room;
                    }
                }
                RMove::Transfer(to) => {
                    lines.push(to);
                    let (seq, at) = self.enter_line(to);
                    let t = &mut self.tokens[i];
                    t.status = St::Waiting;
                    t.line = to;
                    t.line_seq = seq;
                    t.line_at = at;
                }
            }
            if was_serving && self.lines[from].pointer == Some(self.tokens[i].number) {
                self.lines[from].pointer = self.latest_serving(from);
            }
            if self.tokens[i].status == St::Serving {
                self.lines[self.tokens[i].line].pointer = Some(self.tokens[i].number);
            }
        }
        lines.sort();
        lines.dedup();
        let after = idx.iter().map(|&i| (i, self.tokens[i].clone())).collect();
        self.log.push(REntry { action, room, primary, token, lines, before, after, undone: false });
    }

    /// The entry a room's UNDO reverts.
    fn undo_top(&self, room: usize) -> Option<usize> {
        (0..self.log.len()).rev().find(|&k| {
            let e = &self.log[k];
            !e.undone && ROOM_LINES[room].contains(&e.primary) && (e.room.is_none() || e.room == Some(room))
        })
    }

    fn expected_state(&self) -> String {
        let lines: Vec<String> = (0..2)
            .map(|q| {
                let l = &self.lines[q];
                let waiting = self.tokens.iter().filter(|t| t.line == q && t.status == St::Waiting).count();
                let pointer = l.pointer.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
                format!("{},{},{waiting},{pointer},{},{}", PREFIXES[q], l.last_number, l.last_seq, l.last_at)
            })
            .collect();
        let mut position = vec![None; self.tokens.len()];
        for q in 0..2 {
            for (p, &i) in self.positions(q).iter().enumerate() {
                position[i] = Some(p + 1);
            }
        }
        let mut toks: Vec<(String, String)> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                let row = format!(
                    "{},{},{},{},{},{},{},{},{}",
                    t.label,
                    t.status.sql(),
                    if t.priority { "t" } else { "f" },
                    PREFIXES[t.line],
                    opt(t.room.map(|r| ROOM_NAMES[r].to_string())),
                    t.line_seq,
                    t.line_at,
                    opt(t.called_at.map(|c| c.to_string())),
                    opt(position[i].map(|p| p.to_string())),
                );
                (t.label.clone(), row)
            })
            .collect();
        toks.sort();
        let rooms: Vec<String> = (0..3)
            .map(|r| {
                let serving = self.serving_in(r).map(|i| self.tokens[i].label.clone()).unwrap_or_else(|| "-".into());
                let waiting =
                    self.tokens.iter().filter(|t| t.status == St::Waiting && ROOM_LINES[r].contains(&t.line)).count();
                let (action, label) = match self.undo_top(r) {
                    Some(k) => {
                        let e = &self.log[k];
                        (
                            e.action.to_string(),
                            e.token.map(|i| self.tokens[i].label.clone()).unwrap_or_else(|| "-".into()),
                        )
                    }
                    None => ("-".into(), "-".into()),
                };
                format!("{},{serving},{waiting},{action},{label}", ROOM_NAMES[r])
            })
            .collect();
        format!(
            "{}#{}#{}",
            lines.join(";"),
            toks.into_iter().map(|t| t.1).collect::<Vec<_>>().join(";"),
            rooms.join(";")
        )
    }
}

async fn rooms_db_state(db: &tokio_postgres::Transaction<'_>, clinic: Uuid) -> String {
    db.query_one(
        "SELECT concat_ws('#', \
           coalesce((SELECT string_agg(concat_ws(',', q.prefix, s.last_token_number, s.waiting_count, \
                                  coalesce(s.now_serving_number::text, '-'), s.last_line_seq, \
                                  extract(epoch FROM s.last_line_at - $2::text::timestamptz)::int), ';' ORDER BY q.prefix) \
                     FROM qlink.sessions s JOIN qlink.queues q ON q.id = s.queue_id WHERE s.business_id = $1), ''), \
           coalesce((SELECT string_agg(concat_ws(',', t.token_label, t.status, t.is_priority, q.prefix, \
                                  coalesce(r.name, '-'), t.line_seq, extract(epoch FROM t.line_at - $2::text::timestamptz)::int, \
                                  coalesce(extract(epoch FROM t.called_at - $2::text::timestamptz)::int::text, '-'), \
                                  coalesce((CASE WHEN t.status = 'WAITING' THEN \
                                      (SELECT x.queue_position FROM qlink.token_status(t.id) x) END)::text, '-')), \
                                  ';' ORDER BY t.token_label) \
                     FROM qlink.tokens t JOIN qlink.queues q ON q.id = t.queue_id \
                     LEFT JOIN qlink.rooms r ON r.id = t.room_id \
                     WHERE t.business_id = $1), ''), \
           coalesce((SELECT string_agg(concat_ws(',', r.name, coalesce(qs.serving_label, '-'), qs.waiting_count, \
                                  coalesce(qs.undo_action, '-'), coalesce(qs.undo_token_label, '-')), ';' ORDER BY r.name) \
                     FROM qlink.rooms r, LATERAL qlink.queue_summary($1, r.id) qs WHERE r.business_id = $1), ''))",
        &[&clinic, &BASE],
    )
    .await
    .unwrap()
    .get(0)
}

#[derive(Debug, Clone, Copy)]
enum RAct {
    Create(usize),
    Emergency(usize),
    Next(usize),
    Served(usize),
    Skip(usize),
    SkipWaiting,
    Recall,
    Cancel,
    PatientCancel,
    Transfer,
    Undo(usize),
}

fn pick_room_act(rng: &mut StdRng) -> RAct {
    let room = rng.gen_range(0..3);
    let line = rng.gen_range(0..2);
    match rng.gen_range(0..100) {
        0..=17 => RAct::Create(line),
        18..=20 => RAct::Emergency(line),
        21..=45 => RAct::Next(room),
        46..=50 => RAct::Served(room),
        51..=54 => RAct::Skip(room),
        55..=58 => RAct::SkipWaiting,
        59..=63 => RAct::Recall,
        64..=67 => RAct::Cancel,
        68..=70 => RAct::PatientCancel,
        71..=79 => RAct::Transfer,
        _ => RAct::Undo(room),
    }
}

struct Ids {
    clinic: Uuid,
    queues: [Uuid; 2],
    rooms: [Uuid; 3],
}

/// Runs one action in the database and in the model. Ok(true): applied; Ok(false): skipped
/// (the model cannot predict it); Err("refused:…"): refused as the model predicted.
async fn room_step(
    db: &tokio_postgres::Transaction<'_>,
    ids: &Ids,
    model: &mut Rooms,
    act: RAct,
    rng: &mut StdRng,
    phone: &mut u64,
) -> Result<bool, String> {
    let clinic = ids.clinic;
    let refused = |code: &str| Err::<(), String>(code.to_string());
    let in_room = |sql: &str, room: usize| {
        let sql = sql.to_string();
        let r = ids.rooms[room];
        async move { db.query_one(sql.as_str(), &[&clinic, &r]).await.map(|_| ()) }
    };
    match act {
        RAct::Create(line) | RAct::Emergency(line) => {
            let staff = matches!(act, RAct::Emergency(_));
            *phone += 1;
            let r = if staff {
                db.query_one(
                    "SELECT token_id FROM qlink.create_token($1, 'Emergency', NULL, 'STAFF', NULL, true, queue_id => $2)",
                    &[&clinic, &ids.queues[line]],
                )
                .await
            } else {
                db.query_one(
                    "SELECT token_id FROM qlink.create_token($1, 'Patient', $2, queue_id => $3)",
                    &[&clinic, &format!("7{:09}", *phone), &ids.queues[line]],
                )
                .await
            };
            let row = r.map_err(|e| format!("MISMATCH: create failed: {e:?}"))?;
            model.create(row.get(0), line, staff);
            Ok(true)
        }
        RAct::Next(room) => {
            let Ok(next) = model.next_for(room) else { return Ok(false) };
            let r = in_room("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", room).await;
            check(r, Ok(()))?;
            let mut moves = Vec::new();
            if let Some(s) = model.serving_in(room) {
                moves.push((s, RMove::To(St::Served, None)));
            }
            if let Some(n) = next {
                moves.push((n, RMove::To(St::Serving, None)));
            }
            // A NEXT that moved nobody is not undoable.
            if !moves.is_empty() {
                model.apply("NEXT", Some(room), moves, next);
            }
            Ok(true)
        }
        RAct::Served(room) | RAct::Skip(room) => {
            let (action, to) = match act {
                RAct::Served(_) => ("SERVED", St::Served),
                _ => ("SKIP", St::Skipped),
            };
            let sql = format!("SELECT * FROM qlink.queue_action($1, '{action}', room_id => $2)");
            let r = in_room(&sql, room).await;
            let Some(s) = model.serving_in(room) else { return check(r, refused("55000")).map(|()| true) };
            check(r, Ok(()))?;
            model.apply(action, Some(room), vec![(s, RMove::To(to, None))], Some(s));
            Ok(true)
        }
        RAct::SkipWaiting | RAct::Recall | RAct::Cancel | RAct::PatientCancel | RAct::Transfer => {
            let wanted: &[St] = match act {
                RAct::Recall => &[St::Skipped],
                RAct::Transfer => &[St::Waiting, St::Serving],
                _ => &[St::Waiting],
            };
            let candidates: Vec<usize> = if rng.gen_bool(0.85) {
                (0..model.tokens.len()).filter(|&i| wanted.contains(&model.tokens[i].status)).collect()
            } else {
                (0..model.tokens.len()).collect()
            };
            if candidates.is_empty() {
                return Ok(false);
            }
            let t = candidates[rng.gen_range(0..candidates.len())];
            let tok = model.tokens[t].clone();
            // A called patient is acted on in their room (named, or found from the token);
            // anyone else from any room or clinic-wide.
            let room: Option<usize> = match (tok.status, rng.gen_bool(0.5)) {
                (St::Serving, true) => tok.room,
                (_, true) => Some(rng.gen_range(0..3)),
                (_, false) => None,
            };
            let room_id: Option<Uuid> = room.map(|r| ids.rooms[r]);
            let target_line = if rng.gen_bool(0.85) { 1 - tok.line } else { tok.line };
            let r = match act {
                RAct::SkipWaiting | RAct::Recall | RAct::Cancel => {
                    let action = match act {
                        RAct::SkipWaiting => "SKIP",
                        RAct::Recall => "RECALL",
                        _ => "CANCEL",
                    };
                    db.query_one(
                        "SELECT * FROM qlink.queue_action($1, $2, $3, room_id => $4)",
                        &[&clinic, &action, &tok.id, &room_id],
                    )
                    .await
                }
                RAct::Transfer => {
                    db.query_one(
                        "SELECT * FROM qlink.queue_action($1, 'TRANSFER', $2, room_id => $3, target_queue_id => $4)",
                        &[&clinic, &tok.id, &room_id, &ids.queues[target_line]],
                    )
                    .await
                }
                _ => db.query_one("SELECT * FROM qlink.cancel_token($1)", &[&tok.id]).await,
            }
            .map(|_| ());
            let allowed = match act {
                RAct::SkipWaiting => matches!(tok.status, St::Waiting | St::Serving),
                RAct::Recall => tok.status == St::Skipped,
                RAct::Transfer => matches!(tok.status, St::Waiting | St::Serving) && target_line != tok.line,
                _ => tok.status == St::Waiting,
            };
            if !allowed {
                return check(r, refused("55000")).map(|()| true);
            }
            check(r, Ok(()))?;
            // The room the entry is recorded in: the one named, or the called patient's own.
            let room = room.or(if tok.status == St::Serving { tok.room } else { None });
            match act {
                RAct::SkipWaiting => model.apply("SKIP", room, vec![(t, RMove::To(St::Skipped, None))], Some(t)),
                RAct::Recall => model.apply("RECALL", room, vec![(t, RMove::To(St::Waiting, Some(true)))], Some(t)),
                RAct::Cancel => model.apply("CANCEL", room, vec![(t, RMove::To(St::Cancelled, None))], Some(t)),
                RAct::Transfer => model.apply("TRANSFER", room, vec![(t, RMove::Transfer(target_line))], Some(t)),
                _ => model.tokens[t].status = St::Cancelled, // the patient's own: not undoable
            }
            Ok(true)
        }
        RAct::Undo(room) => {
            let r = in_room("SELECT * FROM qlink.queue_action($1, 'UNDO', room_id => $2)", room).await;
            let Some(k) = model.undo_top(room) else { return check(r, refused("55000")).map(|()| true) };
            let entry = model.log[k].clone();
            let drifted = entry.after.iter().any(|(i, a)| {
                let now = &model.tokens[*i];
                now.status != a.status || now.priority != a.priority || now.line != a.line
            });
            if drifted {
                return check(r, refused("55000")).map(|()| true);
            }
            check(r, Ok(()))?;
            for (i, before) in entry.before {
                model.tokens[i] = before;
            }
            model.log[k].undone = true;
            for line in entry.lines {
                model.lines[line].pointer = model.latest_serving(line);
            }
            Ok(true)
        }
    }
}

/// Locks a clinic as its actions do: its rooms, then its lines' sessions in queue order.
async fn lock_clinic(db: &tokio_postgres::Transaction<'_>, clinic: Uuid) {
    db.query("SELECT 1 FROM qlink.rooms WHERE business_id = $1 ORDER BY id FOR NO KEY UPDATE", &[&clinic])
        .await
        .unwrap();
    db.query("SELECT 1 FROM qlink.sessions WHERE business_id = $1 ORDER BY queue_id, date FOR UPDATE", &[&clinic])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_extension_matches_a_reference_model_of_queues_and_rooms_under_concurrency() {
    let seed: u64 = std::env::var("QLINK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let steps: usize = std::env::var("QLINK_MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    println!("rooms model test: QLINK_SEED={seed} QLINK_MODEL_STEPS={steps} (20 connections, 5 clinics, 3 rooms each)");
    let url = fresh_database().await;
    let setup = connect(&url).await;
    setup.batch_execute(&format!("SET qlink.clock_override = '{BASE}'")).await.unwrap();
    let mut clinics = Vec::new();
    for c in 0..5 {
        let clinic = create_clinic(
            &setup,
            &format!("rooms-{c}"),
            serde_json::json!({"daily_token_limit": 10000, "ip_tokens_per_10min": 10000}),
        )
        .await;
        let qa: Uuid = setup.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&clinic]).await.unwrap().get(0);
        let r1: Uuid = setup.query_one("SELECT room_id FROM qlink.list_rooms($1)", &[&clinic]).await.unwrap().get(0);
        setup.query_one("SELECT qlink.update_queue($1, $2, prefix => 'A')", &[&clinic, &qa]).await.unwrap();
        let qb: Uuid = setup.query_one("SELECT qlink.create_queue($1, 'B', 'B')", &[&clinic]).await.unwrap().get(0);
        let r2: Uuid = setup
            .query_one("SELECT qlink.create_room($1, 'Room 2', $2)", &[&clinic, &vec![qa, qb]])
            .await
            .unwrap()
            .get(0);
        let r3: Uuid =
            setup.query_one("SELECT qlink.create_room($1, 'Room 3', $2)", &[&clinic, &vec![qb]]).await.unwrap().get(0);
        // Open both lines' day (one token each; the model starts from them).
        let mut model = Rooms::default();
        for (line, q) in [qa, qb].iter().enumerate() {
            let t: Uuid = setup
                .query_one(
                    "SELECT token_id FROM qlink.create_token($1, 'First', $2, queue_id => $3)",
                    &[&clinic, &format!("60000000{c}{line}"), q],
                )
                .await
                .unwrap()
                .get(0);
            model.create(t, line, false);
        }
        let ids = Ids { clinic, queues: [qa, qb], rooms: [r1, r2, r3] };
        clinics.push((Arc::new(ids), Arc::new(Mutex::new(model))));
    }
    let clinics = Arc::new(clinics);
    let mut tasks = Vec::new();
    for worker in 0..20u64 {
        let (url, clinics) = (url.clone(), clinics.clone());
        tasks.push(tokio::spawn(async move {
            let mut db = connect(&url).await;
            let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(worker));
            let (ids, model) = clinics[(worker % 5) as usize].clone();
            let mut phone = worker * 10_000_000;
            let mut counts = [0usize; 3]; // applied, refused, skipped
            for n in 0..steps {
                let act = pick_room_act(&mut rng);
                let tx = db.transaction().await.unwrap();
                // The clinic's locks first: the model then sees the database's order.
                lock_clinic(&tx, ids.clinic).await;
                let mut model = model.lock().await;
                if rng.gen_bool(0.6) {
                    model.clock += 1;
                }
                tx.query_one("SELECT set_config('qlink.clock_override', ($1::text::timestamptz + make_interval(secs => $2))::text, true)", &[
                    &BASE,
                    &(model.clock as f64),
                ])
                .await
                .unwrap();
                let before = model.expected_state();
                let result = room_step(&tx, &ids, &mut model, act, &mut rng, &mut phone).await;
                match result {
                    Ok(applied) => {
                        let got = rooms_db_state(&tx, ids.clinic).await;
                        let want = model.expected_state();
                        assert_eq!(got, want, "worker {worker} step {n} after {act:?} (seed {seed}); before: {before}");
                        tx.commit().await.unwrap();
                        counts[if applied { 0 } else { 2 }] += 1;
                    }
                    Err(e) if e.starts_with("refused:") => {
                        tx.rollback().await.unwrap();
                        counts[1] += 1;
                    }
                    Err(e) => panic!("worker {worker} step {n} {act:?} (seed {seed}): {e}; before: {before}"),
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
    println!(
        "rooms model test: {} actions applied and matched, {} refusals predicted exactly, {} skipped",
        total[0], total[1], total[2]
    );
    assert!(total[0] + total[1] >= steps * 20 * 8 / 10);
    // Every kind of entry was undone at least once under load, in every room.
    let undone: Vec<String> = setup
        .query("SELECT DISTINCT a.action FROM qlink.audit_logs a WHERE a.undone_at IS NOT NULL ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("undone kinds: {undone:?}");
    for kind in ["NEXT", "TRANSFER"] {
        assert!(undone.iter().any(|k| k == kind), "no {kind} was undone: {undone:?}");
    }
}

/// A room serving nobody must not finish, skip or move the patient another room is serving
/// ("a chair cannot act on the other chair's patient"). Today SKIP and TRANSFER check the
/// named room's own patient only when it has one, so an idle room can take another room's
/// patient; that room's UNDO then puts the patient back into the other room, where it fails
/// on the one-SERVING-per-room index (23505) once that room has called someone else.
#[tokio::test]
async fn an_idle_room_cannot_skip_or_move_another_rooms_patient() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let clinic = create_clinic(&db, "idle-room", serde_json::json!({})).await;
    let q: Uuid = db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&clinic]).await.unwrap().get(0);
    let r1: Uuid = db.query_one("SELECT room_id FROM qlink.list_rooms($1)", &[&clinic]).await.unwrap().get(0);
    let lab: Uuid = db.query_one("SELECT qlink.create_queue($1, 'Lab', 'L')", &[&clinic]).await.unwrap().get(0);
    let r2: Uuid =
        db.query_one("SELECT qlink.create_room($1, 'Chair 2', $2)", &[&clinic, &vec![q, lab]]).await.unwrap().get(0);
    for n in 0..3 {
        db.query_one(
            "SELECT token_id FROM qlink.create_token($1, 'P', $2, queue_id => $3)",
            &[&clinic, &format!("98765000{n:02}"), &q],
        )
        .await
        .unwrap();
    }
    let next_in_room_1 = || async {
        db.query_one("SELECT serving_token_id FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&clinic, &r1])
            .await
            .unwrap()
            .get::<_, Option<Uuid>>(0)
            .expect("Room 1 calls a patient")
    };
    let state = || async {
        db.query_one(
            "SELECT string_agg(concat_ws(':', token_label, status, room_id), ',' ORDER BY token_label) FROM qlink.tokens",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0)
    };
    let serving = next_in_room_1().await;
    let before = state().await;
    // Chair 2 serves nobody: Room 1's patient is not Chair 2's to move to the lab, nor to skip.
    let transfer = db
        .query_one(
            "SELECT * FROM qlink.queue_action($1, 'TRANSFER', $2, room_id => $3, target_queue_id => $4)",
            &[&clinic, &serving, &r2, &lab],
        )
        .await;
    let serving = if transfer.is_ok() { next_in_room_1().await } else { serving };
    let skip = db
        .query_one("SELECT * FROM qlink.queue_action($1, 'SKIP', $2, room_id => $3)", &[&clinic, &serving, &r2])
        .await;
    // What an accepted SKIP leads to: Room 1 calls the next patient, Chair 2 undoes its SKIP.
    let mut follow_up = String::new();
    if skip.is_ok() {
        next_in_room_1().await;
        if let Err(e) =
            db.query_one("SELECT * FROM qlink.queue_action($1, 'UNDO', room_id => $2)", &[&clinic, &r2]).await
        {
            follow_up = format!("; then Chair 2's UNDO failed with {:?}: {e}", sqlstate(&e));
        }
    }
    let transfer_code = transfer.as_ref().err().and_then(sqlstate);
    let skip_code = skip.as_ref().err().and_then(sqlstate);
    assert_eq!(
        (transfer_code.as_deref(), skip_code.as_deref()),
        (Some("55000"), Some("55000")),
        "Chair 2 moved (TRANSFER) or skipped (SKIP) Room 1's patient (None: accepted){follow_up}"
    );
    assert_eq!(state().await, before, "a refusal changed something");
}
