//! The queue: tokens in, NEXT / SERVED / SKIP / RECALL / CANCEL / UNDO, what patients and
//! staff see. Every write locks the clinic's session row for today first, so actions of
//! one clinic are applied one at a time and two clinics never wait for each other.

use crate::audit::{self, Entry};
use crate::db::{self, col, nullable};
use crate::error::{refuse, refused, run, QResult, Reason};
use crate::model::{Business, Session, Token};
use crate::outbox;
use crate::ratelimit;
use crate::validate::{self, Settings};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};

/// A staff id, when given, must be an active user of this clinic (or a super admin).
fn check_staff(client: &mut SpiClient<'_>, staff_id: Option<Uuid>, business: &Business) -> QResult<()> {
    let Some(staff_id) = staff_id else { return Ok(()) };
    let row = db::first(
        client,
        "SELECT role, business_id FROM qlink.staff_users WHERE id = $1 AND is_active",
        &[staff_id.into()],
    )?
    .ok_or_else(|| refused(Reason::StaffNotFound))?;
    let role: String = col(&row, 1)?;
    let staff_business: Option<Uuid> = nullable(&row, 2)?;
    if role != "SUPER_ADMIN" && staff_business != Some(business.id) {
        return Err(refused(Reason::StaffWrongClinic));
    }
    Ok(())
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
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
        ),
    >,
    ErrorReport,
> {
    run(|| {
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
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let (business, mut session) = Session::open_for(client, business_id, now)?;
            business.require_operational()?;
            check_staff(client, staff_id, &business)?;
            let settings = &business.settings;
            if source == "QR" {
                check_qr_open(&business, &session.status)?;
            }
            let name = validate::patient_name(patient_name)?;
            let phone = match non_empty(patient_phone) {
                Some(raw) => Some(validate::phone(raw)?),
                None if source == "STAFF" => None,
                None => return Err(refused(Reason::InvalidPhone)),
            };
            let language = match non_empty(language) {
                Some(raw) => validate::language(raw)?,
                None => settings.default_language.clone(),
            };
            // The receptionist is trusted to add whoever is standing at the desk.
            if source != "STAFF" {
                check_intake_limits(client, &business, &session, client_ip.as_ref(), phone.as_deref(), now)?;
            }

            let is_priority = is_priority.unwrap_or(false);
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
            let people_ahead = waiting_ahead + i32::from(session.now_serving_number.is_some());
            // Close to the front already: the WELCOME says so, no REMINDER later.
            let reach = settings.reminder_at_position;
            let reminder_queued = reach <= 0 || i64::from(position) <= reach;
            session.last_token_number += 1;
            session.waiting_count += 1;
            let token_number = session.last_token_number;
            let token_id: Uuid = db::value(
                client,
                "INSERT INTO qlink.tokens (session_id, business_id, token_number, is_priority, patient_name, \
                     patient_phone, source, language, joined_people_ahead, reminder_queued, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
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
            };
            let audit_id = if source == "STAFF" {
                Some(audit::record(
                    client,
                    Entry {
                        business: &business,
                        session: Some(&session),
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
            outbox::enqueue(client, &business, &mut session, &token, "WELCOME", Some(people_ahead), audit_id, now)?;
            session.save(client, now, source == "STAFF")?;
            let (lo, hi) = session.eta_per_person(settings);
            Ok(TableIterator::once((
                token_id,
                token_number,
                "WAITING".to_string(),
                Some(position),
                Some(people_ahead * lo),
                Some(people_ahead * hi),
            )))
        })
    })
}

/// The intake limits, in the order of SPEC §3: per (clinic, IP), per phone, per clinic.
fn check_intake_limits(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &Session,
    client_ip: Option<&Inet>,
    phone: Option<&str>,
    now: TimestampWithTimeZone,
) -> QResult<()> {
    let settings = &business.settings;
    if let Some(ip) = client_ip {
        let key = format!("create_token:{}:{}", business.id, ip.0);
        if !ratelimit::hit_ten_minutes(client, &key, settings.ip_tokens_per_10min, now)? {
            return Err(refused(Reason::IpLimit));
        }
    }
    if let Some(phone) = phone {
        let taken: i64 = db::value(
            client,
            "SELECT count(*) FROM qlink.tokens \
             WHERE session_id = $1 AND patient_phone = $2 AND status <> 'CANCELLED'",
            &[session.id.into(), phone.into()],
        )?
        .unwrap_or(0);
        if taken >= settings.max_tokens_per_phone_per_day {
            return Err(refused(Reason::PhoneLimit));
        }
    }
    check_daily_limit(&business.settings, session.last_token_number)
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

fn check_daily_limit(settings: &Settings, last_token_number: i32) -> QResult<()> {
    if i64::from(last_token_number) >= settings.daily_token_limit {
        return Err(refused(Reason::DailyTokenLimit));
    }
    Ok(())
}

/// Why create_token would refuse any QR token at this clinic now, whoever the patient:
/// exactly its clinic checks (status, QR intake, session closed, the daily limit), so the
/// intake page, the lobby display and the API never offer what create_token then refuses.
pub fn qr_refusal(business: &Business, session_status: &str, last_token_number: i32) -> Option<Reason> {
    check_qr_open(business, session_status)
        .and_then(|()| check_daily_limit(&business.settings, last_token_number))
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
            "UNDO" => Action::Undo,
            _ => {
                return Err(refuse(
                    Reason::InvalidAction,
                    format!("Unknown action \"{raw}\" (use NEXT, SERVED, SKIP, RECALL, CANCEL or UNDO)."),
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
            Action::Undo => "UNDO",
        }
    }
}

#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_action(
    business_id: Option<Uuid>,
    action: Option<&str>,
    token_id: default!(Option<Uuid>, "NULL"),
    staff_id: default!(Option<Uuid>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(now_serving_number, Option<i32>),
            name!(serving_token_id, Option<Uuid>),
            name!(affected_token_id, Option<Uuid>),
            name!(waiting_count, i32),
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let action = Action::parse(action)?;
        match (action, token_id) {
            (Action::Next | Action::Undo, Some(_)) => {
                return Err(refuse(Reason::ActionTakesNoToken, format!("{} does not take a token.", action.name())))
            }
            (Action::Recall | Action::Cancel, None) => {
                return Err(refuse(Reason::ActionNeedsToken, format!("{} needs the token to act on.", action.name())))
            }
            _ => {}
        }
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let (business, mut session) = Session::open_for(client, business_id, now)?;
            business.require_operational()?;
            check_staff(client, staff_id, &business)?;
            let target = match token_id {
                Some(id) => Some(Token::in_session(client, id, &business, &session)?),
                None => None,
            };
            let (affected, serving) = match action {
                Action::Undo => undo(client, &business, &mut session, staff_id, now)?,
                _ => apply(client, &business, &mut session, action, target, staff_id, now)?,
            };
            session.save(client, now, true)?;
            Ok(TableIterator::once((session.now_serving_number, serving, affected, session.waiting_count)))
        })
    })
}

/// NEXT, SERVED, SKIP, RECALL, CANCEL: moves tokens, audits with before/after state,
/// queues CALLED and REMINDER messages. Returns the token acted on and the one now serving.
fn apply(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &mut Session,
    action: Action,
    target: Option<Token>,
    staff_id: Option<Uuid>,
    now: TimestampWithTimeZone,
) -> QResult<(Option<Uuid>, Option<Uuid>)> {
    let (serving, next) = Token::serving_and_next(client, session)?;
    // Decide who moves where before touching anything.
    let mut moves: Vec<(Token, &'static str, Option<bool>)> = Vec::new();
    let mut called: Option<Token> = None;
    match action {
        Action::Next => {
            if let Some(s) = serving.clone() {
                moves.push((s, "SERVED", None));
            }
            if let Some(n) = next {
                moves.push((n.clone(), "SERVING", None));
                called = Some(n);
            }
        }
        Action::Served => {
            let s = serving.clone().ok_or_else(|| refused(Reason::NobodyServing))?;
            if target.as_ref().is_some_and(|t| t.id != s.id) {
                return Err(refused(Reason::NotTheServingPatient));
            }
            moves.push((s, "SERVED", None));
        }
        Action::Skip => {
            let t = match target {
                Some(t) => t,
                None => serving.clone().ok_or_else(|| refused(Reason::NobodyServing))?,
            };
            if t.status != "WAITING" && t.status != "SERVING" {
                return Err(refused(Reason::NotSkippable));
            }
            moves.push((t, "SKIPPED", None));
        }
        Action::Recall => {
            let t = target.expect("RECALL has a token");
            if t.status != "SKIPPED" {
                return Err(refused(Reason::NotRecallable));
            }
            moves.push((t, "WAITING", Some(true)));
        }
        Action::Cancel => {
            let t = target.expect("CANCEL has a token");
            if t.status != "WAITING" {
                return Err(refused(Reason::NotCancellable));
            }
            moves.push((t, "CANCELLED", None));
        }
        Action::Undo => unreachable!("UNDO is handled by undo()"),
    }

    let ids: Vec<Uuid> = moves.iter().map(|(t, _, _)| t.id).collect();
    let before = audit::snapshot_of(session, &moves.iter().map(|(t, _, _)| t).collect::<Vec<_>>());
    let mut serving_now = serving.as_ref().map(|t| t.id);
    // Order matters: the SERVING token leaves before the next one arrives.
    for (token, status, priority) in moves.iter_mut() {
        let was_serving = token.status == "SERVING";
        token.transition(client, session, status, *priority, now)?;
        if was_serving {
            session.now_serving_number = None;
            serving_now = None;
        }
        if *status == "SERVING" {
            session.now_serving_number = Some(token.token_number);
            serving_now = Some(token.id);
        }
    }
    let after = audit::snapshot_of(session, &moves.iter().map(|(t, _, _)| t).collect::<Vec<_>>());
    let affected = match action {
        Action::Next => called.as_ref().map(|t| t.id),
        _ => ids.first().copied(),
    };
    // A NEXT that moved nobody (nobody serving, nobody waiting) is audited as pressed but
    // is not undoable: UNDO after it must revert the action before it, not nothing.
    let audit_id = audit::record(
        client,
        Entry {
            business,
            session: Some(session),
            staff_id,
            actor: "STAFF",
            action: action.name(),
            token_id: affected,
            before: Some(before),
            after: Some(after),
            undoable: !moves.is_empty(),
        },
        now,
    )?;
    if let Some(token) = called {
        outbox::enqueue(client, business, session, &token, "CALLED", Some(0), Some(audit_id), now)?;
    }
    outbox::queue_reminders(client, business, session, Some(audit_id), now)?;
    Ok((affected, serving_now))
}

fn undo(
    client: &mut SpiClient<'_>,
    business: &Business,
    session: &mut Session,
    staff_id: Option<Uuid>,
    now: TimestampWithTimeZone,
) -> QResult<(Option<Uuid>, Option<Uuid>)> {
    let (undone_id, token_id, before, after) = audit::undo_last(client, session, now)?;
    session.relearn_service_time(client)?;
    session.recount_waiting(client)?;
    let undo_id = audit::record(
        client,
        Entry {
            business,
            session: Some(session),
            staff_id,
            actor: "STAFF",
            action: "UNDO",
            token_id,
            before: Some(after),
            after: Some(before),
            undoable: false,
        },
        now,
    )?;
    audit::mark_undone(client, undone_id, undo_id, now)?;
    outbox::skip_unsent_for_audit(client, undone_id, now)?;
    let serving = match session.now_serving_number {
        Some(_) => Token::serving_and_next(client, session)?.0.map(|t| t.id),
        None => None,
    };
    Ok((token_id, serving))
}

/// Closes today's queue for QR intake (staff may still add and serve). Undoable.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn close_session(
    business_id: Option<Uuid>,
    staff_id: default!(Option<Uuid>, "NULL"),
) -> Result<TableIterator<'static, (name!(session_id, Uuid), name!(status, String))>, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            business.require_operational()?;
            check_staff(client, staff_id, &business)?;
            let mut session = Session::lock_today(client, &business, now)?;
            if session.status != "CLOSED" {
                let before = audit::snapshot_of(&session, &[]);
                session.status = "CLOSED".into();
                session.closed_at = Some(now);
                let after = audit::snapshot_of(&session, &[]);
                audit::record(
                    client,
                    Entry {
                        business: &business,
                        session: Some(&session),
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
                session.save(client, now, true)?;
            }
            Ok(TableIterator::once((session.id, session.status.clone())))
        })
    })
}

/// Starts today's queue over: every WAITING and SKIPPED token is CANCELLED and the
/// session reopens. Refused while a patient is being served. Numbers are never reused.
#[pg_extern(security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn reset_session(
    business_id: Option<Uuid>,
    staff_id: default!(Option<Uuid>, "NULL"),
    actor_email: default!(Option<&str>, "NULL"),
    actor_ip: default!(Option<Inet>, "NULL"),
) -> Result<TableIterator<'static, (name!(session_id, Uuid), name!(cancelled_count, i32))>, ErrorReport> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            check_staff(client, staff_id, &business)?;
            let mut session = Session::lock_today(client, &business, now)?;
            if session.now_serving_number.is_some() || Token::serving_and_next(client, &session)?.0.is_some() {
                return Err(refused(Reason::ResetWhileServing));
            }
            let table = db::exec(
                client,
                "SELECT id FROM qlink.tokens WHERE session_id = $1 AND status IN ('WAITING', 'SKIPPED')",
                &[session.id.into()],
            )?;
            let mut ids: Vec<Uuid> = Vec::new();
            for row in table {
                ids.push(row.get(1)?.expect("id"));
            }
            let before = audit::snapshot(client, &session, &ids)?;
            db::exec(
                client,
                "UPDATE qlink.tokens SET previous_status = status, status = 'CANCELLED', \
                     cancelled_at = $2, updated_at = $2 \
                 WHERE session_id = $1 AND status IN ('WAITING', 'SKIPPED')",
                &[session.id.into(), now.into()],
            )?;
            session.status = "OPEN".into();
            session.closed_at = None;
            session.waiting_count = 0;
            let after = audit::snapshot(client, &session, &ids)?;
            audit::record(
                client,
                Entry {
                    business: &business,
                    session: Some(&session),
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
            session.save(client, now, true)?;
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
            Ok(TableIterator::once((session.id, ids.len() as i32)))
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
            let missing = || refused(Reason::TokenNotFound);
            let found = Token::by_id(client, token_id.ok_or_else(missing)?)?.ok_or_else(missing)?;
            let business = Business::load(client, Some(found.business_id))?;
            business.require_operational()?;
            let mut session = Session::lock_today(client, &business, now)?;
            if found.session_id != session.id {
                return Err(refused(Reason::TokenDayOver));
            }
            // Re-read under the lock.
            let mut token = Token::in_session(client, found.id, &business, &session)?;
            if token.status != "WAITING" {
                return Err(refuse(Reason::NotCancellable, "Only a token that is still waiting can be cancelled."));
            }
            let before = audit::snapshot_of(&session, &[&token]);
            token.transition(client, &mut session, "CANCELLED", None, now)?;
            let after = audit::snapshot_of(&session, &[&token]);
            let audit_id = audit::record(
                client,
                Entry {
                    business: &business,
                    session: Some(&session),
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
            outbox::queue_reminders(client, &business, &mut session, Some(audit_id), now)?;
            session.save(client, now, false)?;
            Ok(TableIterator::once((token.token_number, token.status.clone())))
        })
    })
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
///
/// `overtaken_by`: of the people ahead of a WAITING patient now (the WAITING ones before
/// them in call order and the one being served), how many got there after the patient
/// joined: they joined later (an emergency, or a later patient recalled with priority), or
/// they were recalled from SKIPPED having been skipped already when the patient joined. A
/// patient skipped and recalled since does not count: they were ahead on joining. Undone
/// recalls do not count. 0 for a patient not WAITING.
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
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let missing = || refused(Reason::TokenNotFound);
        let token_id = token_id.ok_or_else(missing)?;
        Spi::connect_mut(|client| {
            let row = db::read_first(
                client,
                "SELECT t.token_number, t.status, \
                     CASE WHEN t.status = 'WAITING' THEN ( \
                         SELECT count(*)::int + 1 FROM qlink.tokens w \
                         WHERE w.session_id = t.session_id AND w.status = 'WAITING' \
                           AND (w.is_priority > t.is_priority \
                                OR (w.is_priority = t.is_priority AND w.token_number < t.token_number))) END, \
                     s.now_serving_number, s.service_p25_minutes, s.service_p75_minutes, \
                     (b.settings ->> 'eta_min_minutes')::int, (b.settings ->> 'eta_max_minutes')::int, \
                     b.name, greatest(t.updated_at, s.updated_at), b.slug, t.language, t.is_priority, \
                     t.joined_people_ahead, t.rating IS NOT NULL, s.status, \
                     CASE WHEN t.status = 'WAITING' THEN ( \
                         SELECT count(*)::int FROM qlink.tokens w \
                         WHERE w.session_id = t.session_id \
                           AND (w.status = 'SERVING' OR (w.status = 'WAITING' AND (w.is_priority > t.is_priority \
                                OR (w.is_priority = t.is_priority AND w.token_number < t.token_number)))) \
                           AND (w.token_number > t.token_number \
                                OR (w.is_priority AND EXISTS ( \
                                    SELECT 1 FROM qlink.audit_logs r \
                                    WHERE r.session_id = t.session_id AND r.undoable AND r.undone_at IS NULL \
                                      AND r.action = 'RECALL' AND r.token_id = w.id AND r.created_at > t.created_at \
                                      AND NOT EXISTS ( \
                                          SELECT 1 FROM qlink.audit_logs k \
                                          WHERE k.session_id = t.session_id AND k.undoable AND k.undone_at IS NULL \
                                            AND k.action = 'SKIP' AND k.token_id = w.id \
                                            AND k.created_at >= t.created_at AND k.id < r.id))))) \
                     ELSE 0 END \
                 FROM qlink.tokens t \
                 JOIN qlink.sessions s ON s.id = t.session_id \
                 JOIN qlink.businesses b ON b.id = t.business_id \
                 WHERE t.id = $1",
                &[token_id.into()],
            )?
            .ok_or_else(missing)?;
            let defaults = Settings::default();
            let position: Option<i32> = nullable(&row, 3)?;
            let now_serving: Option<i32> = nullable(&row, 4)?;
            let (lo, hi) = match (nullable::<i32>(&row, 5)?, nullable::<i32>(&row, 6)?) {
                (Some(lo), Some(hi)) => (lo, hi),
                _ => (
                    nullable::<i32>(&row, 7)?.unwrap_or(defaults.eta_min_minutes as i32),
                    nullable::<i32>(&row, 8)?.unwrap_or(defaults.eta_max_minutes as i32),
                ),
            };
            let people_ahead = position.map(|p| p - 1 + i32::from(now_serving.is_some()));
            let status: String = col(&row, 2)?;
            let progress = progress_percent(&status, col(&row, 14)?, people_ahead);
            Ok(TableIterator::once((
                col(&row, 1)?,
                status,
                position,
                people_ahead,
                now_serving,
                people_ahead.map(|n| n * lo),
                people_ahead.map(|n| n * hi),
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
            )))
        })
    })
}

/// Today's tokens in call order (SERVING, then WAITING by priority and number, then
/// SKIPPED, then the finished ones): what the staff dashboard shows.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_snapshot(
    business_id: Option<Uuid>,
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
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let table = db::read(
                client,
                "SELECT t.id, t.token_number, t.status, t.is_priority, t.patient_name, t.patient_phone, \
                     t.source, \
                     CASE WHEN t.status = 'WAITING' THEN (row_number() OVER ( \
                         PARTITION BY t.status = 'WAITING' ORDER BY t.is_priority DESC, t.token_number))::int END, \
                     t.language, t.created_at, t.called_at, t.served_at, t.cancelled_at \
                 FROM qlink.tokens t JOIN qlink.sessions s ON s.id = t.session_id \
                 WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE $3)::date \
                 ORDER BY CASE t.status WHEN 'SERVING' THEN 0 WHEN 'WAITING' THEN 1 WHEN 'SKIPPED' THEN 2 ELSE 3 END, \
                          CASE WHEN t.status = 'WAITING' THEN NOT t.is_priority END, t.token_number",
                &[business.id.into(), now.into(), business.timezone.as_str().into()],
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
                ));
            }
            Ok(TableIterator::new(rows))
        })
    })
}

/// The dashboard's header: today's counts, who is being served, the stall warning and
/// what UNDO would revert. Reads only; does not open a session.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn queue_summary(
    business_id: Option<Uuid>,
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
        ),
    >,
    ErrorReport,
> {
    run(|| {
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let row = db::read_first(
                client,
                "SELECT s.id, s.status, s.now_serving_number, \
                     (SELECT id FROM qlink.tokens WHERE session_id = s.id AND status = 'SERVING'), \
                     count(*) FILTER (WHERE t.status = 'WAITING')::int, \
                     count(*) FILTER (WHERE t.status = 'SKIPPED')::int, \
                     count(*) FILTER (WHERE t.status = 'SERVED')::int, \
                     count(*) FILTER (WHERE t.status = 'CANCELLED')::int, \
                     s.last_token_number, s.last_action_at, \
                     coalesce(s.last_action_at, s.created_at) \
                         < $2 - make_interval(mins => $4::int) \
                 FROM qlink.sessions s LEFT JOIN qlink.tokens t ON t.session_id = s.id \
                 WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE $3)::date \
                 GROUP BY s.id",
                &[
                    business.id.into(),
                    now.into(),
                    business.timezone.as_str().into(),
                    (business.settings.stall_warning_minutes as i32).into(),
                ],
            )?;
            let Some(row) = row else {
                return Ok(TableIterator::once((
                    None,
                    "OPEN".into(),
                    None,
                    None,
                    0,
                    0,
                    0,
                    0,
                    0,
                    None,
                    false,
                    None,
                    None,
                    business.name.clone(),
                    business.settings.stall_warning_minutes as i32,
                )));
            };
            let session_id: Uuid = col(&row, 1)?;
            let waiting: i32 = col(&row, 5)?;
            let stalled: bool = col(&row, 11)?;
            let undo = audit::next_undo(client, session_id)?;
            Ok(TableIterator::once((
                Some(session_id),
                col(&row, 2)?,
                nullable(&row, 3)?,
                nullable(&row, 4)?,
                waiting,
                col(&row, 6)?,
                col(&row, 7)?,
                col(&row, 8)?,
                col(&row, 9)?,
                nullable(&row, 10)?,
                stalled && waiting > 0,
                undo.as_ref().map(|u| u.1.clone()),
                undo.and_then(|u| u.2),
                business.name.clone(),
                business.settings.stall_warning_minutes as i32,
            )))
        })
    })
}

/// What the lobby screen shows: numbers only, never a name or a phone (the screen faces
/// the waiting room, and its data is public). Whether the clinic takes QR tokens is
/// `qr_refusal`, the rule create_token applies. Reads only; does not open a session.
#[pg_extern(stable, security_definer)]
#[search_path(pg_catalog, pg_temp)]
pub fn display_state(
    business_id: Option<Uuid>,
    max_next: default!(Option<i32>, 6),
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
        ),
    >,
    ErrorReport,
> {
    run(|| {
        let max_next = max_next.unwrap_or(6).clamp(0, 50);
        Spi::connect_mut(|client| {
            let now = crate::clock::now(client)?;
            let business = Business::load(client, business_id)?;
            let row = db::read_first(
                client,
                "SELECT s.status, s.now_serving_number, s.last_token_number, \
                     (SELECT count(*)::int FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'WAITING'), \
                     ARRAY(SELECT t.token_number FROM qlink.tokens t \
                           WHERE t.session_id = s.id AND t.status = 'WAITING' \
                           ORDER BY t.is_priority DESC, t.token_number LIMIT $4) \
                 FROM qlink.sessions s WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE $3)::date",
                &[business.id.into(), now.into(), business.timezone.as_str().into(), max_next.into()],
            )?;
            let (session_status, serving, last, waiting, next) = match row {
                Some(r) => (col::<String>(&r, 1)?, nullable(&r, 2)?, col(&r, 3)?, col(&r, 4)?, col(&r, 5)?),
                None => ("OPEN".to_string(), None, 0, 0, Vec::new()),
            };
            let refusal = qr_refusal(&business, &session_status, last);
            Ok(TableIterator::once((
                business.name.clone(),
                serving,
                next,
                waiting,
                refusal.is_none(),
                refusal.map(|r| r.name().to_string()),
            )))
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
