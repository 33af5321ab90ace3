//! Rows the rules work on: the clinic, its queues and rooms, today's session of a queue (the
//! per-queue lock) and tokens.

use crate::db::{self, col, nullable};
use crate::error::{refuse, refused, QResult, Reason};
use crate::eta::{LineNow, ServiceModel};
use crate::validate::Settings;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

pub struct Business {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub status: String,
    pub settings: Settings,
    /// The clinic's own WhatsApp number (`phone_number_id`); None: the installation's.
    pub sender: Option<String>,
}

impl Business {
    pub fn load(client: &mut SpiClient<'_>, id: Option<Uuid>) -> QResult<Business> {
        let missing = || refused(Reason::ClinicNotFound);
        let id = id.ok_or_else(missing)?;
        let row = db::read_first(
            client,
            "SELECT id, name, timezone, status, settings, whatsapp_phone_number_id FROM qlink.businesses WHERE id = $1",
            &[id.into()],
        )?
        .ok_or_else(missing)?;
        let settings: JsonB = col(&row, 5)?;
        Ok(Business {
            id: col(&row, 1)?,
            name: col(&row, 2)?,
            timezone: col(&row, 3)?,
            status: col(&row, 4)?,
            settings: Settings::from_stored(&settings.0),
            sender: nullable(&row, 6)?,
        })
    }

    /// Queue operations run only for ACTIVE and TRIAL clinics.
    pub fn require_operational(&self) -> QResult<()> {
        match self.status.as_str() {
            "ACTIVE" | "TRIAL" => Ok(()),
            "SUSPENDED" => Err(refused(Reason::ClinicSuspended)),
            _ => Err(refused(Reason::ClinicDisabled)),
        }
    }
}

/// A line of patients (SPEC §9): its own day, numbering, learned ETA and stall warning.
#[derive(Clone)]
pub struct Queue {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub is_active: bool,
    pub sort_order: i32,
    /// Active rooms calling from this queue: its ETA is divided by them.
    pub rooms_serving: i32,
}

const QUEUES_OF: &str = "SELECT q.id, q.name, q.prefix, q.is_active, q.sort_order, \
         (SELECT count(*)::int FROM qlink.room_queues rq JOIN qlink.rooms r ON r.id = rq.room_id \
          WHERE rq.queue_id = q.id AND r.is_active) \
     FROM qlink.queues q WHERE q.business_id = $1 ORDER BY q.sort_order, q.name, q.id";

/// "Dr. A, Dr. B and Lab": the names a refusal asks the caller to choose from.
pub fn name_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Queue {
    /// The label printed for token `number` of this queue: "A-12", or "12" without a prefix.
    pub fn label(&self, number: i32) -> String {
        label(&self.prefix, number)
    }

    /// Every queue of the clinic, in the clinic's order.
    pub fn all_of(client: &SpiClient<'_>, business_id: Uuid) -> QResult<Vec<Queue>> {
        let mut queues = Vec::new();
        for row in db::read(client, QUEUES_OF, &[business_id.into()])? {
            queues.push(Queue {
                id: row.get(1)?.expect("id"),
                name: row.get(2)?.expect("name"),
                prefix: row.get(3)?.expect("prefix"),
                is_active: row.get(4)?.expect("is_active"),
                sort_order: row.get(5)?.expect("sort_order"),
                rooms_serving: row.get(6)?.expect("rooms"),
            });
        }
        Ok(queues)
    }

    /// The queue a call names, which must be this clinic's; a call that names none gets the
    /// clinic's only active queue, and with several is refused with their names.
    pub fn resolve(queues: &[Queue], id: Option<Uuid>) -> QResult<Queue> {
        match id {
            Some(id) => queues.iter().find(|q| q.id == id).cloned().ok_or_else(|| refused(Reason::QueueNotFound)),
            None => {
                let active: Vec<&Queue> = queues.iter().filter(|q| q.is_active).collect();
                match active.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(refused(Reason::QueueInactive)),
                    several => Err(refuse(
                        Reason::QueueRequired,
                        format!(
                            "This clinic has several queues: name one (queue_id) of {}.",
                            name_list(&several.iter().map(|q| q.name.clone()).collect::<Vec<_>>())
                        ),
                    )),
                }
            }
        }
    }
}

pub fn label(prefix: &str, number: i32) -> String {
    if prefix.is_empty() {
        number.to_string()
    } else {
        format!("{prefix}-{number}")
    }
}

/// Where patients are called to, and the queues it calls from.
#[derive(Clone)]
pub struct Room {
    pub id: Uuid,
    pub name: String,
    pub is_active: bool,
    /// In ascending id order: the order their sessions are locked in.
    pub queue_ids: Vec<Uuid>,
}

const ROOMS_OF: &str = "SELECT r.id, r.name, r.is_active, \
         ARRAY(SELECT rq.queue_id FROM qlink.room_queues rq WHERE rq.room_id = r.id ORDER BY rq.queue_id) \
     FROM qlink.rooms r WHERE r.business_id = $1 ORDER BY r.sort_order, r.name, r.id";

/// One room of the clinic, locked so that the room's actions (NEXT, UNDO) are applied one
/// at a time. NO KEY UPDATE: tokens pointing at the room (a key share) are not held up.
const LOCK_ROOM: &str = "SELECT r.id, r.name, r.is_active, \
         ARRAY(SELECT rq.queue_id FROM qlink.room_queues rq WHERE rq.room_id = r.id ORDER BY rq.queue_id) \
     FROM qlink.rooms r WHERE r.id = $1 AND r.business_id = $2 FOR NO KEY UPDATE";

impl Room {
    pub fn all_of(client: &SpiClient<'_>, business_id: Uuid) -> QResult<Vec<Room>> {
        let mut rooms = Vec::new();
        for row in db::read(client, ROOMS_OF, &[business_id.into()])? {
            rooms.push(Room {
                id: row.get(1)?.expect("id"),
                name: row.get(2)?.expect("name"),
                is_active: row.get(3)?.expect("is_active"),
                queue_ids: row.get(4)?.expect("queues"),
            });
        }
        Ok(rooms)
    }

    fn lock(client: &mut SpiClient<'_>, business: &Business, id: Uuid) -> QResult<Room> {
        let row = db::first(client, LOCK_ROOM, &[id.into(), business.id.into()])?
            .ok_or_else(|| refused(Reason::RoomNotFound))?;
        Ok(Room { id: col(&row, 1)?, name: col(&row, 2)?, is_active: col(&row, 3)?, queue_ids: col(&row, 4)? })
    }

    /// The room an action happens in, locked. A call that names none gets the login's
    /// pinned room, or the clinic's only active room; with several, an action that must
    /// happen in a room (`required`) is refused with their names, and any other is a
    /// clinic-wide act (None).
    pub fn resolve(
        client: &mut SpiClient<'_>,
        business: &Business,
        id: Option<Uuid>,
        pinned: Option<Uuid>,
        required: bool,
    ) -> QResult<Option<Room>> {
        if let (Some(id), Some(pin)) = (id, pinned) {
            if id != pin {
                return Err(refused(Reason::StaffPinnedElsewhere));
            }
        }
        let id = match id.or(pinned) {
            Some(id) => id,
            None => {
                let active: Vec<Room> =
                    Room::all_of(client, business.id)?.into_iter().filter(|r| r.is_active).collect();
                match active.as_slice() {
                    [one] => one.id,
                    _ if !required => return Ok(None),
                    [] => return Err(refused(Reason::RoomInactive)),
                    several => {
                        return Err(refuse(
                            Reason::RoomRequired,
                            format!(
                                "This clinic has several rooms: name one (room_id) of {}.",
                                name_list(&several.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
                            ),
                        ))
                    }
                }
            }
        };
        let room = Room::lock(client, business, id)?;
        if required && !room.is_active {
            return Err(refused(Reason::RoomInactive));
        }
        Ok(Some(room))
    }
}

/// Today's session of one queue, locked `FOR UPDATE` for the rest of the transaction.
/// Changes are made on this struct and written back once by `save`.
pub struct Session {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub status: String,
    pub last_token_number: i32,
    /// The latest called token of this queue still being served (any room).
    pub now_serving_number: Option<i32>,
    pub messages_queued: i32,
    pub service_p25_minutes: Option<i32>,
    pub service_p75_minutes: Option<i32>,
    pub closed_at: Option<TimestampWithTimeZone>,
    /// WAITING tokens right now, kept by every transition so no action counts the line.
    pub waiting_count: i32,
    /// Today's latest service durations (ms), oldest first: the learned ETA without a query.
    pub service_ms: Vec<i32>,
    pub last_line_seq: i32,
    pub last_line_at: Option<TimestampWithTimeZone>,
    /// Tokens and messages of the clinic's other queues today, for the clinic-wide daily
    /// limits (read, not locked: two rooms never wait for each other for a count).
    pub other_tokens: i32,
    pub other_messages: i32,
    /// The ETA's service-time model, kept with `service_ms` (None before 5 samples).
    pub service_mean_seconds: Option<f64>,
    pub service_sd_seconds: Option<f64>,
    /// A doctor's delay on the line (SPEC §12): minutes, note, when announced.
    pub delay_minutes: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_announced_at: Option<TimestampWithTimeZone>,
}

/// How many recent service durations the ETA learns from.
pub const SERVICE_SAMPLES: usize = 200;

const LOCK_TODAY: &str = "SELECT id, queue_id, status, last_token_number, now_serving_number, messages_queued, \
     service_p25_minutes, service_p75_minutes, closed_at, waiting_count, service_ms, last_line_seq, last_line_at, \
     service_mean_seconds, service_sd_seconds, delay_minutes, delay_note, delay_announced_at \
     FROM qlink.sessions WHERE queue_id = $1 AND date = ($2 AT TIME ZONE $3)::date FOR UPDATE";

/// The other queues' counts today, for the clinic-wide daily limits.
const OTHERS_TODAY: &str = "SELECT coalesce(sum(last_token_number), 0)::int, coalesce(sum(messages_queued), 0)::int \
     FROM qlink.sessions WHERE business_id = $1 AND date = ($2 AT TIME ZONE $3)::date AND id <> $4";

impl Session {
    /// Locks a queue's session for the clinic's local date, opening it first if needed. With
    /// `several_queues`, also reads the other queues' counts for the clinic-wide limits.
    pub fn lock_today(
        client: &mut SpiClient<'_>,
        business: &Business,
        queue_id: Uuid,
        now: TimestampWithTimeZone,
        several_queues: bool,
    ) -> QResult<Session> {
        let args = || [queue_id.into(), now.into(), business.timezone.as_str().into()];
        let mut session = match Self::read(client, &args())? {
            Some(s) => s,
            None => {
                let opened: Option<Uuid> = db::value(
                    client,
                    "INSERT INTO qlink.sessions (queue_id, date, business_id, created_at, updated_at) \
                     VALUES ($1, ($2 AT TIME ZONE $3)::date, $4, $2, $2) \
                     ON CONFLICT (queue_id, date) DO NOTHING RETURNING id",
                    &[queue_id.into(), now.into(), business.timezone.as_str().into(), business.id.into()],
                )?;
                let session = Self::read(client, &args())?.expect("today's session exists after insert");
                // The first action of a line's day ends the days before it: their figures are
                // written now (a week back at most; the housekeeping catches up the rest).
                if opened.is_some() {
                    crate::reports::write_due(client, business.id, now, Some(7))?;
                }
                session
            }
        };
        if several_queues {
            session.read_others(client, business, now)?;
        }
        Ok(session)
    }

    /// Locks several queues' sessions in ascending queue id: the one order every function
    /// takes them in, so two actions never wait for each other in a circle.
    pub fn lock_all(
        client: &mut SpiClient<'_>,
        business: &Business,
        queue_ids: &[Uuid],
        now: TimestampWithTimeZone,
        several_queues: bool,
    ) -> QResult<Vec<Session>> {
        let mut ids = queue_ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.into_iter().map(|q| Self::lock_today(client, business, q, now, several_queues)).collect()
    }

    fn read(client: &mut SpiClient<'_>, args: &[pgrx::datum::DatumWithOid<'_>]) -> QResult<Option<Session>> {
        match db::first(client, LOCK_TODAY, args)? {
            Some(row) => Ok(Some(Session {
                id: col(&row, 1)?,
                queue_id: col(&row, 2)?,
                status: col(&row, 3)?,
                last_token_number: col(&row, 4)?,
                now_serving_number: nullable(&row, 5)?,
                messages_queued: col(&row, 6)?,
                service_p25_minutes: nullable(&row, 7)?,
                service_p75_minutes: nullable(&row, 8)?,
                closed_at: nullable(&row, 9)?,
                waiting_count: col(&row, 10)?,
                service_ms: col(&row, 11)?,
                last_line_seq: col(&row, 12)?,
                last_line_at: nullable(&row, 13)?,
                other_tokens: 0,
                other_messages: 0,
                service_mean_seconds: nullable(&row, 14)?,
                service_sd_seconds: nullable(&row, 15)?,
                delay_minutes: nullable(&row, 16)?,
                delay_note: nullable(&row, 17)?,
                delay_announced_at: nullable(&row, 18)?,
            })),
            None => Ok(None),
        }
    }

    fn read_others(
        &mut self,
        client: &mut SpiClient<'_>,
        business: &Business,
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        let row = db::first(
            client,
            OTHERS_TODAY,
            &[business.id.into(), now.into(), business.timezone.as_str().into(), self.id.into()],
        )?
        .expect("an aggregate has one row");
        self.other_tokens = col(&row, 1)?;
        self.other_messages = col(&row, 2)?;
        Ok(())
    }

    /// Tokens the clinic has given out today over all its queues.
    pub fn clinic_tokens(&self) -> i32 {
        self.last_token_number + self.other_tokens
    }

    /// Messages the clinic has queued today over all its queues.
    pub fn clinic_messages(&self) -> i32 {
        self.messages_queued + self.other_messages
    }

    /// A ticket at the end of this line: the next sequence number, and an arrival time that
    /// never goes back (so ordering several lines by arrival keeps each line's own order).
    pub fn enter_line(&mut self, now: TimestampWithTimeZone) -> (i32, TimestampWithTimeZone) {
        self.last_line_seq += 1;
        let at = match self.last_line_at {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_line_at = Some(at);
        (self.last_line_seq, at)
    }

    /// Writes the session back. `staff_action` marks a staff action (the stall warning's clock).
    pub fn save(&self, client: &mut SpiClient<'_>, now: TimestampWithTimeZone, staff_action: bool) -> QResult<()> {
        db::exec(
            client,
            "UPDATE qlink.sessions SET status = $2, last_token_number = $3, now_serving_number = $4, \
             messages_queued = $5, service_p25_minutes = $6, service_p75_minutes = $7, closed_at = $8, \
             last_action_at = CASE WHEN $9 THEN $10 ELSE last_action_at END, updated_at = $10, \
             waiting_count = $11, max_waiting = greatest(max_waiting, $11), service_ms = $12, last_line_seq = $13, last_line_at = $14, \
             service_mean_seconds = $15, service_sd_seconds = $16, delay_minutes = $17, delay_note = $18, delay_announced_at = $19 \
             WHERE id = $1",
            &[
                self.id.into(),
                self.status.as_str().into(),
                self.last_token_number.into(),
                self.now_serving_number.into(),
                self.messages_queued.into(),
                self.service_p25_minutes.into(),
                self.service_p75_minutes.into(),
                self.closed_at.into(),
                staff_action.into(),
                now.into(),
                self.waiting_count.into(),
                self.service_ms.clone().into(),
                self.last_line_seq.into(),
                self.last_line_at.into(),
                self.service_mean_seconds.into(),
                self.service_sd_seconds.into(),
                self.delay_minutes.into(),
                self.delay_note.as_deref().into(),
                self.delay_announced_at.into(),
            ],
        )?;
        Ok(())
    }

    /// The ETA's model of one service: the day's samples blended with the clinic's range.
    pub fn service_model(&self, settings: &Settings) -> ServiceModel {
        let prior = ServiceModel::prior(settings.eta_min_minutes as i32, settings.eta_max_minutes as i32);
        ServiceModel::learned(prior, self.service_mean_seconds, self.service_sd_seconds, self.service_ms.len() as i32)
    }

    /// The ETA range with `people_ahead` before the patient in this line (SPEC §12), plus
    /// what is still to run of a doctor's delay.
    pub fn eta(
        &self,
        settings: &Settings,
        people_ahead: i32,
        line: &LineNow,
        rooms: i32,
        now: TimestampWithTimeZone,
    ) -> (i32, i32) {
        let (lo, hi) = self.service_model(settings).wait(people_ahead, line, rooms);
        let d = self.delay_left(now).unwrap_or(0);
        (lo + d, hi + d)
    }

    /// Minutes still to run of the line's delay (None without one).
    pub fn delay_left(&self, now: TimestampWithTimeZone) -> Option<i32> {
        let elapsed = self.delay_announced_at.map(|at| (now.into_inner() - at.into_inner()) as f64 / 1_000_000.0);
        crate::eta::delay_left(self.delay_minutes, elapsed)
    }

    /// Records one finished service and re-learns the ETA from the latest samples.
    pub fn record_service(&mut self, ms: i32) {
        self.service_ms.push(ms.max(0));
        if self.service_ms.len() > SERVICE_SAMPLES {
            let excess = self.service_ms.len() - SERVICE_SAMPLES;
            self.service_ms.drain(..excess);
        }
        self.learn();
    }

    /// p25/p75 of the samples (PostgreSQL's percentile_cont, rounded half to even), in
    /// minutes clamped to 1–60, once there are 5; none before.
    fn learn(&mut self) {
        (self.service_mean_seconds, self.service_sd_seconds) = crate::eta::mean_sd_seconds(&self.service_ms);
        if self.service_ms.len() < 5 {
            self.service_p25_minutes = None;
            self.service_p75_minutes = None;
            return;
        }
        let mut minutes: Vec<f64> = self.service_ms.iter().map(|ms| f64::from(*ms) / 60_000.0).collect();
        minutes.sort_by(f64::total_cmp);
        let percentile = |q: f64| {
            let pos = q * (minutes.len() - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
            let hi = (lo + 1).min(minutes.len() - 1);
            let v = minutes[lo] + frac * (minutes[hi] - minutes[lo]);
            (v.round_ties_even() as i32).clamp(1, 60)
        };
        self.service_p25_minutes = Some(percentile(0.25));
        self.service_p75_minutes = Some(percentile(0.75));
    }

    /// Re-reads the state that UNDO or RESET may change for many tokens at once: the
    /// latest service durations (UNDO may un-serve someone), the length of the line and
    /// the latest called token still being served.
    pub fn reread(&mut self, client: &mut SpiClient<'_>) -> QResult<()> {
        let row = db::first(
            client,
            "SELECT (SELECT coalesce(array_agg(ms ORDER BY served_at), '{}') FROM ( \
                        SELECT served_at, (extract(epoch FROM served_at - called_at) * 1000)::int AS ms \
                        FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVED' \
                          AND called_at IS NOT NULL AND served_at IS NOT NULL \
                        ORDER BY served_at DESC LIMIT 200) d), \
                    (SELECT count(*)::int FROM qlink.tokens WHERE session_id = $1 AND status = 'WAITING'), \
                    (SELECT token_number FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVING' \
                     ORDER BY called_at DESC NULLS LAST, line_seq DESC LIMIT 1)",
            &[self.id.into()],
        )?
        .expect("one row");
        self.service_ms = col(&row, 1)?;
        self.waiting_count = col(&row, 2)?;
        self.now_serving_number = nullable(&row, 3)?;
        self.learn();
        Ok(())
    }

    /// After a token of this queue stopped being served: the pointer moves to another room's
    /// patient of the same queue, if any (only queues served by several rooms have one).
    pub fn served_left(&mut self, client: &mut SpiClient<'_>, token: &Token, shared: bool) -> QResult<()> {
        if self.now_serving_number != Some(token.token_number) {
            return Ok(());
        }
        self.now_serving_number = if shared {
            db::value(
                client,
                "SELECT token_number FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVING' AND id <> $2 \
                 ORDER BY called_at DESC NULLS LAST, line_seq DESC LIMIT 1",
                &[self.id.into(), token.id.into()],
            )?
        } else {
            None
        };
        Ok(())
    }
}

/// The fields of a token the rules look at, and its undo snapshot.
#[derive(Clone)]
pub struct Token {
    pub id: Uuid,
    pub session_id: Uuid,
    pub business_id: Uuid,
    pub token_number: i32,
    pub status: String,
    pub is_priority: bool,
    pub patient_phone: Option<String>,
    pub language: String,
    /// What UNDO restores: status, previous_status, priority, the three timestamps, its
    /// line and room, as the database has them (read with the row, so no extra query).
    pub snapshot: serde_json::Value,
    pub called_at: Option<TimestampWithTimeZone>,
    pub queue_id: Uuid,
    pub room_id: Option<Uuid>,
    pub label: String,
    pub line_seq: i32,
    /// A running hold (SPEC §12), or one that ran out (then the token is SKIPPED).
    pub held_until: Option<TimestampWithTimeZone>,
}

/// `SELECT <the Token columns> FROM qlink.tokens <tail>` as one static string.
macro_rules! token_sql {
    ($tail:literal) => {
        concat!(
            "SELECT id, session_id, business_id, token_number, status, is_priority, patient_phone, language, \
                    jsonb_build_object('id', id, 'token_number', token_number, 'status', status, \
                        'previous_status', previous_status, 'is_priority', is_priority, 'called_at', called_at, \
                        'served_at', served_at, 'cancelled_at', cancelled_at, 'session_id', session_id, \
                        'queue_id', queue_id, 'room_id', room_id, 'line_seq', line_seq, 'line_at', line_at, \
                        'held_at', held_at, 'held_until', held_until), \
                    called_at, queue_id, room_id, token_label, line_seq, held_until \
             FROM qlink.tokens ",
            $tail
        )
    };
}
pub(crate) use token_sql;

/// How a move changes the length of the line.
fn line_delta(from: &str, to: &str) -> i32 {
    i32::from(to == "WAITING") - i32::from(from == "WAITING")
}

impl Token {
    /// The tokens of a `token_sql!` result, in its order.
    pub fn all(table: pgrx::spi::SpiTupleTable<'_>) -> QResult<Vec<Token>> {
        let mut tokens = Vec::new();
        for row in table {
            let snapshot: JsonB = row.get(9)?.expect("snapshot");
            tokens.push(Token {
                id: row.get(1)?.expect("id"),
                session_id: row.get(2)?.expect("session_id"),
                business_id: row.get(3)?.expect("business_id"),
                token_number: row.get(4)?.expect("token_number"),
                status: row.get(5)?.expect("status"),
                is_priority: row.get(6)?.expect("is_priority"),
                patient_phone: row.get(7)?,
                language: row.get(8)?.expect("language"),
                snapshot: snapshot.0,
                called_at: row.get(10)?,
                queue_id: row.get(11)?.expect("queue_id"),
                room_id: row.get(12)?,
                label: row.get(13)?.expect("token_label"),
                line_seq: row.get(14)?.expect("line_seq"),
                held_until: row.get(15)?,
            });
        }
        Ok(tokens)
    }

    pub fn by_id(client: &mut SpiClient<'_>, id: Uuid) -> QResult<Option<Token>> {
        const SQL: &str = token_sql!("WHERE id = $1");
        Ok(Self::all(db::exec(client, SQL, &[id.into()])?)?.pop())
    }

    /// A token of this clinic, or "not found": one clinic can never learn about or touch
    /// another clinic's tokens.
    pub fn of_clinic(client: &mut SpiClient<'_>, id: Uuid, business: &Business) -> QResult<Token> {
        Self::by_id(client, id)?.filter(|t| t.business_id == business.id).ok_or_else(|| refused(Reason::TokenNotFound))
    }

    /// The token being served in `room` today, and the next one it would call: the first
    /// WAITING token over the room's lines that has not stepped out, priority first, then
    /// earliest arrival.
    pub fn serving_and_next(
        client: &mut SpiClient<'_>,
        business: &Business,
        room_id: Uuid,
        sessions: &[Uuid],
        now: TimestampWithTimeZone,
    ) -> QResult<(Option<Token>, Option<Token>)> {
        const SQL: &str = concat!(
            "(",
            token_sql!("WHERE room_id = $1 AND day = ($2 AT TIME ZONE $3)::date AND status = 'SERVING'"),
            ") UNION ALL (",
            // Each line's first (its call-order index), then the first of those: within a line
            // arrival order is ticket order, so this is the first over the lines, without
            // sorting anyone's whole line.
            token_sql!(
                "WHERE id = (SELECT w.id FROM unnest($4::uuid[]) AS l(session_id) CROSS JOIN LATERAL ( \
                     SELECT id, is_priority, line_at, line_seq FROM qlink.tokens \
                     WHERE session_id = l.session_id AND status = 'WAITING' AND held_until IS NULL \
                     ORDER BY is_priority DESC, line_seq LIMIT 1) w \
                 ORDER BY w.is_priority DESC, w.line_at, w.line_seq LIMIT 1)"
            ),
            ")"
        );
        let table = db::exec(
            client,
            SQL,
            &[room_id.into(), now.into(), business.timezone.as_str().into(), sessions.to_vec().into()],
        )?;
        let (mut serving, mut next) = (None, None);
        for token in Self::all(table)? {
            if token.status == "SERVING" {
                serving = Some(token);
            } else {
                next = Some(token);
            }
        }
        Ok((serving, next))
    }

    /// Moves the token to `status`, remembering where it came from and stamping the
    /// matching timestamp (and, when called, the room); keeps the session's line length,
    /// learned service time and the token's snapshot.
    pub fn transition(
        &mut self,
        client: &mut SpiClient<'_>,
        session: &mut Session,
        status: &str,
        priority: Option<bool>,
        room: Option<Uuid>,
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        db::exec(
            client,
            "UPDATE qlink.tokens SET previous_status = status, status = $2, \
                 is_priority = coalesce($3, is_priority), \
                 called_at = CASE WHEN $2 = 'SERVING' THEN $4 ELSE called_at END, \
                 served_at = CASE WHEN $2 = 'SERVED' THEN $4 ELSE served_at END, \
                 cancelled_at = CASE WHEN $2 = 'CANCELLED' THEN $4 ELSE cancelled_at END, \
                 room_id = CASE WHEN $2 = 'SERVING' THEN $5 ELSE room_id END, \
                 held_at = NULL, held_until = NULL, updated_at = $4 \
             WHERE id = $1",
            &[self.id.into(), status.into(), priority.into(), now.into(), room.into()],
        )?;
        session.waiting_count += line_delta(&self.status, status);
        if self.status == "SERVING" && status == "SERVED" {
            if let Some(called) = self.called_at {
                let ms = (now.into_inner() - called.into_inner()) / 1000;
                session.record_service(ms.clamp(0, i64::from(i32::MAX)) as i32);
            }
        }
        if status == "SERVING" {
            self.called_at = Some(now);
            self.room_id = room;
        }
        let stamp = serde_json::to_value(now).unwrap_or(serde_json::Value::Null);
        self.held_until = None;
        if let serde_json::Value::Object(snap) = &mut self.snapshot {
            snap.insert("held_at".into(), serde_json::Value::Null);
            snap.insert("held_until".into(), serde_json::Value::Null);
            snap.insert("previous_status".into(), self.status.clone().into());
            snap.insert("status".into(), status.into());
            match status {
                "SERVING" => {
                    snap.insert("called_at".into(), stamp);
                    snap.insert("room_id".into(), room.map(|r| r.to_string()).into());
                }
                "SERVED" => {
                    snap.insert("served_at".into(), stamp);
                }
                "CANCELLED" => {
                    snap.insert("cancelled_at".into(), stamp);
                }
                _ => {}
            };
            if let Some(p) = priority {
                snap.insert("is_priority".into(), p.into());
            }
        }
        self.status = status.to_string();
        if let Some(p) = priority {
            self.is_priority = p;
        }
        Ok(())
    }

    /// Moves a WAITING or SERVING token to the end of another line (SPEC §9 TRANSFER): it
    /// keeps its label and priority, so a priority token goes to the front.
    pub fn transfer(
        &mut self,
        client: &mut SpiClient<'_>,
        from: &mut Session,
        to: &mut Session,
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        let (seq, at) = to.enter_line(now);
        db::exec(
            client,
            "UPDATE qlink.tokens SET previous_status = status, status = 'WAITING', session_id = $2, queue_id = $3, \
                 line_seq = $4, line_at = $5, updated_at = $6 \
             WHERE id = $1",
            &[self.id.into(), to.id.into(), to.queue_id.into(), seq.into(), at.into(), now.into()],
        )?;
        from.waiting_count -= i32::from(self.status == "WAITING");
        to.waiting_count += 1;
        if let serde_json::Value::Object(snap) = &mut self.snapshot {
            snap.insert("previous_status".into(), self.status.clone().into());
            snap.insert("status".into(), "WAITING".into());
            snap.insert("session_id".into(), to.id.to_string().into());
            snap.insert("queue_id".into(), to.queue_id.to_string().into());
            snap.insert("line_seq".into(), seq.into());
            snap.insert("line_at".into(), serde_json::to_value(at).unwrap_or(serde_json::Value::Null));
        }
        self.status = "WAITING".into();
        self.session_id = to.id;
        self.queue_id = to.queue_id;
        self.line_seq = seq;
        Ok(())
    }
}
