//! Rows the rules work on: the clinic, today's session (the per-clinic lock) and tokens.

use crate::db::{self, col, nullable};
use crate::error::{refused, QResult, Reason};
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
}

impl Business {
    pub fn load(client: &mut SpiClient<'_>, id: Option<Uuid>) -> QResult<Business> {
        let missing = || refused(Reason::ClinicNotFound);
        let id = id.ok_or_else(missing)?;
        let row = db::read_first(
            client,
            "SELECT id, name, timezone, status, settings FROM qlink.businesses WHERE id = $1",
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

/// Today's session of one clinic, locked `FOR UPDATE` for the rest of the transaction.
/// Changes are made on this struct and written back once by `save`.
pub struct Session {
    pub id: Uuid,
    pub status: String,
    pub last_token_number: i32,
    pub now_serving_number: Option<i32>,
    pub messages_queued: i32,
    pub service_p25_minutes: Option<i32>,
    pub service_p75_minutes: Option<i32>,
    pub closed_at: Option<TimestampWithTimeZone>,
    /// WAITING tokens right now, kept by every transition so no action counts the line.
    pub waiting_count: i32,
    /// Today's latest service durations (ms), oldest first: the learned ETA without a query.
    pub service_ms: Vec<i32>,
}

/// How many recent service durations the ETA learns from.
pub const SERVICE_SAMPLES: usize = 200;

const LOCK_TODAY: &str = "SELECT id, status, last_token_number, now_serving_number, messages_queued, \
     service_p25_minutes, service_p75_minutes, closed_at, waiting_count, service_ms \
     FROM qlink.sessions WHERE business_id = $1 AND date = ($2 AT TIME ZONE $3)::date FOR UPDATE";

/// The clinic and its locked session in one round trip (the hot path of every action).
const LOCK_TODAY_WITH_CLINIC: &str = "SELECT s.id, s.status, s.last_token_number, s.now_serving_number, \
     s.messages_queued, s.service_p25_minutes, s.service_p75_minutes, s.closed_at, s.waiting_count, s.service_ms, \
     b.id, b.name, b.timezone, b.status, b.settings \
     FROM qlink.sessions s JOIN qlink.businesses b ON b.id = s.business_id \
     WHERE s.business_id = $1 AND s.date = ($2 AT TIME ZONE b.timezone)::date FOR UPDATE OF s";

impl Session {
    /// Locks the clinic's session for its local date, opening it first if needed.
    pub fn lock_today(client: &mut SpiClient<'_>, business: &Business, now: TimestampWithTimeZone) -> QResult<Session> {
        let args = || [business.id.into(), now.into(), business.timezone.as_str().into()];
        if let Some(s) = Self::read(client, &args())? {
            return Ok(s);
        }
        db::exec(
            client,
            "INSERT INTO qlink.sessions (business_id, date, created_at, updated_at) \
             VALUES ($1, ($2 AT TIME ZONE $3)::date, $2, $2) \
             ON CONFLICT (business_id, date) DO NOTHING",
            &args(),
        )?;
        Ok(Self::read(client, &args())?.expect("today's session exists after insert"))
    }

    fn read(client: &mut SpiClient<'_>, args: &[pgrx::datum::DatumWithOid<'_>]) -> QResult<Option<Session>> {
        match db::first(client, LOCK_TODAY, args)? {
            Some(row) => Ok(Some(Session::from_row(&row)?)),
            None => Ok(None),
        }
    }

    fn from_row(row: &pgrx::spi::SpiTupleTable<'_>) -> QResult<Session> {
        Ok(Session {
            id: col(row, 1)?,
            status: col(row, 2)?,
            last_token_number: col(row, 3)?,
            now_serving_number: nullable(row, 4)?,
            messages_queued: col(row, 5)?,
            service_p25_minutes: nullable(row, 6)?,
            service_p75_minutes: nullable(row, 7)?,
            closed_at: nullable(row, 8)?,
            waiting_count: col(row, 9)?,
            service_ms: col(row, 10)?,
        })
    }

    /// Loads the clinic and locks today's session, opening it if needed. Usually one
    /// statement; the first action of a clinic's day takes three.
    pub fn open_for(
        client: &mut SpiClient<'_>,
        business_id: Option<Uuid>,
        now: TimestampWithTimeZone,
    ) -> QResult<(Business, Session)> {
        if let Some(id) = business_id {
            if let Some(row) = db::first(client, LOCK_TODAY_WITH_CLINIC, &[id.into(), now.into()])? {
                let settings: JsonB = col(&row, 15)?;
                let business = Business {
                    id: col(&row, 11)?,
                    name: col(&row, 12)?,
                    timezone: col(&row, 13)?,
                    status: col(&row, 14)?,
                    settings: Settings::from_stored(&settings.0),
                };
                return Ok((business, Session::from_row(&row)?));
            }
        }
        let business = Business::load(client, business_id)?;
        let session = Session::lock_today(client, &business, now)?;
        Ok((business, session))
    }

    /// Writes the session back. `staff_action` marks a staff action (the stall warning's clock).
    pub fn save(&self, client: &mut SpiClient<'_>, now: TimestampWithTimeZone, staff_action: bool) -> QResult<()> {
        db::exec(
            client,
            "UPDATE qlink.sessions SET status = $2, last_token_number = $3, now_serving_number = $4, \
             messages_queued = $5, service_p25_minutes = $6, service_p75_minutes = $7, closed_at = $8, \
             last_action_at = CASE WHEN $9 THEN $10 ELSE last_action_at END, updated_at = $10, \
             waiting_count = $11, service_ms = $12 \
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
            ],
        )?;
        Ok(())
    }

    /// Per-patient service time range: learned p25/p75 once there are 5 samples,
    /// otherwise the clinic's configured defaults.
    pub fn eta_per_person(&self, settings: &Settings) -> (i32, i32) {
        match (self.service_p25_minutes, self.service_p75_minutes) {
            (Some(lo), Some(hi)) => (lo, hi),
            _ => (settings.eta_min_minutes as i32, settings.eta_max_minutes as i32),
        }
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

    /// Re-reads today's latest service durations (after UNDO, which may un-serve someone).
    pub fn relearn_service_time(&mut self, client: &mut SpiClient<'_>) -> QResult<()> {
        let samples: Option<Vec<i32>> = db::value(
            client,
            "SELECT coalesce(array_agg(ms ORDER BY served_at), '{}') FROM ( \
                 SELECT served_at, (extract(epoch FROM served_at - called_at) * 1000)::int AS ms \
                 FROM qlink.tokens WHERE session_id = $1 AND status = 'SERVED' \
                   AND called_at IS NOT NULL AND served_at IS NOT NULL \
                 ORDER BY served_at DESC LIMIT 200) d",
            &[self.id.into()],
        )?;
        self.service_ms = samples.unwrap_or_default();
        self.learn();
        Ok(())
    }

    /// Counts the line again (after UNDO or RESET, which move many tokens at once).
    pub fn recount_waiting(&mut self, client: &mut SpiClient<'_>) -> QResult<()> {
        self.waiting_count = db::value(
            client,
            "SELECT count(*)::int FROM qlink.tokens WHERE session_id = $1 AND status = 'WAITING'",
            &[self.id.into()],
        )?
        .unwrap_or(0);
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
    /// What UNDO restores: status, previous_status, priority and the three timestamps,
    /// as the database has them (read together with the row, so no extra query).
    pub snapshot: serde_json::Value,
    pub called_at: Option<TimestampWithTimeZone>,
}

/// `SELECT <the Token columns> FROM qlink.tokens <tail>` as one static string.
macro_rules! token_sql {
    ($tail:literal) => {
        concat!(
            "SELECT id, session_id, business_id, token_number, status, is_priority, patient_phone, language, \
                    jsonb_build_object('id', id, 'token_number', token_number, 'status', status, \
                        'previous_status', previous_status, 'is_priority', is_priority, 'called_at', called_at, \
                        'served_at', served_at, 'cancelled_at', cancelled_at), called_at \
             FROM qlink.tokens ",
            $tail
        )
    };
}

/// How a move changes the length of the line.
fn line_delta(from: &str, to: &str) -> i32 {
    i32::from(to == "WAITING") - i32::from(from == "WAITING")
}

impl Token {
    pub fn from_row(row: &pgrx::spi::SpiTupleTable<'_>) -> QResult<Token> {
        let snapshot: JsonB = col(row, 9)?;
        Ok(Token {
            id: col(row, 1)?,
            session_id: col(row, 2)?,
            business_id: col(row, 3)?,
            token_number: col(row, 4)?,
            status: col(row, 5)?,
            is_priority: col(row, 6)?,
            patient_phone: nullable(row, 7)?,
            language: col(row, 8)?,
            snapshot: snapshot.0,
            called_at: nullable(row, 10)?,
        })
    }

    pub fn by_id(client: &mut SpiClient<'_>, id: Uuid) -> QResult<Option<Token>> {
        const SQL: &str = token_sql!("WHERE id = $1");
        match db::first(client, SQL, &[id.into()])? {
            Some(row) => Ok(Some(Self::from_row(&row)?)),
            None => Ok(None),
        }
    }

    /// A token of this clinic in today's session; anything else is "not found", so one
    /// clinic can never learn about or touch another clinic's tokens.
    pub fn in_session(client: &mut SpiClient<'_>, id: Uuid, business: &Business, session: &Session) -> QResult<Token> {
        let token = Self::by_id(client, id)?
            .filter(|t| t.business_id == business.id)
            .ok_or_else(|| refused(Reason::TokenNotFound))?;
        if token.session_id != session.id {
            return Err(refused(Reason::TokenNotToday));
        }
        Ok(token)
    }

    /// The token being served and the next one in call order (priority first, then by
    /// number), in one round trip.
    pub fn serving_and_next(client: &mut SpiClient<'_>, session: &Session) -> QResult<(Option<Token>, Option<Token>)> {
        const SQL: &str = concat!(
            "(",
            token_sql!("WHERE session_id = $1 AND status = 'SERVING'"),
            ") UNION ALL (",
            token_sql!("WHERE session_id = $1 AND status = 'WAITING' ORDER BY is_priority DESC, token_number LIMIT 1"),
            ")"
        );
        let table = db::exec(client, SQL, &[session.id.into()])?;
        let (mut serving, mut next) = (None, None);
        for row in table {
            let snapshot: JsonB = row.get(9)?.expect("snapshot");
            let token = Token {
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
            };
            if token.status == "SERVING" {
                serving = Some(token);
            } else {
                next = Some(token);
            }
        }
        Ok((serving, next))
    }

    /// Moves the token to `status`, remembering where it came from and stamping the
    /// matching timestamp; keeps the session's line length and the token's snapshot.
    pub fn transition(
        &mut self,
        client: &mut SpiClient<'_>,
        session: &mut Session,
        status: &str,
        priority: Option<bool>,
        now: TimestampWithTimeZone,
    ) -> QResult<()> {
        db::exec(
            client,
            "UPDATE qlink.tokens SET previous_status = status, status = $2, \
                 is_priority = coalesce($3, is_priority), \
                 called_at = CASE WHEN $2 = 'SERVING' THEN $4 ELSE called_at END, \
                 served_at = CASE WHEN $2 = 'SERVED' THEN $4 ELSE served_at END, \
                 cancelled_at = CASE WHEN $2 = 'CANCELLED' THEN $4 ELSE cancelled_at END, \
                 updated_at = $4 \
             WHERE id = $1",
            &[self.id.into(), status.into(), priority.into(), now.into()],
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
        }
        let stamp = serde_json::to_value(now).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(snap) = &mut self.snapshot {
            snap.insert("previous_status".into(), self.status.clone().into());
            snap.insert("status".into(), status.into());
            match status {
                "SERVING" => snap.insert("called_at".into(), stamp),
                "SERVED" => snap.insert("served_at".into(), stamp),
                "CANCELLED" => snap.insert("cancelled_at".into(), stamp),
                _ => None,
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
}
