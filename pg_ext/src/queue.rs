//! The queue: tokens in, NEXT / SERVED / SKIP / RECALL / CANCEL / TRANSFER / UNDO. Every
//! write locks today's session row of each queue it touches first (in ascending queue id),
//! and an action in a room locks the room first, so the actions of one line are applied one
//! at a time, two rooms with disjoint queues never wait for each other, and two clinics
//! never do.

use crate::audit::{self, Entry, UndoEntry};
use crate::db::{self, col, nullable};
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::eta::LineNow;
use crate::model::{Business, Queue, Room, Session, Token};
use crate::outbox;
use crate::ratelimit;
use crate::validate::{self, Settings};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, JsonB, Uuid};

/// A staff id, when given, must be an active user of this clinic (or a super admin).
/// Returns the room the login is pinned to, if any.
pub fn check_staff(client: &mut SpiClient<'_>, staff_id: Option<Uuid>, business: &Business) -> QResult<Option<Uuid>> {
    let Some(staff_id) = staff_id else { return Ok(None) };
    let row = db::first(
        client,
        "SELECT role, business_id, room_id FROM qlink.staff_users WHERE id = $1 AND is_active",
        &[staff_id.into()],
    )?
    .ok_or_else(|| refused(Reason::StaffNotFound))?;
    let role: String = col(&row, 1)?;
    let staff_business: Option<Uuid> = nullable(&row, 2)?;
    if role != "SUPER_ADMIN" && staff_business != Some(business.id) {
        return Err(refused(Reason::StaffWrongClinic));
    }
    nullable(&row, 3)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Patients being served from this line now: at most one unless several rooms share it.
pub(crate) fn serving_count(client: &mut SpiClient<'_>, session: &Session, queue: &Queue) -> QResult<i32> {
    if queue.rooms_serving <= 1 {
        return Ok(i32::from(session.now_serving_number.is_some()));
    }
    Ok(db::value(
        client,
        "SELECT count(*)::int FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVING'",
        &[session.id.into()],
    )?
    .unwrap_or(0))
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
pub fn create_token(
    business_id: Option<Uuid>,
    patient_name: Option<&str>,
    patient_phone: Option<&str>,
    source: default!(Option<&str>, "'QR'"),
    client_ip: default!(Option<Inet>, "NULL"),
    is_priority: default!(Option<bool>, false),
    language: default!(Option<&str>, "NULL"),
    staff_id: default!(Option<Uuid>, "NULL"),
    queue_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(token_id, Uuid),
            name!(token_number, i32),
            name!(status, String),
            name!(queue_position, Option<i32>),
            name!(eta_min_minutes, Option<i32>),
            name!(eta_max_minutes, Option<i32>),
            name!(token_label, String),
            name!(queue_id, Uuid),
            name!(queue_name, String),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        // WHATSAPP tokens come only from handle_inbound, for the number a message came from.
        let source = match non_empty(source).map(str::to_ascii_uppercase).as_deref() {
            None | Some("QR") => "QR",
            Some("STAFF") => "STAFF",
            Some("API") => "API",
            Some(other) => {
                return Err(refuse(
                    Reason::InvalidSource,
                    format!("Unknown source \"{other}\" (use QR, STAFF or API)."),
                ))
            }
        };
        // A patient's own QR join is anyone's to make (the intake limits apply); a desk or
        // API token, a priority token or one given by a staff user is the desk's.
        let (business_id, staff_id) =
            if source != "QR" || is_priority == Some(true) || staff_id.is_some() || login.is_some() {
                let caller = crate::login::caller(login, crate::login::May::Desk)?;
                (caller.clinic(business_id)?, caller.staff(staff_id)?)
            } else {
                (business_id, staff_id)
            };
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let intake = Intake {
                business_id,
                patient_name,
                patient_phone,
                source,
                client_ip: client_ip.as_ref(),
                is_priority: is_priority.unwrap_or(false),
                language,
                staff_id,
                queue_id,
                kiosk_id: None,
            };
            Ok(TableIterator::once(create_in(client, &intake, now)?.row()))
        })
    })
}

/// What create_token is asked for.
pub struct Intake<'a> {
    pub business_id: Option<Uuid>,
    pub patient_name: Option<&'a str>,
    pub patient_phone: Option<&'a str>,
    /// QR, STAFF, API, WHATSAPP or KIOSK (already checked).
    pub source: &'static str,
    pub client_ip: Option<&'a Inet>,
    pub is_priority: bool,
    pub language: Option<&'a str>,
    pub staff_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    /// The kiosk a KIOSK token was taken at: its own window replaces the address's.
    pub kiosk_id: Option<Uuid>,
}

/// A token just created, with what the patient is told.
pub struct Created {
    pub token: Token,
    pub position: i32,
    pub people_ahead: i32,
    pub eta: (i32, i32),
    pub queue_name: String,
}

/// A created token as create_token answers it (and the kiosk's, the same columns).
pub type CreatedRow = (Uuid, i32, String, Option<i32>, Option<i32>, Option<i32>, String, Uuid, String);

impl Created {
    pub fn row(self) -> CreatedRow {
        (
            self.token.id,
            self.token.token_number,
            "WAITING".to_string(),
            Some(self.position),
            Some(self.eta.0),
            Some(self.eta.1),
            self.token.label,
            self.token.queue_id,
            self.queue_name,
        )
    }
}

/// create_token's rules, for the SQL function, a JOIN by WhatsApp and a kiosk. A WHATSAPP
/// token follows the QR rules without the IP limit (the number is Meta-verified), and gets no
/// WELCOME: the reply to the JOIN says the same inside the window the patient opened. A
/// KIOSK token follows the QR rules with the kiosk's own window instead of the address's
/// (every patient at the door shares the kiosk's address), and the number is optional (a
/// patient without a phone gets the slip only).
pub fn create_in(client: &mut SpiClient<'_>, intake: &Intake<'_>, now: TimestampWithTimeZone) -> QResult<Created> {
    let Intake {
        business_id,
        patient_name,
        patient_phone,
        source,
        client_ip,
        is_priority,
        language,
        staff_id,
        queue_id,
        kiosk_id,
    } = *intake;
    let business = Business::load(client, business_id)?;
    business.require_operational()?;
    check_staff(client, staff_id, &business)?;
    let queues = Queue::all_of(client, business.id)?;
    let queue = Queue::resolve(&queues, queue_id)?;
    if !queue.is_active {
        return Err(refused(Reason::QueueInactive));
    }
    if queue.rooms_serving == 0 {
        return Err(refused(Reason::QueueWithoutRoom));
    }
    let mut session = Session::lock_today(client, &business, queue.id, now, queues.len() > 1)?;
    crate::holds::expire_in(client, &business, std::slice::from_mut(&mut session), now)?;
    let settings = &business.settings;
    if matches!(source, "QR" | "WHATSAPP" | "KIOSK") {
        check_qr_open(&business, &session.status)?;
    }
    let name = validate::patient_name(patient_name)?;
    let phone = match non_empty(patient_phone) {
        Some(raw) => Some(validate::phone(raw)?),
        None if source == "STAFF" || source == "KIOSK" => None,
        None => return Err(refused(Reason::InvalidPhone)),
    };
    let language = match non_empty(language) {
        Some(raw) => validate::language(raw)?,
        None => settings.default_language.clone(),
    };
    // The receptionist is trusted to add whoever is standing at the desk.
    if source != "STAFF" {
        let from = match kiosk_id {
            Some(kiosk) => Some(Origin::Kiosk(kiosk)),
            None => client_ip.map(Origin::Address),
        };
        check_intake_limits(client, &business, &session, from, phone.as_deref(), now)?;
    }

    // Everyone waiting is ahead of a new patient; only the other emergencies are
    // ahead of a new emergency (few, found through the call-order index).
    let waiting_ahead: i32 = if is_priority {
        db::value(
            client,
            "SELECT count(*)::int FROM qlink.tokens \
                     WHERE session_id = $1 AND status = 'WAITING' AND is_priority",
            &[session.id.into()],
        )?
        .unwrap_or(0)
    } else {
        session.waiting_count
    };
    let position = waiting_ahead + 1;
    let line = LineNow::read(client, Some(session.id), now)?;
    let people_ahead = waiting_ahead + line.serving();
    // Close to the front already: the WELCOME says so, no REMINDER later.
    let reach = settings.reminder_at_position;
    let reminder_queued = reach <= 0 || i64::from(position) <= reach;
    session.last_token_number += 1;
    session.waiting_count += 1;
    let token_number = session.last_token_number;
    let label = queue.label(token_number);
    let (line_seq, line_at) = session.enter_line(now);
    // What the patient is shown now: the reports' ETA accuracy compares the wait with it.
    let (lo, hi) = session.eta(settings, people_ahead, &line, queue.rooms_serving, now);
    let token_id: Uuid = db::value(
        client,
        "INSERT INTO qlink.tokens (session_id, business_id, token_number, is_priority, patient_name, \
                     patient_phone, source, language, joined_people_ahead, reminder_queued, created_at, updated_at, \
                     queue_id, token_label, line_seq, line_at, day, eta_first_min_minutes, eta_first_max_minutes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, \
                         ($11 AT TIME ZONE $16)::date, $17, $18) RETURNING id",
        &[
            session.id.into(),
            business.id.into(),
            token_number.into(),
            is_priority.into(),
            name.as_str().into(),
            phone.as_deref().into(),
            source.into(),
            language.as_str().into(),
            people_ahead.into(),
            reminder_queued.into(),
            now.into(),
            queue.id.into(),
            label.as_str().into(),
            line_seq.into(),
            line_at.into(),
            business.timezone.as_str().into(),
            lo.into(),
            hi.into(),
        ],
    )?
    .expect("INSERT RETURNING id");
    let token = Token {
        id: token_id,
        session_id: session.id,
        business_id: business.id,
        token_number,
        status: "WAITING".into(),
        is_priority,
        patient_phone: phone,
        language,
        snapshot: serde_json::Value::Null,
        called_at: None,
        queue_id: queue.id,
        room_id: None,
        label: label.clone(),
        line_seq,
        held_until: None,
    };
    let audit_id = if source == "STAFF" {
        Some(audit::record(
            client,
            Entry {
                business: &business,
                session: Some(&session),
                room_id: None,
                staff_id,
                actor: "STAFF",
                action: if is_priority { "ADD_EMERGENCY" } else { "ADD_WALK_IN" },
                token_id: Some(token_id),
                before: None,
                after: None,
                undoable: false,
            },
            now,
        )?)
    } else {
        None
    };
    if source != "WHATSAPP" {
        outbox::enqueue(client, &business, &mut session, &token, "WELCOME", Some(people_ahead), None, audit_id, now)?;
    }
    session.save(client, now, source == "STAFF")?;
    Ok(Created { token, position, people_ahead, eta: (lo, hi), queue_name: queue.name.clone() })
}

/// Where a patient's join came from, for its 10-minute window.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// An IPv4 address or an IPv6 /64.
    Address(&'a Inet),
    /// One of the clinic's kiosks.
    Kiosk(Uuid),
}

/// The intake limits, in the order of SPEC §3: per (clinic, source) and per source across
/// clinics, per phone, per clinic.
/// The phone and daily limits count the clinic's whole day, over all its queues.
fn check_intake_limits(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &Session,
    from: Option<Origin<'_>>,
    phone: Option<&str>,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    let settings = &business.settings;
    match from {
        Some(Origin::Address(ip)) => {
            // Per source (an IPv4 address or an IPv6 /64): in this clinic, and in the others.
            let (here, everywhere) = ratelimit::intake_keys(business.id, ip);
            if !ratelimit::hit_ten_minutes(client, &here, settings.ip_tokens_per_10min, now)? {
                return Err(refused(Reason::IpLimit));
            }
            if !ratelimit::hit_elsewhere(client, &everywhere, &here, now)? {
                return Err(refused(Reason::IpLimit));
            }
        }
        Some(Origin::Kiosk(kiosk)) => {
            // A kiosk belongs to one clinic: it has no window across clinics.
            let key = format!("kiosk:{kiosk}");
            if !ratelimit::hit_ten_minutes(client, &key, settings.kiosk_tokens_per_10min, now)? {
                return Err(refused(Reason::KioskLimit));
            }
        }
        None => {}
    }
    if let Some(phone) = phone {
        let taken: i64 = db::value(
            client,
            "SELECT count(*) FROM qlink.tokens t JOIN qlink.sessions s ON s.id = t.session_id \
             WHERE s.business_id = $1 AND s.date = ($3 AT TIME ZONE $4)::date \
               AND t.patient_phone = $2 AND t.status <> 'CANCELLED'",
            &[business.id.into(), phone.into(), now.into(), business.timezone.as_str().into()],
        )?
        .unwrap_or(0);
        if taken >= settings.max_tokens_per_phone_per_day {
            return Err(refused(Reason::PhoneLimit));
        }
    }
    check_daily_limit(&business.settings, session.clinic_tokens())
}

/// The checks of a QR token that depend on the clinic alone: its status, QR intake, today's
/// session. The daily limit comes later in create_token's order (after the patient's own
/// checks), so it is a function of its own.
fn check_qr_open(business: &Business, session_status: &str) -> QResult<()> {
    business.require_operational()?;
    if !business.settings.qr_intake_enabled {
        return Err(refused(Reason::QrIntakeOff));
    }
    if session_status == "CLOSED" {
        return Err(refused(Reason::SessionClosed));
    }
    Ok(())
}

fn check_daily_limit(settings: &Settings, clinic_tokens: i32) -> QResult<()> {
    if i64::from(clinic_tokens) >= settings.daily_token_limit {
        return Err(refused(Reason::DailyTokenLimit));
    }
    Ok(())
}

/// Why create_token would refuse any QR token in a line now, whoever the patient: exactly
/// its clinic checks (status, QR intake, the line's day closed, the clinic's daily limit),
/// so the intake page, the lobby display and the API never offer what create_token then
/// refuses.
pub fn qr_refusal(business: &Business, session_status: &str, clinic_tokens: i32) -> Option<Reason> {
    check_qr_open(business, session_status)
        .and_then(|()| check_daily_limit(&business.settings, clinic_tokens))
        .err()
        .and_then(|e| e.reason())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    Next,
    Served,
    Skip,
    Recall,
    Cancel,
    Transfer,
    Undo,
}

impl Action {
    fn parse(raw: Option<&str>) -> QResult<Action> {
        let raw = raw.unwrap_or("").trim();
        Ok(match raw.to_ascii_uppercase().as_str() {
            "NEXT" => Action::Next,
            "SERVED" => Action::Served,
            "SKIP" => Action::Skip,
            "RECALL" => Action::Recall,
            "CANCEL" => Action::Cancel,
            "TRANSFER" => Action::Transfer,
            "UNDO" => Action::Undo,
            _ => {
                return Err(refuse(
                    Reason::InvalidAction,
                    format!("Unknown action \"{raw}\" (use NEXT, SERVED, SKIP, RECALL, CANCEL, TRANSFER or UNDO)."),
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Next => "NEXT",
            Action::Served => "SERVED",
            Action::Skip => "SKIP",
            Action::Recall => "RECALL",
            Action::Cancel => "CANCEL",
            Action::Transfer => "TRANSFER",
            Action::Undo => "UNDO",
        }
    }
}

/// The sessions one action holds, by queue.
struct Locked {
    sessions: Vec<Session>,
    queues: Vec<Queue>,
}

impl Locked {
    fn get(&mut self, session_id: Uuid) -> &mut Session {
        self.sessions.iter_mut().find(|s| s.id == session_id).expect("the action locked this session")
    }

    fn ids_of(&self, queue_ids: &[Uuid]) -> Vec<Uuid> {
        self.sessions.iter().filter(|s| queue_ids.contains(&s.queue_id)).map(|s| s.id).collect()
    }

    fn holds(&self, session_id: Uuid) -> bool {
        self.sessions.iter().any(|s| s.id == session_id)
    }

    /// Is this queue served by several rooms (so another room may be serving from it)?
    fn shared(&self, queue_id: Uuid) -> bool {
        self.queues.iter().any(|q| q.id == queue_id && q.rooms_serving > 1)
    }

    fn queue(&self, queue_id: Uuid) -> Option<&Queue> {
        self.queues.iter().find(|q| q.id == queue_id)
    }

    /// Locks more queues' sessions. Taken after the first set they may be out of the global
    /// order; only a token moved or an undo spanning lines between the first look and the
    /// lock needs it, and PostgreSQL resolves the rare cycle by failing one (40P01).
    fn add(
        &mut self,
        client: &mut SpiClient<'_>,
        business: &Business,
        queue_ids: &[Uuid],
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        let several = self.queues.len() > 1;
        let mut missing: Vec<Uuid> =
            queue_ids.iter().copied().filter(|q| !self.sessions.iter().any(|s| s.queue_id == *q)).collect();
        missing.sort();
        missing.dedup();
        for q in missing {
            let session = Session::lock_today(client, business, q, now, several)?;
            self.sessions.push(session);
        }
        Ok(())
    }
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_action(
    business_id: Option<Uuid>,
    action: Option<&str>,
    token_id: default!(Option<Uuid>, "NULL"),
    staff_id: default!(Option<Uuid>, "NULL"),
    room_id: default!(Option<Uuid>, "NULL"),
    target_queue_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(now_serving_number, Option<i32>),
            name!(serving_token_id, Option<Uuid>),
            name!(affected_token_id, Option<Uuid>),
            name!(waiting_count, i32),
            name!(token_label, Option<String>),
            name!(queue_id, Option<Uuid>),
            name!(room_id, Option<Uuid>),
            name!(room_name, Option<String>),
            name!(serving_label, Option<String>),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        let staff_id = caller.staff(staff_id)?;
        let action = Action::parse(action)?;
        match (action, token_id) {
            (Action::Next | Action::Undo, Some(_)) => {
                return Err(refuse(Reason::ActionTakesNoToken, format!("{} does not take a token.", action.name())))
            }
            (Action::Recall | Action::Cancel | Action::Transfer, None) => {
                return Err(refuse(Reason::ActionNeedsToken, format!("{} needs the token to act on.", action.name())))
            }
            _ => {}
        }
        match (action, target_queue_id) {
            (Action::Transfer, None) => return Err(refused(Reason::TransferNeedsQueue)),
            (Action::Transfer, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(refused(Reason::ActionTakesNoQueue)),
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            business.require_operational()?;
            let pinned = check_staff(client, staff_id, &business)?;
            let queues = Queue::all_of(client, business.id)?;
            let first_look = match token_id {
                Some(id) => Some(Token::of_clinic(client, id, &business)?),
                None => None,
            };
            let needs_room = matches!(action, Action::Next | Action::Undo)
                || (matches!(action, Action::Served | Action::Skip) && token_id.is_none());
            // A called patient is acted on in the room that called them.
            let room_id = room_id.or(first_look.as_ref().filter(|t| t.status == "SERVING").and_then(|t| t.room_id));
            let room = Room::resolve(client, &business, room_id, pinned, needs_room)?;
            let target_queue = match target_queue_id {
                Some(id) => {
                    let q = Queue::resolve(&queues, Some(id))?;
                    if !q.is_active {
                        return Err(refused(Reason::QueueInactive));
                    }
                    if q.rooms_serving == 0 {
                        return Err(refused(Reason::QueueWithoutRoom));
                    }
                    Some(q)
                }
                None => None,
            };
            let mut lock: Vec<Uuid> = room.as_ref().map(|r| r.queue_ids.clone()).unwrap_or_default();
            lock.extend(first_look.as_ref().map(|t| t.queue_id));
            lock.extend(target_queue.as_ref().map(|q| q.id));
            let several = queues.len() > 1;
            let mut sessions = Session::lock_all(client, &business, &lock, now, several)?;
            crate::holds::expire_in(client, &business, &mut sessions, now)?;
            let mut locked = Locked { sessions, queues };
            // The token again, under the lock (it may have moved line in between).
            let target = match first_look {
                Some(t) => {
                    let mut token = Token::of_clinic(client, t.id, &business)?;
                    if !locked.holds(token.session_id) {
                        locked.add(client, &business, &[token.queue_id], now)?;
                        token = Token::of_clinic(client, t.id, &business)?;
                    }
                    if !locked.holds(token.session_id) {
                        return Err(refused(Reason::TokenNotToday));
                    }
                    Some(token)
                }
                None => None,
            };
            let (affected, serving) = match (action, room.as_ref()) {
                (Action::Undo, Some(room)) => undo(client, &business, room, &mut locked, staff_id, now)?,
                (Action::Undo, None) => unreachable!("UNDO always has a room"),
                _ => apply(client, &business, room.as_ref(), &mut locked, action, target, target_queue, staff_id, now)?,
            };
            for session in &locked.sessions {
                session.save(client, now, true)?;
            }
            let scope: Vec<&Session> = match room.as_ref() {
                Some(r) => locked.sessions.iter().filter(|s| r.queue_ids.contains(&s.queue_id)).collect(),
                None => locked.sessions.iter().collect(),
            };
            let waiting = scope.iter().map(|s| s.waiting_count).sum();
            let now_serving = match (room.as_ref(), serving.as_ref(), affected.as_ref()) {
                (Some(_), s, _) => s.map(|t| t.token_number),
                (None, _, Some(t)) => {
                    locked.sessions.iter().find(|s| s.id == t.session_id).and_then(|s| s.now_serving_number)
                }
                (None, _, None) => None,
            };
            Ok(TableIterator::once((
                now_serving,
                serving.as_ref().map(|t| t.id),
                affected.as_ref().map(|t| t.id),
                waiting,
                affected.as_ref().map(|t| t.label.clone()),
                affected.as_ref().map(|t| t.queue_id),
                room.as_ref().map(|r| r.id),
                room.as_ref().map(|r| r.name.clone()),
                serving.as_ref().map(|t| t.label.clone()),
            )))
        })
    })
}

/// A called patient is acted on only by the room that called them (or clinic-wide): another
/// room's UNDO could otherwise put them back into a room that has called someone else.
fn another_rooms_patient(token: &Token, room: Option<&Room>) -> bool {
    token.status == "SERVING" && room.is_some_and(|r| token.room_id != Some(r.id))
}

/// A token's move in an action.
enum Move {
    To(&'static str, Option<bool>),
    Transfer(Uuid),
}

/// NEXT, SERVED, SKIP, RECALL, CANCEL, TRANSFER: moves tokens, audits with before/after
/// state, queues CALLED and REMINDER messages. Returns the token acted on and the one now
/// serving in the room.
// The clinic, the room, the locks, the action and its arguments, the actor and the time:
// a struct would only rename them at the one call.
#[allow(clippy::too_many_arguments)]
fn apply(
    client: &mut SpiClient<'_>,
    business: &Business,
    room: Option<&Room>,
    locked: &mut Locked,
    action: Action,
    target: Option<Token>,
    target_queue: Option<Queue>,
    staff_id: Option<Uuid>,
    now: TimestampWithTimeZone,
) -> QResult<(Option<Token>, Option<Token>)> {
    let (serving, next) = match room {
        Some(r) => {
            let lines = locked.ids_of(&r.queue_ids);
            Token::serving_and_next(client, business, r.id, &lines, now)?
        }
        None => (target.clone().filter(|t| t.status == "SERVING"), None),
    };
    // Decide who moves where before touching anything.
    let mut moves: Vec<(Token, Move)> = Vec::new();
    let mut called: Option<Token> = None;
    match action {
        Action::Next => {
            if let Some(s) = serving.clone() {
                moves.push((s, Move::To("SERVED", None)));
            }
            if let Some(n) = next {
                moves.push((n.clone(), Move::To("SERVING", None)));
                called = Some(n);
            }
        }
        Action::Served => {
            let s = serving.clone().ok_or_else(|| refused(Reason::NobodyServing))?;
            if target.as_ref().is_some_and(|t| t.id != s.id) {
                return Err(refused(Reason::NotTheServingPatient));
            }
            moves.push((s, Move::To("SERVED", None)));
        }
        Action::Skip => {
            let t = match target {
                Some(t) => t,
                None => serving.clone().ok_or_else(|| refused(Reason::NobodyServing))?,
            };
            if t.status != "WAITING" && t.status != "SERVING" {
                return Err(refused(Reason::NotSkippable));
            }
            if another_rooms_patient(&t, room) {
                return Err(refused(Reason::NotTheServingPatient));
            }
            moves.push((t, Move::To("SKIPPED", None)));
        }
        Action::Recall => {
            let t = target.expect("RECALL has a token");
            if t.status != "SKIPPED" {
                return Err(refused(Reason::NotRecallable));
            }
            moves.push((t, Move::To("WAITING", Some(true))));
        }
        Action::Cancel => {
            let t = target.expect("CANCEL has a token");
            if t.status != "WAITING" {
                return Err(refused(Reason::NotCancellable));
            }
            moves.push((t, Move::To("CANCELLED", None)));
        }
        Action::Transfer => {
            let t = target.expect("TRANSFER has a token");
            let to = target_queue.expect("TRANSFER has a queue");
            if t.status != "WAITING" && t.status != "SERVING" {
                return Err(refused(Reason::NotTransferable));
            }
            if t.queue_id == to.id {
                return Err(refused(Reason::TransferSameQueue));
            }
            if another_rooms_patient(&t, room) {
                return Err(refused(Reason::NotTheServingPatient));
            }
            moves.push((t, Move::Transfer(to.id)));
        }
        Action::Undo => unreachable!("UNDO is handled by undo()"),
    }

    // The sessions the moves touch: where each token is, and where a transfer takes it.
    let mut touched: Vec<Uuid> = Vec::new();
    for (t, m) in &moves {
        touched.push(t.session_id);
        if let Move::Transfer(q) = m {
            touched.extend(locked.sessions.iter().filter(|s| s.queue_id == *q).map(|s| s.id));
        }
    }
    let primary = moves
        .last()
        .map(|(t, _)| t.session_id)
        .or_else(|| room.and_then(|r| locked.ids_of(&r.queue_ids).first().copied()))
        .unwrap_or_else(|| locked.sessions[0].id);
    touched.push(primary);
    touched.sort();
    touched.dedup();
    let snap = |locked: &Locked, moves: &[(Token, Move)]| {
        let sessions: Vec<&Session> = locked.sessions.iter().filter(|s| touched.contains(&s.id)).collect();
        audit::snapshot_of(&sessions, &moves.iter().map(|(t, _)| t).collect::<Vec<_>>())
    };
    let before = snap(locked, &moves);
    let room_id = room.map(|r| r.id);
    let mut serving_now = serving.clone();
    // Order matters: the SERVING token leaves before the next one arrives.
    for (token, m) in moves.iter_mut() {
        let was_serving = token.status == "SERVING";
        let from = token.session_id;
        let shared = locked.shared(token.queue_id);
        match m {
            Move::To(status, priority) => {
                token.transition(client, locked.get(from), status, *priority, room_id, now)?;
            }
            Move::Transfer(queue_id) => {
                let to_id = locked.sessions.iter().find(|s| s.queue_id == *queue_id).expect("target locked").id;
                let (mut to, mut rest): (Vec<Session>, Vec<Session>) =
                    std::mem::take(&mut locked.sessions).into_iter().partition(|s| s.id == to_id);
                let from_session = rest.iter_mut().find(|s| s.id == from).expect("source locked");
                token.transfer(client, from_session, &mut to[0], now)?;
                rest.append(&mut to);
                locked.sessions = rest;
            }
        }
        if was_serving {
            locked.get(from).served_left(client, token, shared)?;
            if serving_now.as_ref().is_some_and(|s| s.id == token.id) {
                serving_now = None;
            }
        }
        if token.status == "SERVING" {
            locked.get(token.session_id).now_serving_number = Some(token.token_number);
            serving_now = Some(token.clone());
        }
    }
    // The doctor is here: calling the line's next patient ends its delay.
    if let Some(c) = called.as_ref() {
        let session = locked.get(c.session_id);
        session.delay_minutes = None;
        session.delay_note = None;
        session.delay_announced_at = None;
    }
    let after = snap(locked, &moves);
    let affected = match action {
        Action::Next => called.clone(),
        _ => moves.first().map(|(t, _)| t.clone()),
    };
    // A NEXT that moved nobody (nobody serving, nobody waiting) is audited as pressed but
    // is not undoable: UNDO after it must revert the action before it, not nothing.
    let audit_id = audit::record(
        client,
        Entry {
            business,
            session: locked.sessions.iter().find(|s| s.id == primary),
            room_id,
            staff_id,
            actor: "STAFF",
            action: action.name(),
            token_id: affected.as_ref().map(|t| t.id),
            before: Some(before),
            after: Some(after),
            undoable: !moves.is_empty(),
        },
        now,
    )?;
    if let Some(token) = called.as_mut() {
        token.room_id = room_id;
        let session = locked.get(token.session_id);
        outbox::enqueue(client, business, session, token, "CALLED", Some(0), room, Some(audit_id), now)?;
    }
    for session_id in touched {
        let queue = locked.queue(locked.sessions.iter().find(|s| s.id == session_id).expect("touched").queue_id);
        let queue = queue.cloned().expect("a locked session's queue");
        let session = locked.get(session_id);
        let serving = serving_count(client, session, &queue)?;
        outbox::queue_reminders(client, business, session, serving, Some(audit_id), now)?;
    }
    Ok((affected, serving_now))
}

/// UNDO in a room: reverts the room's latest not-yet-undone action exactly (see
/// `audit::UndoEntry`), across every line it touched.
fn undo(
    client: &mut SpiClient<'_>,
    business: &Business,
    room: &Room,
    locked: &mut Locked,
    staff_id: Option<Uuid>,
    now: TimestampWithTimeZone,
) -> QResult<(Option<Token>, Option<Token>)> {
    let lines = locked.ids_of(&room.queue_ids);
    let mut entry = UndoEntry::top(client, &lines, Some(room.id))?;
    // An entry that spans lines beyond the room's (a TRANSFER): lock those too, then make
    // sure it is still the one to undo (a clinic-wide act may have been undone meanwhile).
    let spans: Vec<Uuid> = entry.session_ids().into_iter().filter(|id| !locked.holds(*id)).collect();
    if !spans.is_empty() {
        let table = db::exec(
            client,
            "SELECT queue_id FROM qlink.sessions WHERE id = ANY($1) AND business_id = $2",
            &[spans.into(), business.id.into()],
        )?;
        let mut queues = Vec::new();
        for row in table {
            queues.push(row.get::<Uuid>(1)?.expect("queue_id"));
        }
        locked.add(client, business, &queues, now)?;
        entry = UndoEntry::top(client, &lines, Some(room.id))?;
        if entry.session_ids().iter().any(|id| !locked.holds(*id)) {
            return Err(refused(Reason::UndoTokensChanged));
        }
    }
    let touched = entry.session_ids();
    let mut sessions: Vec<Session> = std::mem::take(&mut locked.sessions);
    let result = entry.revert(client, &mut sessions, now);
    locked.sessions = sessions;
    result?;
    for id in &touched {
        if locked.holds(*id) {
            locked.get(*id).reread(client)?;
        }
    }
    let primary = entry.session_id.filter(|id| locked.holds(*id));
    let undo_id = audit::record(
        client,
        Entry {
            business,
            session: primary.and_then(|id| locked.sessions.iter().find(|s| s.id == id)),
            room_id: Some(room.id),
            staff_id,
            actor: "STAFF",
            action: "UNDO",
            token_id: entry.token_id,
            before: Some(JsonB(entry.after.0.clone())),
            after: Some(JsonB(entry.before.0.clone())),
            undoable: false,
        },
        now,
    )?;
    audit::mark_undone(client, entry.id, undo_id, now)?;
    outbox::skip_unsent_for_audit(client, entry.id, now)?;
    let affected = match entry.token_id {
        Some(id) => Token::by_id(client, id)?,
        None => None,
    };
    let serving = Token::serving_and_next(client, business, room.id, &[], now)?.0;
    Ok((affected, serving))
}

/// The queues a clinic-wide call acts on: the one named (this clinic's), or all of them.
fn queues_in_scope(client: &mut SpiClient<'_>, business: &Business, queue_id: Option<Uuid>) -> QResult<Vec<Queue>> {
    let queues = Queue::all_of(client, business.id)?;
    match queue_id {
        Some(id) => Ok(vec![Queue::resolve(&queues, Some(id))?]),
        None => Ok(queues),
    }
}

/// Closes today's queue for QR intake (staff may still add and serve): one queue, or every
/// queue of the clinic. Undoable.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn close_session(
    business_id: Option<Uuid>,
    staff_id: default!(Option<Uuid>, "NULL"),
    queue_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<TableIterator<'static, (name!(session_id, Uuid), name!(status, String), name!(queue_id, Uuid))>, ErrorReport>
{
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Desk)?;
        let business_id = caller.clinic(business_id)?;
        let staff_id = caller.staff(staff_id)?;
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            business.require_operational()?;
            let pinned = check_staff(client, staff_id, &business)?;
            let queues = queues_in_scope(client, &business, queue_id)?;
            let room = Room::resolve(client, &business, None, pinned, false)?;
            let ids: Vec<Uuid> = queues.iter().map(|q| q.id).collect();
            let mut sessions = Session::lock_all(client, &business, &ids, now, false)?;
            let open: Vec<usize> = (0..sessions.len()).filter(|i| sessions[*i].status != "CLOSED").collect();
            if !open.is_empty() {
                let before = audit::snapshot_of(&open.iter().map(|i| &sessions[*i]).collect::<Vec<_>>(), &[]);
                for i in &open {
                    sessions[*i].status = "CLOSED".into();
                    sessions[*i].closed_at = Some(now);
                }
                let after = audit::snapshot_of(&open.iter().map(|i| &sessions[*i]).collect::<Vec<_>>(), &[]);
                audit::record(
                    client,
                    Entry {
                        business: &business,
                        session: Some(&sessions[open[0]]),
                        room_id: room.as_ref().map(|r| r.id),
                        staff_id,
                        actor: "STAFF",
                        action: "CLOSE_SESSION",
                        token_id: None,
                        before: Some(before),
                        after: Some(after),
                        undoable: true,
                    },
                    now,
                )?;
                for i in &open {
                    sessions[*i].save(client, now, true)?;
                }
                // The day is over for these lines: its figures are written now (and again once
                // it has ended, when its messages have settled).
                crate::reports::write_today(client, &business, now)?;
            }
            Ok(TableIterator::new(sessions.into_iter().map(|s| (s.id, s.status, s.queue_id)).collect::<Vec<_>>()))
        })
    })
}

/// Starts today's queue over (one queue, or every queue of the clinic): every WAITING and
/// SKIPPED token is CANCELLED and the day reopens. Refused while a patient is being served.
/// Numbers are never reused.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn reset_session(
    business_id: Option<Uuid>,
    staff_id: default!(Option<Uuid>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
    queue_id: default!(Option<Uuid>, "NULL"),
    login: default!(Option<Vec<u8>>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(session_id, Uuid), name!(cancelled_count, i32), name!(queue_id, Uuid))>,
    ErrorReport,
> {
    run(|| {
        let caller = crate::login::caller(login, crate::login::May::Operator)?;
        let business_id = caller.clinic(business_id)?;
        let staff_id = caller.staff(staff_id)?;
        let actor_email = caller.email(actor_email);
        let actor_email = actor_email.as_deref();
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let pinned = check_staff(client, staff_id, &business)?;
            let queues = queues_in_scope(client, &business, queue_id)?;
            let room = Room::resolve(client, &business, None, pinned, false)?;
            let ids: Vec<Uuid> = queues.iter().map(|q| q.id).collect();
            let mut sessions = Session::lock_all(client, &business, &ids, now, false)?;
            crate::holds::expire_in(client, &business, &mut sessions, now)?;
            let session_ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
            let serving: bool = db::value(
                client,
                "SELECT EXISTS (SELECT 1 FROM qlink.tokens WHERE session_id = ANY($1) AND status = 'SERVING')",
                &[session_ids.clone().into()],
            )?
            .unwrap_or(false);
            if serving {
                return Err(refused(Reason::ResetWhileServing));
            }
            let table = db::exec(
                client,
                "SELECT id, session_id FROM qlink.tokens WHERE session_id = ANY($1) AND status IN ('WAITING', 'SKIPPED')",
                &[session_ids.clone().into()],
            )?;
            let mut ids: Vec<Uuid> = Vec::new();
            let mut per_session: Vec<Uuid> = Vec::new();
            for row in table {
                ids.push(row.get(1)?.expect("id"));
                per_session.push(row.get(2)?.expect("session_id"));
            }
            let before = audit::snapshot(client, &sessions.iter().collect::<Vec<_>>(), &ids)?;
            db::exec(
                client,
                "UPDATE qlink.tokens SET previous_status = status, status = 'CANCELLED', \
                     cancelled_at = $2, updated_at = $2 \
                 WHERE session_id = ANY($1) AND status IN ('WAITING', 'SKIPPED')",
                &[session_ids.into(), now.into()],
            )?;
            for s in sessions.iter_mut() {
                s.status = "OPEN".into();
                s.closed_at = None;
                s.waiting_count = 0;
            }
            let after = audit::snapshot(client, &sessions.iter().collect::<Vec<_>>(), &ids)?;
            audit::record(
                client,
                Entry {
                    business: &business,
                    session: sessions.first(),
                    room_id: room.as_ref().map(|r| r.id),
                    staff_id,
                    actor: "STAFF",
                    action: "RESET_SESSION",
                    token_id: None,
                    before: Some(before),
                    after: Some(after),
                    undoable: true,
                },
                now,
            )?;
            for s in &sessions {
                s.save(client, now, true)?;
            }
            // Resetting a clinic's day is an operator's act too: in their trail, whoever did it.
            let details = serde_json::json!({"cancelled": ids.len()});
            let target = Some(business.id.to_string());
            crate::accounts::write_admin_audit(
                client,
                actor_email,
                actor_ip.as_ref(),
                "RESET_SESSION",
                target,
                details,
                now,
            )?;
            Ok(TableIterator::new(
                sessions
                    .iter()
                    .map(|s| (s.id, per_session.iter().filter(|p| **p == s.id).count() as i32, s.queue_id))
                    .collect::<Vec<_>>(),
            ))
        })
    })
}

/// A patient cancels their own token from the tracking page ("I can't come").
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn cancel_token(
    token_id: Option<Uuid>,
) -> Result<TableIterator<'static, (name!(token_number, i32), name!(status, String))>, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let token = cancel_in(client, token_id, now)?;
            Ok(TableIterator::once((token.token_number, token.status)))
        })
    })
}

/// A patient's own cancel, from the tracking page or by WhatsApp.
pub fn cancel_in(client: &mut SpiClient<'_>, token_id: Option<Uuid>, now: TimestampWithTimeZone) -> QResult<Token> {
    let PatientDay { business, queue, mut session, mut token } = PatientDay::lock(client, token_id, now)?;
    if token.status != "WAITING" {
        return Err(refuse(Reason::NotCancellable, "Only a token that is still waiting can be cancelled."));
    }
    let before = audit::snapshot_of(&[&session], &[&token]);
    token.transition(client, &mut session, "CANCELLED", None, None, now)?;
    let after = audit::snapshot_of(&[&session], &[&token]);
    let audit_id = audit::record(
        client,
        Entry {
            business: &business,
            session: Some(&session),
            room_id: None,
            staff_id: None,
            actor: "PATIENT",
            action: "CANCEL",
            token_id: Some(token.id),
            before: Some(before),
            after: Some(after),
            undoable: false,
        },
        now,
    )?;
    let serving = serving_count(client, &session, &queue)?;
    outbox::queue_reminders(client, &business, &mut session, serving, Some(audit_id), now)?;
    session.save(client, now, false)?;
    Ok(token)
}

/// What a patient's own act (cancel, step out, come back, reminder) works on: their clinic,
/// line and today's session of it, locked, with the line's run-out holds expired first, and
/// the token read again under the lock.
pub struct PatientDay {
    pub business: Business,
    pub queue: Queue,
    pub session: Session,
    pub token: Token,
}

impl PatientDay {
    pub fn lock(client: &mut SpiClient<'_>, token_id: Option<Uuid>, now: TimestampWithTimeZone) -> QResult<PatientDay> {
        let missing = || refused(Reason::TokenNotFound);
        let found = Token::by_id(client, token_id.ok_or_else(missing)?)?.ok_or_else(missing)?;
        let business = Business::load(client, Some(found.business_id))?;
        business.require_operational()?;
        let queues = Queue::all_of(client, business.id)?;
        let queue = Queue::resolve(&queues, Some(found.queue_id))?;
        let mut session = Session::lock_today(client, &business, found.queue_id, now, queues.len() > 1)?;
        crate::holds::expire_in(client, &business, std::slice::from_mut(&mut session), now)?;
        let token = Token::of_clinic(client, found.id, &business)?;
        if token.session_id != session.id {
            return Err(refused(Reason::TokenDayOver));
        }
        Ok(PatientDay { business, queue, session, token })
    }

    /// Patients of this line being served now.
    pub fn serving(&self, client: &mut SpiClient<'_>) -> QResult<i32> {
        serving_count(client, &self.session, &self.queue)
    }
}

/// A 1–5 rating and an optional comment, once the patient has been seen; once per token.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn submit_feedback(
    token_id: Option<Uuid>,
    rating: Option<i32>,
    feedback: default!(Option<&str>, "NULL"),
) -> Result<bool, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let missing = || refused(Reason::TokenNotFound);
            let token = Token::by_id(client, token_id.ok_or_else(missing)?)?.ok_or_else(missing)?;
            let rating = rating
                .filter(|r| (1..=5).contains(r))
                .ok_or_else(|| refuse(Reason::InvalidRating, "Please choose a rating from 1 to 5."))?;
            let feedback = validate::feedback(feedback)?;
            if token.status != "SERVED" {
                return Err(refused(Reason::FeedbackTooEarly));
            }
            let updated: Option<Uuid> = db::value(
                client,
                "UPDATE qlink.tokens SET rating = $2, feedback = $3, updated_at = $4 \
                 WHERE id = $1 AND rating IS NULL RETURNING id",
                &[token.id.into(), (rating as i16).into(), feedback.as_deref().into(), now.into()],
            )?;
            if updated.is_none() {
                return Err(refused(Reason::FeedbackAlreadyGiven));
            }
            Ok(true)
        })
    })
}
