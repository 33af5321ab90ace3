//! `qlink-bench reports`: the reports of SPEC §10 against their targets (a clinic's year
//! < 50 ms; the platform report over 1,000 clinics × 90 days < 500 ms), each beside
//! baselines measured in the same run on the same connection: a `SELECT 1` round trip, a
//! single-row primary-key read, and the bare read of the same rollup rows the report needs
//! (no figures, no live day, no checks).
//!
//! Seed (not measured): 1,000 clinics, each with today's session and 20 patients (some
//! served, with their messages) and 90 days of rollups; one more clinic with two queues,
//! a year of rollups (INSERT … SELECT generate_series, realistic figures) and its last
//! eight days lived through the real functions, so its recent rollups are the product's
//! own and today is computed live. Each report's `EXPLAIN (ANALYZE, BUFFERS)` is printed,
//! with the plans of the statements the function runs inside (auto_explain, nested
//! statements), to show what it reads: rollups for the past, tokens only for today.

use crate::setup;
use futures::StreamExt;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

struct Lat {
    n: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn lat(mut v: Vec<Duration>) -> Lat {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // percentile_disc, as the reports themselves
    let at = |p: f64| ms(v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]);
    Lat { n: v.len(), p50: at(0.50), p95: at(0.95), p99: at(0.99), max: ms(*v.last().unwrap()) }
}

async fn measure(db: &Client, sql: &str, params: &[&(dyn ToSql + Sync)], n: usize) -> anyhow::Result<(Lat, usize)> {
    let stmt = db.prepare(sql).await?;
    let mut rows = 0;
    for _ in 0..n.div_ceil(10).max(3) {
        rows = db.query(&stmt, params).await?.len();
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = db.query(&stmt, params).await?;
        times.push(t.elapsed());
        rows = r.len();
    }
    Ok((lat(times), rows))
}

/// A connection whose server notices (auto_explain's plans at LOG level) are collected.
async fn explaining(url: &str) -> anyhow::Result<(Client, tokio::sync::mpsc::UnboundedReceiver<String>)> {
    let (client, mut conn) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notice(n) = m {
                let _ = tx.send(n.message().to_string());
            }
        }
    });
    client
        .batch_execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; \
             SET auto_explain.log_buffers = on; SET auto_explain.log_timing = on; \
             SET auto_explain.log_nested_statements = on; SET client_min_messages = log",
        )
        .await?;
    Ok((client, rx))
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the call, and the plans of the statements it ran inside.
async fn explain(
    db: &Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<String> {
    while notices.try_recv().is_ok() {}
    let outer: Vec<String> = db
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), params)
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut out = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}\n{}\n", outer.join("\n"));
    while let Ok(n) = notices.try_recv() {
        // The outer EXPLAIN itself is logged too; the nested statements are what matter.
        if n.contains("EXPLAIN (ANALYZE, BUFFERS)") {
            continue;
        }
        out.push_str("\n-- statement run inside the function (auto_explain):\n");
        out.push_str(&n);
        out.push('\n');
    }
    Ok(out)
}

/// Which tables the nested plans scanned, and how many rows came from each.
fn tables_read(plan: &str) -> String {
    let mut found: Vec<(String, u64)> = Vec::new();
    let lines: Vec<&str> = plan.lines().collect();
    for l in &lines {
        for kind in ["Seq Scan on ", "Index Scan using ", "Index Only Scan using ", "Bitmap Heap Scan on "] {
            if let Some(pos) = l.find(kind) {
                let rest = &l[pos + kind.len()..];
                let table = if kind.starts_with("Index") {
                    rest.split(" on ").nth(1).unwrap_or(rest).split_whitespace().next().unwrap_or("")
                } else {
                    rest.split_whitespace().next().unwrap_or("")
                };
                let rows = l
                    .split("(actual time=")
                    .nth(1)
                    .and_then(|a| a.split("rows=").nth(1))
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|r| r.parse::<u64>().ok())
                    .unwrap_or(0);
                let loops =
                    l.split("loops=").last().and_then(|r| r.trim_end_matches(')').parse::<u64>().ok()).unwrap_or(1);
                let table = table.trim_start_matches("qlink.").to_string();
                match found.iter_mut().find(|(t, _)| *t == table) {
                    Some(f) => f.1 += rows * loops,
                    None => found.push((table, rows * loops)),
                }
            }
        }
    }
    found.iter().map(|(t, r)| format!("{t}: {r} rows")).collect::<Vec<_>>().join(", ")
}

fn total_buffers(plan: &str) -> String {
    // The outer plan's first Buffers line covers everything the function did.
    plan.lines().find(|l| l.trim_start().starts_with("Buffers:")).map(|l| l.trim().to_string()).unwrap_or_default()
}

/// Realistic figures of one day from a hash of (clinic, queue, day): 20–100 patients a
/// day, most served, waits of 5–30 minutes, service of 3–10 minutes.
const SEED_FIGURES: &str = "
    tok AS (SELECT x.*, 20 + (x.h % 81) AS n FROM x),
    fig AS (SELECT tok.*, (n * (78 + h % 12) / 100) AS served_n, (n * (h % 6) / 100) AS skipped_n,
                   (n * (2 + h % 4) / 100) AS cancelled_n FROM tok)
    SELECT business_id, queue_id, day, n, n * 6 / 10, n * 3 / 10, n - n * 6 / 10 - n * 3 / 10,
           served_n, skipped_n, cancelled_n, n - served_n - skipped_n - cancelled_n, served_n + skipped_n,
           300 + h % 900, 900 + h % 1800, (served_n + skipped_n)::bigint * (400 + h % 900),
           180 + h % 420, 420 + h % 600, served_n, served_n::bigint * (240 + h % 420),
           served_n + skipped_n, (served_n + skipped_n) * (50 + h % 40) / 100,
           n * 2 - (h % 5), h % 5,
           jsonb_build_object('WELCOME', jsonb_build_object('SENT', n - h % 5, 'PERMANENTLY_FAILED', h % 5),
                              'CALLED', jsonb_build_object('SENT', n)),
           5 + h % 20,
           ARRAY(SELECT CASE WHEN g BETWEEN 9 AND 12 THEN n * 15 / 100 WHEN g BETWEEN 17 AND 19 THEN n * 10 / 100
                             WHEN g = 13 THEN n - 4 * (n * 15 / 100) - 3 * (n * 10 / 100) ELSE 0 END
                 FROM generate_series(0, 23) g ORDER BY g),
           now()
    FROM fig";

const ROLLUP_COLUMNS: &str = "business_id, queue_id, day, tokens, tokens_qr, tokens_staff, tokens_api, served, \
     skipped, cancelled, unserved, called, wait_p50_seconds, wait_p90_seconds, wait_sum_seconds, service_p50_seconds, \
     service_p90_seconds, service_count, service_sum_seconds, eta_shown, eta_hits, messages_sent, messages_failed, \
     messages, max_waiting, arrivals, computed_at";

/// Rollups for the days `today - from_back` … `today - to_back` of the clinics `clinics`
/// selects (`SELECT business_id, queue_id`), queue rows and clinic rows.
async fn seed_rollups(db: &Client, clinics: &str, from_back: i32, to_back: i32) -> anyhow::Result<u64> {
    let sql = format!(
        "INSERT INTO qlink.daily_rollups ({ROLLUP_COLUMNS})
         WITH c AS ({clinics}),
         x AS (SELECT c.business_id, c.queue_id, d::date AS day,
                      abs(hashtext(c.business_id::text || coalesce(c.queue_id::text, '') || d::date::text)) AS h
               FROM c, generate_series((now() AT TIME ZONE 'Asia/Kolkata')::date - $1::int,
                                       (now() AT TIME ZONE 'Asia/Kolkata')::date - $2::int, interval '1 day') d),
         {SEED_FIGURES}"
    );
    Ok(db.execute(&sql, &[&from_back, &to_back]).await?)
}

/// The clinic with a year of reports: two doctors' lines, its last eight days lived through
/// the extension (with the testing clock), the year before seeded as rollups.
async fn year_clinic(db: &Client) -> anyhow::Result<Uuid> {
    let clinic: Uuid = db
        .query_one(
            "SELECT qlink.create_business('bench-year', 'A year of reports', \
             settings => '{\"ip_tokens_per_10min\": 10000, \"daily_token_limit\": 10000, \
             \"max_tokens_per_phone_per_day\": 50}')",
            &[],
        )
        .await?
        .get(0);
    let qa: Uuid = db.query_one("SELECT queue_id FROM qlink.list_queues($1)", &[&clinic]).await?.get(0);
    db.query_one("SELECT qlink.update_queue($1, $2, prefix => 'A')", &[&clinic, &qa]).await?;
    let qb: Uuid = db.query_one("SELECT qlink.create_queue($1, 'Dr. B', 'B')", &[&clinic]).await?.get(0);
    let r1: Uuid = db.query_one("SELECT room_id FROM qlink.list_rooms($1)", &[&clinic]).await?.get(0);
    let r2: Uuid = db.query_one("SELECT qlink.create_room($1, 'Room 2', $2)", &[&clinic, &vec![qb]]).await?.get(0);
    let today: i32 =
        db.query_one("SELECT ((now() AT TIME ZONE 'Asia/Kolkata')::date - date '1970-01-01')::int", &[]).await?.get(0);
    let mut phone = 0u64;
    for back in (0..8).rev() {
        // 09:00 clinic-local, then a patient every ~4 minutes, the rooms calling every ~5.
        let day = i64::from(today - back);
        let start = day * 86_400 + 9 * 3600 - 19_800;
        let mut t = start;
        let clock = |t: i64| format!("SELECT set_config('qlink.clock_override', to_timestamp({t})::text, false)");
        for k in 0..60 {
            phone += 1;
            t += 180 + (k * 37 % 120);
            db.query_one(&clock(t), &[]).await?;
            let q = if k % 3 == 0 { qb } else { qa };
            db.query_one(
                "SELECT token_id FROM qlink.create_token($1, 'Patient', $2, queue_id => $3)",
                &[&clinic, &format!("9{phone:09}"), &q],
            )
            .await?;
            if k % 2 == 1 || k > 50 {
                db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&clinic, &r1]).await?;
            }
            if k % 3 == 2 {
                db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&clinic, &r2]).await?;
            }
        }
        if back > 0 {
            db.query("SELECT * FROM qlink.close_session($1)", &[&clinic]).await?;
        }
    }
    db.batch_execute("RESET qlink.clock_override").await?;
    // The year before: rollups for each line and the clinic.
    seed_rollups(
        db,
        &format!("SELECT '{clinic}'::uuid AS business_id, q AS queue_id FROM unnest(ARRAY['{qa}'::uuid, '{qb}'::uuid, NULL]) q"),
        364,
        8,
    )
    .await?;
    db.query_one("SELECT qlink.write_rollups($1)", &[&clinic]).await?;
    Ok(clinic)
}

/// (label, SQL, parameters, runs, target in ms)
type Case<'a> = (&'a str, String, Vec<&'a (dyn ToSql + Sync)>, usize, Option<f64>);

pub async fn bench(admin_url: &str, clinics: usize, iterations: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let url = setup::fresh_database(admin_url, "qlink_bench").await?;
    let db = setup::connect(&url).await?;
    // 1,000 clinics with today's session and 20 patients each (bulk-loaded, all WAITING) …
    let ids = setup::clinics(&db, clinics, 20).await?;
    // … of whom the first 12 were seen, one is being seen, with their messages.
    db.batch_execute(
        "UPDATE qlink.tokens t SET status = CASE WHEN token_number <= 12 THEN 'SERVED' ELSE 'SERVING' END, \
             called_at = created_at + make_interval(mins => 5 * token_number), \
             served_at = CASE WHEN token_number <= 12 THEN created_at + make_interval(mins => 5 * token_number + 6) END, \
             room_id = (SELECT id FROM qlink.rooms r WHERE r.business_id = t.business_id), \
             eta_first_min_minutes = 6 * (token_number - 1), eta_first_max_minutes = 15 * (token_number - 1) \
         WHERE token_number <= 13; \
         UPDATE qlink.sessions SET waiting_count = 7, max_waiting = 20, now_serving_number = 13; \
         INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone, status, created_at) \
         SELECT business_id, id, 'WELCOME', patient_phone, CASE WHEN token_number % 10 = 0 THEN 'PERMANENTLY_FAILED' \
                ELSE 'SENT' END, created_at FROM qlink.tokens",
    )
    .await?;
    // … and 90 days of rollups before today; their marks say the days before today are written.
    let rows = seed_rollups(
        &db,
        "SELECT business_id, id AS queue_id FROM qlink.queues UNION ALL SELECT id, NULL FROM qlink.businesses",
        90,
        1,
    )
    .await?;
    db.execute(
        "INSERT INTO qlink.rollup_marks (business_id, complete_before) \
         SELECT id, (now() AT TIME ZONE 'Asia/Kolkata')::date FROM qlink.businesses \
         ON CONFLICT (business_id) DO UPDATE SET complete_before = EXCLUDED.complete_before",
        &[],
    )
    .await?;
    let year = year_clinic(&db).await?;
    db.batch_execute("VACUUM ANALYZE").await?;
    let counts = db
        .query_one(
            "SELECT (SELECT count(*) FROM qlink.businesses), (SELECT count(*) FROM qlink.daily_rollups), \
                    (SELECT count(*) FROM qlink.tokens), (SELECT count(*) FROM qlink.message_logs), \
                    (SELECT count(*) FROM qlink.daily_rollups WHERE business_id = $1), \
                    (SELECT count(*) FROM qlink.tokens WHERE business_id = $1), \
                    pg_size_pretty(pg_total_relation_size('qlink.daily_rollups'))",
            &[&year],
        )
        .await?;
    println!(
        "\n### Reports (SPEC §10)\n\nseed: {} clinics, {} rollup rows ({}; {rows} for the {clinics} clinics' 90 days), \
         {} tokens, {} messages; the year clinic: {} rollup rows, {} tokens (its last 8 days); set-up {:.0} s",
        counts.get::<_, i64>(0),
        counts.get::<_, i64>(1),
        counts.get::<_, String>(6),
        counts.get::<_, i64>(2),
        counts.get::<_, i64>(3),
        counts.get::<_, i64>(4),
        counts.get::<_, i64>(5),
        started.elapsed().as_secs_f64()
    );

    let (today, year_ago, q90, month): (String, String, String, String) = {
        let r = db
            .query_one(
                "SELECT d::text, (d - 364)::text, (d - 89)::text, (date_trunc('month', d) - interval '1 month')::date::text \
                 FROM (SELECT (now() AT TIME ZONE 'Asia/Kolkata')::date AS d) x",
                &[],
            )
            .await?;
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    let some_clinic = ids[ids.len() / 2];
    let n = iterations;
    let few = (iterations / 5).max(10);
    let cases: Vec<Case> = vec![
        ("baseline: SELECT 1", "SELECT 1".into(), vec![], n, None),
        (
            "baseline: one row by primary key (businesses)",
            "SELECT status FROM qlink.businesses WHERE id = $1".into(),
            vec![&year],
            n,
            None,
        ),
        (
            "baseline: the year's clinic rollup rows (364, today has none), bare",
            "SELECT day, tokens, tokens_qr, tokens_staff, tokens_api, served, skipped, cancelled, unserved, called, \
                    wait_p50_seconds, wait_p90_seconds, service_p50_seconds, service_p90_seconds, \
                    eta_hits::float8 / nullif(eta_shown, 0), messages_sent, messages_failed, max_waiting \
             FROM qlink.daily_rollups WHERE business_id = $1 AND queue_id IS NULL \
             AND day BETWEEN $2::text::date AND $3::text::date"
                .into(),
            vec![&year, &year_ago, &today],
            n,
            None,
        ),
        (
            "qlink.clinic_report, 365 days, all queues",
            "SELECT * FROM qlink.clinic_report($1, $2::text::date, $3::text::date)".into(),
            vec![&year, &year_ago, &today],
            n,
            Some(50.0),
        ),
        (
            "qlink.clinic_report, 365 days, one queue",
            "SELECT * FROM qlink.clinic_report($1, $2::text::date, $3::text::date, \
             (SELECT id FROM qlink.queues WHERE business_id = $1 AND prefix = 'A'))"
                .into(),
            vec![&year, &year_ago, &today],
            n,
            Some(50.0),
        ),
        (
            "qlink.hourly_arrivals, 365 days",
            "SELECT * FROM qlink.hourly_arrivals($1, $2::text::date, $3::text::date)".into(),
            vec![&year, &year_ago, &today],
            n,
            Some(50.0),
        ),
        (
            "qlink.clinic_report, 90 days, a clinic of the 1,000",
            "SELECT * FROM qlink.clinic_report($1, $2::text::date, $3::text::date)".into(),
            vec![&some_clinic, &q90, &today],
            n,
            Some(50.0),
        ),
        (
            "baseline: 90 days × all clinics' rollups summed, bare",
            "SELECT business_id, sum(tokens), sum(served), sum(skipped), sum(cancelled), sum(unserved), \
                    sum(wait_sum_seconds), sum(called), sum(eta_hits), sum(eta_shown), sum(messages_sent), \
                    sum(messages_failed), max(max_waiting) \
             FROM qlink.daily_rollups WHERE queue_id IS NULL AND day BETWEEN $1::text::date AND $2::text::date \
             GROUP BY business_id"
                .into(),
            vec![&q90, &today],
            few,
            None,
        ),
        (
            "qlink.platform_report, 90 days × 1,001 clinics",
            "SELECT * FROM qlink.platform_report($1::text::date, $2::text::date)".into(),
            vec![&q90, &today],
            few,
            Some(500.0),
        ),
        (
            "qlink.platform_trend, 90 days",
            "SELECT * FROM qlink.platform_trend($1::text::date, $2::text::date)".into(),
            vec![&q90, &today],
            few,
            Some(500.0),
        ),
        (
            "qlink.platform_usage, last month",
            "SELECT * FROM qlink.platform_usage($1::text::date)".into(),
            vec![&month],
            few,
            Some(500.0),
        ),
        (
            "qlink.platform_usage, this month (today live)",
            "SELECT * FROM qlink.platform_usage($1::text::date)".into(),
            vec![&today],
            few,
            Some(500.0),
        ),
        (
            "qlink.usage_statement, one clinic, this month",
            "SELECT * FROM qlink.usage_statement($1, $2::text::date)".into(),
            vec![&year, &today],
            n,
            None,
        ),
    ];
    println!(
        "\n| query | rows | runs | p50 ms | p95 ms | p99 ms | max ms | target | p95 / PK-read baseline |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    let mut pk_p95 = 0.0;
    let mut misses = Vec::new();
    for (label, sql, params, runs, target) in &cases {
        let (l, rows) = measure(&db, sql, params, *runs).await?;
        if label.starts_with("baseline: one row") {
            pk_p95 = l.p95;
        }
        let verdict = match target {
            Some(t) if l.p95 < *t => format!("< {t:.0} ms: **met**"),
            Some(t) => {
                misses.push(format!("{label}: p95 {:.1} ms against {t:.0} ms", l.p95));
                format!("< {t:.0} ms: **missed**")
            }
            None => "–".into(),
        };
        let ratio = if pk_p95 > 0.0 { format!("{:.0}×", l.p95 / pk_p95) } else { "–".into() };
        println!(
            "| {label} | {rows} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {verdict} | {ratio} |",
            l.n, l.p50, l.p95, l.p99, l.max
        );
    }
    if misses.is_empty() {
        println!("\nevery target met (p95)");
    } else {
        println!("\nmissed: {}", misses.join("; "));
    }

    // What each report reads.
    let (ex, mut notices) = explaining(&url).await?;
    let explained: Vec<(&str, String, Vec<&(dyn ToSql + Sync)>)> = vec![
        (
            "clinic_report, 365 days",
            "SELECT * FROM qlink.clinic_report($1, $2::text::date, $3::text::date)".into(),
            vec![&year, &year_ago, &today],
        ),
        (
            "hourly_arrivals, 365 days",
            "SELECT * FROM qlink.hourly_arrivals($1, $2::text::date, $3::text::date)".into(),
            vec![&year, &year_ago, &today],
        ),
        (
            "platform_report, 90 days",
            "SELECT * FROM qlink.platform_report($1::text::date, $2::text::date)".into(),
            vec![&q90, &today],
        ),
        ("platform_usage, last month", "SELECT * FROM qlink.platform_usage($1::text::date)".into(), vec![&month]),
    ];
    println!("\n#### What each report reads\n\n| call | buffers (whole call) | tables scanned inside (rows) |\n|---|---|---|");
    let mut plans = Vec::new();
    for (label, sql, params) in &explained {
        let plan = explain(&ex, &mut notices, sql, params).await?;
        println!("| {label} | {} | {} |", total_buffers(&plan), tables_read(&plan));
        plans.push((label, plan));
    }
    for (label, plan) in plans {
        println!("\n<details><summary>{label}: EXPLAIN (ANALYZE, BUFFERS)</summary>\n\n```\n{plan}```\n</details>");
    }
    Ok(())
}
