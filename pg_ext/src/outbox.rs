//! The message outbox. Queue functions only INSERT rows here, inside their transaction;
//! nothing in the extension sends NOTIFY (a NOTIFY in the queue transaction serialises
//! every commit on a cluster-wide lock). The server sends `NOTIFY qlink_messages` after
//! its commit, and the worker also polls, so a lost wake-up only delays a message.

use crate::db::{self, col, nullable};
use crate::error::{invalid_argument, refused, run, QResult, Reason};
use crate::model::{Business, Room, Session, Token};
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

/// After this many failed sends a message is PERMANENTLY_FAILED.
pub const MAX_ATTEMPTS: i32 = 3;

/// Queues one message for a token, or records it as SKIPPED with the reason when the
/// clinic has WhatsApp off or has spent today's budget. Tokens without a phone get none.
// The message's clinic, day, token, kind, content, cause and time: a struct would only
// rename them at every call.
#[allow(clippy::too_many_arguments)]
pub fn enqueue(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &mut Session,
    token: &Token,
    message_type: &str,
    people_ahead: Option<i32>,
    room: Option<&Room>,
    audit_log_id: Option<i64>,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    let facts = Facts { message_type, people_ahead, room, audit_log_id, extra: serde_json::Value::Null };
    enqueue_with(client, business, session, token, facts, now)
}

/// What one message says besides the token: its kind, the people ahead, the room, the
/// action that caused it, and fields of its own kind (a DELAY's minutes and note).
pub struct Facts<'a> {
    pub message_type: &'a str,
    pub people_ahead: Option<i32>,
    pub room: Option<&'a Room>,
    pub audit_log_id: Option<i64>,
    pub extra: serde_json::Value,
}

pub fn enqueue_with(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &mut Session,
    token: &Token,
    facts: Facts<'_>,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    let Facts { message_type, people_ahead, room, audit_log_id, extra } = facts;
    let Some(phone) = token.patient_phone.as_deref() else {
        return Ok(());
    };
    let (status, reason) = if !business.settings.whatsapp_enabled {
        ("SKIPPED", Some("whatsapp_disabled"))
    } else if opted_out(client, business.id, phone)? {
        ("SKIPPED", Some("opted_out"))
    } else if i64::from(session.clinic_messages()) >= business.settings.daily_message_limit {
        ("SKIPPED", Some("daily_message_limit"))
    } else {
        session.messages_queued += 1;
        ("PENDING", None)
    };
    // A message names the room only where there is a choice of rooms: a one-room clinic's
    // CALLED reads as in 0.1 ("token 12"), and the sender needs no rule of its own.
    let room_name = match room {
        Some(r) if several_rooms(client, business)? => Some(r.name.as_str()),
        _ => None,
    };
    let mut payload = serde_json::json!({
        "clinic_name": business.name,
        "token_number": token.token_number,
        "token_label": token.label,
        "token_id": token.id.to_string(),
        "people_ahead": people_ahead,
        "room_name": room_name,
    });
    if let (serde_json::Value::Object(p), serde_json::Value::Object(more)) = (&mut payload, extra) {
        p.extend(more);
    }
    db::exec(
        client,
        "INSERT INTO qlink.message_logs (business_id, token_id, audit_log_id, message_type, to_phone, \
             language, payload, status, reason, next_attempt_at, created_at, updated_at, room_id, \
             sender_phone_number_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11, $12)",
        &[
            business.id.into(),
            token.id.into(),
            audit_log_id.into(),
            message_type.into(),
            phone.into(),
            token.language.as_str().into(),
            JsonB(payload).into(),
            status.into(),
            reason.into(),
            now.into(),
            room.map(|r| r.id).into(),
            business.sender.as_deref().into(),
        ],
    )?;
    Ok(())
}

/// Whether the patient wrote STOP to this clinic (and not START since).
pub fn opted_out(client: &mut SpiClient<'_>, business_id: Uuid, phone: &str) -> QResult<bool> {
    Ok(db::value(
        client,
        "SELECT EXISTS (SELECT 1 FROM qlink.opt_outs WHERE business_id = $1 AND phone = $2)",
        &[business_id.into(), phone.into()],
    )?
    .unwrap_or(false))
}

#[allow(clippy::too_many_arguments)]
/// Queues a REPLY: free-form text to someone who wrote to `sender` (None: the installation's
/// number) in the last 24 hours. The worker writes the text from `payload` in `language`.
/// Replies are not counted against the clinic's daily message limit: they answer the patient
/// and cost nothing inside the window the patient opened. Returns the row's id.
pub fn enqueue_reply(
    client: &mut SpiClient<'_>,
    business_id: Option<Uuid>,
    token_id: Option<Uuid>,
    to_phone: &str,
    language: &str,
    sender: Option<&str>,
    payload: serde_json::Value,
    now: TimestampWithTimeZone,
) -> QResult<i64> {
    let id: Option<i64> = db::value(
        client,
        "INSERT INTO qlink.message_logs (business_id, token_id, message_type, to_phone, language, payload, \
             status, next_attempt_at, created_at, updated_at, sender_phone_number_id) \
         VALUES ($1, $2, 'REPLY', $3, $4, $5, 'PENDING', $6, $6, $6, $7) RETURNING id",
        &[
            business_id.into(),
            token_id.into(),
            to_phone.into(),
            language.into(),
            JsonB(payload).into(),
            now.into(),
            sender.into(),
        ],
    )?;
    Ok(id.expect("INSERT RETURNING id"))
}

fn several_rooms(client: &mut SpiClient<'_>, business: &Business) -> QResult<bool> {
    Ok(db::value(
        client,
        "SELECT count(*) > 1 FROM qlink.rooms WHERE business_id = $1 AND is_active",
        &[business.id.into()],
    )?
    .unwrap_or(false))
}

/// REMINDER for every WAITING token of the line that has just come within its reminder
/// position of the front (the patient's own choice, else the clinic's
/// `reminder_at_position`), once per token. `serving`: patients of this line being served
/// now (they are ahead too). A clinic with `reminder_at_position` 0 sends none.
pub fn queue_reminders(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &mut Session,
    serving: i32,
    audit_log_id: Option<i64>,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    let reach = business.settings.reminder_at_position;
    if reach <= 0 {
        return Ok(());
    }
    // Patients choose 1–10, so the first max(reach, 10) of the line are the candidates.
    let table = db::exec(
        client,
        "WITH line AS ( \
             SELECT id, reminder_position, row_number() OVER (ORDER BY is_priority DESC, line_seq)::int AS pos \
             FROM (SELECT id, is_priority, line_seq, reminder_position FROM qlink.tokens \
                   WHERE session_id = $1 AND status = 'WAITING' \
                   ORDER BY is_priority DESC, line_seq LIMIT $3) w) \
         UPDATE qlink.tokens t SET reminder_queued = true FROM line \
         WHERE t.id = line.id AND NOT t.reminder_queued AND line.pos <= coalesce(line.reminder_position, $2) \
         RETURNING t.id, line.pos",
        &[session.id.into(), reach.into(), reach.max(10).into()],
    )?;
    let mut due: Vec<(Uuid, i32)> = Vec::new();
    for row in table {
        due.push((row.get(1)?.expect("id"), row.get(2)?.expect("pos")));
    }
    if due.is_empty() {
        return Ok(());
    }
    const DUE: &str = crate::model::token_sql!("WHERE id = ANY($1)");
    let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
    let tokens = Token::all(db::exec(client, DUE, &[ids.into()])?)?;
    due.sort_by_key(|(_, pos)| *pos);
    for (id, pos) in due {
        let token = tokens.iter().find(|t| t.id == id).expect("a reminded token");
        enqueue(client, business, session, token, "REMINDER", Some(pos - 1 + serving), None, audit_log_id, now)?;
    }
    Ok(())
}

/// Messages queued by an action that is being undone and not yet sent are dropped.
pub fn skip_unsent_for_audit(client: &mut SpiClient<'_>, audit_log_id: i64, now: TimestampWithTimeZone) -> QResult<()> {
    // A dropped REMINDER may be owed again later, so its token becomes eligible again.
    db::exec(
        client,
        "WITH dropped AS ( \
             UPDATE qlink.message_logs SET status = 'SKIPPED', reason = 'undone', updated_at = $2 \
             WHERE audit_log_id = $1 AND status = 'PENDING' AND attempts = 0 \
               AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING token_id, message_type) \
         UPDATE qlink.tokens SET reminder_queued = false \
         WHERE id IN (SELECT token_id FROM dropped WHERE message_type = 'REMINDER')",
        &[audit_log_id.into(), now.into()],
    )?;
    Ok(())
}

/// The daily cap of unique recipients runs over this window (Meta's rolling 24 hours).
const RECIPIENT_WINDOW: &str = "24 hours";

/// Claims up to `max_rows` due messages for `lease`. Claimed rows are invisible to other
/// workers until the lease ends; a worker that dies simply lets it run out. Rows are taken
/// round robin across senders, except those of `full_senders` (`''`: the installation's);
/// template messages first pass their account's daily recipient cap (see sql/API.md).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn claim_messages(
    max_rows: Option<i32>,
    lease: Option<Interval>,
    full_senders: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id, i64),
            name!(business_id, Option<Uuid>),
            name!(token_id, Option<Uuid>),
            name!(message_type, String),
            name!(to_phone, Option<String>),
            name!(language, String),
            name!(payload, JsonB),
            name!(attempts, i32),
            name!(sender_phone_number_id, Option<String>),
            name!(access_token_enc, Option<Vec<u8>>),
            name!(sender_rate, Option<f32>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let max_rows = max_rows
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid_argument("max_rows must be from 1 to 1000."))?;
        let lease = lease.ok_or_else(|| invalid_argument("lease is required."))?;
        let full: Vec<String> = full_senders.unwrap_or_default().into_iter().flatten().collect();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let positive: bool = db::value(client, "SELECT $1 > interval '0'", &[lease.into()])?.unwrap_or(false);
            if !positive {
                return Ok(TableIterator::new(Vec::new()));
            }
            let table = db::exec(
                client,
                "WITH ranked AS ( \
                     SELECT id, next_attempt_at, row_number() OVER ( \
                         PARTITION BY coalesce(sender_phone_number_id, '') ORDER BY next_attempt_at, id) AS rn \
                     FROM qlink.message_logs \
                     WHERE status IN ('PENDING', 'FAILED') AND next_attempt_at <= $1 \
                       AND (locked_until IS NULL OR locked_until <= $1) \
                       AND coalesce(sender_phone_number_id, '') <> ALL ($3)) \
                 SELECT m.id, m.message_type, m.to_phone, m.sender_phone_number_id, \
                        coalesce(s.waba_id, 'installation') AS waba_id \
                 FROM qlink.message_logs m \
                 JOIN (SELECT id, rn, next_attempt_at FROM ranked WHERE rn <= $2) r ON r.id = m.id \
                 LEFT JOIN qlink.whatsapp_senders s ON s.phone_number_id = m.sender_phone_number_id \
                 ORDER BY r.rn, r.next_attempt_at, m.id LIMIT $2 \
                 FOR UPDATE OF m SKIP LOCKED",
                &[now.into(), max_rows.into(), full.into()],
            )?;
            let mut candidates = Vec::new();
            for row in table {
                candidates.push(Candidate {
                    id: db::field(&row, 1)?,
                    template: db::field::<String>(&row, 2)? != "REPLY",
                    to_phone: row.get(3)?,
                    sender: row.get(4)?,
                    waba_id: db::field(&row, 5)?,
                });
            }
            let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
            // Messages queued before the patient wrote STOP are dropped, not sent.
            let dropped = db::exec(
                client,
                "UPDATE qlink.message_logs m SET status = 'SKIPPED', reason = 'opted_out', updated_at = $2 \
                 WHERE m.id = ANY($1) AND m.message_type <> 'REPLY' \
                   AND EXISTS (SELECT 1 FROM qlink.opt_outs o WHERE o.business_id = m.business_id AND o.phone = m.to_phone) \
                 RETURNING m.id",
                &[ids.into(), now.into()],
            )?;
            let mut skipped = Vec::new();
            for row in dropped {
                skipped.push(db::field::<i64>(&row, 1)?);
            }
            candidates.retain(|c| !skipped.contains(&c.id));
            let sendable = pass_recipient_caps(client, candidates, now)?;
            let table = db::exec(
                client,
                "WITH claimed AS ( \
                     UPDATE qlink.message_logs m SET locked_until = $1 + $3, updated_at = $1, \
                         reason = CASE WHEN m.reason = 'daily_recipient_limit' THEN NULL ELSE m.reason END \
                     WHERE m.id = ANY($2) \
                     RETURNING m.id, m.business_id, m.token_id, m.message_type, m.to_phone, m.language, \
                               m.payload, m.attempts, m.sender_phone_number_id) \
                 SELECT c.*, s.access_token_enc, s.rate_per_second \
                 FROM claimed c LEFT JOIN qlink.whatsapp_senders s ON s.phone_number_id = c.sender_phone_number_id",
                &[now.into(), sendable.clone().into(), lease.into()],
            )?;
            type Claimed = (
                i64,
                Option<Uuid>,
                Option<Uuid>,
                String,
                Option<String>,
                String,
                JsonB,
                i32,
                Option<String>,
                Option<Vec<u8>>,
                Option<f32>,
            );
            let mut rows: Vec<Claimed> = Vec::new();
            for row in table {
                rows.push((
                    db::field(&row, 1)?,
                    row.get(2)?,
                    row.get(3)?,
                    db::field(&row, 4)?,
                    row.get(5)?,
                    db::field(&row, 6)?,
                    db::field(&row, 7)?,
                    db::field(&row, 8)?,
                    row.get(9)?,
                    row.get(10)?,
                    row.get(11)?,
                ));
            }
            // In the claim's round-robin order.
            rows.sort_by_key(|r| sendable.iter().position(|id| *id == r.0));
            Ok(TableIterator::new(rows))
        })
    })
}

/// A due row, before the recipient cap.
struct Candidate {
    id: i64,
    template: bool,
    to_phone: Option<String>,
    sender: Option<String>,
    waba_id: String,
}

/// The rows that may be sent now, in order. A template message to someone its account has
/// not messaged in the last 24 hours, and who has not written to its number in that time
/// (their own window: Meta does not count it), takes one of the account's
/// `daily_recipient_limit` places; when none is left, the row waits (PENDING) until the
/// oldest place frees up. Each account is locked while its places are counted, so workers
/// claiming at once cannot both take the last one.
fn pass_recipient_caps(
    client: &mut SpiClient<'_>,
    candidates: Vec<Candidate>,
    now: TimestampWithTimeZone,
) -> QResult<Vec<i64>> {
    let mut accounts: Vec<String> = Vec::new();
    for c in candidates.iter().filter(|c| c.template) {
        if !accounts.contains(&c.waba_id) {
            accounts.push(c.waba_id.clone());
        }
    }
    accounts.sort();
    let mut held: Vec<i64> = Vec::new();
    for waba in &accounts {
        let limit: i64 = db::value(
            client,
            "SELECT daily_recipient_limit::bigint FROM qlink.whatsapp_accounts WHERE waba_id = $1 FOR UPDATE",
            &[waba.as_str().into()],
        )?
        .unwrap_or(250);
        db::exec(
            client,
            "DELETE FROM qlink.recipient_windows WHERE waba_id = $1 AND opened_at <= $2 - $3::interval",
            &[waba.as_str().into(), now.into(), RECIPIENT_WINDOW.into()],
        )?;
        let mut open: i64 = db::value(
            client,
            "SELECT count(*) FROM qlink.recipient_windows WHERE waba_id = $1",
            &[waba.as_str().into()],
        )?
        .unwrap_or(0);
        for c in candidates.iter().filter(|c| c.template && &c.waba_id == waba) {
            let Some(phone) = c.to_phone.as_deref() else { continue };
            let counted: bool = db::value(
                client,
                "SELECT EXISTS (SELECT 1 FROM qlink.recipient_windows WHERE waba_id = $1 AND phone = $2) \
                     OR EXISTS (SELECT 1 FROM qlink.conversations WHERE phone_number_id = coalesce($3, '') \
                                AND phone = $2 AND last_inbound_at > $4 - $5::interval)",
                &[waba.as_str().into(), phone.into(), c.sender.as_deref().into(), now.into(), RECIPIENT_WINDOW.into()],
            )?
            .unwrap_or(false);
            if counted {
                continue;
            }
            if open < limit {
                db::exec(
                    client,
                    "INSERT INTO qlink.recipient_windows (waba_id, phone, opened_at) VALUES ($1, $2, $3)",
                    &[waba.as_str().into(), phone.into(), now.into()],
                )?;
                open += 1;
                continue;
            }
            db::exec(
                client,
                "UPDATE qlink.message_logs SET reason = 'daily_recipient_limit', updated_at = $2, \
                     next_attempt_at = greatest(next_attempt_at, \
                         (SELECT min(opened_at) FROM qlink.recipient_windows WHERE waba_id = $3) + $4::interval) \
                 WHERE id = $1",
                &[c.id.into(), now.into(), waba.as_str().into(), RECIPIENT_WINDOW.into()],
            )?;
            held.push(c.id);
        }
    }
    Ok(candidates.into_iter().map(|c| c.id).filter(|id| !held.contains(id)).collect())
}

/// Records the outcome of one send attempt:
/// - `SENT`: accepted by the provider (`provider_message_id` is the wamid);
/// - `RETRY`: a transient failure (network, 5xx); spends an attempt, backs off 2 s, 4 s, …
///   (at most a minute); the third failure is PERMANENTLY_FAILED;
/// - `THROTTLED`: the provider asked us to slow down; deferred without spending an attempt;
/// - `FAILED`: a permanent failure (bad number, template problem): PERMANENTLY_FAILED now.
/// A message already SENT/DELIVERED/READ is never moved back by a late failure.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn finish_message(
    id: Option<i64>,
    outcome: Option<&str>,
    provider: default!(Option<&str>, "NULL"),
    provider_message_id: default!(Option<&str>, "NULL"),
    provider_response: default!(Option<JsonB>, "NULL"),
    retry_after: default!(Option<Interval>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (name!(status, String), name!(attempts, i32), name!(next_attempt_at, TimestampWithTimeZone)),
    >,
    ErrorReport,
> {
    run(|| {
        let id = id.ok_or_else(|| refused(Reason::MessageNotFound))?;
        let outcome = outcome.unwrap_or("").trim().to_ascii_uppercase();
        if !["SENT", "RETRY", "THROTTLED", "FAILED"].contains(&outcome.as_str()) {
            return Err(invalid_argument("outcome must be SENT, RETRY, THROTTLED or FAILED."));
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::first(
                client,
                "UPDATE qlink.message_logs SET \
                     status = CASE \
                         WHEN status IN ('SENT', 'DELIVERED', 'READ') AND $2 <> 'SENT' THEN status \
                         WHEN $2 = 'SENT' THEN CASE WHEN status IN ('DELIVERED', 'READ') THEN status ELSE 'SENT' END \
                         WHEN $2 = 'THROTTLED' THEN status \
                         WHEN $2 = 'FAILED' OR attempts + 1 >= $7 THEN 'PERMANENTLY_FAILED' \
                         ELSE 'FAILED' END, \
                     attempts = CASE WHEN $2 = 'THROTTLED' THEN attempts ELSE attempts + 1 END, \
                     next_attempt_at = CASE \
                         WHEN $2 = 'THROTTLED' THEN $8 + least(coalesce($6, interval '5 seconds'), interval '60 seconds') \
                         WHEN $2 = 'RETRY' THEN $8 + least(coalesce($6, interval '2 seconds' * power(2, attempts)), interval '60 seconds') \
                         ELSE next_attempt_at END, \
                     locked_until = NULL, \
                     provider = coalesce($3, provider), \
                     provider_message_id = coalesce($4, provider_message_id), \
                     provider_response = coalesce($5, provider_response), \
                     updated_at = $8 \
                 WHERE id = $1 \
                 RETURNING status, attempts, next_attempt_at",
                &[
                    id.into(),
                    outcome.as_str().into(),
                    provider.into(),
                    provider_message_id.into(),
                    provider_response.into(),
                    retry_after.into(),
                    MAX_ATTEMPTS.into(),
                    now.into(),
                ],
            )?
            .ok_or_else(|| refused(Reason::MessageNotFound))?;
            Ok(TableIterator::once((col(&row, 1)?, col(&row, 2)?, col(&row, 3)?)))
        })
    })
}

/// Hands a claimed message back unsent: its lease ends now and no attempt is spent, so the
/// next claim (this worker's or another's) takes it at once. For a worker that stops, or
/// whose lease ran short before it could send. True when the row was handed back; false
/// when it was no longer waiting to be sent (already finished).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn release_message(id: Option<i64>) -> Result<bool, ErrorReport> {
    run(|| {
        let id = id.ok_or_else(|| refused(Reason::MessageNotFound))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::first(
                client,
                "WITH released AS ( \
                     UPDATE qlink.message_logs SET locked_until = NULL, updated_at = $2 \
                     WHERE id = $1 AND status IN ('PENDING', 'FAILED') RETURNING id) \
                 SELECT EXISTS (SELECT 1 FROM released) AS released, \
                        EXISTS (SELECT 1 FROM qlink.message_logs WHERE id = $1) AS found",
                &[id.into(), now.into()],
            )?
            .expect("one row");
            let (released, found): (bool, bool) = (col(&row, 1)?, col(&row, 2)?);
            if !found {
                return Err(refused(Reason::MessageNotFound));
            }
            Ok(released)
        })
    })
}

/// Delivery statuses reported by the provider's webhook. Applied idempotently and never
/// backwards: READ is never replaced by DELIVERED, a late FAILED never undoes a READ.
/// Returns false for an unknown provider message id.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn apply_delivery_status(
    provider_message_id: Option<&str>,
    status: Option<&str>,
    details: default!(Option<JsonB>, "NULL"),
) -> Result<bool, ErrorReport> {
    run(|| {
        let pmid = provider_message_id
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid_argument("provider_message_id is required."))?;
        let status = status.unwrap_or("").trim().to_ascii_uppercase();
        let rank = |s: &str| match s {
            "SENT" => 1,
            "DELIVERED" => 2,
            "READ" => 3,
            "FAILED" => 4,
            _ => 0,
        };
        if rank(&status) == 0 {
            return Err(invalid_argument("status must be sent, delivered, read or failed."));
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::first(
                client,
                "UPDATE qlink.message_logs SET \
                     status = CASE \
                         WHEN $2 = 'FAILED' THEN CASE WHEN status IN ('DELIVERED', 'READ') THEN status ELSE 'PERMANENTLY_FAILED' END \
                         WHEN status = 'PERMANENTLY_FAILED' THEN status \
                         WHEN (CASE status WHEN 'SENT' THEN 1 WHEN 'DELIVERED' THEN 2 WHEN 'READ' THEN 3 ELSE 0 END) \
                              >= (CASE $2 WHEN 'SENT' THEN 1 WHEN 'DELIVERED' THEN 2 WHEN 'READ' THEN 3 ELSE 0 END) \
                         THEN status ELSE $2 END, \
                     provider_response = CASE WHEN $3::jsonb IS NULL THEN provider_response \
                         ELSE coalesce(provider_response, '{}'::jsonb) || jsonb_build_object('status_' || lower($2), $3::jsonb) END, \
                     updated_at = $4 \
                 WHERE provider_message_id = $1 RETURNING id",
                &[pmid.into(), status.as_str().into(), details.into(), now.into()],
            )?;
            let _: Option<i64> = match &row {
                Some(r) => nullable(r, 1)?,
                None => None,
            };
            Ok(row.is_some())
        })
    })
}

/// Seconds since the oldest due, unsent message became due (0 when none is waiting): the
/// worker's outbox-lag gauge.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn outbox_lag_seconds() -> Result<f64, ErrorReport> {
    run(|| {
        Spi::connect(|client| {
            let now = crate::clock::now(client)?;
            let lag: Option<f64> = db::read_value(
                client,
                "SELECT coalesce(extract(epoch FROM $1 - min(next_attempt_at))::float8, 0) \
                 FROM qlink.message_logs WHERE status IN ('PENDING', 'FAILED') AND next_attempt_at <= $1",
                &[now.into()],
            )?;
            Ok(lag.unwrap_or(0.0).max(0.0))
        })
    })
}
