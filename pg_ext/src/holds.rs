//! Patient self-service (SPEC §12): stepping out and coming back, the patient's own reminder
//! position, and a doctor's delay on a line.
//!
//! A hold keeps the token WAITING in its place; NEXT passes over it. A hold that runs out
//! makes the token SKIPPED exactly once: whichever comes first of the next function that
//! locks the line's session (they all call `expire_in` under that lock) and the
//! housekeeping's `expire_holds`, which takes the same lock.

use crate::audit::{self, Entry};
use crate::db;
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::eta::LineNow;
use crate::model::{token_sql, Business, Queue, Room, Session, Token};
use crate::outbox::{self, Facts};
use crate::queue::{check_staff, PatientDay};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::Uuid;

/// Makes the run-out holds of these locked sessions SKIPPED, one `HOLD_EXPIRED` audit row
/// each. Returns how many.
pub fn expire_in(
    client: &mut SpiClient<'_>,
    business: &Business,
    sessions: &mut [Session],
    now: TimestampWithTimeZone,
) -> QResult<i64> {
    const DUE: &str =
        token_sql!("WHERE session_id = ANY($1) AND status = 'WAITING' AND held_until <= $2 ORDER BY line_seq");
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    let due = Token::all(db::exec(client, DUE, &[ids.into(), now.into()])?)?;
    if due.is_empty() {
        return Ok(0);
    }
    let expired = due.len() as i64;
    let mut touched: Vec<Uuid> = Vec::new();
    for mut token in due {
        let session = sessions.iter_mut().find(|s| s.id == token.session_id).expect("a locked session's token");
        let before = audit::snapshot_of(&[session], &[&token]);
        db::exec(
            client,
            "UPDATE qlink.tokens SET previous_status = status, status = 'SKIPPED', updated_at = $2 WHERE id = $1",
            &[token.id.into(), now.into()],
        )?;
        session.waiting_count -= 1;
        if let serde_json::Value::Object(snap) = &mut token.snapshot {
            snap.insert("previous_status".into(), "WAITING".into());
            snap.insert("status".into(), "SKIPPED".into());
        }
        token.status = "SKIPPED".into();
        let after = audit::snapshot_of(&[session], &[&token]);
        audit::record(
            client,
            Entry {
                business,
                session: Some(session),
                room_id: None,
                staff_id: None,
                actor: "SYSTEM",
                action: "HOLD_EXPIRED",
                token_id: Some(token.id),
                before: Some(before),
                after: Some(after),
                undoable: false,
            },
            now,
        )?;
        touched.push(token.session_id);
    }
    touched.sort();
    touched.dedup();
    // Everyone behind moved up: some may now be due their reminder.
    for id in touched {
        let session = sessions.iter_mut().find(|s| s.id == id).expect("touched");
        let serving: i32 = db::value(
            client,
            "SELECT count(*)::int FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVING'",
            &[id.into()],
        )?
        .unwrap_or(0);
        outbox::queue_reminders(client, business, session, serving, None, now)?;
    }
    Ok(expired)
}

/// The housekeeping's sweep: every run-out hold of today's lines, each line under its lock.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn expire_holds() -> Result<i64, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            // Ascending queue id: the order every function locks sessions in.
            let table = db::exec(
                client,
                "SELECT DISTINCT t.queue_id, t.business_id FROM qlink.tokens t \
                 JOIN qlink.sessions s ON s.id = t.session_id \
                 JOIN qlink.businesses b ON b.id = t.business_id \
                 WHERE t.held_until <= $1 AND t.status = 'WAITING' AND s.date = ($1 AT TIME ZONE b.timezone)::date \
                 ORDER BY t.queue_id",
                &[now.into()],
            )?;
            let mut lines: Vec<(Uuid, Uuid)> = Vec::new();
            for row in table {
                lines.push((row.get(1)?.expect("queue_id"), row.get(2)?.expect("business_id")));
            }
            let mut expired = 0;
            for (queue_id, business_id) in lines {
                let business = Business::load(client, Some(business_id))?;
                let mut session = Session::lock_today(client, &business, queue_id, now, false)?;
                expired += expire_in(client, &business, std::slice::from_mut(&mut session), now)?;
                session.save(client, now, false)?;
            }
            Ok(expired)
        })
    })
}

/// The token's place in its line's call order (1-based), while WAITING.
fn position(client: &mut SpiClient<'_>, token_id: Uuid) -> QResult<Option<i32>> {
    db::value(
        client,
        "SELECT CASE WHEN t.status = 'WAITING' THEN ( \
             SELECT count(*)::int + 1 FROM qlink.tokens w \
             WHERE w.session_id = t.session_id AND w.status = 'WAITING' \
               AND (w.is_priority > t.is_priority OR (w.is_priority = t.is_priority AND w.line_seq < t.line_seq))) END \
         FROM qlink.tokens t WHERE t.id = $1",
        &[token_id.into()],
    )
}

fn patient_entry<'a>(day: &'a PatientDay, action: &'a str, before: pgrx::JsonB, after: pgrx::JsonB) -> Entry<'a> {
    Entry {
        business: &day.business,
        session: Some(&day.session),
        room_id: None,
        staff_id: None,
        actor: "PATIENT",
        action,
        token_id: Some(day.token.id),
        before: Some(before),
        after: Some(after),
        undoable: false,
    }
}

/// The patient steps out: their place is held for `minutes` (default and at most the
/// clinic's `hold_minutes`).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn hold_token(
    token_id: Option<Uuid>,
    minutes: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(token_id, Uuid),
            name!(status, String),
            name!(held_until, TimestampWithTimeZone),
            name!(queue_position, Option<i32>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let held = hold_in(client, token_id, minutes, now)?;
            Ok(TableIterator::once((held.token_id, "WAITING".to_string(), held.held_until, held.position)))
        })
    })
}

pub struct Held {
    pub token_id: Uuid,
    pub held_until: TimestampWithTimeZone,
    pub minutes: i32,
    pub position: Option<i32>,
}

/// A patient's step out, from the page or by WhatsApp (LATE).
pub fn hold_in(
    client: &mut SpiClient<'_>,
    token_id: Option<Uuid>,
    minutes: Option<i32>,
    now: TimestampWithTimeZone,
) -> QResult<Held> {
    let day = PatientDay::lock(client, token_id, now)?;
    let token = &day.token;
    match (token.status.as_str(), token.held_until) {
        ("WAITING", Some(_)) => return Err(refused(Reason::AlreadyHeld)),
        ("SKIPPED", Some(_)) => return Err(refused(Reason::HoldExpired)),
        ("WAITING", None) => {}
        _ => return Err(refused(Reason::NotHoldable)),
    }
    let max = day.business.settings.hold_minutes as i32;
    if max <= 0 {
        return Err(refused(Reason::HoldsDisabled));
    }
    let minutes = minutes.unwrap_or(max);
    if !(1..=max).contains(&minutes) {
        return Err(refuse(Reason::InvalidHoldMinutes, format!("You can step out for 1 to {max} minutes.")));
    }
    let before = audit::snapshot(client, &[&day.session], &[token.id])?;
    let held_until: TimestampWithTimeZone = db::value(
        client,
        "UPDATE qlink.tokens SET held_at = $2, held_until = $2 + make_interval(mins => $3), updated_at = $2 \
                 WHERE id = $1 RETURNING held_until",
        &[token.id.into(), now.into(), minutes.into()],
    )?
    .expect("the locked token");
    let after = audit::snapshot(client, &[&day.session], &[token.id])?;
    audit::record(client, patient_entry(&day, "HOLD", before, after), now)?;
    day.session.save(client, now, false)?;
    let id = day.token.id;
    Ok(Held { token_id: id, held_until, minutes, position: position(client, id)? })
}

/// BACK: the hold ends. Back in place, or at the front of the line if someone after the
/// patient in call order was called while they were away, or (hold run out) SKIPPED.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn return_token(
    token_id: Option<Uuid>,
) -> Result<
    TableIterator<
        'static,
        (name!(token_id, Uuid), name!(status, String), name!(outcome, String), name!(queue_position, Option<i32>)),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let (id, outcome, position) = return_in(client, token_id, now)?;
            let status = if outcome == "expired" { "SKIPPED" } else { "WAITING" };
            Ok(TableIterator::once((id, status.to_string(), outcome.to_string(), position)))
        })
    })
}

/// BACK, from the page or by WhatsApp: the token, `returned` / `front` / `expired`, and its
/// place now.
pub fn return_in(
    client: &mut SpiClient<'_>,
    token_id: Option<Uuid>,
    now: TimestampWithTimeZone,
) -> QResult<(Uuid, &'static str, Option<i32>)> {
    let mut day = PatientDay::lock(client, token_id, now)?;
    let id = day.token.id;
    match (day.token.status.as_str(), day.token.held_until) {
        // The expiry (perhaps just now, under this lock) stands: it is committed.
        ("SKIPPED", Some(_)) => {
            day.session.save(client, now, false)?;
            return Ok((id, "expired", None));
        }
        ("WAITING", Some(_)) => {}
        _ => return Err(refused(Reason::NotHeld)),
    }
    let passed: bool = db::value(
        client,
        "SELECT EXISTS (SELECT 1 FROM qlink.tokens t JOIN qlink.tokens w ON w.session_id = t.session_id \
                 WHERE t.id = $1 AND w.id <> t.id AND w.called_at >= t.held_at \
                   AND ((t.is_priority AND NOT w.is_priority) \
                        OR (w.is_priority = t.is_priority AND w.line_seq > t.line_seq)))",
        &[id.into()],
    )?
    .unwrap_or(false);
    let before = audit::snapshot(client, &[&day.session], &[id])?;
    db::exec(
        client,
        "UPDATE qlink.tokens SET held_at = NULL, held_until = NULL, is_priority = is_priority OR $2, \
                     updated_at = $3 WHERE id = $1",
        &[id.into(), passed.into(), now.into()],
    )?;
    let after = audit::snapshot(client, &[&day.session], &[id])?;
    let audit_id = audit::record(client, patient_entry(&day, "RETURN", before, after), now)?;
    let serving = day.serving(client)?;
    outbox::queue_reminders(client, &day.business, &mut day.session, serving, Some(audit_id), now)?;
    day.session.save(client, now, false)?;
    let outcome = if passed { "front" } else { "returned" };
    Ok((id, outcome, position(client, id)?))
}

/// The patient's own reminder position: "tell me when `position` are ahead" (1–10).
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn set_reminder_position(token_id: Option<Uuid>, position: Option<i32>) -> Result<i32, ErrorReport> {
    run(|| {
        let position =
            position.filter(|p| (1..=10).contains(p)).ok_or_else(|| refused(Reason::InvalidReminderPosition))?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let mut day = PatientDay::lock(client, token_id, now)?;
            if day.token.status != "WAITING" {
                return Err(refused(Reason::NotWaiting));
            }
            if day.business.settings.reminder_at_position <= 0 {
                return Err(refused(Reason::RemindersOff));
            }
            db::exec(
                client,
                "UPDATE qlink.tokens SET reminder_position = $2, updated_at = $3 WHERE id = $1",
                &[day.token.id.into(), (position as i16).into(), now.into()],
            )?;
            let serving = day.serving(client)?;
            outbox::queue_reminders(client, &day.business, &mut day.session, serving, None, now)?;
            day.session.save(client, now, false)?;
            Ok(position)
        })
    })
}

/// A delay note: at most 200 characters on one line; blank is none.
fn delay_note(raw: Option<&str>) -> QResult<Option<String>> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.chars().count() > 200 || text.chars().any(char::is_control) {
        return Err(refused(Reason::InvalidDelayNote));
    }
    Ok(Some(text.to_string()))
}

/// The doctor is late: every ETA of the line moves by the delay still to run, the pages
/// show the note, and with `notify_delays` each waiting patient gets one DELAY message.
/// 0 minutes clears it; calling the line's next patient ends it.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn announce_delay(
    business_id: Option<Uuid>,
    queue_id: Option<Uuid>,
    minutes: Option<i32>,
    note: default!(Option<&str>, "NULL"),
    staff_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(queue_id, Uuid),
            name!(delay_minutes, Option<i32>),
            name!(delay_until, Option<TimestampWithTimeZone>),
            name!(messages_queued, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        let staff_id = caller.staff(staff_id)?;
        let minutes = minutes.filter(|m| (0..=240).contains(m)).ok_or_else(|| refused(Reason::InvalidDelay))?;
        let note = delay_note(note)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            business.require_operational()?;
            let pinned = check_staff(client, staff_id, &business)?;
            let queues = Queue::all_of(client, business.id)?;
            let queue = Queue::resolve(&queues, queue_id)?;
            let room = Room::resolve(client, &business, None, pinned, false)?;
            let mut session = Session::lock_today(client, &business, queue.id, now, queues.len() > 1)?;
            expire_in(client, &business, std::slice::from_mut(&mut session), now)?;
            let before = audit::snapshot_of(&[&session], &[]);
            if minutes == 0 {
                session.delay_minutes = None;
                session.delay_note = None;
                session.delay_announced_at = None;
            } else {
                session.delay_minutes = Some(minutes);
                session.delay_note = note;
                session.delay_announced_at = Some(now);
            }
            let after = audit::snapshot_of(&[&session], &[]);
            let audit_id = audit::record(
                client,
                Entry {
                    business: &business,
                    session: Some(&session),
                    room_id: room.as_ref().map(|r| r.id),
                    staff_id,
                    actor: "STAFF",
                    action: "DELAY",
                    token_id: None,
                    before: Some(before),
                    after: Some(after),
                    undoable: true,
                },
                now,
            )?;
            let queued_before = session.messages_queued;
            if minutes > 0 && business.settings.notify_delays {
                const LINE: &str =
                    token_sql!("WHERE session_id = $1 AND status = 'WAITING' ORDER BY is_priority DESC, line_seq");
                let line = Token::all(db::exec(client, LINE, &[session.id.into()])?)?;
                let waiting_line = LineNow::read(client, Some(session.id), now)?;
                let serving = waiting_line.serving();
                for (i, token) in line.iter().enumerate() {
                    if token.patient_phone.is_none() {
                        continue;
                    }
                    let ahead = i as i32 + serving;
                    let (lo, hi) = session.eta(&business.settings, ahead, &waiting_line, queue.rooms_serving, now);
                    let extra = serde_json::json!({
                        "delay_minutes": minutes,
                        "note": session.delay_note,
                        "eta_min_minutes": lo,
                        "eta_max_minutes": hi,
                    });
                    let facts = Facts {
                        message_type: "DELAY",
                        people_ahead: Some(ahead),
                        room: None,
                        audit_log_id: Some(audit_id),
                        extra,
                    };
                    outbox::enqueue_with(client, &business, &mut session, token, facts, now)?;
                }
            }
            let queued = session.messages_queued - queued_before;
            session.save(client, now, true)?;
            let until = match (session.delay_minutes, session.delay_announced_at) {
                (Some(m), Some(at)) => Some(
                    TimestampWithTimeZone::try_from(at.into_inner() + i64::from(m) * 60_000_000)
                        .expect("a delay ends within the calendar"),
                ),
                _ => None,
            };
            Ok(TableIterator::once((queue.id, session.delay_minutes, until, queued)))
        })
    })
}
