//! Reports, usage and billing (SPEC §10, sql/API.md "Reports, usage and billing" and "Plans
//! and monthly statements") proven against the raw rows.
//!
//! A two-queue, two-room clinic lives five days across a month boundary (29 January – 2
//! February 2027, Asia/Kolkata) with `qlink.clock_override`, every kind of action, varied
//! waits and service times, outbox messages driven to their final statuses through the
//! worker's own functions, and patients left waiting at the end of each day. Every figure of
//! `qlink.clinic_report` (each queue and all queues) and of `qlink.hourly_arrivals`, for
//! every day, must equal the figure this file computes itself from `SELECT`s of the raw
//! `qlink.tokens` / `qlink.message_logs` rows (percentiles in Rust by the `percentile_disc`
//! rule; the ETA a patient was shown is what `create_token` answered them). Then: today's
//! live figures equal the rollup written once the day is over; the daily housekeeping's
//! rewrite of the last two ended days picks up messages that settled later; a purge changes
//! no report and no rollup; from no rollup and no mark, `write_rollups()` (the upgrade's
//! backfill) writes the same rows;
//! `platform_report` / `platform_trend` are the sums of the clinics' reports; and the
//! refusals. A second test bills clinics through a mid-month plan change and later price
//! changes, and checks `platform_usage` against each clinic's statement.
//!
//! Message statuses are set with `qlink.claim_messages` + `qlink.finish_message` (and
//! `apply_delivery_status`, `release_message`), never by UPDATE: the reports must count
//! the statuses the product itself writes (PERMANENTLY_FAILED from a permanent failure,
//! FAILED from a retry, DELIVERED / READ from the webhook, PENDING after a release).

use qlink_tests::{connect, create_clinic, fresh_database, sqlstate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use uuid::Uuid;

/// Asia/Kolkata is UTC+05:30 all year (no daylight saving).
const IST: i64 = 19_800;
const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------
// Calendar arithmetic, in Rust (so the clinic-local dates are not the database's own).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A UTC instant (seconds) as a timestamptz literal.
fn ts_text(t: i64) -> String {
    let s = t.rem_euclid(DAY);
    format!("{} {:02}:{:02}:{:02}+00", date_text(t.div_euclid(DAY)), s / 3600, s / 60 % 60, s % 60)
}

/// The clinic-local date (days since 1970-01-01) of a UTC instant in microseconds.
fn local_day(micros: i64) -> i64 {
    (micros.div_euclid(1_000_000) + IST).div_euclid(DAY)
}

fn local_hour(micros: i64) -> i32 {
    ((micros.div_euclid(1_000_000) + IST).rem_euclid(DAY) / 3600) as i32
}

/// ISO weekday, 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i32 {
    ((days + 3).rem_euclid(7) + 1) as i32
}

/// 09:00 clinic-local of a clinic-local date, as UTC seconds.
fn opening(days: i64) -> i64 {
    days * DAY + 9 * 3600 - IST
}

// ---------------------------------------------------------------------------------------
// Errors.

fn reason(e: &tokio_postgres::Error) -> Option<String> {
    e.as_db_error().and_then(|d| d.detail()).and_then(|d| d.trim().strip_prefix("qlink:")).map(|r| r.to_string())
}

/// Runs a statement that must be refused; returns (SQLSTATE, reason).
async fn refusal(db: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> (String, String) {
    match db.query(sql, params).await {
        Ok(rows) => panic!("{sql}: expected a refusal, got {} rows", rows.len()),
        Err(e) => {
            (sqlstate(&e).unwrap_or_else(|| panic!("{sql}: not a database error: {e}")), reason(&e).unwrap_or_default())
        }
    }
}

async fn assert_refused(db: &Client, sql: &str, params: &[&(dyn ToSql + Sync)], state: &str, why: Option<&str>) {
    let (got_state, got_reason) = refusal(db, sql, params).await;
    assert_eq!(got_state, state, "{sql}: SQLSTATE (reason {got_reason:?})");
    if let Some(why) = why {
        assert_eq!(got_reason, why, "{sql}: reason");
    }
}

async fn set_clock(db: &Client, t: i64) {
    db.batch_execute(&format!("SET qlink.clock_override = '{}'", ts_text(t))).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// The raw rows, and the figures computed from them here.

#[derive(Clone, Debug)]
struct RawToken {
    id: Uuid,
    queue: Uuid,
    source: String,
    status: String,
    created: i64,
    called: Option<i64>,
    served: Option<i64>,
    day_column: String,
    eta_first: (Option<i32>, Option<i32>),
}

#[derive(Clone, Debug)]
struct RawMessage {
    token: Option<Uuid>,
    status: String,
}

async fn raw_tokens(db: &Client, clinic: Uuid) -> Vec<RawToken> {
    let us = |col: &str| format!("(extract(epoch FROM {col}) * 1000000)::int8");
    db.query(
        &format!(
            "SELECT id, queue_id, source, status, {}, {}, {}, day::text, eta_first_min_minutes, eta_first_max_minutes \
             FROM qlink.tokens WHERE business_id = $1",
            us("created_at"),
            us("called_at"),
            us("served_at")
        ),
        &[&clinic],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| RawToken {
        id: r.get(0),
        queue: r.get(1),
        source: r.get(2),
        status: r.get(3),
        created: r.get(4),
        called: r.get(5),
        served: r.get(6),
        day_column: r.get(7),
        eta_first: (r.get(8), r.get(9)),
    })
    .collect()
}

async fn raw_messages(db: &Client, clinic: Uuid) -> Vec<RawMessage> {
    db.query("SELECT token_id, status FROM qlink.message_logs WHERE business_id = $1", &[&clinic])
        .await
        .unwrap()
        .iter()
        .map(|r| RawMessage { token: r.get(0), status: r.get(1) })
        .collect()
}

/// `percentile_disc(p)`: the smallest value whose cumulative share is ≥ p (p in percent).
fn percentile_disc(values: &[i64], pct: i64) -> Option<i32> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len() as i64;
    // smallest k (1-based) with k / n ≥ pct / 100
    let k = ((pct * n + 99) / 100).max(1);
    Some(v[(k - 1) as usize] as i32)
}

/// Whole seconds between two instants in microseconds (the replay's clock only ever sets
/// whole seconds; `whole_seconds` checks that the stored times are those).
fn secs(from: i64, to: i64) -> i64 {
    (to - from).div_euclid(1_000_000)
}

#[derive(Clone, Debug, Default)]
struct Figures {
    day: String,
    tokens: i32,
    tokens_qr: i32,
    tokens_staff: i32,
    tokens_api: i32,
    served: i32,
    skipped: i32,
    cancelled: i32,
    unserved: i32,
    called: i32,
    wait_p50: Option<i32>,
    wait_p90: Option<i32>,
    service_p50: Option<i32>,
    service_p90: Option<i32>,
    eta_hit_rate: Option<f64>,
    messages_sent: i32,
    messages_failed: i32,
    max_waiting: i32,
}

impl Figures {
    fn diff(&self, got: &Figures) -> Vec<String> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => {$(
                if self.$f != got.$f {
                    out.push(format!("{} expected {:?} got {:?}", stringify!($f), self.$f, got.$f));
                }
            )*};
        }
        cmp!(
            day,
            tokens,
            tokens_qr,
            tokens_staff,
            tokens_api,
            served,
            skipped,
            cancelled,
            unserved,
            called,
            wait_p50,
            wait_p90,
            service_p50,
            service_p90,
            messages_sent,
            messages_failed,
            max_waiting
        );
        let rate_ok = match (self.eta_hit_rate, got.eta_hit_rate) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        };
        if !rate_ok {
            out.push(format!("eta_hit_rate expected {:?} got {:?}", self.eta_hit_rate, got.eta_hit_rate));
        }
        out
    }
}

/// What the test itself knows: the ETA each patient was shown on joining (create_token's
/// answer), and each line's longest WAITING count seen after every statement of the day.
#[derive(Default)]
struct Observed {
    eta: HashMap<Uuid, (i32, i32)>,
    max_waiting: HashMap<(i64, Uuid), i32>,
}

/// Every token and message of the clinic, computed into one day's figures.
fn expected(
    tokens: &[RawToken],
    messages: &[RawMessage],
    seen: &Observed,
    day: i64,
    queue: Option<Uuid>,
    queues: &[Uuid],
) -> Figures {
    let mine: Vec<&RawToken> =
        tokens.iter().filter(|t| local_day(t.created) == day && queue.is_none_or(|q| t.queue == q)).collect();
    let count = |f: &dyn Fn(&RawToken) -> bool| mine.iter().filter(|t| f(t)).count() as i32;
    let waits: Vec<i64> = mine.iter().filter_map(|t| t.called.map(|c| secs(t.created, c))).collect();
    let services: Vec<i64> = mine
        .iter()
        .filter(|t| t.status == "SERVED")
        .map(|t| secs(t.called.expect("a SERVED token was called"), t.served.expect("a SERVED token has served_at")))
        .collect();
    let (mut shown, mut hits) = (0, 0);
    for t in mine.iter().filter(|t| t.called.is_some()) {
        if let Some(&(lo, hi)) = seen.eta.get(&t.id) {
            shown += 1;
            let minutes = secs(t.created, t.called.unwrap()).div_euclid(60);
            if i64::from(lo) <= minutes && minutes <= i64::from(hi) {
                hits += 1;
            }
        }
    }
    let ids: HashSet<Uuid> = mine.iter().map(|t| t.id).collect();
    let of_day: Vec<&RawMessage> = messages.iter().filter(|m| m.token.is_some_and(|t| ids.contains(&t))).collect();
    let max_waiting = match queue {
        Some(q) => seen.max_waiting.get(&(day, q)).copied().unwrap_or(0),
        None => queues.iter().map(|q| seen.max_waiting.get(&(day, *q)).copied().unwrap_or(0)).max().unwrap_or(0),
    };
    Figures {
        day: date_text(day),
        tokens: mine.len() as i32,
        tokens_qr: count(&|t| t.source == "QR"),
        tokens_staff: count(&|t| t.source == "STAFF"),
        tokens_api: count(&|t| t.source == "API"),
        served: count(&|t| t.status == "SERVED"),
        skipped: count(&|t| t.status == "SKIPPED"),
        cancelled: count(&|t| t.status == "CANCELLED"),
        unserved: count(&|t| t.status == "WAITING" || t.status == "SERVING"),
        called: waits.len() as i32,
        wait_p50: percentile_disc(&waits, 50),
        wait_p90: percentile_disc(&waits, 90),
        service_p50: percentile_disc(&services, 50),
        service_p90: percentile_disc(&services, 90),
        eta_hit_rate: (shown > 0).then(|| f64::from(hits) / f64::from(shown)),
        messages_sent: of_day.iter().filter(|m| matches!(m.status.as_str(), "SENT" | "DELIVERED" | "READ")).count()
            as i32,
        messages_failed: of_day.iter().filter(|m| matches!(m.status.as_str(), "FAILED" | "PERMANENTLY_FAILED")).count()
            as i32,
        max_waiting,
    }
}

fn expected_arrivals(tokens: &[RawToken], from: i64, to: i64, queue: Option<Uuid>) -> BTreeMap<(i32, i32), i64> {
    let mut out = BTreeMap::new();
    for wd in 1..=7 {
        for h in 0..24 {
            out.insert((wd, h), 0);
        }
    }
    for t in tokens {
        let d = local_day(t.created);
        if d >= from && d <= to && queue.is_none_or(|q| t.queue == q) {
            *out.get_mut(&(weekday(d), local_hour(t.created))).unwrap() += 1;
        }
    }
    out
}

const REPORT_SQL: &str = "SELECT day::text, tokens, tokens_qr, tokens_staff, tokens_api, served, skipped, cancelled, \
     unserved, called, wait_p50_seconds, wait_p90_seconds, service_p50_seconds, service_p90_seconds, eta_hit_rate, \
     messages_sent, messages_failed, max_waiting, live \
     FROM qlink.clinic_report($1, $2::text::date, $3::text::date, $4::uuid)";

async fn report(db: &Client, clinic: Uuid, from: i64, to: i64, queue: Option<Uuid>) -> Vec<(Figures, bool)> {
    db.query(REPORT_SQL, &[&clinic, &date_text(from), &date_text(to), &queue])
        .await
        .unwrap_or_else(|e| panic!("clinic_report({}, {}, {queue:?}): {e}", date_text(from), date_text(to)))
        .iter()
        .map(|r| {
            (
                Figures {
                    day: r.get(0),
                    tokens: r.get(1),
                    tokens_qr: r.get(2),
                    tokens_staff: r.get(3),
                    tokens_api: r.get(4),
                    served: r.get(5),
                    skipped: r.get(6),
                    cancelled: r.get(7),
                    unserved: r.get(8),
                    called: r.get(9),
                    wait_p50: r.get(10),
                    wait_p90: r.get(11),
                    service_p50: r.get(12),
                    service_p90: r.get(13),
                    eta_hit_rate: r.get(14),
                    messages_sent: r.get(15),
                    messages_failed: r.get(16),
                    max_waiting: r.get(17),
                },
                r.get(18),
            )
        })
        .collect()
}

async fn arrivals(db: &Client, clinic: Uuid, from: i64, to: i64, queue: Option<Uuid>) -> BTreeMap<(i32, i32), i64> {
    let rows = db
        .query(
            "SELECT weekday, hour, tokens FROM qlink.hourly_arrivals($1, $2::text::date, $3::text::date, $4::uuid)",
            &[&clinic, &date_text(from), &date_text(to), &queue],
        )
        .await
        .unwrap_or_else(|e| panic!("hourly_arrivals({}, {}, {queue:?}): {e}", date_text(from), date_text(to)));
    assert_eq!(rows.len(), 168, "hourly_arrivals gives 168 rows");
    rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect()
}

/// Compares every figure of every day `from..=to`, for each queue and all queues, and the
/// hourly arrivals of each day and of the whole range. Returns the mismatches.
async fn check_reports(
    db: &Client,
    clinic: Uuid,
    queues: &[Uuid],
    seen: &Observed,
    from: i64,
    to: i64,
    label: &str,
) -> Vec<String> {
    let tokens = raw_tokens(db, clinic).await;
    let messages = raw_messages(db, clinic).await;
    let mut bad = Vec::new();
    for t in &tokens {
        if t.day_column != date_text(local_day(t.created)) {
            bad.push(format!(
                "{label}: token {} has day {} but was created on {}",
                t.id,
                t.day_column,
                date_text(local_day(t.created))
            ));
        }
        // The stored first ETA is the one create_token answered the patient.
        let shown = seen.eta.get(&t.id).map(|&(lo, hi)| (Some(lo), Some(hi))).unwrap_or((None, None));
        if t.eta_first != shown {
            bad.push(format!(
                "{label}: token {} stored first ETA {:?}, create_token answered {shown:?}",
                t.id, t.eta_first
            ));
        }
        for (what, v) in [("created_at", Some(t.created)), ("called_at", t.called), ("served_at", t.served)] {
            if v.is_some_and(|v| v % 1_000_000 != 0) {
                bad.push(format!("{label}: token {} {what} is not the clock's whole second", t.id));
            }
        }
    }
    let mut filters: Vec<Option<Uuid>> = queues.iter().copied().map(Some).collect();
    filters.push(None);
    for q in filters {
        let name = q.map(|q| format!("queue {q}")).unwrap_or_else(|| "all queues".into());
        let rows = report(db, clinic, from, to, q).await;
        let days: Vec<String> = rows.iter().map(|r| r.0.day.clone()).collect();
        let want_days: Vec<String> = (from..=to).map(date_text).collect();
        if days != want_days {
            bad.push(format!("{label} {name}: clinic_report days {days:?}, expected {want_days:?}"));
            continue;
        }
        for (d, (got, _)) in (from..=to).zip(&rows) {
            let want = expected(&tokens, &messages, seen, d, q, queues);
            for m in want.diff(got) {
                bad.push(format!("{label} {name} {}: {m}", date_text(d)));
            }
        }
        for d in from..=to {
            let got = arrivals(db, clinic, d, d, q).await;
            let want = expected_arrivals(&tokens, d, d, q);
            if got != want {
                let diffs: Vec<String> = want
                    .iter()
                    .filter(|(k, v)| got.get(k) != Some(v))
                    .map(|(k, v)| format!("weekday {} hour {}: expected {v} got {:?}", k.0, k.1, got.get(k)))
                    .collect();
                bad.push(format!("{label} {name} hourly_arrivals {}: {diffs:?}", date_text(d)));
            }
        }
        if arrivals(db, clinic, from, to, q).await != expected_arrivals(&tokens, from, to, q) {
            bad.push(format!("{label} {name}: hourly_arrivals over the whole range differ"));
        }
    }
    bad
}

/// Every row of `qlink.daily_rollups` as JSON, without the columns a rewrite may change by
/// itself: the write time (timestamptz `…_at` columns) and a generated surrogate key.
async fn rollup_rows(db: &Client) -> (Vec<String>, Vec<String>) {
    let excluded: Vec<String> = db
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = 'qlink' AND table_name = 'daily_rollups' \
               AND ((data_type = 'timestamp with time zone' AND column_name LIKE '%\\_at') \
                    OR is_identity = 'YES' OR column_default LIKE 'nextval%' \
                    OR (column_name = 'id' AND column_default IS NOT NULL))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rows = db
        .query("SELECT (to_jsonb(r) - $1::text[])::text FROM qlink.daily_rollups r ORDER BY 1", &[&excluded])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (rows, excluded)
}

// ---------------------------------------------------------------------------------------
// The replay.

#[derive(Clone, Debug)]
struct Tk {
    id: Uuid,
    status: String,
    queue: Uuid,
    room: Option<Uuid>,
}

struct Clinic {
    id: Uuid,
    queues: [Uuid; 2],
    rooms: [Uuid; 2],
}

struct Replay {
    db: Client,
    rng: StdRng,
    now: i64,
    today: i64,
    phone: u64,
    a: Clinic,
    b: Uuid,
    today_tokens: Vec<Uuid>,
    closed: HashSet<Uuid>,
    seen: Observed,
    seen_b: Observed,
    done: BTreeMap<&'static str, u32>,
}

impl Replay {
    async fn tick(&mut self, lo: i64, hi: i64) {
        self.now += self.rng.gen_range(lo..=hi);
        set_clock(&self.db, self.now).await;
    }

    fn count(&mut self, kind: &'static str) {
        *self.done.entry(kind).or_default() += 1;
    }

    /// The longest each line of clinic A has been today, from the raw rows after every statement.
    async fn sample(&mut self) {
        let rows = self
            .db
            .query(
                "SELECT queue_id, count(*)::int FROM qlink.tokens WHERE id = ANY($1) AND status = 'WAITING' GROUP BY 1",
                &[&self.today_tokens],
            )
            .await
            .unwrap();
        for r in rows {
            let (q, n): (Uuid, i32) = (r.get(0), r.get(1));
            let m = self.seen.max_waiting.entry((self.today, q)).or_insert(0);
            *m = (*m).max(n);
        }
    }

    async fn state(&self) -> Vec<Tk> {
        self.db
            .query("SELECT id, status, queue_id, room_id FROM qlink.tokens WHERE id = ANY($1) ORDER BY created_at, token_label", &[&self.today_tokens])
            .await
            .unwrap()
            .iter()
            .map(|r| Tk { id: r.get(0), status: r.get(1), queue: r.get(2), room: r.get(3) })
            .collect()
    }

    fn pick(&mut self, st: &[Tk], f: impl Fn(&Tk) -> bool) -> Option<Tk> {
        let c: Vec<&Tk> = st.iter().filter(|t| f(t)).collect();
        (!c.is_empty()).then(|| c[self.rng.gen_range(0..c.len())].clone())
    }

    /// A patient joins one of clinic A's lines; records the ETA they were shown.
    async fn create(&mut self, source: &'static str, queue: Uuid, priority: bool) {
        let source = if source == "QR" && self.closed.contains(&queue) { "API" } else { source };
        self.phone += 1;
        let phone =
            if source == "STAFF" && self.rng.gen_bool(0.5) { None } else { Some(format!("9{:09}", self.phone)) };
        let row = self
            .db
            .query_one(
                "SELECT token_id, eta_min_minutes, eta_max_minutes FROM qlink.create_token($1, $2, $3, $4, \
                 is_priority => $5, queue_id => $6)",
                &[&self.a.id, &format!("Patient {}", self.phone), &phone, &source, &priority, &queue],
            )
            .await
            .unwrap_or_else(|e| panic!("create_token {source} {priority}: {e}"));
        let id: Uuid = row.get(0);
        if let (Some(lo), Some(hi)) = (row.get::<_, Option<i32>>(1), row.get::<_, Option<i32>>(2)) {
            self.seen.eta.insert(id, (lo, hi));
        }
        self.today_tokens.push(id);
        self.count(match (source, priority) {
            (_, true) => "emergency",
            ("QR", _) => "create QR",
            ("API", _) => "create API",
            _ => "create STAFF",
        });
    }

    async fn action(
        &mut self,
        action: &'static str,
        token: Option<Uuid>,
        room: Option<Uuid>,
        target: Option<Uuid>,
    ) -> Result<(), tokio_postgres::Error> {
        self.db
            .query_one(
                "SELECT * FROM qlink.queue_action($1, $2, $3, room_id => $4, target_queue_id => $5)",
                &[&self.a.id, &action, &token, &room, &target],
            )
            .await
            .map(|_| ())
    }

    async fn must(&mut self, action: &'static str, token: Option<Uuid>, room: Option<Uuid>, target: Option<Uuid>) {
        if let Err(e) = self.action(action, token, room, target).await {
            panic!("{action} {token:?} room {room:?} on {}: {e} ({:?})", ts_text(self.now), reason(&e));
        }
        self.count(action);
    }

    async fn step(&mut self) {
        let st = self.state().await;
        let [qa, qb] = self.a.queues;
        let queue = if self.rng.gen_bool(0.6) { qa } else { qb };
        let room = self.a.rooms[self.rng.gen_range(0..2)];
        let w = self.rng.gen_range(0..100);
        match w {
            0..=17 => self.create("QR", queue, false).await,
            18..=22 => self.create("API", queue, false).await,
            23..=27 => self.create("STAFF", queue, false).await,
            28..=30 => self.create("STAFF", queue, true).await,
            31..=52 | 92..=99 => self.must("NEXT", None, Some(room), None).await,
            53..=58 => match self.pick(&st, |t| t.status == "SERVING") {
                Some(t) => self.must("SERVED", None, t.room, None).await,
                None => self.must("NEXT", None, Some(room), None).await,
            },
            59..=63 => match self.pick(&st, |t| t.status == "WAITING" || t.status == "SERVING") {
                // A SERVING token is skipped in its own room; a WAITING one clinic-wide.
                Some(t) => self.must("SKIP", Some(t.id), t.room.filter(|_| t.status == "SERVING"), None).await,
                None => self.create("QR", queue, false).await,
            },
            64..=67 => match self.pick(&st, |t| t.status == "SKIPPED") {
                Some(t) => self.must("RECALL", Some(t.id), None, None).await,
                None => self.create("QR", queue, false).await,
            },
            68..=70 => match self.pick(&st, |t| t.status == "WAITING") {
                Some(t) => self.must("CANCEL", Some(t.id), None, None).await,
                None => self.create("API", queue, false).await,
            },
            71..=73 => match self.pick(&st, |t| t.status == "WAITING") {
                Some(t) => {
                    self.db.query_one("SELECT * FROM qlink.cancel_token($1)", &[&t.id]).await.unwrap();
                    self.count("patient cancel");
                }
                None => self.create("QR", queue, false).await,
            },
            74..=79 => match self.pick(&st, |t| t.status == "WAITING" || t.status == "SERVING") {
                Some(t) => {
                    let target = if t.queue == qa { qb } else { qa };
                    self.must("TRANSFER", Some(t.id), None, Some(target)).await;
                }
                None => self.create("STAFF", queue, false).await,
            },
            _ => match self.action("UNDO", None, Some(room), None).await {
                Ok(()) => self.count("UNDO"),
                Err(e) if sqlstate(&e).as_deref() == Some("55000") => self.count("UNDO refused"),
                Err(e) => panic!("UNDO: {e}"),
            },
        }
        self.sample().await;
    }

    /// The worker's pass over the outbox: every due message gets an outcome. On the last day
    /// some stay unsettled (released back to PENDING, or FAILED to be retried).
    async fn settle(&mut self, unsettled: bool) {
        let ids: Vec<i64> = self
            .db
            .query("SELECT id FROM qlink.claim_messages(1000, '10 minutes') ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        for id in ids {
            let roll = self.rng.gen_range(0..100);
            if unsettled && roll < 15 {
                assert!(self.db.query_one("SELECT qlink.release_message($1)", &[&id]).await.unwrap().get::<_, bool>(0));
                self.count("message released");
            } else if unsettled && roll < 30 {
                self.db.query_one("SELECT * FROM qlink.finish_message($1, 'RETRY', 'fake')", &[&id]).await.unwrap();
                self.count("message retry");
            } else if roll < 45 {
                self.db.query_one("SELECT * FROM qlink.finish_message($1, 'FAILED', 'fake')", &[&id]).await.unwrap();
                self.count("message failed");
            } else {
                let wamid = format!("wamid.{id}");
                self.db
                    .query_one("SELECT * FROM qlink.finish_message($1, 'SENT', 'fake', $2)", &[&id, &wamid])
                    .await
                    .unwrap();
                self.count("message sent");
                if roll >= 80 {
                    let status = if roll >= 90 { "read" } else { "delivered" };
                    self.db.query_one("SELECT qlink.apply_delivery_status($1, $2)", &[&wamid, &status]).await.unwrap();
                    self.count("message delivered/read");
                }
            }
        }
    }

    /// A few patients of the one-queue clinic B.
    async fn clinic_b(&mut self, n: usize) {
        let mut ids = Vec::new();
        for _ in 0..n {
            self.phone += 1;
            let r = self
                .db
                .query_one(
                    "SELECT token_id, eta_min_minutes, eta_max_minutes FROM qlink.create_token($1, 'B patient', $2)",
                    &[&self.b, &format!("8{:09}", self.phone)],
                )
                .await
                .unwrap();
            ids.push(r.get::<_, Uuid>(0));
            if let (Some(lo), Some(hi)) = (r.get::<_, Option<i32>>(1), r.get::<_, Option<i32>>(2)) {
                self.seen_b.eta.insert(r.get(0), (lo, hi));
            }
            self.tick(30, 200).await;
        }
        let q: Uuid = self.db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&self.b]).await.unwrap().get(0);
        // The line is longest once they have all joined (nobody was called yet).
        let peak: i64 = self
            .db
            .query_one("SELECT count(*) FROM qlink.tokens WHERE id = ANY($1) AND status = 'WAITING'", &[&ids])
            .await
            .unwrap()
            .get(0);
        let m = self.seen_b.max_waiting.entry((self.today, q)).or_insert(0);
        *m = (*m).max(peak as i32);
        for action in ["NEXT", "SERVED", "NEXT"] {
            self.db.query_one("SELECT * FROM qlink.queue_action($1, $2)", &[&self.b, &action]).await.unwrap();
            self.tick(60, 400).await;
        }
    }

    /// One clinic day of clinic A, from 09:00 with a lunch break, ending with patients left
    /// waiting. `close` closes the day's intake (one queue or all) late in the day.
    async fn run_day(&mut self, day: i64, steps: usize, close: Option<Option<Uuid>>, b_patients: usize) {
        self.today = day;
        self.today_tokens.clear();
        self.closed.clear();
        self.now = opening(day) + self.rng.gen_range(0..600);
        set_clock(&self.db, self.now).await;
        let [qa, qb] = self.a.queues;
        for (src, q) in [("QR", qa), ("QR", qb), ("API", qa), ("STAFF", qb)] {
            self.create(src, q, false).await;
            self.sample().await;
            self.tick(20, 180).await;
        }
        for n in 0..steps {
            if n == steps / 2 {
                // Lunch: two hours without a patient joining.
                self.now += 7200;
                if b_patients > 0 {
                    self.clinic_b(b_patients).await;
                }
            }
            if n == steps * 3 / 4 {
                if let Some(which) = close {
                    let rows = self
                        .db
                        .query("SELECT * FROM qlink.close_session($1, queue_id => $2)", &[&self.a.id, &which])
                        .await
                        .unwrap();
                    assert!(!rows.is_empty());
                    match which {
                        Some(q) => {
                            self.closed.insert(q);
                        }
                        None => self.closed.extend([qa, qb]),
                    }
                    self.count("close_session");
                    // QR intake is closed now; the desk can still add patients.
                    let closed_q = *self.closed.iter().next().unwrap();
                    assert_refused(
                        &self.db,
                        "SELECT * FROM qlink.create_token($1, 'Late', '9111111111', queue_id => $2)",
                        &[&self.a.id, &closed_q],
                        "42501",
                        Some("session_closed"),
                    )
                    .await;
                }
            }
            self.tick(30, 420).await;
            self.step().await;
        }
        // The last patients of the day are left waiting when the clinic stops.
        for q in [qa, qb, qa] {
            self.tick(20, 120).await;
            self.create("QR", q, false).await;
            self.sample().await;
        }
        self.tick(60, 300).await;
    }
}

async fn setup_clinic_a(db: &Client) -> Clinic {
    let id = create_clinic(db, "reports-a", serde_json::json!({"ip_tokens_per_10min": 10000})).await;
    let qa: Uuid = db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&id]).await.unwrap().get(0);
    let r1: Uuid = db.query_one("SELECT room_id FROM qlink.list_rooms($1)", &[&id]).await.unwrap().get(0);
    db.query_one("SELECT qlink.update_queue($1, $2, name => 'Dr. Asha', prefix => 'A')", &[&id, &qa]).await.unwrap();
    let qb: Uuid = db.query_one("SELECT qlink.create_queue($1, 'Lab', 'L')", &[&id]).await.unwrap().get(0);
    let r2: Uuid =
        db.query_one("SELECT qlink.create_room($1, 'Lab room', $2)", &[&id, &vec![qb]]).await.unwrap().get(0);
    Clinic { id, queues: [qa, qb], rooms: [r1, r2] }
}

/// The rows that differ between two rollup snapshots, by (clinic, queue, day), field by field.
fn rollup_diff(want: &[String], got: &[String], label: &str) -> Vec<String> {
    let keyed = |rows: &[String]| -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
        rows.iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).unwrap();
                let key = format!("{} {} {}", v["business_id"], v["queue_id"], v["day"]);
                (key, v.as_object().unwrap().clone())
            })
            .collect()
    };
    let (want, got) = (keyed(want), keyed(got));
    let mut out = Vec::new();
    for (k, w) in &want {
        match got.get(k) {
            None => out.push(format!("{label}: rollup {k} missing")),
            Some(g) => {
                for (field, wv) in w {
                    if g.get(field) != Some(wv) {
                        out.push(format!("{label}: rollup {k} {field} was {wv} now {:?}", g.get(field)));
                    }
                }
            }
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!("{label}: rollup {k} appeared"));
    }
    out
}

/// Every report of the clinics (all queues, and the given clinic queues), as text.
async fn snapshot(db: &Client, clinics: &[Uuid], queues: &[(Uuid, Uuid)], from: i64, to: i64) -> Vec<String> {
    let mut views: Vec<(Uuid, Option<Uuid>)> = clinics.iter().map(|c| (*c, None)).collect();
    views.extend(queues.iter().map(|(c, q)| (*c, Some(*q))));
    let mut all = Vec::new();
    for (clinic, q) in views {
        all.push(format!("{:?}", report(db, clinic, from, to, q).await));
        all.push(format!("{:?}", arrivals(db, clinic, from, to, q).await));
    }
    all
}

fn fail_if(bad: &[String], what: &str) {
    assert!(bad.is_empty(), "{what}: {} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[tokio::test]
async fn reports_equal_the_figures_of_the_raw_rows() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let d1 = days_from_civil(2027, 1, 29);
    let days = [d1, d1 + 1, d1 + 2, d1 + 3, d1 + 4];
    set_clock(&db, opening(d1) - 3600).await;
    let a = setup_clinic_a(&db).await;
    let b = create_clinic(&db, "reports-b", serde_json::json!({})).await;
    let c = create_clinic(&db, "reports-c-idle", serde_json::json!({})).await;
    let qb_b: Uuid = db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&b]).await.unwrap().get(0);
    let queues = a.queues;
    let mut r = Replay {
        db,
        rng: StdRng::seed_from_u64(20270129),
        now: 0,
        today: d1,
        phone: 0,
        a,
        b,
        today_tokens: Vec::new(),
        closed: HashSet::new(),
        seen: Observed::default(),
        seen_b: Observed::default(),
        done: BTreeMap::new(),
    };
    let a_id = r.a.id;

    // Five days: intake closed at the end of the first, one line closed mid-afternoon on
    // the second, the whole clinic closed on the third, the last two left open.
    let plan: [(usize, Option<Option<Uuid>>, usize); 5] =
        [(40, Some(None), 3), (46, Some(Some(queues[1])), 0), (44, Some(None), 4), (42, None, 2), (48, None, 3)];
    let mut live_today = Vec::new();
    // Every disagreement with the raw rows, collected so that one run names them all.
    let mut problems: Vec<String> = Vec::new();
    for (i, &(steps, close, b_patients)) in plan.iter().enumerate() {
        let day = days[i];
        r.run_day(day, steps, close, b_patients).await;
        let last = i == days.len() - 1;
        r.settle(last).await;
        // Today is computed live, and every day so far equals the raw rows.
        let bad = check_reports(&r.db, a_id, &queues, &r.seen, d1, day, &format!("end of {}", date_text(day))).await;
        problems.extend(bad);
        let bad =
            check_reports(&r.db, b, &[qb_b], &r.seen_b, d1, day, &format!("clinic B, end of {}", date_text(day))).await;
        problems.extend(bad);
        for q in [Some(queues[0]), Some(queues[1]), None] {
            let rows = report(&r.db, a_id, day, day, q).await;
            assert!(rows[0].1, "{} (queue {q:?}) is today: computed live", date_text(day));
            if last {
                live_today.push(rows[0].0.clone());
            }
        }
    }
    println!("replayed: {:?}", r.done);
    for kind in [
        "create QR",
        "create API",
        "create STAFF",
        "emergency",
        "NEXT",
        "SERVED",
        "SKIP",
        "RECALL",
        "CANCEL",
        "patient cancel",
        "TRANSFER",
        "UNDO",
        "close_session",
        "message sent",
        "message failed",
        "message retry",
        "message released",
        "message delivered/read",
    ] {
        assert!(r.done.get(kind).copied().unwrap_or(0) > 0, "the replay never did {kind}: {:?}", r.done);
    }
    let db = &r.db;
    let last = days[4];

    // The next morning's housekeeping writes the last day's rollup: the figures shown live
    // yesterday, now read from the rollup.
    set_clock(db, opening(last + 1)).await;
    let written: i64 = db.query_one("SELECT qlink.write_rollups()::bigint", &[]).await.unwrap().get(0);
    assert!(written > 0, "write_rollups wrote the ended day");
    for (k, q) in [Some(queues[0]), Some(queues[1]), None].into_iter().enumerate() {
        let rows = report(db, a_id, last, last, q).await;
        assert!(!rows[0].1, "{} (queue {q:?}) is read from its rollup once over", date_text(last));
        let diff = live_today[k].diff(&rows[0].0);
        assert!(
            diff.is_empty(),
            "the rollup of {} (queue {q:?}) differs from its live figures: {diff:?}",
            date_text(last)
        );
    }
    for q in [Some(queues[0]), Some(queues[1]), None] {
        for (fig, live) in report(db, a_id, d1, last, q).await {
            assert!(!live, "{} (queue {q:?}) has a rollup after the housekeeping", fig.day);
        }
    }
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM qlink.daily_rollups WHERE business_id = $1 AND day = $2::text::date",
            &[&a_id, &date_text(last)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "one rollup per queue and one for the clinic");

    // The messages left unsettled go out the next day (a release, retries after their backoff).
    set_clock(&r.db, opening(last + 1) + 600).await;
    r.settle(false).await;
    let db = &r.db;
    let pending: i64 = db
        .query_one(
            "SELECT count(*) FROM qlink.message_logs WHERE business_id = $1 AND status IN ('PENDING', 'FAILED')",
            &[&a_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0, "every message settled");
    // The housekeeping misses a day and runs two days later: a day whose rollup was written
    // less than a day after it ended is written again (sql/API.md), so the last day gets
    // the statuses its messages settled to.
    let end = last + 3;
    set_clock(db, opening(end)).await;
    db.query_one("SELECT qlink.write_rollups()::bigint", &[]).await.unwrap();
    problems.extend(check_reports(db, a_id, &queues, &r.seen, d1, end, "A after the settled rewrite").await);
    problems.extend(check_reports(db, b, &[qb_b], &r.seen_b, d1, end, "B after the settled rewrite").await);

    // The upgrade's backfill: from no rollup and no mark (the state V5 starts in),
    // write_rollups() writes the same rows, equal to the raw figures.
    let (before, excluded) = rollup_rows(db).await;
    println!("daily_rollups compared without {excluded:?}; {} rows", before.len());
    // A: five days × (2 queues + the clinic); B: the four days it had patients × (1 + 1).
    assert_eq!(before.len(), 15 + 8, "rollups: one per queue and day, one per clinic and day");
    db.batch_execute("DELETE FROM qlink.daily_rollups; DELETE FROM qlink.rollup_marks").await.unwrap();
    db.query_one("SELECT qlink.write_rollups()::bigint", &[]).await.unwrap();
    let fresh = rollup_rows(db).await.0;
    problems.extend(rollup_diff(&before, &fresh, "rollups and marks deleted (the upgrade), write_rollups()"));
    problems.extend(check_reports(db, a_id, &queues, &r.seen, d1, end, "A after the upgrade's backfill").await);
    problems.extend(check_reports(db, b, &[qb_b], &r.seen_b, d1, end, "B after the upgrade's backfill").await);

    // The purge of personal data changes no rollup and no report.
    let views = [(a_id, queues[0]), (a_id, queues[1])];
    let reports_before = snapshot(db, &[a_id, b, c], &views, d1, end).await;
    let purged: i64 = db.query_one("SELECT qlink.purge_tokens('1 day')", &[]).await.unwrap().get(0);
    assert!(purged > 0, "tokens older than a day were purged");
    let names: i64 = db
        .query_one("SELECT count(*) FROM qlink.tokens WHERE business_id = $1 AND patient_name IS NOT NULL", &[&a_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(names, 0, "every token of the replay was older than a day");
    problems.extend(rollup_diff(&fresh, &rollup_rows(db).await.0, "after the purge"));
    if snapshot(db, &[a_id, b, c], &views, d1, end).await != reports_before {
        problems.push("the reports changed with the purge".into());
    }
    db.batch_execute("DELETE FROM qlink.daily_rollups; DELETE FROM qlink.rollup_marks").await.unwrap();
    db.query_one("SELECT qlink.write_rollups()::bigint", &[]).await.unwrap();
    problems.extend(rollup_diff(&fresh, &rollup_rows(db).await.0, "backfill from purged tokens"));
    if snapshot(db, &[a_id, b, c], &views, d1, end).await != reports_before {
        problems.push("the reports rebuilt from purged tokens differ".into());
    }

    // The operator's view: each clinic's totals are the sums of its clinic_report.
    let rows = db
        .query(
            "SELECT business_id, slug, name, status, plan_code, active_days, tokens, served, skipped, cancelled, \
                 unserved, wait_mean_seconds, service_mean_seconds, eta_hit_rate, messages_sent, messages_failed, \
                 max_waiting FROM qlink.platform_report($1::text::date, $2::text::date)",
            &[&date_text(d1), &date_text(end)],
        )
        .await
        .unwrap();
    let slugs: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(slugs, ["reports-a", "reports-b", "reports-c-idle"], "every clinic, by slug");
    let mut bad = Vec::new();
    for row in &rows {
        let clinic: Uuid = row.get(0);
        let seen = if clinic == a_id { &r.seen } else { &r.seen_b };
        let days_rows = report(db, clinic, d1, end, None).await;
        let sum = |f: &dyn Fn(&Figures) -> i32| days_rows.iter().map(|(d, _)| i64::from(f(d))).sum::<i64>();
        let tokens = raw_tokens(db, clinic).await;
        let in_range: Vec<&RawToken> = tokens.iter().filter(|t| (d1..=end).contains(&local_day(t.created))).collect();
        let waits: Vec<i64> = in_range.iter().filter_map(|t| t.called.map(|c| secs(t.created, c))).collect();
        let services: Vec<i64> = in_range
            .iter()
            .filter(|t| t.status == "SERVED")
            .map(|t| secs(t.called.unwrap(), t.served.unwrap()))
            .collect();
        let (mut shown, mut hits) = (0i64, 0i64);
        for t in in_range.iter().filter(|t| t.called.is_some()) {
            if let Some(&(lo, hi)) = seen.eta.get(&t.id) {
                shown += 1;
                let m = secs(t.created, t.called.unwrap()).div_euclid(60);
                hits += i64::from(i64::from(lo) <= m && m <= i64::from(hi));
            }
        }
        let plan: String =
            db.query_one("SELECT plan_code FROM qlink.businesses WHERE id = $1", &[&clinic]).await.unwrap().get(0);
        let (slug, status): (String, String) = {
            let b = db.query_one("SELECT slug, status FROM qlink.businesses WHERE id = $1", &[&clinic]).await.unwrap();
            (b.get(0), b.get(1))
        };
        let got_i64 = |i: usize| row.get::<_, i64>(i);
        let checks: [(&str, i64, i64); 9] = [
            (
                "active_days",
                days_rows.iter().filter(|(d, _)| d.tokens > 0).count() as i64,
                i64::from(row.get::<_, i32>(5)),
            ),
            ("tokens", sum(&|d| d.tokens), got_i64(6)),
            ("served", sum(&|d| d.served), got_i64(7)),
            ("skipped", sum(&|d| d.skipped), got_i64(8)),
            ("cancelled", sum(&|d| d.cancelled), got_i64(9)),
            ("unserved", sum(&|d| d.unserved), got_i64(10)),
            ("messages_sent", sum(&|d| d.messages_sent), got_i64(14)),
            ("messages_failed", sum(&|d| d.messages_failed), got_i64(15)),
            (
                "max_waiting",
                days_rows.iter().map(|(d, _)| i64::from(d.max_waiting)).max().unwrap_or(0),
                i64::from(row.get::<_, i32>(16)),
            ),
        ];
        for (what, want, got) in checks {
            if want != got {
                bad.push(format!("platform_report {slug} {what}: expected {want} got {got}"));
            }
        }
        if row.get::<_, String>(3) != status || row.get::<_, String>(4) != plan {
            bad.push(format!(
                "platform_report {slug}: status/plan {:?}/{:?}",
                row.get::<_, String>(3),
                row.get::<_, String>(4)
            ));
        }
        // Means are exact from the sums; an int is the mean rounded (or cut) to the second.
        for (what, v, got) in [
            ("wait_mean_seconds", &waits, row.get::<_, Option<i32>>(11)),
            ("service_mean_seconds", &services, row.get::<_, Option<i32>>(12)),
        ] {
            let want = (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
            let ok = match (want, got) {
                (None, None) => true,
                (Some(m), Some(g)) => g == m.round() as i32 || g == m.floor() as i32,
                _ => false,
            };
            if !ok {
                bad.push(format!("platform_report {slug} {what}: exact mean {want:?}, got {got:?}"));
            }
        }
        let want_rate = (shown > 0).then(|| hits as f64 / shown as f64);
        let got_rate: Option<f64> = row.get(13);
        if !matches!((want_rate, got_rate), (None, None))
            && !matches!((want_rate, got_rate), (Some(w), Some(g)) if (w - g).abs() < 1e-9)
        {
            bad.push(format!("platform_report {slug} eta_hit_rate: expected {want_rate:?} got {got_rate:?}"));
        }
        if clinic == c && got_i64(6) != 0 {
            bad.push("the idle clinic has tokens".into());
        }
    }
    // platform_trend: a row per day, all clinics together.
    let trend = db
        .query(
            "SELECT day::text, clinics, tokens, served, messages_sent, messages_failed \
             FROM qlink.platform_trend($1::text::date, $2::text::date)",
            &[&date_text(d1), &date_text(end)],
        )
        .await
        .unwrap();
    assert_eq!(trend.len() as i64, end - d1 + 1, "platform_trend: a row per day");
    let per_clinic = [report(db, a_id, d1, end, None).await, report(db, b, d1, end, None).await];
    for (k, t) in trend.iter().enumerate() {
        let day_rows: Vec<&Figures> = per_clinic.iter().map(|rows| &rows[k].0).collect();
        let want = (
            date_text(d1 + k as i64),
            day_rows.iter().filter(|d| d.tokens > 0).count() as i32,
            day_rows.iter().map(|d| i64::from(d.tokens)).sum::<i64>(),
            day_rows.iter().map(|d| i64::from(d.served)).sum::<i64>(),
            day_rows.iter().map(|d| i64::from(d.messages_sent)).sum::<i64>(),
            day_rows.iter().map(|d| i64::from(d.messages_failed)).sum::<i64>(),
        );
        let got = (
            t.get::<_, String>(0),
            t.get::<_, i32>(1),
            t.get::<_, i64>(2),
            t.get::<_, i64>(3),
            t.get::<_, i64>(4),
            t.get::<_, i64>(5),
        );
        if want != got {
            bad.push(format!("platform_trend: expected {want:?} got {got:?}"));
        }
    }
    problems.extend(bad);
    fail_if(&problems, "reports against the raw rows");
}

#[tokio::test]
async fn report_refusals() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let d = days_from_civil(2027, 1, 29);
    set_clock(&db, opening(d)).await;
    let a = setup_clinic_a(&db).await;
    let other = create_clinic(&db, "reports-other", serde_json::json!({})).await;
    let other_queue: Uuid = db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&other]).await.unwrap().get(0);
    let none: Option<String> = None;
    let (today, later) = (date_text(d), date_text(d + 1));
    let (from_3y, from_3y_over) = (date_text(d - 1095), date_text(d - 1096));
    for (f, args) in [
        ("qlink.clinic_report", "$1, $2::text::date, $3::text::date"),
        ("qlink.hourly_arrivals", "$1, $2::text::date, $3::text::date"),
    ] {
        let sql = format!("SELECT * FROM {f}({args})");
        // 1,096 days (3 years with a leap day) are answered; one more day is refused.
        let rows =
            db.query(&sql, &[&a.id, &from_3y, &today]).await.unwrap_or_else(|e| panic!("{f} over 1,096 days: {e}"));
        if f == "qlink.clinic_report" {
            assert_eq!(rows.len(), 1096);
        }
        for (from, to) in [
            (Some(&later), Some(&today)),
            (Some(&from_3y_over), Some(&today)),
            (None, Some(&today)),
            (Some(&today), None),
        ] {
            assert_refused(
                &db,
                &sql,
                &[&a.id, &from.or(none.as_ref()), &to.or(none.as_ref())],
                "22023",
                Some("invalid_range"),
            )
            .await;
        }
        assert_refused(&db, &sql, &[&Uuid::new_v4(), &today, &today], "P0002", None).await;
        assert_refused(&db, &sql, &[&Option::<Uuid>::None, &today, &today], "P0002", None).await;
        let with_queue = format!("SELECT * FROM {f}($1, $2::text::date, $3::text::date, $4)");
        assert_refused(&db, &with_queue, &[&a.id, &today, &today, &other_queue], "P0002", Some("queue_not_found"))
            .await;
        assert_refused(&db, &with_queue, &[&a.id, &today, &today, &Uuid::new_v4()], "P0002", Some("queue_not_found"))
            .await;
    }
    for f in ["qlink.platform_report", "qlink.platform_trend"] {
        let sql = format!("SELECT * FROM {f}($1::text::date, $2::text::date)");
        db.query(&sql, &[&from_3y, &today]).await.unwrap_or_else(|e| panic!("{f} over 1,096 days: {e}"));
        for (from, to) in [
            (Some(&later), Some(&today)),
            (Some(&from_3y_over), Some(&today)),
            (None, Some(&today)),
            (Some(&today), None),
        ] {
            assert_refused(
                &db,
                &sql,
                &[&from.or(none.as_ref()), &to.or(none.as_ref())],
                "22023",
                Some("invalid_range"),
            )
            .await;
        }
    }
    // A day without patients: zeros and NULL percentiles.
    let rows = report(&db, a.id, d, d, None).await;
    let (f, live) = &rows[0];
    assert_eq!((f.tokens, f.served, f.called, f.max_waiting, f.messages_sent), (0, 0, 0, 0, 0));
    assert_eq!((f.wait_p50, f.wait_p90, f.service_p50, f.service_p90, f.eta_hit_rate), (None, None, None, None, None));
    let mut problems = Vec::new();
    // It is today: "Today (and any day not yet written) is computed live".
    if !*live {
        problems.push(format!("clinic_report: today ({today}) without patients has live = false"));
    }
    // The contract's result type (sql/API.md: write_rollups(…) → bigint).
    let result: String = db
        .query_one("SELECT pg_get_function_result('qlink.write_rollups(uuid)'::regprocedure)", &[])
        .await
        .unwrap()
        .get(0);
    if result != "bigint" {
        problems.push(format!("qlink.write_rollups returns {result}, sql/API.md says bigint"));
    }
    fail_if(&problems, "report contract");
}

// ---------------------------------------------------------------------------------------
// Plans and monthly statements.

#[derive(Debug, PartialEq, Clone)]
struct Line {
    line: String,
    quantity: Option<i64>,
    included: Option<i64>,
    extra: Option<i64>,
    unit: Option<i64>,
    amount: i64,
}

#[derive(Debug, Clone, Copy)]
struct Terms {
    fee: i64,
    tokens: i64,
    messages: i64,
    extra_token: i64,
    extra_message: i64,
}

async fn statement(db: &Client, clinic: Uuid, month: i64) -> Vec<Line> {
    db.query(
        "SELECT line, quantity, included, extra, unit_paise, amount_paise FROM qlink.usage_statement($1, $2::text::date)",
        &[&clinic, &date_text(month)],
    )
    .await
    .unwrap_or_else(|e| panic!("usage_statement({}): {e} {:?}", date_text(month), reason(&e)))
    .iter()
    .map(|r| Line {
        line: r.get(0),
        quantity: r.get(1),
        included: r.get(2),
        extra: r.get(3),
        unit: r.get(4),
        amount: r.get(5),
    })
    .collect()
}

/// The clinic's tokens created in the month and its messages SENT / DELIVERED / READ whose
/// token's day is in the month, from the raw rows.
async fn month_usage(db: &Client, clinic: Uuid, first: i64, next_first: i64) -> (i64, i64) {
    let tokens = raw_tokens(db, clinic).await;
    let mine: HashSet<Uuid> =
        tokens.iter().filter(|t| (first..next_first).contains(&local_day(t.created))).map(|t| t.id).collect();
    let sent = raw_messages(db, clinic)
        .await
        .iter()
        .filter(|m| {
            m.token.is_some_and(|t| mine.contains(&t)) && matches!(m.status.as_str(), "SENT" | "DELIVERED" | "READ")
        })
        .count();
    (mine.len() as i64, sent as i64)
}

/// The four lines, in integer paise, for the given usage on the given terms.
fn bill(t: Terms, tokens: i64, messages: i64) -> Vec<Line> {
    let xt = (tokens - t.tokens).max(0);
    let xm = (messages - t.messages).max(0);
    vec![
        Line { line: "plan".into(), quantity: Some(1), included: None, extra: None, unit: None, amount: t.fee },
        Line {
            line: "tokens".into(),
            quantity: Some(tokens),
            included: Some(t.tokens),
            extra: Some(xt),
            unit: Some(t.extra_token),
            amount: xt * t.extra_token,
        },
        Line {
            line: "messages".into(),
            quantity: Some(messages),
            included: Some(t.messages),
            extra: Some(xm),
            unit: Some(t.extra_message),
            amount: xm * t.extra_message,
        },
        Line {
            line: "total".into(),
            quantity: None,
            included: None,
            extra: None,
            unit: None,
            amount: t.fee + xt * t.extra_token + xm * t.extra_message,
        },
    ]
}

/// The statement must be `bill(...)`; the plan line is checked on quantity and amount only
/// (the contract leaves its other columns open).
async fn assert_statement(db: &Client, clinic: Uuid, month: i64, next: i64, terms: Terms, what: &str) -> (i64, i64) {
    let (y, m, _) = civil_from_days(month);
    let (tokens, messages) = month_usage(db, clinic, days_from_civil(y, m, 1), next).await;
    let mut got = statement(db, clinic, month).await;
    let want = bill(terms, tokens, messages);
    assert_eq!(got.len(), 4, "{what}: four lines: {got:?}");
    assert_eq!(
        (got[0].line.as_str(), got[0].quantity, got[0].amount),
        ("plan", Some(1), terms.fee),
        "{what}: plan line"
    );
    got[0] = want[0].clone();
    assert_eq!(got, want, "{what}: statement of {} ({tokens} tokens, {messages} messages)", date_text(month));
    (tokens, messages)
}

async fn plan_row(db: &Client, code: &str) -> Option<String> {
    db.query_opt(
        "SELECT format('%s %s %s %s %s %s %s', name, monthly_fee_paise, included_tokens, included_messages, \
             extra_token_paise, extra_message_paise, clinics) FROM qlink.list_plans() WHERE code = $1",
        &[&code],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

/// `n` patients of a one-queue clinic join at `t` (a minute apart), are called and served;
/// their messages are sent (a few fail).
async fn patients(db: &Client, clinic: Uuid, t: i64, n: usize, phone: &mut u64) {
    set_clock(db, t).await;
    for k in 0..n {
        *phone += 1;
        set_clock(db, t + 60 * k as i64).await;
        db.query_one("SELECT * FROM qlink.create_token($1, 'Patient', $2)", &[&clinic, &format!("7{:09}", *phone)])
            .await
            .unwrap();
    }
    for k in 0..=n {
        set_clock(db, t + 60 * (n + k) as i64).await;
        db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await.unwrap();
    }
    let ids: Vec<i64> = db
        .query("SELECT id FROM qlink.claim_messages(1000, '10 minutes') ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (k, id) in ids.into_iter().enumerate() {
        let outcome = if k % 5 == 4 { "FAILED" } else { "SENT" };
        db.query_one(
            "SELECT * FROM qlink.finish_message($1, $2, 'fake', $3)",
            &[&id, &outcome, &format!("wamid.{id}")],
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn usage_statements_bill_the_plan_in_force_at_the_end_of_the_month() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let jan = days_from_civil(2027, 1, 1);
    let feb = days_from_civil(2027, 2, 1);
    let mar = days_from_civil(2027, 3, 1);
    set_clock(&db, opening(jan + 9)).await;

    // The default plan every clinic starts on (the upgrade's and create_business's).
    let standard_row = db
        .query_one(
            "SELECT monthly_fee_paise, included_tokens, included_messages, extra_token_paise, extra_message_paise \
             FROM qlink.list_plans() WHERE code = 'standard'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            standard_row.get::<_, i64>(0),
            standard_row.get::<_, i32>(1),
            standard_row.get::<_, i32>(2),
            standard_row.get::<_, i64>(3),
            standard_row.get::<_, i64>(4)
        ),
        (99_900, 3000, 3000, 50, 100),
        "the standard plan: ₹999, 3,000 tokens and 3,000 messages included, 50 paise / ₹1 extra"
    );
    let roomy = Terms { fee: 150_000, tokens: 1000, messages: 1000, extra_token: 40, extra_message: 80 };
    let tiny = Terms { fee: 49_900, tokens: 6, messages: 4, extra_token: 150, extra_message: 75 };
    let standard = Terms { fee: 99_900, tokens: 3000, messages: 3000, extra_token: 50, extra_message: 100 };
    for (code, name, t) in [("roomy", "Roomy", roomy), ("tiny", "Tiny", tiny)] {
        let got: String = db
            .query_one(
                "SELECT qlink.create_plan($1, $2, $3, $4, $5, $6, $7)",
                &[&code, &name, &t.fee, &(t.tokens as i32), &(t.messages as i32), &t.extra_token, &t.extra_message],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(got, code);
    }
    // Refusals change nothing.
    let sql = "SELECT qlink.create_plan($1, 'X', $2, $3, 10, 1, 1)";
    assert_refused(&db, sql, &[&"tiny", &1i64, &10i32], "55000", Some("plan_code_taken")).await;
    assert_refused(&db, sql, &[&"neg-fee", &-1i64, &10i32], "22023", Some("invalid_price")).await;
    assert_refused(&db, sql, &[&"neg-allow", &1i64, &-10i32], "22023", Some("invalid_price")).await;
    assert!(plan_row(&db, "neg-fee").await.is_none() && plan_row(&db, "neg-allow").await.is_none());
    let tiny_row = plan_row(&db, "tiny").await.unwrap();
    for arg in ["monthly_fee_paise", "extra_token_paise", "extra_message_paise"] {
        let sql = format!("SELECT qlink.update_plan('tiny', {arg} => -1)");
        assert_refused(&db, &sql, &[], "22023", Some("invalid_price")).await;
    }
    assert_refused(&db, "SELECT qlink.update_plan('tiny', included_tokens => -1)", &[], "22023", Some("invalid_price"))
        .await;
    assert_eq!(plan_row(&db, "tiny").await.unwrap(), tiny_row, "a refused update leaves the plan as it was");
    assert_refused(&db, "SELECT qlink.update_plan('nope', name => 'Nope')", &[], "22023", Some("unknown_plan")).await;

    let a = create_clinic(&db, "bill-a", serde_json::json!({"ip_tokens_per_10min": 10000})).await;
    let b = create_clinic(&db, "bill-b", serde_json::json!({"ip_tokens_per_10min": 10000})).await;
    let c = create_clinic(&db, "bill-c", serde_json::json!({})).await;
    assert_refused(&db, "SELECT qlink.set_clinic_plan($1, 'nope')", &[&a], "22023", Some("unknown_plan")).await;
    assert_refused(&db, "SELECT qlink.set_clinic_plan($1, 'tiny')", &[&Uuid::new_v4()], "P0002", None).await;
    for (clinic, code) in [(a, "roomy"), (c, "tiny")] {
        let got: String = db.query_one("SELECT qlink.set_clinic_plan($1, $2)", &[&clinic, &code]).await.unwrap().get(0);
        assert_eq!(got, code);
    }
    let mut phone = 0;
    // January: A has 9 patients (over tiny's 6), B 4; C none.
    patients(&db, a, opening(jan + 9), 5, &mut phone).await;
    patients(&db, b, opening(jan + 9) + 3600, 4, &mut phone).await;
    patients(&db, a, opening(jan + 18), 4, &mut phone).await;
    // On the 20th A moves to tiny: January is billed on tiny, whole month.
    set_clock(&db, opening(jan + 19) + 3 * 3600).await;
    db.query_one("SELECT qlink.set_clinic_plan($1, 'tiny')", &[&a]).await.unwrap();
    assert_statement(&db, a, jan, feb, tiny, "A in January, on tiny since the 20th").await;
    assert_statement(&db, b, jan + 14, feb, standard, "B in January (standard: no overage)").await;
    // A price change within January applies to January (the terms at its end).
    set_clock(&db, opening(jan + 27)).await;
    db.query_one("SELECT qlink.update_plan('tiny', extra_token_paise => 175)", &[]).await.unwrap();
    let tiny_end_of_jan = Terms { extra_token: 175, ..tiny };
    // Late on 31 January (23:50 clinic-local), one more patient for A.
    patients(&db, a, (jan + 30) * DAY + 23 * 3600 + 50 * 60 - IST, 1, &mut phone).await;
    let (jan_tokens, _) =
        assert_statement(&db, a, jan, feb, tiny_end_of_jan, "A in January after the price change").await;
    assert_eq!(jan_tokens, 10);

    // February: A back on roomy from the 1st, tiny's prices rise: January stays as it was.
    set_clock(&db, opening(feb) + 600).await;
    db.query_one("SELECT qlink.set_clinic_plan($1, 'roomy')", &[&a]).await.unwrap();
    db.query_one("SELECT qlink.update_plan('tiny', monthly_fee_paise => 59900, extra_token_paise => 999, extra_message_paise => 500)", &[])
        .await
        .unwrap();
    patients(&db, a, opening(feb + 1), 3, &mut phone).await;
    patients(&db, b, opening(feb + 1), 2, &mut phone).await;
    assert_statement(&db, a, jan, feb, tiny_end_of_jan, "A's January after it moved plan and tiny's prices rose").await;
    assert_statement(&db, a, feb, mar, roomy, "A's February (current month: the plan now)").await;
    // The current month follows today's terms.
    set_clock(&db, opening(feb + 2)).await;
    db.query_one("SELECT qlink.update_plan('roomy', monthly_fee_paise => 160000)", &[]).await.unwrap();
    let roomy_now = Terms { fee: 160_000, ..roomy };
    assert_statement(&db, a, feb + 5, mar, roomy_now, "A's February after roomy's fee rose").await;
    let tiny_now = Terms { fee: 59_900, extra_token: 999, extra_message: 500, ..tiny };
    assert_statement(&db, c, feb, mar, tiny_now, "idle C in February: the fee only").await;
    assert_statement(&db, c, jan, feb, tiny_end_of_jan, "idle C in January").await;
    assert_statement(&db, b, feb, mar, standard, "B in February").await;

    // Months that cannot be billed.
    let month_sql = "SELECT * FROM qlink.usage_statement($1, $2::text::date)";
    for m in [Some(date_text(mar)), Some(date_text(mar + 40)), None, Some("2020-01-15".to_string())] {
        assert_refused(&db, month_sql, &[&a, &m], "22023", Some("invalid_month")).await;
    }
    assert_refused(&db, month_sql, &[&Uuid::new_v4(), &date_text(feb)], "P0002", None).await;
    let pu = "SELECT * FROM qlink.platform_usage($1::text::date)";
    for m in [Some(date_text(mar)), None] {
        assert_refused(&db, pu, &[&m], "22023", Some("invalid_month")).await;
    }

    // platform_usage: every clinic, by slug, with its statement's quantities and total.
    for (month, next) in [(jan, feb), (feb, mar)] {
        let rows = db
            .query(
                "SELECT business_id, slug, plan_code, tokens, included_tokens, messages, included_messages, amount_paise \
                 FROM qlink.platform_usage($1::text::date)",
                &[&date_text(month + 10)],
            )
            .await
            .unwrap();
        let slugs: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        assert_eq!(slugs, ["bill-a", "bill-b", "bill-c"], "platform_usage of {}", date_text(month));
        for r in rows {
            let clinic: Uuid = r.get(0);
            let s = statement(&db, clinic, month).await;
            let want = (s[1].quantity, s[1].included, s[2].quantity, s[2].included, s[3].amount);
            let got = (
                r.get::<_, Option<i64>>(3),
                r.get::<_, Option<i64>>(4),
                r.get::<_, Option<i64>>(5),
                r.get::<_, Option<i64>>(6),
                r.get::<_, i64>(7),
            );
            assert_eq!(got, want, "platform_usage of {} for {}", date_text(month), r.get::<_, String>(1));
            let _ = next;
        }
    }
    let a_plan: String =
        db.query_one("SELECT plan_code FROM qlink.businesses WHERE id = $1", &[&a]).await.unwrap().get(0);
    assert_eq!(a_plan, "roomy");
    let clinics_on: String = plan_row(&db, "tiny").await.unwrap();
    assert!(clinics_on.ends_with(" 1"), "list_plans counts the clinics on tiny (C): {clinics_on}");
}
