//! Reports (SPEC §10): the figures of a clinic day, written once the day is over into
//! `qlink.daily_rollups` and computed live until then.
//!
//! One query (`compute_sql`) defines every figure; the rollup writer stores its rows and
//! the reports compute it for the days not written yet, so the two never disagree. Each
//! clinic has a mark (`qlink.rollup_marks`): the days before it are read from their rollups,
//! the days from it on (today, and any day the housekeeping has not reached) are computed.

use crate::db;
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::model::Business;
use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::sync::LazyLock;

/// The longest range a report covers.
pub const MAX_RANGE_DAYS: i32 = 1096;

/// The figures, in the column order of `qlink.daily_rollups` after (business_id,
/// queue_id, day).
const FIGURES: &str = "tokens, tokens_qr, tokens_staff, tokens_api, served, skipped, cancelled, unserved, called, \
     wait_p50_seconds, wait_p90_seconds, wait_sum_seconds, service_p50_seconds, service_p90_seconds, \
     service_count, service_sum_seconds, eta_shown, eta_hits, messages_sent, messages_failed, messages, \
     max_waiting, arrivals, tokens_whatsapp, tokens_kiosk";

/// Every figure of the days of the sessions `sessions` selects (a FROM clause over
/// `qlink.sessions s JOIN qlink.businesses b`), one row per (clinic, day, queue) and one
/// per (clinic, day) with `queue_id` NULL. Waits and service times are whole seconds,
/// rounded down; percentiles are `percentile_disc` (a real sample).
fn compute_sql(sessions: &str, clinic_rows_only: bool) -> String {
    // The platform's views need only the clinic rows: half the grouping work.
    let (queue_col, token_sets, message_sets) = if clinic_rows_only {
        ("NULL::uuid AS queue_id", "((business_id, day))", "((ses.business_id, ses.day, m.message_type, m.status))")
    } else {
        (
            "queue_id",
            "((business_id, day, queue_id), (business_id, day))",
            "((ses.business_id, ses.day, ses.queue_id, m.message_type, m.status), \
              (ses.business_id, ses.day, m.message_type, m.status))",
        )
    };
    let message_queue_col = if clinic_rows_only { "NULL::uuid AS queue_id" } else { "ses.queue_id" };
    format!(
        "WITH ses AS ( \
             SELECT s.id, s.business_id, s.queue_id, s.date AS day, s.max_waiting, b.timezone \
             FROM {sessions}), \
         tok AS ( \
             SELECT ses.business_id, ses.day, ses.queue_id, ses.max_waiting, t.id, t.source, t.status, \
                    floor(extract(epoch FROM t.called_at - t.created_at))::int AS wait, \
                    CASE WHEN t.status = 'SERVED' \
                         THEN floor(extract(epoch FROM t.served_at - t.called_at))::int END AS service, \
                    t.eta_first_min_minutes AS eta_lo, t.eta_first_max_minutes AS eta_hi, \
                    extract(hour FROM t.created_at AT TIME ZONE ses.timezone)::int AS hour \
             FROM ses LEFT JOIN qlink.tokens t ON t.session_id = ses.id), \
         tagg AS ( \
             SELECT business_id, day, {queue_col}, \
                    count(id)::int AS tokens, \
                    count(*) FILTER (WHERE source = 'QR')::int AS tokens_qr, \
                    count(*) FILTER (WHERE source = 'STAFF')::int AS tokens_staff, \
                    count(*) FILTER (WHERE source = 'API')::int AS tokens_api, \
                    count(*) FILTER (WHERE source = 'WHATSAPP')::int AS tokens_whatsapp, \
                    count(*) FILTER (WHERE source = 'KIOSK')::int AS tokens_kiosk, \
                    count(*) FILTER (WHERE status = 'SERVED')::int AS served, \
                    count(*) FILTER (WHERE status = 'SKIPPED')::int AS skipped, \
                    count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled, \
                    count(*) FILTER (WHERE status IN ('WAITING', 'SERVING'))::int AS unserved, \
                    count(wait)::int AS called, \
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY wait) AS wait_p50_seconds, \
                    percentile_disc(0.9) WITHIN GROUP (ORDER BY wait) AS wait_p90_seconds, \
                    coalesce(sum(wait), 0)::bigint AS wait_sum_seconds, \
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY service) AS service_p50_seconds, \
                    percentile_disc(0.9) WITHIN GROUP (ORDER BY service) AS service_p90_seconds, \
                    count(service)::int AS service_count, \
                    coalesce(sum(service), 0)::bigint AS service_sum_seconds, \
                    count(*) FILTER (WHERE wait IS NOT NULL AND eta_lo IS NOT NULL)::int AS eta_shown, \
                    count(*) FILTER (WHERE wait IS NOT NULL AND eta_lo IS NOT NULL \
                                       AND wait / 60 BETWEEN eta_lo AND eta_hi)::int AS eta_hits, \
                    coalesce(max(max_waiting), 0)::int AS max_waiting, \
                    array_agg(hour) FILTER (WHERE id IS NOT NULL) AS hours \
             FROM tok GROUP BY GROUPING SETS {token_sets}), \
         mcount AS ( \
             SELECT ses.business_id, ses.day, {message_queue_col}, m.message_type, m.status, count(*)::int AS n \
             FROM ses JOIN qlink.tokens t ON t.session_id = ses.id \
                      JOIN qlink.message_logs m ON m.token_id = t.id \
             GROUP BY GROUPING SETS {message_sets}), \
         mtype AS ( \
             SELECT business_id, day, queue_id, message_type, jsonb_object_agg(status, n) AS statuses, \
                    coalesce(sum(n) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')), 0) AS sent, \
                    coalesce(sum(n) FILTER (WHERE status IN ('FAILED', 'PERMANENTLY_FAILED')), 0) AS failed \
             FROM mcount GROUP BY business_id, day, queue_id, message_type), \
         magg AS ( \
             SELECT business_id, day, queue_id, jsonb_object_agg(message_type, statuses) AS messages, \
                    coalesce(sum(sent) FILTER (WHERE message_type <> 'REPLY'), 0)::int AS sent, \
                    coalesce(sum(failed) FILTER (WHERE message_type <> 'REPLY'), 0)::int AS failed \
             FROM mtype GROUP BY business_id, day, queue_id) \
         SELECT tagg.business_id, tagg.queue_id, tagg.day, tokens, tokens_qr, tokens_staff, tokens_api, served, \
                skipped, cancelled, unserved, called, wait_p50_seconds, wait_p90_seconds, wait_sum_seconds, \
                service_p50_seconds, service_p90_seconds, service_count, service_sum_seconds, eta_shown, eta_hits, \
                coalesce(magg.sent, 0) AS messages_sent, coalesce(magg.failed, 0) AS messages_failed, \
                coalesce(magg.messages, '{{}}'::jsonb) AS messages, max_waiting, \
                ARRAY(SELECT (SELECT count(*) FROM unnest(tagg.hours) h WHERE h = g)::int \
                      FROM generate_series(0, 23) g ORDER BY g) AS arrivals, tokens_whatsapp, tokens_kiosk \
         FROM tagg LEFT JOIN magg ON magg.business_id = tagg.business_id AND magg.day = tagg.day \
                                 AND magg.queue_id IS NOT DISTINCT FROM tagg.queue_id"
    )
}

/// Writes the rollups of one clinic's days `$2`–`$3` (`$4`: the time they are written).
/// Rows go in key order, so two writers of one clinic wait for each other, never deadlock.
static WRITE: LazyLock<String> = LazyLock::new(|| {
    let compute = compute_sql(
        "qlink.sessions s JOIN qlink.businesses b ON b.id = s.business_id \
         WHERE s.business_id = $1 AND s.date BETWEEN $2 AND $3",
        false,
    );
    let updates: Vec<String> = FIGURES.split(", ").map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO qlink.daily_rollups (business_id, queue_id, day, {FIGURES}, computed_at) \
         SELECT c.*, $4 FROM ({compute}) c ORDER BY c.day, c.queue_id NULLS FIRST \
         ON CONFLICT ON CONSTRAINT daily_rollups_day_key DO UPDATE SET {}, computed_at = EXCLUDED.computed_at",
        updates.join(", ")
    )
});

/// The days of a clinic that are due a write, as of `$2`: from its mark (or its first day)
/// to yesterday, and every day of the last 30 whose rollup was written less than a day
/// after the day ended (its messages' statuses may have changed since). Returns (from, to,
/// today).
const DUE: &str = "SELECT least(coalesce(k.complete_before, first.day), unsettled.day), today.day - 1, today.day \
     FROM qlink.businesses b \
     CROSS JOIN LATERAL (SELECT ($2 AT TIME ZONE b.timezone)::date AS day) today \
     CROSS JOIN LATERAL (SELECT min(s.date) AS day FROM qlink.sessions s WHERE s.business_id = b.id) first \
     CROSS JOIN LATERAL (SELECT min(r.day) AS day FROM qlink.daily_rollups r \
                         WHERE r.business_id = b.id AND r.queue_id IS NULL \
                           AND r.day BETWEEN today.day - 30 AND today.day - 1 \
                           AND r.computed_at < (r.day + 2)::timestamp AT TIME ZONE b.timezone) unsettled \
     LEFT JOIN qlink.rollup_marks k ON k.business_id = b.id \
     WHERE b.id = $1 AND first.day IS NOT NULL";

/// Writes the due rollups of one clinic, at most `max_days_back` days back, and moves its
/// mark to today if nothing older was left out. Returns the rows written.
pub fn write_due(
    client: &mut SpiClient<'_>,
    business_id: pgrx::Uuid,
    now: TimestampWithTimeZone,
    max_days_back: Option<i32>,
) -> QResult<i64> {
    let Some(row) = db::first(client, DUE, &[business_id.into(), now.into()])? else {
        return Ok(0);
    };
    let (due_from, to, today): (Date, Date, Date) = (db::col(&row, 1)?, db::col(&row, 2)?, db::col(&row, 3)?);
    let from = match max_days_back {
        Some(days) => {
            let floor: Date =
                db::value(client, "SELECT $1 - $2", &[today.into(), days.into()])?.expect("date arithmetic");
            floor.max(due_from)
        }
        None => due_from,
    };
    let written = write_days(client, business_id, from, to, now)?;
    if from == due_from {
        db::exec(
            client,
            "INSERT INTO qlink.rollup_marks (business_id, complete_before) VALUES ($1, $2) \
             ON CONFLICT (business_id) DO UPDATE \
             SET complete_before = greatest(qlink.rollup_marks.complete_before, EXCLUDED.complete_before)",
            &[business_id.into(), today.into()],
        )?;
    }
    Ok(written)
}

/// Writes the rollups of the clinic's today (a day closed early).
pub fn write_today(client: &mut SpiClient<'_>, business: &Business, now: TimestampWithTimeZone) -> QResult<i64> {
    let today: Date =
        db::value(client, "SELECT ($1 AT TIME ZONE $2)::date", &[now.into(), business.timezone.as_str().into()])?
            .expect("a date");
    write_days(client, business.id, today, today, now)
}

/// Writes (or rewrites) the rollups of one clinic's days `from`–`to`.
pub fn write_days(
    client: &mut SpiClient<'_>,
    business_id: pgrx::Uuid,
    from: Date,
    to: Date,
    now: TimestampWithTimeZone,
) -> QResult<i64> {
    if from > to {
        return Ok(0);
    }
    let table = db::exec(client, WRITE.as_str(), &[business_id.into(), from.into(), to.into(), now.into()])?;
    Ok(table.len() as i64)
}

/// Writes the rollups of every ended day that is due one (see sql/API.md); all clinics when
/// `business_id` is NULL. The daily housekeeping calls it; the 0.2 upgrade calls it once.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn write_rollups(business_id: default!(Option<pgrx::Uuid>, "NULL")) -> Result<i64, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let ids: Vec<pgrx::Uuid> = match business_id {
                Some(id) => vec![Business::load(client, Some(id))?.id],
                None => {
                    let table = db::exec(client, "SELECT id FROM qlink.businesses ORDER BY id", &[])?;
                    let mut ids = Vec::with_capacity(table.len());
                    for row in table {
                        ids.push(row.get::<pgrx::Uuid>(1)?.expect("id"));
                    }
                    ids
                }
            };
            let mut written = 0;
            for id in ids {
                written += write_due(client, id, now, None)?;
            }
            Ok(written)
        })
    })
}

/// A report range: both dates, in order, at most `MAX_RANGE_DAYS` long.
fn range(client: &mut SpiClient<'_>, from: Option<Date>, to: Option<Date>) -> QResult<(Date, Date)> {
    let (Some(from), Some(to)) = (from, to) else {
        return Err(refuse(Reason::InvalidRange, "Give both dates of the range (from_date and to_date)."));
    };
    if from > to {
        return Err(refuse(
            Reason::InvalidRange,
            "The range starts after it ends: from_date must not be after to_date.",
        ));
    }
    let days: i32 = db::value(client, "SELECT $2 - $1 + 1", &[from.into(), to.into()])?.expect("date difference");
    if days > MAX_RANGE_DAYS {
        return Err(refuse(
            Reason::InvalidRange,
            format!("A report covers at most 3 years ({MAX_RANGE_DAYS} days); this range has {days}."),
        ));
    }
    Ok((from, to))
}

/// The figures of the days `$2`–`$3` of clinic `$1` (of every clinic unless `one_clinic`;
/// `$1` is then NULL), as the CTE `figures`: rollups before each clinic's mark, computed
/// from it on. The rows of queue `$4` with `one_queue`, else the clinic rows. The clinic
/// test is written into the statement rather than `$1 IS NULL OR …` so that a cached
/// generic plan still uses the clinic's indexes.
pub(crate) fn figures_sql(one_clinic: bool, one_queue: bool) -> String {
    figures_of(one_clinic, one_queue, None)
}

/// `figures_sql` with each of its two parts (rollups, live days) already summed up per
/// clinic by `aggregates` (a select list over the figures' columns): a row or two per
/// clinic instead of one per day, for the views over every clinic.
pub(crate) fn figures_per_clinic_sql(one_clinic: bool, aggregates: &str) -> String {
    figures_of(one_clinic, false, Some(aggregates))
}

fn figures_of(one_clinic: bool, one_queue: bool, per_clinic: Option<&str>) -> String {
    let (sessions_of, rollups_of) = if one_clinic {
        ("s.business_id = $1", "r.business_id = $1")
    } else {
        ("$1::uuid IS NULL", "$1::uuid IS NULL")
    };
    let queue_filter = if one_queue { "queue_id = $4" } else { "queue_id IS NULL" };
    let live = compute_sql(
        &format!(
            "qlink.sessions s JOIN qlink.businesses b ON b.id = s.business_id \
             LEFT JOIN qlink.rollup_marks k ON k.business_id = s.business_id \
             WHERE {sessions_of} AND s.date BETWEEN $2 AND $3 \
               AND s.date >= coalesce(k.complete_before, '-infinity'::date)"
        ),
        !one_queue,
    );
    // A day before the clinic's mark has its rollup; a clinic without a mark has none.
    let kept = format!(
        "FROM qlink.daily_rollups r JOIN qlink.rollup_marks k ON k.business_id = r.business_id \
         WHERE {rollups_of} AND r.day BETWEEN $2 AND $3 AND r.day < k.complete_before AND r.{queue_filter}"
    );
    match per_clinic {
        None => format!(
            "figures AS ( \
                 SELECT r.business_id, r.queue_id, r.day, {FIGURES}, false AS live {kept} \
                 UNION ALL \
                 SELECT c.*, true FROM ({live}) c WHERE c.{queue_filter} )"
        ),
        Some(aggregates) => format!(
            "figures AS ( \
                 SELECT r.business_id, {aggregates} {kept} GROUP BY r.business_id \
                 UNION ALL \
                 SELECT c.business_id, {aggregates} FROM ({live}) c WHERE c.{queue_filter} GROUP BY c.business_id )"
        ),
    }
}

static CLINIC_REPORT: LazyLock<[String; 2]> = LazyLock::new(|| {
    [false, true].map(|one_queue| {
        format!(
            "WITH {} \
             SELECT d::date, coalesce(tokens, 0), coalesce(tokens_qr, 0), coalesce(tokens_staff, 0), \
                    coalesce(tokens_api, 0), coalesce(served, 0), coalesce(skipped, 0), coalesce(cancelled, 0), \
                    coalesce(unserved, 0), coalesce(called, 0), wait_p50_seconds, wait_p90_seconds, \
                    service_p50_seconds, service_p90_seconds, \
                    CASE WHEN eta_shown > 0 THEN eta_hits::float8 / eta_shown END, \
                    coalesce(messages_sent, 0), coalesce(messages_failed, 0), coalesce(max_waiting, 0), \
                    coalesce(live, d::date >= coalesce((SELECT complete_before FROM qlink.rollup_marks \
                                                        WHERE business_id = $1), '-infinity'::date)), \
                    coalesce(tokens_whatsapp, 0), coalesce(tokens_kiosk, 0) \
             FROM generate_series($2::date, $3::date, interval '1 day') d LEFT JOIN figures f ON f.day = d::date \
             ORDER BY d",
            figures_sql(true, one_queue)
        )
    })
});

static HOURLY: LazyLock<[String; 2]> = LazyLock::new(|| {
    [false, true].map(|one_queue| {
        format!(
            "WITH {} \
             SELECT w, h, coalesce(sum(f.arrivals[h + 1]), 0)::bigint \
             FROM generate_series(1, 7) w CROSS JOIN generate_series(0, 23) h \
             LEFT JOIN figures f ON extract(isodow FROM f.day) = w \
             GROUP BY w, h ORDER BY w, h",
            figures_sql(true, one_queue)
        )
    })
});

/// A clinic (P0002 if unknown) and, if named, one of its queues (P0002 if not its own).
fn clinic_and_queue(
    client: &mut SpiClient<'_>,
    business_id: Option<pgrx::Uuid>,
    queue_id: Option<pgrx::Uuid>,
) -> QResult<Business> {
    let business = Business::load(client, business_id)?;
    if let Some(q) = queue_id {
        let known: bool = db::value(
            client,
            "SELECT EXISTS (SELECT 1 FROM qlink.queues WHERE id = $1 AND business_id = $2)",
            &[q.into(), business.id.into()],
        )?
        .unwrap_or(false);
        if !known {
            return Err(refused(Reason::QueueNotFound));
        }
    }
    Ok(business)
}

/// A row per day of the range: the clinic's figures (one queue's with `queue_id`).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_report(
    business_id: Option<pgrx::Uuid>,
    from_date: Option<Date>,
    to_date: Option<Date>,
    queue_id: default!(Option<pgrx::Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(day, Date),
            name!(tokens, i32),
            name!(tokens_qr, i32),
            name!(tokens_staff, i32),
            name!(tokens_api, i32),
            name!(served, i32),
            name!(skipped, i32),
            name!(cancelled, i32),
            name!(unserved, i32),
            name!(called, i32),
            name!(wait_p50_seconds, Option<i32>),
            name!(wait_p90_seconds, Option<i32>),
            name!(service_p50_seconds, Option<i32>),
            name!(service_p90_seconds, Option<i32>),
            name!(eta_hit_rate, Option<f64>),
            name!(messages_sent, i32),
            name!(messages_failed, i32),
            name!(max_waiting, i32),
            name!(live, bool),
            name!(tokens_whatsapp, i32),
            name!(tokens_kiosk, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let (from, to) = range(client, from_date, to_date)?;
            let business = clinic_and_queue(client, business_id, queue_id)?;
            let sql = CLINIC_REPORT[usize::from(queue_id.is_some())].as_str();
            let table = db::read(client, sql, &[business.id.into(), from.into(), to.into(), queue_id.into()])?;
            let mut rows = Vec::with_capacity(table.len());
            for row in table {
                rows.push((
                    row.get::<Date>(1)?.expect("day"),
                    row.get::<i32>(2)?.unwrap_or(0),
                    row.get::<i32>(3)?.unwrap_or(0),
                    row.get::<i32>(4)?.unwrap_or(0),
                    row.get::<i32>(5)?.unwrap_or(0),
                    row.get::<i32>(6)?.unwrap_or(0),
                    row.get::<i32>(7)?.unwrap_or(0),
                    row.get::<i32>(8)?.unwrap_or(0),
                    row.get::<i32>(9)?.unwrap_or(0),
                    row.get::<i32>(10)?.unwrap_or(0),
                    row.get::<i32>(11)?,
                    row.get::<i32>(12)?,
                    row.get::<i32>(13)?,
                    row.get::<i32>(14)?,
                    row.get::<f64>(15)?,
                    row.get::<i32>(16)?.unwrap_or(0),
                    row.get::<i32>(17)?.unwrap_or(0),
                    row.get::<i32>(18)?.unwrap_or(0),
                    row.get::<bool>(19)?.unwrap_or(false),
                    row.get::<i32>(20)?.unwrap_or(0),
                    row.get::<i32>(21)?.unwrap_or(0),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// The tokens created in each clinic-local hour of each weekday over the range: 168 rows.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn hourly_arrivals(
    business_id: Option<pgrx::Uuid>,
    from_date: Option<Date>,
    to_date: Option<Date>,
    queue_id: default!(Option<pgrx::Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<TableIterator<'static, (name!(weekday, i32), name!(hour, i32), name!(tokens, i64))>, ErrorReport> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::OwnerOrOperator)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let (from, to) = range(client, from_date, to_date)?;
            let business = clinic_and_queue(client, business_id, queue_id)?;
            let sql = HOURLY[usize::from(queue_id.is_some())].as_str();
            let table = db::read(client, sql, &[business.id.into(), from.into(), to.into(), queue_id.into()])?;
            let mut rows = Vec::with_capacity(168);
            for row in table {
                rows.push((
                    row.get::<i32>(1)?.expect("weekday"),
                    row.get::<i32>(2)?.expect("hour"),
                    row.get::<i64>(3)?.unwrap_or(0),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

static PLATFORM_REPORT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} \
         SELECT b.id, b.slug, b.name, b.status, b.plan_code, \
                coalesce(sum(f.active_days), 0)::int, coalesce(sum(f.tokens), 0)::bigint, \
                coalesce(sum(f.served), 0)::bigint, coalesce(sum(f.skipped), 0)::bigint, \
                coalesce(sum(f.cancelled), 0)::bigint, coalesce(sum(f.unserved), 0)::bigint, \
                (sum(f.wait_sum_seconds) / nullif(sum(f.called), 0))::int, \
                (sum(f.service_sum_seconds) / nullif(sum(f.service_count), 0))::int, \
                sum(f.eta_hits)::float8 / nullif(sum(f.eta_shown), 0), \
                coalesce(sum(f.messages_sent), 0)::bigint, coalesce(sum(f.messages_failed), 0)::bigint, \
                coalesce(max(f.max_waiting), 0)::int \
         FROM qlink.businesses b LEFT JOIN figures f ON f.business_id = b.id \
         GROUP BY b.id ORDER BY b.slug",
        figures_per_clinic_sql(
            false,
            "count(*) FILTER (WHERE tokens > 0) AS active_days, sum(tokens) AS tokens, sum(served) AS served, \
             sum(skipped) AS skipped, sum(cancelled) AS cancelled, sum(unserved) AS unserved, sum(called) AS called, \
             sum(wait_sum_seconds) AS wait_sum_seconds, sum(service_count) AS service_count, \
             sum(service_sum_seconds) AS service_sum_seconds, sum(eta_hits) AS eta_hits, \
             sum(eta_shown) AS eta_shown, sum(messages_sent) AS messages_sent, \
             sum(messages_failed) AS messages_failed, max(max_waiting) AS max_waiting"
        )
    )
});

/// The operator's view of a range: a row per clinic with its totals.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn platform_report(
    from_date: Option<Date>,
    to_date: Option<Date>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(business_id, pgrx::Uuid),
            name!(slug, String),
            name!(name, String),
            name!(status, String),
            name!(plan_code, String),
            name!(active_days, i32),
            name!(tokens, i64),
            name!(served, i64),
            name!(skipped, i64),
            name!(cancelled, i64),
            name!(unserved, i64),
            name!(wait_mean_seconds, Option<i32>),
            name!(service_mean_seconds, Option<i32>),
            name!(eta_hit_rate, Option<f64>),
            name!(messages_sent, i64),
            name!(messages_failed, i64),
            name!(max_waiting, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        Spi::connect_mut(|client| {
            let (from, to) = range(client, from_date, to_date)?;
            let none: Option<pgrx::Uuid> = None;
            let table = db::read(client, PLATFORM_REPORT.as_str(), &[none.into(), from.into(), to.into()])?;
            let mut rows = Vec::with_capacity(table.len());
            for row in table {
                rows.push((
                    row.get::<pgrx::Uuid>(1)?.expect("id"),
                    row.get::<String>(2)?.expect("slug"),
                    row.get::<String>(3)?.expect("name"),
                    row.get::<String>(4)?.expect("status"),
                    row.get::<String>(5)?.expect("plan_code"),
                    row.get::<i32>(6)?.unwrap_or(0),
                    row.get::<i64>(7)?.unwrap_or(0),
                    row.get::<i64>(8)?.unwrap_or(0),
                    row.get::<i64>(9)?.unwrap_or(0),
                    row.get::<i64>(10)?.unwrap_or(0),
                    row.get::<i64>(11)?.unwrap_or(0),
                    row.get::<i32>(12)?,
                    row.get::<i32>(13)?,
                    row.get::<f64>(14)?,
                    row.get::<i64>(15)?.unwrap_or(0),
                    row.get::<i64>(16)?.unwrap_or(0),
                    row.get::<i32>(17)?.unwrap_or(0),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

static PLATFORM_TREND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} \
         SELECT d::date, count(f.business_id) FILTER (WHERE f.tokens > 0)::int, \
                coalesce(sum(f.tokens), 0)::bigint, coalesce(sum(f.served), 0)::bigint, \
                coalesce(sum(f.messages_sent), 0)::bigint, coalesce(sum(f.messages_failed), 0)::bigint \
         FROM generate_series($2::date, $3::date, interval '1 day') d LEFT JOIN figures f ON f.day = d::date \
         GROUP BY d ORDER BY d",
        figures_sql(false, false)
    )
});

/// The platform's days: all clinics together.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn platform_trend(
    from_date: Option<Date>,
    to_date: Option<Date>,
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(day, Date),
            name!(clinics, i32),
            name!(tokens, i64),
            name!(served, i64),
            name!(messages_sent, i64),
            name!(messages_failed, i64),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        crate::login::caller(login, crate::login::May::Operator)?;
        Spi::connect_mut(|client| {
            let (from, to) = range(client, from_date, to_date)?;
            let none: Option<pgrx::Uuid> = None;
            let table = db::read(client, PLATFORM_TREND.as_str(), &[none.into(), from.into(), to.into()])?;
            let mut rows = Vec::with_capacity(table.len());
            for row in table {
                rows.push((
                    row.get::<Date>(1)?.expect("day"),
                    row.get::<i32>(2)?.unwrap_or(0),
                    row.get::<i64>(3)?.unwrap_or(0),
                    row.get::<i64>(4)?.unwrap_or(0),
                    row.get::<i64>(5)?.unwrap_or(0),
                    row.get::<i64>(6)?.unwrap_or(0),
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// The clinic's local date by the queue clock (what "today" means in its reports and
/// statements); without a clinic, the latest local date of any clinic (UTC with none), so
/// that a platform range ending today includes every clinic's today.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn clinic_today(business_id: default!(Option<pgrx::Uuid>, "NULL")) -> Result<Date, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let today: Option<Date> = match business_id {
                Some(_) => {
                    let business = Business::load(client, business_id)?;
                    db::read_value(
                        client,
                        "SELECT ($1 AT TIME ZONE $2)::date",
                        &[now.into(), business.timezone.as_str().into()],
                    )?
                }
                None => db::read_value(
                    client,
                    "SELECT coalesce(max(($1 AT TIME ZONE timezone)::date), ($1 AT TIME ZONE 'UTC')::date) \
                     FROM qlink.businesses",
                    &[now.into()],
                )?,
            };
            Ok(today.expect("a date"))
        })
    })
}
