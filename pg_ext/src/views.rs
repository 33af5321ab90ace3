//! What patients, staff and the lobby screen see: reads only, never a lock or a new
//! session, so they run on a hot standby too.

use crate::audit;
use crate::db::{self, col, nullable};
use crate::error::{refused, run, QResult, Reason};
use crate::eta::{delay_left, LineNow, ServiceModel};
use crate::model::{Business, Queue, Room};
use crate::queue::qr_refusal;
use crate::validate::Settings;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

/// One queue's day as the readers see it (a queue without a session today yet is an open,
/// empty day).
pub struct Line {
    pub queue: Queue,
    pub session_id: Option<Uuid>,
    pub status: String,
    pub waiting: i32,
    pub now_serving_number: Option<i32>,
    pub last_token_number: i32,
    pub serving: i32,
    /// One service's time, the ETA's model (SPEC §12), and the line now as it reads it.
    pub model: ServiceModel,
    pub now: LineNow,
    pub last_action_at: Option<TimestampWithTimeZone>,
    pub opened_at: Option<TimestampWithTimeZone>,
    /// A doctor's delay: minutes still to run, note, when it ends.
    pub delay_left: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_until: Option<TimestampWithTimeZone>,
}

impl Line {
    /// Every queue of the clinic with today's state, in the clinic's order.
    pub fn today(client: &SpiClient<'_>, business: &Business, now: TimestampWithTimeZone) -> QResult<Vec<Line>> {
        let queues = Queue::all_of(client, business.id)?;
        let table = db::read(
            client,
            "SELECT s.queue_id, s.id, s.status, s.waiting_count, s.now_serving_number, s.last_token_number, \
                 (SELECT count(*)::int FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'SERVING'), \
                 s.service_mean_seconds, s.service_sd_seconds, s.last_action_at, s.created_at, \
                 cardinality(s.service_ms), s.delay_minutes, s.delay_note, \
                 s.delay_announced_at + make_interval(mins => s.delay_minutes), \
                 extract(epoch FROM $2 - s.delay_announced_at)::float8 \
             FROM qlink.sessions s WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE $3)::date",
            &[business.id.into(), now.into(), business.timezone.as_str().into()],
        )?;
        let settings = &business.settings;
        let prior = ServiceModel::prior(settings.eta_min_minutes as i32, settings.eta_max_minutes as i32);
        let mut lines: Vec<Line> = queues
            .into_iter()
            .map(|queue| Line {
                queue,
                session_id: None,
                status: "OPEN".into(),
                waiting: 0,
                now_serving_number: None,
                last_token_number: 0,
                serving: 0,
                model: prior,
                now: LineNow::default(),
                last_action_at: None,
                opened_at: None,
                delay_left: None,
                delay_note: None,
                delay_until: None,
            })
            .collect();
        for row in table {
            let queue_id: Uuid = row.get(1)?.expect("queue_id");
            let Some(line) = lines.iter_mut().find(|l| l.queue.id == queue_id) else { continue };
            line.session_id = row.get(2)?;
            line.status = row.get(3)?.expect("status");
            line.waiting = row.get(4)?.expect("waiting_count");
            line.now_serving_number = row.get(5)?;
            line.last_token_number = row.get(6)?.expect("last_token_number");
            line.serving = row.get(7)?.expect("serving");
            line.model = ServiceModel::learned(prior, row.get(8)?, row.get(9)?, row.get::<i32>(12)?.unwrap_or(0));
            line.last_action_at = row.get(10)?;
            line.opened_at = row.get(11)?;
            line.delay_left = delay_left(row.get(13)?, row.get(16)?);
            line.delay_note = row.get(14)?;
            line.delay_until = row.get(15)?;
            line.now = LineNow::read(client, line.session_id, now)?;
        }
        Ok(lines)
    }

    /// Why create_token would refuse a QR token in this line now (None: it would take one).
    pub fn refusal(&self, business: &Business, clinic_tokens: i32) -> Option<Reason> {
        if !self.queue.is_active {
            return Some(Reason::QueueInactive);
        }
        if self.queue.rooms_serving == 0 {
            return Some(Reason::QueueWithoutRoom);
        }
        qr_refusal(business, &self.status, clinic_tokens)
    }

    /// The ETA a patient joining this line now would be shown.
    pub fn eta_for_new_patient(&self) -> (i32, i32) {
        let (lo, hi) = self.model.wait(self.waiting + self.serving, &self.now, self.queue.rooms_serving);
        let d = self.delay_left.unwrap_or(0);
        (lo + d, hi + d)
    }
}

/// Tokens the clinic gave out today over all its lines (the daily limit is the clinic's).
pub fn clinic_tokens(lines: &[Line]) -> i32 {
    lines.iter().map(|l| l.last_token_number).sum()
}

/// Whether the clinic takes QR tokens now: when any active line does. Otherwise the reason
/// of its first active line (or the clinic's own, as for a suspended clinic).
pub fn clinic_refusal(business: &Business, lines: &[Line]) -> Option<Reason> {
    let total = clinic_tokens(lines);
    let mut first = None;
    for line in lines.iter().filter(|l| l.queue.is_active) {
        match line.refusal(business, total) {
            None => return None,
            Some(r) => {
                first.get_or_insert(r);
            }
        }
    }
    first.or_else(|| qr_refusal(business, "OPEN", total)).or(Some(Reason::QueueInactive))
}

/// The room a read is about: the one named (this clinic's), or the only active one; with
/// several and none named, the whole clinic (None).
fn room_in_view(rooms: &[Room], room_id: Option<Uuid>) -> QResult<Option<Room>> {
    match room_id {
        Some(id) => rooms.iter().find(|r| r.id == id).cloned().map(Some).ok_or_else(|| refused(Reason::RoomNotFound)),
        None => {
            let active: Vec<&Room> = rooms.iter().filter(|r| r.is_active).collect();
            Ok(match active.as_slice() {
                [one] => Some((*one).clone()),
                _ => None,
            })
        }
    }
}

/// How far a patient has come from joining to being called, in percent: the share of the
/// people ahead on joining (`joined_people_ahead`) who are no longer ahead, rounded down, so
/// 100 means nobody is ahead any more. Called or served: 100; skipped or cancelled: 0.
/// Pushed back by an emergency beyond where they joined: 0.
fn progress_percent(status: &str, joined_people_ahead: i32, people_ahead: Option<i32>) -> i32 {
    match status {
        "SERVING" | "SERVED" => 100,
        "WAITING" => {
            let joined = joined_people_ahead.max(0);
            let ahead = people_ahead.unwrap_or(0).max(0);
            if joined == 0 {
                if ahead == 0 {
                    100
                } else {
                    0
                }
            } else {
                (joined - ahead.min(joined)) * 100 / joined
            }
        }
        _ => 0,
    }
}

/// What the patient's page shows. One statement: this is what every waiting patient polls.
/// Position, people ahead and ETA are the token's own line's; the ETA is divided by the
/// rooms serving that line. `now_serving_label`: the label of the line's latest called
/// patient still being served (the label of `now_serving_number`).
///
/// `overtaken_by`: of the people ahead of a WAITING patient now (the WAITING ones before
/// them in call order and those being served from the line), how many got there after the
/// patient joined the line: they entered it later (an emergency, a later patient recalled
/// with priority, a priority patient transferred in), or they were recalled from SKIPPED
/// having been skipped already when the patient joined. A patient skipped and recalled
/// since does not count: they were ahead on joining. Undone recalls do not count. 0 for a
/// patient not WAITING.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn token_status(
    token_id: Option<Uuid>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(token_number, i32),
            name!(status, String),
            name!(queue_position, Option<i32>),
            name!(people_ahead, Option<i32>),
            name!(now_serving_number, Option<i32>),
            name!(eta_min_minutes, Option<i32>),
            name!(eta_max_minutes, Option<i32>),
            name!(business_name, String),
            name!(updated_at, TimestampWithTimeZone),
            name!(business_slug, String),
            name!(language, String),
            name!(is_priority, bool),
            name!(joined_people_ahead, i32),
            name!(feedback_given, bool),
            name!(session_status, String),
            name!(progress_percent, i32),
            name!(overtaken_by, i32),
            name!(token_label, String),
            name!(queue_id, Uuid),
            name!(queue_name, String),
            name!(room_name, Option<String>),
            name!(now_serving_label, Option<String>),
            name!(held_until, Option<TimestampWithTimeZone>),
            name!(hold_state, Option<String>),
            name!(reminder_position, i32),
            name!(delay_minutes, Option<i32>),
            name!(delay_note, Option<String>),
            name!(delay_until, Option<TimestampWithTimeZone>),
            name!(hold_minutes, i32),
            name!(created_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let missing = || refused(Reason::TokenNotFound);
        let token_id = token_id.ok_or_else(missing)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let row = db::read_first(
                client,
                "SELECT t.token_number, t.status, \
                     CASE WHEN t.status = 'WAITING' THEN ( \
                         SELECT count(*)::int + 1 FROM qlink.tokens w \
                         WHERE w.session_id = t.session_id AND w.status = 'WAITING' \
                           AND (w.is_priority > t.is_priority \
                                OR (w.is_priority = t.is_priority AND w.line_seq < t.line_seq))) END, \
                     s.now_serving_number, s.service_mean_seconds, s.service_sd_seconds, \
                     (b.settings ->> 'eta_min_minutes')::int, (b.settings ->> 'eta_max_minutes')::int, \
                     b.name, greatest(t.updated_at, s.updated_at), b.slug, t.language, t.is_priority, \
                     t.joined_people_ahead, t.rating IS NOT NULL, s.status, \
                     CASE WHEN t.status = 'WAITING' THEN ( \
                         SELECT count(*)::int FROM qlink.tokens w \
                         WHERE w.session_id = t.session_id \
                           AND (w.status = 'SERVING' OR (w.status = 'WAITING' AND (w.is_priority > t.is_priority \
                                OR (w.is_priority = t.is_priority AND w.line_seq < t.line_seq)))) \
                           AND (w.line_seq > t.line_seq \
                                OR (w.is_priority AND EXISTS ( \
                                    SELECT 1 FROM qlink.audit_logs r \
                                    WHERE r.session_id = t.session_id AND r.undoable AND r.undone_at IS NULL \
                                      AND r.action = 'RECALL' AND r.token_id = w.id AND r.created_at > t.line_at \
                                      AND NOT EXISTS ( \
                                          SELECT 1 FROM qlink.audit_logs k \
                                          WHERE k.session_id = t.session_id AND k.undoable AND k.undone_at IS NULL \
                                            AND k.action = 'SKIP' AND k.token_id = w.id \
                                            AND k.created_at >= t.line_at AND k.id < r.id))))) \
                     ELSE 0 END, \
                     t.token_label, t.queue_id, q.name, CASE WHEN t.status <> 'WAITING' THEN r.name END, \
                     t.session_id, \
                     (SELECT count(*)::int FROM qlink.room_queues rq JOIN qlink.rooms rr ON rr.id = rq.room_id \
                      WHERE rq.queue_id = t.queue_id AND rr.is_active), \
                     (SELECT v.token_label FROM qlink.tokens v WHERE v.session_id = t.session_id \
                        AND v.status = 'SERVING' ORDER BY v.called_at DESC NULLS LAST, v.line_seq DESC LIMIT 1), \
                     cardinality(s.service_ms), t.held_until, t.reminder_position, \
                     (b.settings ->> 'reminder_at_position')::int, (b.settings ->> 'hold_minutes')::int, \
                     s.delay_minutes, s.delay_note, s.delay_announced_at + make_interval(mins => s.delay_minutes), \
                     extract(epoch FROM $2 - s.delay_announced_at)::float8, t.held_until <= $2, t.created_at \
                 FROM qlink.tokens t \
                 JOIN qlink.sessions s ON s.id = t.session_id \
                 JOIN qlink.businesses b ON b.id = t.business_id \
                 JOIN qlink.queues q ON q.id = t.queue_id \
                 LEFT JOIN qlink.rooms r ON r.id = t.room_id \
                 WHERE t.id = $1",
                &[token_id.into(), now.into()],
            )?
            .ok_or_else(missing)?;
            let defaults = Settings::default();
            let position: Option<i32> = nullable(&row, 3)?;
            let prior = ServiceModel::prior(
                nullable::<i32>(&row, 7)?.unwrap_or(defaults.eta_min_minutes as i32),
                nullable::<i32>(&row, 8)?.unwrap_or(defaults.eta_max_minutes as i32),
            );
            let model = ServiceModel::learned(prior, nullable(&row, 5)?, nullable(&row, 6)?, col(&row, 25)?);
            let line = LineNow::read(client, Some(col(&row, 22)?), now)?;
            let rooms: i32 = col(&row, 23)?;
            let delay = delay_left(nullable(&row, 30)?, nullable(&row, 33)?);
            let people_ahead = position.map(|p| p - 1 + line.serving());
            let eta = people_ahead.map(|n| {
                let (lo, hi) = model.wait(n, &line, rooms);
                (lo + delay.unwrap_or(0), hi + delay.unwrap_or(0))
            });
            let status: String = col(&row, 2)?;
            let held_until: Option<TimestampWithTimeZone> = nullable(&row, 26)?;
            let ran_out: bool = nullable(&row, 34)?.unwrap_or(false);
            let hold_state = match (status.as_str(), held_until) {
                ("WAITING", Some(_)) if ran_out => Some("EXPIRED"),
                ("WAITING", Some(_)) => Some("HELD"),
                ("SKIPPED", Some(_)) => Some("EXPIRED"),
                _ => None,
            };
            let reminder_position = nullable::<i16>(&row, 27)?
                .map(i32::from)
                .or(nullable::<i32>(&row, 28)?)
                .unwrap_or(defaults.reminder_at_position as i32);
            let progress = progress_percent(&status, col(&row, 14)?, people_ahead);
            Ok(TableIterator::once((
                col(&row, 1)?,
                status,
                position,
                people_ahead,
                nullable(&row, 4)?,
                eta.map(|e| e.0),
                eta.map(|e| e.1),
                col(&row, 9)?,
                col(&row, 10)?,
                col(&row, 11)?,
                col(&row, 12)?,
                col(&row, 13)?,
                col(&row, 14)?,
                col(&row, 15)?,
                col(&row, 16)?,
                progress,
                col(&row, 17)?,
                col(&row, 18)?,
                col(&row, 19)?,
                col(&row, 20)?,
                nullable(&row, 21)?,
                nullable(&row, 24)?,
                held_until,
                hold_state.map(str::to_string),
                reminder_position,
                delay,
                nullable(&row, 31)?,
                nullable(&row, 32)?,
                nullable::<i32>(&row, 29)?.unwrap_or(defaults.hold_minutes as i32),
                col(&row, 35)?,
            )))
        })
    })
}

/// Today's tokens in call order (SERVING, then WAITING by priority and arrival, then
/// SKIPPED, then the finished ones): what the staff dashboard shows. With a room, the
/// tokens of the lines it calls from; without, the whole clinic. `queue_position` is the
/// place in the token's own line.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_snapshot(
    business_id: Option<Uuid>,
    room_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(token_id, Uuid),
            name!(token_number, i32),
            name!(status, String),
            name!(is_priority, bool),
            name!(patient_name, Option<String>),
            name!(patient_phone, Option<String>),
            name!(source, String),
            name!(queue_position, Option<i32>),
            name!(language, String),
            name!(created_at, TimestampWithTimeZone),
            name!(called_at, Option<TimestampWithTimeZone>),
            name!(served_at, Option<TimestampWithTimeZone>),
            name!(cancelled_at, Option<TimestampWithTimeZone>),
            name!(token_label, String),
            name!(queue_id, Uuid),
            name!(queue_name, String),
            name!(room_id, Option<Uuid>),
            name!(room_name, Option<String>),
            name!(held_until, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let rooms = Room::all_of(client, business.id)?;
            let scope = match room_id {
                Some(_) => room_in_view(&rooms, room_id)?.map(|r| r.queue_ids),
                None => None,
            };
            let table = db::read(
                client,
                "SELECT t.id, t.token_number, t.status, t.is_priority, t.patient_name, t.patient_phone, \
                     t.source, \
                     CASE WHEN t.status = 'WAITING' THEN (row_number() OVER ( \
                         PARTITION BY t.session_id, t.status = 'WAITING' \
                         ORDER BY t.is_priority DESC, t.line_seq))::int END, \
                     t.language, t.created_at, t.called_at, t.served_at, t.cancelled_at, \
                     t.token_label, t.queue_id, q.name, t.room_id, r.name, t.held_until \
                 FROM qlink.tokens t JOIN qlink.sessions s ON s.id = t.session_id \
                 JOIN qlink.queues q ON q.id = t.queue_id LEFT JOIN qlink.rooms r ON r.id = t.room_id \
                 WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE $3)::date \
                   AND ($4::uuid[] IS NULL OR t.queue_id = ANY($4)) \
                 ORDER BY CASE t.status WHEN 'SERVING' THEN 0 WHEN 'WAITING' THEN 1 WHEN 'SKIPPED' THEN 2 ELSE 3 END, \
                          CASE WHEN t.status = 'WAITING' THEN NOT t.is_priority END, t.line_at, t.line_seq",
                &[business.id.into(), now.into(), business.timezone.as_str().into(), scope.into()],
            )?;
            let mut rows = Vec::new();
            for row in table {
                rows.push((
                    row.get(1)?.expect("id"),
                    row.get(2)?.expect("token_number"),
                    row.get(3)?.expect("status"),
                    row.get(4)?.expect("is_priority"),
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?.expect("source"),
                    row.get(8)?,
                    row.get(9)?.expect("language"),
                    row.get(10)?.expect("created_at"),
                    row.get(11)?,
                    row.get(12)?,
                    row.get(13)?,
                    row.get(14)?.expect("token_label"),
                    row.get(15)?.expect("queue_id"),
                    row.get(16)?.expect("queue_name"),
                    row.get(17)?,
                    row.get(18)?,
                    row.get(19)?,
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// The token a room is serving today: id, number, label.
fn room_serving(
    client: &SpiClient<'_>,
    business: &Business,
    room_id: Uuid,
    now: TimestampWithTimeZone,
) -> QResult<Option<(Uuid, i32, String)>> {
    let row = db::read_first(
        client,
        "SELECT id, token_number, token_label FROM qlink.tokens \
         WHERE room_id = $1 AND day = ($2 AT TIME ZONE $3)::date AND status = 'SERVING'",
        &[room_id.into(), now.into(), business.timezone.as_str().into()],
    )?;
    Ok(match row {
        Some(r) => Some((col(&r, 1)?, col(&r, 2)?, col(&r, 3)?)),
        None => None,
    })
}

/// The dashboard's header for a room (or, without one in a clinic with several, the whole
/// clinic): today's counts over its lines, who the room is serving, the stall warning and
/// what the room's UNDO would revert. Reads only; does not open a session.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_summary(
    business_id: Option<Uuid>,
    room_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(session_id, Option<Uuid>),
            name!(session_status, String),
            name!(now_serving_number, Option<i32>),
            name!(serving_token_id, Option<Uuid>),
            name!(waiting_count, i32),
            name!(skipped_count, i32),
            name!(served_count, i32),
            name!(cancelled_count, i32),
            name!(last_token_number, i32),
            name!(last_action_at, Option<TimestampWithTimeZone>),
            name!(stall_warning, bool),
            name!(undo_action, Option<String>),
            name!(undo_token_number, Option<i32>),
            name!(business_name, String),
            name!(stall_warning_minutes, i32),
            name!(room_id, Option<Uuid>),
            name!(room_name, Option<String>),
            name!(serving_label, Option<String>),
            name!(undo_token_label, Option<String>),
            name!(held_count, i32),
            name!(delay_minutes, Option<i32>),
            name!(delay_note, Option<String>),
            name!(delay_until, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let rooms = Room::all_of(client, business.id)?;
            let room = room_in_view(&rooms, room_id)?;
            let lines: Vec<Line> = Line::today(client, &business, now)?
                .into_iter()
                .filter(|l| room.as_ref().is_none_or(|r| r.queue_ids.contains(&l.queue.id)))
                .collect();
            let sessions: Vec<Uuid> = lines.iter().filter_map(|l| l.session_id).collect();
            let stall_minutes = business.settings.stall_warning_minutes as i32;
            let counts = db::read_first(
                client,
                "SELECT count(*) FILTER (WHERE status = 'SKIPPED')::int, \
                        count(*) FILTER (WHERE status = 'SERVED')::int, \
                        count(*) FILTER (WHERE status = 'CANCELLED')::int, \
                        coalesce(bool_or(status = 'WAITING' AND EXISTS ( \
                            SELECT 1 FROM qlink.sessions s WHERE s.id = t.session_id \
                              AND coalesce(s.last_action_at, s.created_at) < $2 - make_interval(mins => $3::int))), \
                            false), \
                        count(*) FILTER (WHERE status = 'WAITING' AND held_until IS NOT NULL)::int \
                 FROM qlink.tokens t WHERE session_id = ANY($1)",
                &[sessions.clone().into(), now.into(), stall_minutes.into()],
            )?
            .expect("an aggregate has one row");
            let serving = match room.as_ref() {
                Some(r) => room_serving(client, &business, r.id, now)?,
                None => None,
            };
            let undo = match room.as_ref() {
                Some(r) if !sessions.is_empty() => audit::next_undo(client, &sessions, Some(r.id))?,
                _ => None,
            };
            let status =
                if !lines.is_empty() && lines.iter().all(|l| l.status == "CLOSED") { "CLOSED" } else { "OPEN" };
            let now_serving = match room.as_ref() {
                Some(_) => serving.as_ref().map(|s| s.1),
                None => lines.iter().find_map(|l| l.now_serving_number),
            };
            let delayed = lines.iter().find(|l| l.delay_left.is_some());
            Ok(TableIterator::once((
                sessions.first().copied(),
                status.to_string(),
                now_serving,
                serving.as_ref().map(|s| s.0),
                lines.iter().map(|l| l.waiting).sum(),
                col(&counts, 1)?,
                col(&counts, 2)?,
                col(&counts, 3)?,
                lines.iter().map(|l| l.last_token_number).sum(),
                lines.iter().filter_map(|l| l.last_action_at).max(),
                col(&counts, 4)?,
                undo.as_ref().map(|u| u.1.clone()),
                undo.as_ref().and_then(|u| u.2),
                business.name.clone(),
                stall_minutes,
                room.as_ref().map(|r| r.id),
                room.as_ref().map(|r| r.name.clone()),
                serving.map(|s| s.2),
                undo.and_then(|u| u.3),
                col(&counts, 5)?,
                delayed.and_then(|l| l.delay_left),
                delayed.and_then(|l| l.delay_note.clone()),
                delayed.and_then(|l| l.delay_until),
            )))
        })
    })
}

/// How many waiting labels of each line the lobby screen lists.
const WAITING_SHOWN_PER_LINE: i32 = 40;

/// What the lobby screen shows: numbers and labels only, never a name or a phone (the
/// screen faces the waiting room, and its data is public). `rooms`: every active room (or
/// the one asked for) with the label it is serving, for "Token A-12, Room 2". `lines`: each
/// line shown with the active rooms calling from it and its waiting labels in call order
/// (the first 40; those who stepped out are `away_labels`), so a patient holding only a
/// printed slip finds their number and where they will go. Whether the clinic takes QR
/// tokens is `clinic_refusal`, the rule create_token applies. Reads only.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn display_state(
    business_id: Option<Uuid>,
    max_next: default!(Option<i32>, 6),
    room_id: default!(Option<Uuid>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(clinic_name, String),
            name!(now_serving_number, Option<i32>),
            name!(next_numbers, Vec<i32>),
            name!(waiting_count, i32),
            name!(accepting_tokens, bool),
            name!(refusal_reason, Option<String>),
            name!(serving_label, Option<String>),
            name!(next_labels, Vec<String>),
            name!(rooms, JsonB),
            name!(away_labels, Vec<String>),
            name!(display_languages, Vec<String>),
            name!(lines, JsonB),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let max_next = max_next.unwrap_or(6).clamp(0, 50);
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let rooms = Room::all_of(client, business.id)?;
            let room = match room_id {
                Some(_) => room_in_view(&rooms, room_id)?,
                None => None,
            };
            let all_lines = Line::today(client, &business, now)?;
            let refusal = clinic_refusal(&business, &all_lines);
            let lines: Vec<&Line> =
                all_lines.iter().filter(|l| room.as_ref().is_none_or(|r| r.queue_ids.contains(&l.queue.id))).collect();
            let sessions: Vec<Uuid> = lines.iter().filter_map(|l| l.session_id).collect();
            // Each line's first waiting patients in its call order: the lobby's list of the
            // line, and (merged in the clinic's call order) the next ones.
            let table = db::read(
                client,
                "SELECT l.session_id, w.token_number, w.token_label, w.is_priority, w.line_at, w.line_seq \
                 FROM unnest($1::uuid[]) WITH ORDINALITY AS l(session_id, n) CROSS JOIN LATERAL ( \
                     SELECT token_number, token_label, is_priority, line_at, line_seq FROM qlink.tokens \
                     WHERE session_id = l.session_id AND status = 'WAITING' AND held_until IS NULL \
                     ORDER BY is_priority DESC, line_seq LIMIT $2) w \
                 ORDER BY l.n, w.is_priority DESC, w.line_seq",
                &[sessions.clone().into(), max_next.max(WAITING_SHOWN_PER_LINE).into()],
            )?;
            let mut waiting = Vec::with_capacity(table.len());
            for row in table {
                waiting.push((
                    row.get::<Uuid>(1)?.expect("session_id"),
                    row.get::<i32>(2)?.expect("token_number"),
                    row.get::<String>(3)?.expect("token_label"),
                    row.get::<bool>(4)?.expect("is_priority"),
                    row.get::<TimestampWithTimeZone>(5)?.expect("line_at"),
                    row.get::<i32>(6)?.expect("line_seq"),
                ));
            }
            let mut in_call_order: Vec<_> = waiting.iter().collect();
            in_call_order.sort_by(|a, b| b.3.cmp(&a.3).then(a.4.cmp(&b.4)).then(a.5.cmp(&b.5)));
            in_call_order.truncate(usize::try_from(max_next).unwrap_or(0));
            let next: Vec<i32> = in_call_order.iter().map(|w| w.1).collect();
            let next_labels: Vec<String> = in_call_order.iter().map(|w| w.2.clone()).collect();
            // Patients who stepped out: NEXT passes over them, so they are not "next".
            let away: Vec<String> = db::read(
                client,
                "SELECT token_label FROM qlink.tokens \
                 WHERE session_id = ANY($1) AND status = 'WAITING' AND held_until IS NOT NULL \
                 ORDER BY is_priority DESC, line_at, line_seq",
                &[sessions.clone().into()],
            )?
            .map(|row| row.get::<String>(1).map(|l| l.expect("token_label")))
            .collect::<Result<_, _>>()?;
            let mut waiting_of: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
            for (session, _, label, ..) in waiting {
                let list = waiting_of.entry(session).or_default();
                if list.len() < WAITING_SHOWN_PER_LINE as usize {
                    list.push(label);
                }
            }
            let line_rows: Vec<serde_json::Value> = lines
                .iter()
                .map(|l| {
                    let calling: Vec<&str> = rooms
                        .iter()
                        .filter(|r| r.is_active && r.queue_ids.contains(&l.queue.id))
                        .map(|r| r.name.as_str())
                        .collect();
                    serde_json::json!({
                        "queue_id": l.queue.id.to_string(),
                        "queue_name": l.queue.name,
                        "rooms": calling,
                        "waiting_labels": l.session_id.and_then(|s| waiting_of.remove(&s)).unwrap_or_default(),
                    })
                })
                .collect();
            let shown: Vec<&Room> = rooms
                .iter()
                .filter(|r| match room.as_ref() {
                    Some(one) => one.id == r.id,
                    None => r.is_active,
                })
                .collect();
            let mut called = Vec::new();
            let mut latest: Option<(TimestampWithTimeZone, i32, String)> = None;
            for r in shown {
                let row = db::read_first(
                    client,
                    "SELECT token_number, token_label, called_at FROM qlink.tokens \
                     WHERE room_id = $1 AND day = ($2 AT TIME ZONE $3)::date AND status = 'SERVING'",
                    &[r.id.into(), now.into(), business.timezone.as_str().into()],
                )?;
                let serving = match row {
                    Some(t) => Some((col::<i32>(&t, 1)?, col::<String>(&t, 2)?, col::<TimestampWithTimeZone>(&t, 3)?)),
                    None => None,
                };
                if let Some((n, label, at)) = &serving {
                    if latest.as_ref().is_none_or(|l| *at > l.0) {
                        latest = Some((*at, *n, label.clone()));
                    }
                }
                called.push(serde_json::json!({
                    "room_id": r.id.to_string(),
                    "room_name": r.name,
                    "serving_number": serving.as_ref().map(|s| s.0),
                    "serving_label": serving.as_ref().map(|s| s.1.clone()),
                }));
            }
            Ok(TableIterator::once((
                business.name.clone(),
                latest.as_ref().map(|l| l.1),
                next,
                lines.iter().map(|l| l.waiting).sum(),
                refusal.is_none(),
                refusal.map(|r| r.name().to_string()),
                latest.map(|l| l.2),
                next_labels,
                JsonB(serde_json::Value::Array(called)),
                away,
                business.settings.display_languages.clone(),
                JsonB(serde_json::Value::Array(line_rows)),
            )))
        })
    })
}

/// The clinic's queues with today's state: what the intake page offers ("Dr. B — about
/// 20–30 min") and the owner's page lists. `eta_*` is what a patient joining now is shown.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn list_queues(
    business_id: Option<Uuid>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(queue_id, Uuid),
            name!(name, String),
            name!(prefix, String),
            name!(is_active, bool),
            name!(sort_order, i32),
            name!(rooms_serving, i32),
            name!(session_status, String),
            name!(waiting_count, i32),
            name!(now_serving_number, Option<i32>),
            name!(eta_min_minutes, i32),
            name!(eta_max_minutes, i32),
            name!(accepting_tokens, bool),
            name!(refusal_reason, Option<String>),
            name!(delay_minutes, Option<i32>),
            name!(delay_note, Option<String>),
            name!(delay_until, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let lines = Line::today(client, &business, now)?;
            let total = clinic_tokens(&lines);
            let rows: Vec<_> = lines
                .iter()
                .map(|l| {
                    let refusal = l.refusal(&business, total);
                    let (lo, hi) = l.eta_for_new_patient();
                    (
                        l.queue.id,
                        l.queue.name.clone(),
                        l.queue.prefix.clone(),
                        l.queue.is_active,
                        l.queue.sort_order,
                        l.queue.rooms_serving,
                        l.status.clone(),
                        l.waiting,
                        l.now_serving_number,
                        lo,
                        hi,
                        refusal.is_none(),
                        refusal.map(|r| r.name().to_string()),
                        l.delay_left,
                        l.delay_note.clone(),
                        l.delay_until,
                    )
                })
                .collect();
            Ok(TableIterator::new(rows))
        })
    })
}

/// The clinic's rooms: the queues each calls from and whom it is serving now (the staff
/// dashboard's room picker and clinic overview, the owner's page).
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn list_rooms(
    business_id: Option<Uuid>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(room_id, Uuid),
            name!(name, String),
            name!(is_active, bool),
            name!(sort_order, i32),
            name!(queue_ids, Vec<Uuid>),
            name!(queue_names, Vec<String>),
            name!(serving_token_id, Option<Uuid>),
            name!(serving_number, Option<i32>),
            name!(serving_label, Option<String>),
            name!(waiting_count, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let lines = Line::today(client, &business, now)?;
            let table = db::read(
                client,
                "SELECT r.id, r.name, r.is_active, r.sort_order, \
                     ARRAY(SELECT rq.queue_id FROM qlink.room_queues rq JOIN qlink.queues q ON q.id = rq.queue_id \
                           WHERE rq.room_id = r.id ORDER BY q.sort_order, q.name, q.id), \
                     t.id, t.token_number, t.token_label \
                 FROM qlink.rooms r \
                 LEFT JOIN qlink.tokens t ON t.room_id = r.id AND t.day = ($2 AT TIME ZONE $3)::date \
                                          AND t.status = 'SERVING' \
                 WHERE r.business_id = $1 ORDER BY r.sort_order, r.name, r.id",
                &[business.id.into(), now.into(), business.timezone.as_str().into()],
            )?;
            let mut rows = Vec::new();
            for row in table {
                let queue_ids: Vec<Uuid> = row.get(5)?.expect("queue_ids");
                let names = queue_ids
                    .iter()
                    .filter_map(|id| lines.iter().find(|l| l.queue.id == *id).map(|l| l.queue.name.clone()))
                    .collect();
                let waiting = lines.iter().filter(|l| queue_ids.contains(&l.queue.id)).map(|l| l.waiting).sum();
                rows.push((
                    row.get(1)?.expect("id"),
                    row.get(2)?.expect("name"),
                    row.get(3)?.expect("is_active"),
                    row.get(4)?.expect("sort_order"),
                    queue_ids,
                    names,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    waiting,
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}
#[cfg(test)]
mod unit {
    use super::progress_percent;

    #[test]
    fn progress_is_the_share_of_people_ahead_gone_rounded_down() {
        assert_eq!(progress_percent("WAITING", 3, Some(1)), 66);
        assert_eq!(progress_percent("WAITING", 3, Some(3)), 0);
        assert_eq!(progress_percent("WAITING", 3, Some(5)), 0);
        assert_eq!(progress_percent("WAITING", 300, Some(1)), 99);
        assert_eq!(progress_percent("WAITING", 3, Some(0)), 100);
        assert_eq!(progress_percent("WAITING", 0, Some(0)), 100);
        assert_eq!(progress_percent("WAITING", 0, Some(1)), 0);
        assert_eq!(progress_percent("SERVING", 3, None), 100);
        assert_eq!(progress_percent("SERVED", 3, None), 100);
        assert_eq!(progress_percent("SKIPPED", 3, None), 0);
        assert_eq!(progress_percent("CANCELLED", 3, None), 0);
    }
}
