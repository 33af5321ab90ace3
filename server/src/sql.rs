//! The typed client of the extension's SQL API (sql/API.md): one `async fn` per `qlink.*`
//! function and one struct per result, read by column name. Handlers, pages and the message
//! worker call these instead of writing their own SQL, so a function's result is read in one
//! place and a rule the extension answers (whether a clinic takes tokens, what the lobby
//! shows) is never re-derived in the server. Functions are added here as the code that calls
//! them moves.

use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use std::time::Duration;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

/// A row of `qlink.clinic_by_slug`: the clinic's public face.
#[derive(Debug, Clone)]
pub struct ClinicRow {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    /// ACTIVE, TRIAL, SUSPENDED or DISABLED.
    pub status: String,
    pub timezone: String,
    /// Every setting, defaults filled in.
    pub settings: serde_json::Value,
    /// OPEN or CLOSED (today's queue).
    pub session_status: String,
    pub now_serving_number: Option<i32>,
    pub waiting_count: i32,
    /// Whether a patient can take a QR token now: the extension's own rule.
    pub accepting_tokens: bool,
    /// Why not (a reason of sql/API.md), NULL while accepting.
    pub refusal_reason: Option<String>,
    /// How many queues (lines) the clinic has: more than one, the patient picks one
    /// (`list_queues`).
    pub queue_count: i32,
}

impl ClinicRow {
    fn from_row(row: &Row) -> Self {
        ClinicRow {
            business_id: row.get("business_id"),
            slug: row.get("slug"),
            name: row.get("name"),
            status: row.get("status"),
            timezone: row.get("timezone"),
            settings: row.get("settings"),
            session_status: row.get("session_status"),
            now_serving_number: row.get("now_serving_number"),
            waiting_count: row.get("waiting_count"),
            accepting_tokens: row.get("accepting_tokens"),
            refusal_reason: row.get("refusal_reason"),
            queue_count: row.get("queue_count"),
        }
    }

    /// The clinic's `default_language` setting.
    pub fn default_language(&self) -> &str {
        self.settings["default_language"].as_str().unwrap_or("en")
    }
}

/// `qlink.clinic_by_slug(slug)`; an unknown slug is `ApiError::NotFound`.
pub async fn clinic_by_slug(db: &impl GenericClient, slug: &str) -> ApiResult<ClinicRow> {
    let stmt = db
        .prepare_cached(
            "SELECT business_id, slug, name, status, timezone, settings, session_status, now_serving_number, \
                    waiting_count, accepting_tokens, refusal_reason, queue_count \
             FROM qlink.clinic_by_slug($1)",
        )
        .await?;
    Ok(ClinicRow::from_row(&db.query_one(&stmt, &[&slug]).await?))
}

/// A room as the lobby screen shows it (`qlink.display_state`'s `rooms`): whom it calls now.
#[derive(Debug, Clone, serde::Deserialize, Serialize, ToSchema)]
pub struct DisplayRoom {
    pub room_id: Uuid,
    pub room_name: String,
    pub serving_number: Option<i32>,
    pub serving_label: Option<String>,
}

/// A line as the lobby screen lists it (`qlink.display_state`'s `lines`): the rooms that call
/// from it and its waiting labels in call order.
#[derive(Debug, Clone, serde::Deserialize, Serialize, PartialEq)]
pub struct DisplayLine {
    pub queue_id: Uuid,
    pub queue_name: String,
    pub rooms: Vec<String>,
    pub waiting_labels: Vec<String>,
}

/// A row of `qlink.display_state`: what the lobby screen shows, numbers and labels only.
#[derive(Debug, Clone)]
pub struct DisplayRow {
    pub clinic_name: String,
    /// The number called last (over the rooms shown).
    pub now_serving_number: Option<i32>,
    /// The next numbers in call order.
    pub next_numbers: Vec<i32>,
    pub waiting_count: i32,
    pub accepting_tokens: bool,
    pub refusal_reason: Option<String>,
    /// The label called last (`A-12`).
    pub serving_label: Option<String>,
    /// The next labels in call order.
    pub next_labels: Vec<String>,
    /// Every active room (or the one asked for) with whom it is serving.
    pub rooms: Vec<DisplayRoom>,
    /// Labels of the patients who stepped out (NEXT passes over them), in call order.
    pub away_labels: Vec<String>,
    /// The languages the screen rotates through, in order.
    pub display_languages: Vec<String>,
    /// Each line shown, with its rooms and waiting labels.
    pub lines: Vec<DisplayLine>,
}

impl DisplayRow {
    fn from_row(row: &Row) -> Self {
        let rooms: serde_json::Value = row.get("rooms");
        let lines: serde_json::Value = row.get("lines");
        DisplayRow {
            clinic_name: row.get("clinic_name"),
            now_serving_number: row.get("now_serving_number"),
            next_numbers: row.get("next_numbers"),
            waiting_count: row.get("waiting_count"),
            accepting_tokens: row.get("accepting_tokens"),
            refusal_reason: row.get("refusal_reason"),
            serving_label: row.get("serving_label"),
            next_labels: row.get("next_labels"),
            rooms: serde_json::from_value(rooms).unwrap_or_default(),
            away_labels: row.get("away_labels"),
            display_languages: row.get("display_languages"),
            lines: serde_json::from_value(lines).unwrap_or_default(),
        }
    }
}

const DISPLAY_COLUMNS: &str = "d.clinic_name, d.now_serving_number, d.next_numbers, d.waiting_count, \
     d.accepting_tokens, d.refusal_reason, d.serving_label, d.next_labels, d.rooms, d.away_labels, \
     d.display_languages, d.lines";

/// `qlink.display_state(business_id, max_next)` of the clinic with this slug (one round
/// trip through `qlink.clinic_by_slug`), every room; an unknown slug is `ApiError::NotFound`.
pub async fn display_state_by_slug(db: &impl GenericClient, slug: &str, max_next: i32) -> ApiResult<DisplayRow> {
    display_state_by_slug_in_room(db, slug, max_next, None).await
}

/// `qlink.display_state(business_id, max_next, room_id)` of the clinic with this slug: one
/// room's screen (another clinic's room is `ApiError::NotFound`), or every room (None).
pub async fn display_state_by_slug_in_room(
    db: &impl GenericClient,
    slug: &str,
    max_next: i32,
    room_id: Option<Uuid>,
) -> ApiResult<DisplayRow> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {DISPLAY_COLUMNS} FROM qlink.clinic_by_slug($1) c, LATERAL qlink.display_state(c.business_id, $2, $3) d"
        ))
        .await?;
    Ok(DisplayRow::from_row(&db.query_one(&stmt, &[&slug, &max_next, &room_id]).await?))
}

/// `qlink.display_state(business_id, max_next, room_id)`.
pub async fn display_state(
    db: &impl GenericClient,
    business_id: Uuid,
    max_next: i32,
    room_id: Option<Uuid>,
) -> ApiResult<DisplayRow> {
    let stmt = db.prepare_cached(&format!("SELECT {DISPLAY_COLUMNS} FROM qlink.display_state($1, $2, $3) d")).await?;
    Ok(DisplayRow::from_row(&db.query_one(&stmt, &[&business_id, &max_next, &room_id]).await?))
}

/// A row of `qlink.token_status`: what the patient's page shows.
#[derive(Debug, Clone)]
pub struct TokenStatusRow {
    pub token_number: i32,
    pub status: String,
    pub queue_position: Option<i32>,
    pub people_ahead: Option<i32>,
    pub now_serving_number: Option<i32>,
    pub eta_min_minutes: Option<i32>,
    pub eta_max_minutes: Option<i32>,
    pub business_name: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub business_slug: String,
    pub language: String,
    pub is_priority: bool,
    pub joined_people_ahead: i32,
    pub feedback_given: bool,
    pub session_status: String,
    pub progress_percent: i32,
    pub overtaken_by: i32,
    /// `A-12` (or `12` for a queue without a prefix).
    pub token_label: String,
    pub queue_id: Uuid,
    pub queue_name: String,
    /// The room that called the patient, once called.
    pub room_name: Option<String>,
    /// The label of `now_serving_number` ("B-3").
    pub now_serving_label: Option<String>,
    /// SPEC §12: a hold (running, or run out), its state (`HELD`, `EXPIRED`), the reminder
    /// position, a doctor's delay (minutes still to run, note, end) and the clinic's hold.
    pub held_until: Option<DateTime<Utc>>,
    pub hold_state: Option<String>,
    pub reminder_position: i32,
    pub delay_minutes: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_until: Option<DateTime<Utc>>,
    pub hold_minutes: i32,
    /// When the patient joined.
    pub created_at: DateTime<Utc>,
}

impl TokenStatusRow {
    fn from_row(row: &Row) -> Self {
        TokenStatusRow {
            token_number: row.get("token_number"),
            status: row.get("status"),
            queue_position: row.get("queue_position"),
            people_ahead: row.get("people_ahead"),
            now_serving_number: row.get("now_serving_number"),
            eta_min_minutes: row.get("eta_min_minutes"),
            eta_max_minutes: row.get("eta_max_minutes"),
            business_name: row.get("business_name"),
            updated_at: row.get("updated_at"),
            business_slug: row.get("business_slug"),
            language: row.get("language"),
            is_priority: row.get("is_priority"),
            joined_people_ahead: row.get("joined_people_ahead"),
            feedback_given: row.get("feedback_given"),
            session_status: row.get("session_status"),
            progress_percent: row.get("progress_percent"),
            overtaken_by: row.get("overtaken_by"),
            token_label: row.get("token_label"),
            queue_id: row.get("queue_id"),
            queue_name: row.get("queue_name"),
            room_name: row.get("room_name"),
            now_serving_label: row.get("now_serving_label"),
            held_until: row.get("held_until"),
            hold_state: row.get("hold_state"),
            reminder_position: row.get("reminder_position"),
            delay_minutes: row.get("delay_minutes"),
            delay_note: row.get("delay_note"),
            delay_until: row.get("delay_until"),
            hold_minutes: row.get("hold_minutes"),
            created_at: row.get("created_at"),
        }
    }
}

/// `qlink.token_status(token_id)`; an unknown token is `ApiError::NotFound`.
pub async fn token_status(db: &impl GenericClient, token_id: Uuid) -> ApiResult<TokenStatusRow> {
    let stmt = db
        .prepare_cached(
            "SELECT token_number, status, queue_position, people_ahead, now_serving_number, eta_min_minutes, \
                    eta_max_minutes, business_name, updated_at, business_slug, language, is_priority, \
                    joined_people_ahead, feedback_given, session_status, progress_percent, overtaken_by, \
                    token_label, queue_id, queue_name, room_name, now_serving_label, held_until, hold_state, \
                    reminder_position, delay_minutes, delay_note, delay_until, hold_minutes, created_at \
             FROM qlink.token_status($1)",
        )
        .await?;
    Ok(TokenStatusRow::from_row(&db.query_one(&stmt, &[&token_id]).await?))
}

/// What a patient's step out answers (`qlink.hold_token`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Held {
    pub token_id: Uuid,
    pub status: String,
    pub held_until: DateTime<Utc>,
    pub queue_position: Option<i32>,
}

/// `qlink.hold_token(token_id, minutes)`: the patient steps out (None: the clinic's
/// `hold_minutes`).
pub async fn hold_token(db: &impl GenericClient, token_id: Uuid, minutes: Option<i32>) -> ApiResult<Held> {
    let stmt =
        db.prepare_cached("SELECT token_id, status, held_until, queue_position FROM qlink.hold_token($1, $2)").await?;
    let r = db.query_one(&stmt, &[&token_id, &minutes]).await?;
    Ok(Held {
        token_id: r.get("token_id"),
        status: r.get("status"),
        held_until: r.get("held_until"),
        queue_position: r.get("queue_position"),
    })
}

/// What BACK answers (`qlink.return_token`): `returned`, `front` or `expired`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Returned {
    pub token_id: Uuid,
    pub status: String,
    pub outcome: String,
    pub queue_position: Option<i32>,
}

/// `qlink.return_token(token_id)`.
pub async fn return_token(db: &impl GenericClient, token_id: Uuid) -> ApiResult<Returned> {
    let stmt =
        db.prepare_cached("SELECT token_id, status, outcome, queue_position FROM qlink.return_token($1)").await?;
    let r = db.query_one(&stmt, &[&token_id]).await?;
    Ok(Returned {
        token_id: r.get("token_id"),
        status: r.get("status"),
        outcome: r.get("outcome"),
        queue_position: r.get("queue_position"),
    })
}

/// `qlink.set_reminder_position(token_id, position)`.
pub async fn set_reminder_position(db: &impl GenericClient, token_id: Uuid, position: i32) -> ApiResult<i32> {
    let stmt = db.prepare_cached("SELECT qlink.set_reminder_position($1, $2) AS p").await?;
    Ok(db.query_one(&stmt, &[&token_id, &position]).await?.get("p"))
}

/// A row of `qlink.settings_schema()`: one clinic setting as the extension validates it.
#[derive(Debug, Clone)]
pub struct SettingRow {
    pub name: String,
    /// `boolean`, `integer` or `language`.
    pub kind: String,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub default_value: serde_json::Value,
    pub choices: Option<Vec<String>>,
    /// Whether the clinic's owner may change it (`qlink.update_clinic_settings`).
    pub owner_editable: bool,
}

/// `qlink.settings_schema()`, in the extension's order.
pub async fn settings_schema(db: &impl GenericClient) -> ApiResult<Vec<SettingRow>> {
    let stmt = db
        .prepare_cached("SELECT name, kind, min_value, max_value, default_value, choices, owner_editable FROM qlink.settings_schema()")
        .await?;
    Ok(db
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|row| SettingRow {
            name: row.get("name"),
            kind: row.get("kind"),
            min_value: row.get("min_value"),
            max_value: row.get("max_value"),
            default_value: row.get("default_value"),
            choices: row.get("choices"),
            owner_editable: row.get("owner_editable"),
        })
        .collect())
}

// The receptionist's queue.

/// A row of `qlink.queue_summary`: the dashboard's header, for one room (or, without one in
/// a clinic with several, the whole clinic).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueSummary {
    pub session_id: Option<Uuid>,
    pub session_status: String,
    pub now_serving_number: Option<i32>,
    pub serving_token_id: Option<Uuid>,
    pub waiting_count: i32,
    pub skipped_count: i32,
    pub served_count: i32,
    pub cancelled_count: i32,
    pub last_token_number: i32,
    pub last_action_at: Option<DateTime<Utc>>,
    /// Patients wait and nobody pressed anything for `stall_warning_minutes`.
    pub stall_warning: bool,
    /// The action UNDO would revert, if any.
    pub undo_action: Option<String>,
    pub undo_token_number: Option<i32>,
    /// The room this header is about (null: the whole clinic).
    pub room_id: Option<Uuid>,
    pub room_name: Option<String>,
    /// The label the room is serving (`A-12`).
    pub serving_label: Option<String>,
    pub undo_token_label: Option<String>,
    /// WAITING patients who stepped out (SPEC §12).
    pub held_count: i32,
    /// A doctor's delay on a line in view: minutes still to run, its note, when it ends.
    pub delay_minutes: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_until: Option<DateTime<Utc>>,
}

/// A row of `qlink.queue_summary`: the summary and the clinic's name and stall setting.
#[derive(Debug)]
pub struct QueueSummaryRow {
    pub summary: QueueSummary,
    pub business_name: String,
    pub stall_warning_minutes: i32,
}

/// `qlink.queue_summary(business_id, room_id, login)`: a room's header (None: the only room, or the
/// whole clinic when it has several); another clinic's room is `ApiError::NotFound`.
pub async fn queue_summary(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    room_id: Option<Uuid>,
) -> ApiResult<QueueSummaryRow> {
    let stmt = db
        .prepare_cached(
            "SELECT session_id, session_status, now_serving_number, serving_token_id, waiting_count, skipped_count, \
                    served_count, cancelled_count, last_token_number, last_action_at, stall_warning, undo_action, \
                    undo_token_number, business_name, stall_warning_minutes, room_id, room_name, serving_label, \
                    undo_token_label, held_count, delay_minutes, delay_note, delay_until \
             FROM qlink.queue_summary($1, $2, login => $3)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id, &room_id, &login]).await?;
    let summary = QueueSummary {
        session_id: r.get("session_id"),
        session_status: r.get("session_status"),
        now_serving_number: r.get("now_serving_number"),
        serving_token_id: r.get("serving_token_id"),
        waiting_count: r.get("waiting_count"),
        skipped_count: r.get("skipped_count"),
        served_count: r.get("served_count"),
        cancelled_count: r.get("cancelled_count"),
        last_token_number: r.get("last_token_number"),
        last_action_at: r.get("last_action_at"),
        stall_warning: r.get("stall_warning"),
        undo_action: r.get("undo_action"),
        undo_token_number: r.get("undo_token_number"),
        room_id: r.get("room_id"),
        room_name: r.get("room_name"),
        serving_label: r.get("serving_label"),
        undo_token_label: r.get("undo_token_label"),
        held_count: r.get("held_count"),
        delay_minutes: r.get("delay_minutes"),
        delay_note: r.get("delay_note"),
        delay_until: r.get("delay_until"),
    };
    Ok(QueueSummaryRow {
        summary,
        business_name: r.get("business_name"),
        stall_warning_minutes: r.get("stall_warning_minutes"),
    })
}

/// A row of `qlink.queue_snapshot`: one of today's tokens, in call order.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueToken {
    pub token_id: Uuid,
    pub token_number: i32,
    pub status: String,
    pub is_priority: bool,
    pub patient_name: Option<String>,
    pub patient_phone: Option<String>,
    pub source: String,
    /// The place in the token's own queue.
    pub queue_position: Option<i32>,
    pub language: String,
    pub created_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// `A-12` (kept when the token is transferred).
    pub token_label: String,
    pub queue_id: Uuid,
    pub queue_name: String,
    /// The room that called the token, once called.
    pub room_id: Option<Uuid>,
    pub room_name: Option<String>,
    /// While WAITING: the patient stepped out until then (SPEC §12); once SKIPPED: their
    /// time away ran out then.
    pub held_until: Option<DateTime<Utc>>,
}

/// `qlink.queue_snapshot(business_id, room_id, login)`: SERVING, WAITING (priority first), SKIPPED,
/// finished; with a room, the tokens of the queues it calls from, without, the whole clinic.
pub async fn queue_snapshot(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    room_id: Option<Uuid>,
) -> ApiResult<Vec<QueueToken>> {
    let stmt = db
        .prepare_cached(
            "SELECT token_id, token_number, status, is_priority, patient_name, patient_phone, source, \
                    queue_position, language, created_at, called_at, served_at, cancelled_at, token_label, \
                    queue_id, queue_name, room_id, room_name, held_until \
             FROM qlink.queue_snapshot($1, $2, login => $3)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id, &room_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| QueueToken {
            token_id: r.get("token_id"),
            token_number: r.get("token_number"),
            status: r.get("status"),
            is_priority: r.get("is_priority"),
            patient_name: r.get("patient_name"),
            patient_phone: r.get("patient_phone"),
            source: r.get("source"),
            queue_position: r.get("queue_position"),
            language: r.get("language"),
            created_at: r.get("created_at"),
            called_at: r.get("called_at"),
            served_at: r.get("served_at"),
            cancelled_at: r.get("cancelled_at"),
            token_label: r.get("token_label"),
            queue_id: r.get("queue_id"),
            queue_name: r.get("queue_name"),
            room_id: r.get("room_id"),
            room_name: r.get("room_name"),
            held_until: r.get("held_until"),
        })
        .collect())
}

/// What `qlink.queue_action` is asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueAction<'a> {
    /// NEXT, SERVED, SKIP, RECALL, CANCEL, UNDO or TRANSFER.
    pub action: &'a str,
    pub token_id: Option<Uuid>,
    /// The login acting (the extension checks its clinic and its room pin).
    pub staff_id: Option<Uuid>,
    /// The room acting (None: the only room, or the login's pinned one).
    pub room_id: Option<Uuid>,
    /// TRANSFER's destination queue.
    pub target_queue_id: Option<Uuid>,
}

/// A row of `qlink.queue_action`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub now_serving_number: Option<i32>,
    pub serving_token_id: Option<Uuid>,
    pub affected_token_id: Option<Uuid>,
    pub waiting_count: i32,
    /// The affected token's label.
    pub token_label: Option<String>,
    /// The affected token's queue (after a TRANSFER: the target).
    pub queue_id: Option<Uuid>,
    /// The room the action was made in.
    pub room_id: Option<Uuid>,
    pub room_name: Option<String>,
    /// The label the room is serving now.
    pub serving_label: Option<String>,
}

/// `qlink.queue_action(business_id, action, token_id, staff_id, room_id, target_queue_id, login)`.
pub async fn queue_action(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    action: &QueueAction<'_>,
) -> ApiResult<ActionResult> {
    let stmt = db
        .prepare_cached(
            "SELECT now_serving_number, serving_token_id, affected_token_id, waiting_count, token_label, queue_id, \
                    room_id, room_name, serving_label \
             FROM qlink.queue_action($1, $2, $3, $4, $5, $6, login => $7)",
        )
        .await?;
    let r = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &action.action,
                &action.token_id,
                &action.staff_id,
                &action.room_id,
                &action.target_queue_id,
                &login,
            ],
        )
        .await?;
    Ok(ActionResult {
        now_serving_number: r.get("now_serving_number"),
        serving_token_id: r.get("serving_token_id"),
        affected_token_id: r.get("affected_token_id"),
        waiting_count: r.get("waiting_count"),
        token_label: r.get("token_label"),
        queue_id: r.get("queue_id"),
        room_id: r.get("room_id"),
        room_name: r.get("room_name"),
        serving_label: r.get("serving_label"),
    })
}

/// A row of `qlink.close_session`: one queue's day.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionState {
    pub session_id: Uuid,
    pub status: String,
    pub queue_id: Uuid,
}

/// `qlink.close_session(business_id, staff_id, queue_id, login)`: one queue's day (Some), or every
/// queue's (None); a row per queue.
pub async fn close_session(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: Option<Uuid>,
    queue_id: Option<Uuid>,
) -> ApiResult<Vec<SessionState>> {
    let stmt = db
        .prepare_cached("SELECT session_id, status, queue_id FROM qlink.close_session($1, $2, $3, login => $4)")
        .await?;
    let rows = db.query(&stmt, &[&business_id, &staff_id, &queue_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| SessionState { session_id: r.get("session_id"), status: r.get("status"), queue_id: r.get("queue_id") })
        .collect())
}

/// What `qlink.create_token` takes besides the clinic: the defaults are the extension's.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub patient_name: &'a str,
    pub patient_phone: Option<&'a str>,
    /// QR, STAFF or API.
    pub source: &'a str,
    /// The patient's address (QR intake limits).
    pub client_ip: Option<std::net::IpAddr>,
    pub is_priority: bool,
    pub language: Option<&'a str>,
    /// The desk login adding a walk-in.
    pub staff_id: Option<Uuid>,
    /// The queue to join (None: the clinic's only active queue).
    pub queue_id: Option<Uuid>,
}

/// A row of `qlink.create_token`: the new token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedTokenRow {
    pub token_id: Uuid,
    pub token_number: i32,
    pub status: String,
    pub queue_position: Option<i32>,
    pub eta_min_minutes: Option<i32>,
    pub eta_max_minutes: Option<i32>,
    /// `A-12` (or `12` for a queue without a prefix).
    pub token_label: String,
    pub queue_id: Uuid,
    pub queue_name: String,
}

impl CreatedTokenRow {
    fn from_row(r: &Row) -> Self {
        CreatedTokenRow {
            token_id: r.get("token_id"),
            token_number: r.get("token_number"),
            status: r.get("status"),
            queue_position: r.get("queue_position"),
            eta_min_minutes: r.get("eta_min_minutes"),
            eta_max_minutes: r.get("eta_max_minutes"),
            token_label: r.get("token_label"),
            queue_id: r.get("queue_id"),
            queue_name: r.get("queue_name"),
        }
    }
}

const CREATED_TOKEN_COLUMNS: &str = "t.token_id, t.token_number, t.status, t.queue_position, t.eta_min_minutes, \
     t.eta_max_minutes, t.token_label, t.queue_id, t.queue_name";

/// `qlink.create_token(business_id, …, queue_id, login)`.
pub async fn create_token(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    token: &NewToken<'_>,
) -> ApiResult<CreatedTokenRow> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {CREATED_TOKEN_COLUMNS} FROM qlink.create_token($1, $2, $3, $4, $5, $6, $7, $8, $9, login => $10) t"
        ))
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &token.patient_name,
                &token.patient_phone,
                &token.source,
                &token.client_ip,
                &token.is_priority,
                &token.language,
                &token.staff_id,
                &token.queue_id,
                &login,
            ],
        )
        .await?;
    Ok(CreatedTokenRow::from_row(&row))
}

/// `qlink.charge_refused_intake`: a patient's attempt refused after the intake windows were
/// checked (the phone limit) still counts in them.
pub async fn charge_refused_intake(db: &impl GenericClient, slug: &str, ip: std::net::IpAddr) -> ApiResult<()> {
    let stmt = db
        .prepare_cached("SELECT qlink.charge_refused_intake(c.business_id, $2) FROM qlink.clinic_by_slug($1) c")
        .await?;
    db.execute(&stmt, &[&slug, &ip]).await?;
    Ok(())
}

/// `qlink.create_token` for the clinic with this slug (one round trip through
/// `qlink.clinic_by_slug`); an unknown slug is `ApiError::NotFound`.
pub async fn create_token_by_slug(
    db: &impl GenericClient,
    slug: &str,
    token: &NewToken<'_>,
) -> ApiResult<CreatedTokenRow> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {CREATED_TOKEN_COLUMNS} FROM qlink.clinic_by_slug($1) c, \
                  LATERAL qlink.create_token(c.business_id, $2, $3, $4, $5, $6, $7, $8, $9) t"
        ))
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &slug,
                &token.patient_name,
                &token.patient_phone,
                &token.source,
                &token.client_ip,
                &token.is_priority,
                &token.language,
                &token.staff_id,
                &token.queue_id,
            ],
        )
        .await?;
    Ok(CreatedTokenRow::from_row(&row))
}

// Kiosks at the door (issue 17): a tablet signed in by a staff member takes tokens for its
// clinic only.

/// A kiosk as `qlink.open_kiosk` and `qlink.kiosk_session` describe it.
#[derive(Debug, Clone)]
pub struct KioskSession {
    pub kiosk_id: Uuid,
    pub business_id: Uuid,
    pub slug: String,
    pub paper: String,
    pub expires_at: DateTime<Utc>,
}

/// What `qlink.open_kiosk` answered.
#[derive(Debug)]
pub enum KioskOpened {
    Ok(KioskSession),
    /// Wrong email or password.
    Wrong,
    /// The throttle (as for a login): try again after this long.
    Limited {
        retry_after: Duration,
    },
    /// The password is right, but the user works at no desk of this clinic.
    NotThisClinic,
}

/// `qlink.open_kiosk(email, password, secret_hash, business_id, ttl, paper, ip, user_agent)`.
#[allow(clippy::too_many_arguments)]
pub async fn open_kiosk(
    db: &impl GenericClient,
    email: &str,
    password: &str,
    digest: &[u8],
    slug: &str,
    ttl: Duration,
    paper: &str,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
) -> ApiResult<KioskOpened> {
    let stmt = db
        .prepare_cached(
            "SELECT k.outcome, k.retry_after_seconds, k.kiosk_id, k.business_id, k.slug, k.paper, k.expires_at \
             FROM qlink.clinic_by_slug($4) c, \
                  LATERAL qlink.open_kiosk($1, $2, $3, c.business_id, make_interval(secs => $5), $6, $7, $8) k",
        )
        .await?;
    let r =
        db.query_one(&stmt, &[&email, &password, &digest, &slug, &ttl.as_secs_f64(), &paper, &ip, &user_agent]).await?;
    let outcome: String = r.get("outcome");
    let missing = |column: &str| ApiError::Internal(anyhow::anyhow!("qlink.open_kiosk answered ok without {column}"));
    match outcome.as_str() {
        "ok" => Ok(KioskOpened::Ok(KioskSession {
            kiosk_id: r.get::<_, Option<Uuid>>("kiosk_id").ok_or_else(|| missing("kiosk_id"))?,
            business_id: r.get::<_, Option<Uuid>>("business_id").ok_or_else(|| missing("business_id"))?,
            slug: r.get::<_, Option<String>>("slug").ok_or_else(|| missing("slug"))?,
            paper: r.get::<_, Option<String>>("paper").ok_or_else(|| missing("paper"))?,
            expires_at: r.get::<_, Option<DateTime<Utc>>>("expires_at").ok_or_else(|| missing("expires_at"))?,
        })),
        "wrong" => Ok(KioskOpened::Wrong),
        "address_limited" | "paced" => {
            let seconds: Option<i32> = r.get("retry_after_seconds");
            Ok(KioskOpened::Limited {
                retry_after: Duration::from_secs(seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(0)),
            })
        }
        "not_this_clinic" => Ok(KioskOpened::NotThisClinic),
        other => Err(ApiError::Internal(anyhow::anyhow!("qlink.open_kiosk answered an unknown outcome {other:?}"))),
    }
}

/// `qlink.kiosk_session(secret_hash)`: the open kiosk of a secret, None once signed out.
pub async fn kiosk_session(db: &impl GenericClient, digest: &[u8]) -> ApiResult<Option<KioskSession>> {
    let stmt =
        db.prepare_cached("SELECT kiosk_id, business_id, slug, paper, expires_at FROM qlink.kiosk_session($1)").await?;
    Ok(db.query_opt(&stmt, &[&digest]).await?.map(|r| KioskSession {
        kiosk_id: r.get("kiosk_id"),
        business_id: r.get("business_id"),
        slug: r.get("slug"),
        paper: r.get("paper"),
        expires_at: r.get("expires_at"),
    }))
}

/// `qlink.kiosk_create_token(secret_hash, patient_name, patient_phone, language, queue_id)`:
/// the token, and the paper the kiosk prints its slip on.
pub async fn kiosk_create_token(
    db: &impl GenericClient,
    digest: &[u8],
    patient_name: &str,
    patient_phone: Option<&str>,
    language: Option<&str>,
    queue_id: Option<Uuid>,
) -> ApiResult<(CreatedTokenRow, String)> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {CREATED_TOKEN_COLUMNS}, t.paper FROM qlink.kiosk_create_token($1, $2, $3, $4, $5) t"
        ))
        .await?;
    let row = db.query_one(&stmt, &[&digest, &patient_name, &patient_phone, &language, &queue_id]).await?;
    Ok((CreatedTokenRow::from_row(&row), row.get("paper")))
}

/// `qlink.clinic_slug(business_id)`.
pub async fn clinic_slug(db: &impl GenericClient, business_id: Uuid) -> ApiResult<String> {
    let stmt = db.prepare_cached("SELECT qlink.clinic_slug($1) AS slug").await?;
    Ok(db.query_one(&stmt, &[&business_id]).await?.get("slug"))
}

/// A row of `qlink.list_kiosks`: one of the clinic's open kiosks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KioskRow {
    pub kiosk_id: Uuid,
    /// Who signed it in.
    pub opened_by_email: String,
    /// The slip paper it prints on: 58, 80 or a6.
    pub paper: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_join_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
}

/// `qlink.list_kiosks(business_id, login)`.
pub async fn list_kiosks(db: &impl GenericClient, login: Option<&[u8]>, business_id: Uuid) -> ApiResult<Vec<KioskRow>> {
    let stmt = db
        .prepare_cached(
            "SELECT kiosk_id, opened_by_email, paper, created_at, expires_at, last_join_at, user_agent \
             FROM qlink.list_kiosks($1, login => $2)",
        )
        .await?;
    Ok(db
        .query(&stmt, &[&business_id, &login])
        .await?
        .iter()
        .map(|r| KioskRow {
            kiosk_id: r.get("kiosk_id"),
            opened_by_email: r.get("opened_by_email"),
            paper: r.get("paper"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            last_join_at: r.get("last_join_at"),
            user_agent: r.get("user_agent"),
        })
        .collect())
}

/// `qlink.close_kiosk(kiosk_id, business_id, login)`: true when an open kiosk was signed out.
pub async fn close_kiosk(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    kiosk_id: Uuid,
) -> ApiResult<bool> {
    let stmt = db.prepare_cached("SELECT qlink.close_kiosk($1, $2, login => $3) AS closed").await?;
    Ok(db.query_one(&stmt, &[&kiosk_id, &business_id, &login]).await?.get("closed"))
}

// Queues and rooms (SPEC §9): the clinic's lines and where patients are called to.

/// A row of `qlink.list_queues`: one of the clinic's queues with today's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueLine {
    pub queue_id: Uuid,
    pub name: String,
    /// 0–3 capital letters; labels read `A-12` (`''`: plain `12`).
    pub prefix: String,
    pub is_active: bool,
    pub sort_order: i32,
    /// Active rooms calling from this queue (its ETA is divided by them).
    pub rooms_serving: i32,
    /// OPEN or CLOSED (today's day of this queue).
    pub session_status: String,
    pub waiting_count: i32,
    pub now_serving_number: Option<i32>,
    /// What a patient joining now is shown.
    pub eta_min_minutes: i32,
    pub eta_max_minutes: i32,
    /// Whether a patient can join this queue by QR now.
    pub accepting_tokens: bool,
    pub refusal_reason: Option<String>,
    /// A doctor's delay on this line: minutes still to run, its note, when it ends.
    pub delay_minutes: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_until: Option<DateTime<Utc>>,
}

/// `qlink.list_queues(business_id)`: every queue of the clinic, in order.
pub async fn list_queues(db: &impl GenericClient, business_id: Uuid) -> ApiResult<Vec<QueueLine>> {
    let stmt = db
        .prepare_cached(
            "SELECT queue_id, name, prefix, is_active, sort_order, rooms_serving, session_status, waiting_count, \
                    now_serving_number, eta_min_minutes, eta_max_minutes, accepting_tokens, refusal_reason, \
                    delay_minutes, delay_note, delay_until \
             FROM qlink.list_queues($1)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id]).await?;
    Ok(rows
        .iter()
        .map(|r| QueueLine {
            queue_id: r.get("queue_id"),
            name: r.get("name"),
            prefix: r.get("prefix"),
            is_active: r.get("is_active"),
            sort_order: r.get("sort_order"),
            rooms_serving: r.get("rooms_serving"),
            session_status: r.get("session_status"),
            waiting_count: r.get("waiting_count"),
            now_serving_number: r.get("now_serving_number"),
            eta_min_minutes: r.get("eta_min_minutes"),
            eta_max_minutes: r.get("eta_max_minutes"),
            accepting_tokens: r.get("accepting_tokens"),
            refusal_reason: r.get("refusal_reason"),
            delay_minutes: r.get("delay_minutes"),
            delay_note: r.get("delay_note"),
            delay_until: r.get("delay_until"),
        })
        .collect())
}

/// What `qlink.announce_delay` answers: the line, the delay now (null: none) and the DELAY
/// messages it queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delay {
    pub queue_id: Uuid,
    pub delay_minutes: Option<i32>,
    pub delay_until: Option<DateTime<Utc>>,
    pub messages_queued: i32,
}

/// `qlink.announce_delay(business_id, queue_id, minutes, note, staff_id, login)` (SPEC §12): 0
/// minutes clears the line's delay.
pub async fn announce_delay(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    queue_id: Option<Uuid>,
    minutes: i32,
    note: Option<&str>,
    staff_id: Option<Uuid>,
) -> ApiResult<Delay> {
    let stmt = db
        .prepare_cached(
            "SELECT queue_id, delay_minutes, delay_until, messages_queued \
             FROM qlink.announce_delay($1, $2, $3, $4, $5, login => $6)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id, &queue_id, &minutes, &note, &staff_id, &login]).await?;
    Ok(Delay {
        queue_id: r.get("queue_id"),
        delay_minutes: r.get("delay_minutes"),
        delay_until: r.get("delay_until"),
        messages_queued: r.get("messages_queued"),
    })
}

/// A row of `qlink.list_rooms`: one of the clinic's rooms, its queues and whom it serves.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomLine {
    pub room_id: Uuid,
    pub name: String,
    pub is_active: bool,
    pub sort_order: i32,
    /// The queues the room calls from, in the clinic's order.
    pub queue_ids: Vec<Uuid>,
    pub queue_names: Vec<String>,
    pub serving_token_id: Option<Uuid>,
    pub serving_number: Option<i32>,
    pub serving_label: Option<String>,
    /// Patients waiting in the room's queues.
    pub waiting_count: i32,
}

/// `qlink.list_rooms(business_id)`: every room of the clinic, in order.
pub async fn list_rooms(db: &impl GenericClient, business_id: Uuid) -> ApiResult<Vec<RoomLine>> {
    let stmt = db
        .prepare_cached(
            "SELECT room_id, name, is_active, sort_order, queue_ids, queue_names, serving_token_id, serving_number, \
                    serving_label, waiting_count \
             FROM qlink.list_rooms($1)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id]).await?;
    Ok(rows
        .iter()
        .map(|r| RoomLine {
            room_id: r.get("room_id"),
            name: r.get("name"),
            is_active: r.get("is_active"),
            sort_order: r.get("sort_order"),
            queue_ids: r.get("queue_ids"),
            queue_names: r.get("queue_names"),
            serving_token_id: r.get("serving_token_id"),
            serving_number: r.get("serving_number"),
            serving_label: r.get("serving_label"),
            waiting_count: r.get("waiting_count"),
        })
        .collect())
}

/// `qlink.create_queue(business_id, name, prefix, login)`: the new queue's id.
pub async fn create_queue(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    name: &str,
    prefix: Option<&str>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.create_queue($1, $2, coalesce($3, ''), actor_email => $4, actor_ip => $5, login => $6) AS queue_id",
        )
        .await?;
    let row = db
        .query_one(&stmt, &[&business_id, &name, &prefix, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login])
        .await?;
    Ok(row.get("queue_id"))
}

/// What `qlink.update_queue` changes: only what is given.
#[derive(Debug, Default, Clone, Copy)]
pub struct QueueChange<'a> {
    pub name: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub is_active: Option<bool>,
    pub sort_order: Option<i32>,
}

/// `qlink.update_queue(business_id, queue_id, …, login)`: the queue's id.
pub async fn update_queue(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    queue_id: Uuid,
    change: &QueueChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_queue($1, $2, $3, $4, $5, $6, actor_email => $7, actor_ip => $8, login => $9) AS queue_id",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &queue_id,
                &change.name,
                &change.prefix,
                &change.is_active,
                &change.sort_order,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("queue_id"))
}

/// `qlink.create_room(business_id, name, queue_ids, login)`: the new room's id.
pub async fn create_room(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    name: &str,
    queue_ids: &[Uuid],
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.create_room($1, $2, $3, actor_email => $4, actor_ip => $5, login => $6) AS room_id",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[&business_id, &name, &queue_ids, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login],
        )
        .await?;
    Ok(row.get("room_id"))
}

/// What `qlink.update_room` changes: only what is given (`queue_ids` replaces the room's).
#[derive(Debug, Default, Clone, Copy)]
pub struct RoomChange<'a> {
    pub name: Option<&'a str>,
    pub queue_ids: Option<&'a [Uuid]>,
    pub is_active: Option<bool>,
    pub sort_order: Option<i32>,
}

/// `qlink.update_room(business_id, room_id, …, login)`: the room's id.
pub async fn update_room(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    room_id: Uuid,
    change: &RoomChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_room($1, $2, $3, $4, $5, $6, actor_email => $7, actor_ip => $8, login => $9) AS room_id",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &room_id,
                &change.name,
                &change.queue_ids,
                &change.is_active,
                &change.sort_order,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("room_id"))
}

// The clinic owner's logins and settings.

/// A row of `qlink.clinic_staff`: one of the clinic's logins (never the operator's).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicLogin {
    pub staff_id: Uuid,
    pub email: String,
    /// STAFF or OWNER.
    pub role: String,
    pub is_active: bool,
    /// The room the login is pinned to, if any.
    pub room_id: Option<Uuid>,
    pub room_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Live login sessions now.
    pub login_sessions: i32,
}

/// `qlink.clinic_staff(business_id, login)`: the clinic's logins.
pub async fn clinic_staff(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
) -> ApiResult<Vec<ClinicLogin>> {
    let stmt = db
        .prepare_cached(
            "SELECT staff_id, email, role, is_active, room_id, room_name, created_at, last_login_at, login_sessions \
             FROM qlink.clinic_staff($1, login => $2)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| ClinicLogin {
            staff_id: r.get("staff_id"),
            email: r.get("email"),
            role: r.get("role"),
            is_active: r.get("is_active"),
            room_id: r.get("room_id"),
            room_name: r.get("room_name"),
            created_at: r.get("created_at"),
            last_login_at: r.get("last_login_at"),
            login_sessions: r.get("login_sessions"),
        })
        .collect())
}

/// What `qlink.update_staff_user` changes: only what is given.
#[derive(Debug, Default, Clone, Copy)]
pub struct StaffChange {
    /// Disabling also ends the login's sessions.
    pub is_active: Option<bool>,
    /// Pin the login to this room.
    pub room_id: Option<Uuid>,
    /// Unpin it (not together with `room_id`).
    pub unpin: bool,
}

/// `qlink.update_staff_user(business_id, staff_id, …, login)`: the login sessions ended.
pub async fn update_staff_user(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: Uuid,
    change: &StaffChange,
    actor: Option<Actor<'_>>,
) -> ApiResult<i64> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_staff_user($1, $2, $3, $4, $5, actor_email => $6, actor_ip => $7, login => $8) AS ended",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &staff_id,
                &change.is_active,
                &change.room_id,
                &change.unpin,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("ended"))
}

/// `qlink.end_staff_sessions(business_id, staff_id, login)`: logs a clinic login out everywhere;
/// the login sessions ended.
pub async fn end_staff_sessions(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: Uuid,
    actor: Option<Actor<'_>>,
) -> ApiResult<i64> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.end_staff_sessions($1, $2, actor_email => $3, actor_ip => $4, login => $5) AS ended",
        )
        .await?;
    let row = db
        .query_one(&stmt, &[&business_id, &staff_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login])
        .await?;
    Ok(row.get("ended"))
}

/// `qlink.reset_staff_password(business_id, staff_id, password_hash, login)`: a new argon2id hash
/// for a clinic login, which is logged out everywhere; the login sessions ended.
pub async fn reset_staff_password(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: Uuid,
    password_hash: &str,
    actor: Option<Actor<'_>>,
) -> ApiResult<i64> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.reset_staff_password($1, $2, $3, actor_email => $4, actor_ip => $5, login => $6) AS ended",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[&business_id, &staff_id, &password_hash, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login],
        )
        .await?;
    Ok(row.get("ended"))
}

/// `qlink.update_clinic_settings(business_id, settings, login)`: the owner's patch of the settings
/// they may change (any other key is `ApiError::Forbidden`); the clinic's settings after.
pub async fn update_clinic_settings(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    settings: &serde_json::Value,
    actor: Option<Actor<'_>>,
) -> ApiResult<serde_json::Value> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_clinic_settings($1, $2::jsonb, actor_email => $3, actor_ip => $4, login => $5) AS settings",
        )
        .await?;
    let row = db
        .query_one(&stmt, &[&business_id, settings, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login])
        .await?;
    Ok(row.get("settings"))
}

// Logins.

/// A row of `qlink.staff_for_login`: whom a login would be, and the hash to check.
#[derive(Debug)]
pub struct LoginCandidate {
    pub staff_id: Uuid,
    pub password_hash: String,
    pub role: String,
    pub business_id: Option<Uuid>,
    /// The room the login is pinned to, if any.
    pub room_id: Option<Uuid>,
}

/// `qlink.staff_for_login(email)`: an active login with this email, if any.
pub async fn staff_for_login(db: &impl GenericClient, email: &str) -> ApiResult<Option<LoginCandidate>> {
    let stmt = db
        .prepare_cached("SELECT staff_id, password_hash, role, business_id, room_id FROM qlink.staff_for_login($1)")
        .await?;
    Ok(db.query_opt(&stmt, &[&email]).await?.map(|r| LoginCandidate {
        staff_id: r.get("staff_id"),
        password_hash: r.get("password_hash"),
        role: r.get("role"),
        business_id: r.get("business_id"),
        room_id: r.get("room_id"),
    }))
}

/// What `qlink.login` answered.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The password was right; the session is stored.
    Ok { user: SessionUser, expires_at: DateTime<Utc> },
    /// Wrong email or password (one answer for both).
    Wrong,
    /// Too many attempts from this address, or (paced) for this email lately: try again
    /// after this long.
    Limited { paced: bool, retry_after: Duration },
}

/// `qlink.login(email, password, session_digest, ttl, ip, user_agent)`: checks the password
/// (throttled) and, if right, stores the digest of a new session secret for `ttl`.
pub async fn login(
    db: &impl GenericClient,
    email: &str,
    password: &str,
    digest: &[u8],
    ttl: Duration,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
) -> ApiResult<LoginOutcome> {
    let stmt = db
        .prepare_cached(
            "SELECT outcome, retry_after_seconds, staff_id, email, role, business_id, room_id, expires_at \
             FROM qlink.login($1, $2, $3, make_interval(secs => $4), $5, $6)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&email, &password, &digest, &ttl.as_secs_f64(), &ip, &user_agent]).await?;
    let outcome: String = r.get("outcome");
    let retry_after = || {
        let seconds: Option<i32> = r.get("retry_after_seconds");
        Duration::from_secs(seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    };
    let missing = |column: &str| ApiError::Internal(anyhow::anyhow!("qlink.login answered ok without {column}"));
    match outcome.as_str() {
        "ok" => Ok(LoginOutcome::Ok {
            user: SessionUser {
                staff_id: r.get::<_, Option<Uuid>>("staff_id").ok_or_else(|| missing("staff_id"))?,
                email: r.get::<_, Option<String>>("email").ok_or_else(|| missing("email"))?,
                role: r.get::<_, Option<String>>("role").ok_or_else(|| missing("role"))?,
                business_id: r.get("business_id"),
                room_id: r.get("room_id"),
            },
            expires_at: r.get::<_, Option<DateTime<Utc>>>("expires_at").ok_or_else(|| missing("expires_at"))?,
        }),
        "wrong" => Ok(LoginOutcome::Wrong),
        "address_limited" => Ok(LoginOutcome::Limited { paced: false, retry_after: retry_after() }),
        "paced" => Ok(LoginOutcome::Limited { paced: true, retry_after: retry_after() }),
        other => Err(ApiError::Internal(anyhow::anyhow!("qlink.login answered an unknown outcome {other:?}"))),
    }
}

/// `qlink.end_login_session(digest)`: true when a session ended.
pub async fn end_login_session(db: &impl GenericClient, digest: &[u8]) -> ApiResult<bool> {
    let stmt = db.prepare_cached("SELECT qlink.end_login_session($1) AS ended").await?;
    Ok(db.query_one(&stmt, &[&digest]).await?.get("ended"))
}

/// A row of `qlink.login_session_user`: who holds a live session.
#[derive(Debug)]
pub struct SessionUser {
    pub staff_id: Uuid,
    pub email: String,
    pub role: String,
    pub business_id: Option<Uuid>,
    /// The room the login is pinned to, if any.
    pub room_id: Option<Uuid>,
}

/// `qlink.login_session_user(digest)`: the user of a live session, if any.
pub async fn login_session_user(db: &impl GenericClient, digest: &[u8]) -> ApiResult<Option<SessionUser>> {
    let stmt = db
        .prepare_cached("SELECT staff_id, email, role, business_id, room_id FROM qlink.login_session_user($1)")
        .await?;
    Ok(db.query_opt(&stmt, &[&digest]).await?.map(|r| SessionUser {
        staff_id: r.get("staff_id"),
        email: r.get("email"),
        role: r.get("role"),
        business_id: r.get("business_id"),
        room_id: r.get("room_id"),
    }))
}

// The operator's command line.

/// `qlink.set_staff_password(email, password_hash)`: the login's id.
pub async fn set_staff_password(db: &impl GenericClient, email: &str, password_hash: &str) -> ApiResult<Uuid> {
    let stmt = db.prepare_cached("SELECT qlink.set_staff_password($1, $2) AS id").await?;
    Ok(db.query_one(&stmt, &[&email, &password_hash]).await?.get("id"))
}

/// `qlink.create_staff_user(email, password_hash, role, business_id, room_id, login)`: the new
/// login's id. STAFF and OWNER belong to one clinic (a login may be pinned to one of its
/// rooms); SUPER_ADMIN to none.
pub async fn create_staff_user(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    email: &str,
    password_hash: &str,
    role: &str,
    business_id: Option<Uuid>,
    room_id: Option<Uuid>,
) -> ApiResult<Uuid> {
    let stmt = db.prepare_cached("SELECT qlink.create_staff_user($1, $2, $3, $4, $5, login => $6) AS id").await?;
    Ok(db.query_one(&stmt, &[&email, &password_hash, &role, &business_id, &room_id, &login]).await?.get("id"))
}

// ---------------------------------------------------------------------------------------
// The outbox protocol and housekeeping, as the message worker uses them.

/// A row of `qlink.claim_messages`: one outbox message, leased to the caller.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: i64,
    /// NULL for a help reply to a number that belongs to no clinic yet.
    pub business_id: Option<Uuid>,
    /// NULL once the token itself is gone (the message row outlives it).
    pub token_id: Option<Uuid>,
    /// WELCOME, REMINDER, CALLED, REPLY or DELAY.
    pub message_type: String,
    /// NULL after the retention purge.
    pub to_phone: Option<String>,
    /// The patient's language (`en`, `hi`).
    pub language: String,
    /// The template's values that have no column of their own: `clinic_name`,
    /// `token_number`, `people_ahead`; for a REPLY what happened (`kind`, …) (`{}` after the
    /// retention purge).
    pub payload: serde_json::Value,
    /// Attempts already spent (throttled deferrals spend none).
    pub attempts: i32,
    /// The number it is sent from; NULL: the installation's.
    pub sender_phone_number_id: Option<String>,
    /// The sender's own access token, sealed (`crypto::SecretKey`, associated data the
    /// phone number id); NULL: the installation's token.
    pub access_token_enc: Option<Vec<u8>>,
    /// The sender's own rate (messages a second); NULL: `QLINK_WHATSAPP_RATE`.
    pub sender_rate: Option<f32>,
}

impl ClaimedMessage {
    fn from_row(row: &Row) -> Self {
        ClaimedMessage {
            id: row.get("id"),
            business_id: row.get("business_id"),
            token_id: row.get("token_id"),
            message_type: row.get("message_type"),
            to_phone: row.get("to_phone"),
            language: row.get("language"),
            payload: row.get("payload"),
            attempts: row.get("attempts"),
            sender_phone_number_id: row.get("sender_phone_number_id"),
            access_token_enc: row.get("access_token_enc"),
            sender_rate: row.get("sender_rate"),
        }
    }
}

/// `qlink.claim_messages(max_rows, lease, full_senders)`: leases up to `max_rows` due
/// messages (`FOR UPDATE SKIP LOCKED`, round-robin across senders); other workers do not see
/// them until the lease ends. Rows of the senders in `full_senders` (phone number ids, `''`
/// for the installation's) are left alone: this worker holds enough of theirs.
pub async fn claim_messages(
    db: &impl GenericClient,
    max_rows: i32,
    lease: Duration,
    full_senders: &[String],
) -> ApiResult<Vec<ClaimedMessage>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, business_id, token_id, message_type, to_phone, language, payload, attempts, \
                    sender_phone_number_id, access_token_enc, sender_rate \
             FROM qlink.claim_messages($1, make_interval(secs => $2), $3)",
        )
        .await?;
    let rows = db.query(&stmt, &[&max_rows, &lease.as_secs_f64(), &full_senders]).await?;
    Ok(rows.iter().map(ClaimedMessage::from_row).collect())
}

/// What one send attempt came to, as `qlink.finish_message` records it.
#[derive(Debug, Clone, Copy)]
pub struct MessageOutcome<'a> {
    /// SENT, RETRY, THROTTLED or FAILED.
    pub outcome: &'a str,
    /// `whatsapp` or `log`; NULL keeps the row's.
    pub provider: Option<&'a str>,
    /// Meta's wamid, for SENT.
    pub provider_message_id: Option<&'a str>,
    /// The provider's answer, kept on the row.
    pub provider_response: Option<&'a serde_json::Value>,
    /// When to try again instead of the outbox's own backoff (a Retry-After); the outbox caps
    /// it at a minute.
    pub retry_after: Option<Duration>,
}

/// A row of `qlink.finish_message`: where the message stands after the outcome.
#[derive(Debug, Clone)]
pub struct FinishedMessage {
    /// PENDING or FAILED while it still needs a send; SENT, DELIVERED, READ or
    /// PERMANENTLY_FAILED once it does not.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// How long until `next_attempt_at`, by the database's clock (the clock the claim
    /// compares with), 0 when it is past.
    pub due_in: Duration,
}

impl FinishedMessage {
    fn from_row(row: &Row) -> Self {
        let due_in_seconds: f64 = row.get("due_in_seconds");
        FinishedMessage {
            status: row.get("status"),
            attempts: row.get("attempts"),
            next_attempt_at: row.get("next_attempt_at"),
            due_in: Duration::try_from_secs_f64(due_in_seconds).unwrap_or(Duration::ZERO),
        }
    }

    /// Whether the message is still to be sent (a retry or a deferral).
    pub fn needs_send(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "FAILED")
    }
}

/// `qlink.finish_message(id, outcome, …)`: records one send attempt and releases the lease.
/// An unknown id (the clinic was deleted meanwhile) is `ApiError::NotFound`.
pub async fn finish_message(
    db: &impl GenericClient,
    id: i64,
    outcome: MessageOutcome<'_>,
) -> ApiResult<FinishedMessage> {
    let stmt = db
        .prepare_cached(
            "SELECT f.status, f.attempts, f.next_attempt_at, \
                    greatest(extract(epoch FROM f.next_attempt_at - clock_timestamp()), 0)::float8 AS due_in_seconds \
             FROM qlink.finish_message($1, $2, $3, $4, $5::jsonb, make_interval(secs => $6::float8)) f",
        )
        .await?;
    let retry_after_seconds = outcome.retry_after.map(|d| d.as_secs_f64());
    let row = db
        .query_one(
            &stmt,
            &[
                &id,
                &outcome.outcome,
                &outcome.provider,
                &outcome.provider_message_id,
                &outcome.provider_response,
                &retry_after_seconds,
            ],
        )
        .await?;
    Ok(FinishedMessage::from_row(&row))
}

/// `qlink.release_message(id)`: hands a claimed message back unsent (lease ended, no
/// attempt spent); false when it was already finished.
pub async fn release_message(db: &impl GenericClient, id: i64) -> ApiResult<bool> {
    let stmt = db.prepare_cached("SELECT qlink.release_message($1) AS released").await?;
    Ok(db.query_one(&stmt, &[&id]).await?.get("released"))
}

/// `qlink.apply_delivery_status(provider_message_id, status, details)`: false for an
/// unknown message. The database error is kept whole: the webhook tells a status PostgreSQL
/// cannot store (SQLSTATE class 22, ignored) from a failure Meta should retry.
pub async fn apply_delivery_status(
    db: &impl GenericClient,
    provider_message_id: &str,
    status: &str,
    details: &serde_json::Value,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = db.prepare_cached("SELECT qlink.apply_delivery_status($1, $2, $3::jsonb) AS applied").await?;
    db.query_one(&stmt, &[&provider_message_id, &status, details]).await?.try_get("applied")
}

/// `qlink.outbox_lag_seconds()`: how long the oldest due, unsent message has waited.
pub async fn outbox_lag_seconds(db: &impl GenericClient) -> ApiResult<f64> {
    let stmt = db.prepare_cached("SELECT qlink.outbox_lag_seconds()::float8 AS lag_seconds").await?;
    let lag: Option<f64> = db.query_one(&stmt, &[]).await?.get("lag_seconds");
    Ok(lag.unwrap_or(0.0).max(0.0))
}

/// `qlink.purge_tokens(older_than)`: erases the personal data of tokens older than
/// `retention_days`; returns how many tokens were purged.
pub async fn purge_tokens(db: &impl GenericClient, retention_days: i32) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.purge_tokens(make_interval(days => $1)) AS purged").await?;
    Ok(db.query_one(&stmt, &[&retention_days]).await?.get("purged"))
}

/// `qlink.write_rollups()`: writes the daily report rollups of every ended day that is due
/// one; returns how many rows it wrote.
pub async fn write_rollups(db: &impl GenericClient) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.write_rollups() AS written").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("written"))
}

/// `qlink.prune_rate_limits()`: drops rate-limit hits older than a day; returns how many.
pub async fn prune_rate_limits(db: &impl GenericClient) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.prune_rate_limits() AS pruned").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("pruned"))
}

/// `qlink.prune_login_sessions()`: drops expired staff logins; returns how many.
pub async fn prune_login_sessions(db: &impl GenericClient) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.prune_login_sessions() AS pruned").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("pruned"))
}

// ---------------------------------------------------------------------------------------
// The operator's view and changes. The changes are audited by the extension itself, with
// the actor the caller names.

/// Who makes an operator change, for the extension's audit entry (none: the database user).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub email: &'a str,
    pub ip: Option<std::net::IpAddr>,
}

/// `qlink.record_admin_action(actor, action, target_type, target_id, details, login)`: one line of
/// the operator's audit trail, for a change whose function audits none itself (a new login).
pub async fn record_admin_action(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    actor: Actor<'_>,
    action: &str,
    target_type: Option<&str>,
    target_id: Option<&str>,
    details: &serde_json::Value,
) -> ApiResult<i64> {
    let stmt =
        db.prepare_cached("SELECT qlink.record_admin_action($1, $2, $3, $4, $5, $6::jsonb, login => $7) AS id").await?;
    let row =
        db.query_one(&stmt, &[&actor.email, &actor.ip, &action, &target_type, &target_id, details, &login]).await?;
    Ok(row.get("id"))
}

/// A row of `qlink.admin_clinics`: a clinic with today's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminClinic {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub timezone: String,
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub session_status: Option<String>,
    pub tokens_today: i32,
    pub waiting_count: i32,
    pub serving_count: i32,
    pub failed_messages_today: i64,
}

impl AdminClinic {
    fn from_row(r: &Row) -> Self {
        AdminClinic {
            business_id: r.get("business_id"),
            slug: r.get("slug"),
            name: r.get("name"),
            status: r.get("status"),
            timezone: r.get("timezone"),
            settings: r.get("settings"),
            created_at: r.get("created_at"),
            session_status: r.get("session_status"),
            tokens_today: r.get("tokens_today"),
            waiting_count: r.get("waiting_count"),
            serving_count: r.get("serving_count"),
            failed_messages_today: r.get("failed_messages_today"),
        }
    }
}

const ADMIN_CLINIC_COLUMNS: &str = "business_id, slug, name, status, timezone, settings, created_at, session_status, \
     tokens_today, waiting_count, serving_count, failed_messages_today";

/// `qlink.admin_clinics(login)`: every clinic.
pub async fn admin_clinics(db: &impl GenericClient, login: Option<&[u8]>) -> ApiResult<Vec<AdminClinic>> {
    let stmt =
        db.prepare_cached(&format!("SELECT {ADMIN_CLINIC_COLUMNS} FROM qlink.admin_clinics(login => $1)")).await?;
    Ok(db.query(&stmt, &[&login]).await?.iter().map(AdminClinic::from_row).collect())
}

/// One clinic of `qlink.admin_clinics(login)`; an unknown id is `ApiError::NotFound`.
pub async fn admin_clinic(db: &impl GenericClient, login: Option<&[u8]>, business_id: Uuid) -> ApiResult<AdminClinic> {
    let stmt = db
        .prepare_cached(&format!(
            "SELECT {ADMIN_CLINIC_COLUMNS} FROM qlink.admin_clinics(login => $2) WHERE business_id = $1"
        ))
        .await?;
    let row = db.query_opt(&stmt, &[&business_id, &login]).await?;
    row.map(|r| AdminClinic::from_row(&r)).ok_or_else(|| crate::error::ApiError::NotFound("Clinic not found.".into()))
}

/// What `qlink.create_business` takes: the defaults are the extension's.
#[derive(Debug, Default)]
pub struct NewBusiness<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub timezone: Option<&'a str>,
    pub status: Option<&'a str>,
    pub settings: Option<&'a serde_json::Value>,
    pub address: Option<&'a str>,
    pub contact_phone: Option<&'a str>,
}

/// `qlink.create_business(...)`: the new clinic's id.
pub async fn create_business(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    clinic: &NewBusiness<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.create_business($1, $2, coalesce($3, 'Asia/Kolkata'), coalesce($4, 'ACTIVE'), \
                 coalesce($5, '{}'::jsonb), $6, $7, actor_email => $8, actor_ip => $9, login => $10) AS business_id",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &clinic.slug,
                &clinic.name,
                &clinic.timezone,
                &clinic.status,
                &clinic.settings,
                &clinic.address,
                &clinic.contact_phone,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("business_id"))
}

/// What `qlink.update_business` changes: only what is given.
#[derive(Debug, Default)]
pub struct BusinessChange<'a> {
    pub status: Option<&'a str>,
    pub settings: Option<&'a serde_json::Value>,
    pub name: Option<&'a str>,
    pub timezone: Option<&'a str>,
    pub address: Option<&'a str>,
    pub contact_phone: Option<&'a str>,
}

/// `qlink.update_business(...)`: the clinic's settings after the change.
pub async fn update_business(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    change: &BusinessChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<serde_json::Value> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_business($1, $2, $3, $4, $5, $6, $7, actor_email => $8, actor_ip => $9, login => $10) AS settings",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &change.status,
                &change.settings,
                &change.name,
                &change.timezone,
                &change.address,
                &change.contact_phone,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("settings"))
}

/// `qlink.delete_business(business_id, login)`: refused while the clinic's queue is live.
pub async fn delete_business(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    actor: Option<Actor<'_>>,
) -> ApiResult<bool> {
    let stmt = db
        .prepare_cached("SELECT qlink.delete_business($1, actor_email => $2, actor_ip => $3, login => $4) AS deleted")
        .await?;
    let row = db.query_one(&stmt, &[&business_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login]).await?;
    Ok(row.get("deleted"))
}

/// A row of `qlink.reset_session`: one queue's day started over.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResult {
    pub session_id: Uuid,
    pub cancelled_count: i32,
    pub queue_id: Uuid,
}

/// `qlink.reset_session(business_id, NULL, actor, queue_id, login)`: one queue's day (Some) or
/// every queue's (None) emptied; refused while someone is served. A row per queue.
pub async fn reset_session(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    queue_id: Option<Uuid>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Vec<ResetResult>> {
    let stmt = db
        .prepare_cached(
            "SELECT session_id, cancelled_count, queue_id \
             FROM qlink.reset_session($1, actor_email => $2, actor_ip => $3, queue_id => $4, login => $5)",
        )
        .await?;
    let rows =
        db.query(&stmt, &[&business_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &queue_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| ResetResult {
            session_id: r.get("session_id"),
            cancelled_count: r.get("cancelled_count"),
            queue_id: r.get("queue_id"),
        })
        .collect())
}

/// A row of `qlink.admin_metrics`: today across all clinics.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metrics {
    pub tokens_today: i64,
    pub active_sessions: i64,
    pub active_queues: i64,
    pub failed_messages_today: i64,
}

/// `qlink.admin_metrics(login)`.
pub async fn admin_metrics(db: &impl GenericClient, login: Option<&[u8]>) -> ApiResult<Metrics> {
    let stmt = db
        .prepare_cached(
            "SELECT tokens_today, active_sessions, active_queues, failed_messages_today FROM qlink.admin_metrics(login => $1)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&login]).await?;
    Ok(Metrics {
        tokens_today: r.get("tokens_today"),
        active_sessions: r.get("active_sessions"),
        active_queues: r.get("active_queues"),
        failed_messages_today: r.get("failed_messages_today"),
    })
}

/// A row of `qlink.admin_messages`: one outbox message, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub business_slug: String,
    pub token_number: Option<i32>,
    pub message_type: String,
    pub to_phone: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: i32,
    pub provider_response: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `qlink.admin_messages(status, max_rows, login)`.
pub async fn admin_messages(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    status: Option<&str>,
    max_rows: i32,
) -> ApiResult<Vec<Message>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, business_slug, token_number, message_type, to_phone, status, reason, attempts, \
                    provider_response, created_at, updated_at \
             FROM qlink.admin_messages($1, $2, login => $3)",
        )
        .await?;
    let rows = db.query(&stmt, &[&status, &max_rows, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| Message {
            id: r.get("id"),
            business_slug: r.get("business_slug"),
            token_number: r.get("token_number"),
            message_type: r.get("message_type"),
            to_phone: r.get("to_phone"),
            status: r.get("status"),
            reason: r.get("reason"),
            attempts: r.get("attempts"),
            provider_response: r.get("provider_response"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
        .collect())
}

/// A row of `qlink.admin_audit_log`: one operator action, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_email: String,
    pub actor_ip: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// `qlink.admin_audit_log(max_rows, login)`.
pub async fn admin_audit_log(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    max_rows: i32,
) -> ApiResult<Vec<AuditEntry>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, actor_email, actor_ip, action, target_type, target_id, details, created_at \
             FROM qlink.admin_audit_log($1, login => $2)",
        )
        .await?;
    let rows = db.query(&stmt, &[&max_rows, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get("id"),
            actor_email: r.get("actor_email"),
            actor_ip: r.get("actor_ip"),
            action: r.get("action"),
            target_type: r.get("target_type"),
            target_id: r.get("target_id"),
            details: r.get("details"),
            created_at: r.get("created_at"),
        })
        .collect())
}

// Reports, usage and billing (SPEC §10): a clinic's days, the platform's, plans and
// monthly statements. Money is integer paise everywhere, never a float.

/// `qlink.clinic_today(business_id)`: today in the clinic's time zone, by the queue clock.
pub async fn clinic_today(db: &impl GenericClient, business_id: Uuid) -> ApiResult<NaiveDate> {
    let stmt = db.prepare_cached("SELECT qlink.clinic_today($1) AS today").await?;
    Ok(db.query_one(&stmt, &[&business_id]).await?.get("today"))
}

/// `qlink.clinic_today()`: today for the whole platform, the latest clinic-local date of any
/// clinic, so that a range or month ending "today" includes every clinic's today.
pub async fn platform_today(db: &impl GenericClient) -> ApiResult<NaiveDate> {
    let stmt = db.prepare_cached("SELECT qlink.clinic_today() AS today").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("today"))
}

/// A row of `qlink.clinic_report`: one clinic-local day of a clinic (or of one queue).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportDay {
    pub day: NaiveDate,
    /// Tokens created that day, all and by source.
    pub tokens: i32,
    pub tokens_qr: i32,
    pub tokens_staff: i32,
    pub tokens_api: i32,
    /// Joined by WhatsApp (`JOIN <code>`).
    pub tokens_whatsapp: i32,
    /// Taken at the clinic's kiosk.
    pub tokens_kiosk: i32,
    /// Tokens whose final status is SERVED, SKIPPED (no-shows), CANCELLED.
    pub served: i32,
    pub skipped: i32,
    pub cancelled: i32,
    /// Still WAITING or SERVING when the day ended.
    pub unserved: i32,
    /// Tokens that were called.
    pub called: i32,
    /// Waits (called − created) of the called tokens, whole seconds; null with none.
    pub wait_p50_seconds: Option<i32>,
    pub wait_p90_seconds: Option<i32>,
    /// Service times (served − called) of the served tokens; null with none.
    pub service_p50_seconds: Option<i32>,
    pub service_p90_seconds: Option<i32>,
    /// Share (0–1) of the called tokens whose wait fell inside the ETA range first shown;
    /// null with none.
    pub eta_hit_rate: Option<f64>,
    pub messages_sent: i32,
    pub messages_failed: i32,
    /// The longest the line was that day.
    pub max_waiting: i32,
    /// Computed now rather than read from the day's rollup.
    pub live: bool,
}

/// `qlink.clinic_report(business_id, from_date, to_date, queue_id, login)`: a row per day, all
/// queues together with no `queue_id`.
pub async fn clinic_report(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    queue_id: Option<Uuid>,
) -> ApiResult<Vec<ReportDay>> {
    let stmt = db
        .prepare_cached(
            "SELECT day, tokens, tokens_qr, tokens_staff, tokens_api, served, skipped, cancelled, unserved, called, \
                    wait_p50_seconds, wait_p90_seconds, service_p50_seconds, service_p90_seconds, eta_hit_rate, \
                    messages_sent, messages_failed, max_waiting, live, tokens_whatsapp, tokens_kiosk \
             FROM qlink.clinic_report($1, $2, $3, $4, login => $5) ORDER BY day",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id, &from, &to, &queue_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| ReportDay {
            day: r.get("day"),
            tokens: r.get("tokens"),
            tokens_qr: r.get("tokens_qr"),
            tokens_staff: r.get("tokens_staff"),
            tokens_api: r.get("tokens_api"),
            tokens_whatsapp: r.get("tokens_whatsapp"),
            tokens_kiosk: r.get("tokens_kiosk"),
            served: r.get("served"),
            skipped: r.get("skipped"),
            cancelled: r.get("cancelled"),
            unserved: r.get("unserved"),
            called: r.get("called"),
            wait_p50_seconds: r.get("wait_p50_seconds"),
            wait_p90_seconds: r.get("wait_p90_seconds"),
            service_p50_seconds: r.get("service_p50_seconds"),
            service_p90_seconds: r.get("service_p90_seconds"),
            eta_hit_rate: r.get("eta_hit_rate"),
            messages_sent: r.get("messages_sent"),
            messages_failed: r.get("messages_failed"),
            max_waiting: r.get("max_waiting"),
            live: r.get("live"),
        })
        .collect())
}

/// A row of `qlink.hourly_arrivals`: tokens created in one clinic-local hour of one weekday
/// over the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourlyArrivals {
    /// 1 (Monday) – 7 (Sunday).
    pub weekday: i32,
    /// 0–23, clinic-local.
    pub hour: i32,
    pub tokens: i64,
}

/// `qlink.hourly_arrivals(business_id, from_date, to_date, queue_id, login)`: 168 rows.
pub async fn hourly_arrivals(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    queue_id: Option<Uuid>,
) -> ApiResult<Vec<HourlyArrivals>> {
    let stmt = db
        .prepare_cached(
            "SELECT weekday, hour, tokens FROM qlink.hourly_arrivals($1, $2, $3, $4, login => $5) ORDER BY weekday, hour",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id, &from, &to, &queue_id, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| HourlyArrivals { weekday: r.get("weekday"), hour: r.get("hour"), tokens: r.get("tokens") })
        .collect())
}

/// A row of `qlink.platform_report`: one clinic's totals over the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlatformClinic {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub plan_code: String,
    /// Days with at least one token.
    pub active_days: i32,
    pub tokens: i64,
    pub served: i64,
    pub skipped: i64,
    pub cancelled: i64,
    pub unserved: i64,
    /// Means over the range (percentiles do not add up over days); null with none.
    pub wait_mean_seconds: Option<i32>,
    pub service_mean_seconds: Option<i32>,
    pub eta_hit_rate: Option<f64>,
    pub messages_sent: i64,
    pub messages_failed: i64,
    pub max_waiting: i32,
}

/// `qlink.platform_report(from_date, to_date, login)`: every clinic, by slug.
pub async fn platform_report(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<PlatformClinic>> {
    let stmt = db
        .prepare_cached(
            "SELECT business_id, slug, name, status, plan_code, active_days, tokens, served, skipped, cancelled, \
                    unserved, wait_mean_seconds, service_mean_seconds, eta_hit_rate, messages_sent, \
                    messages_failed, max_waiting \
             FROM qlink.platform_report($1, $2, login => $3)",
        )
        .await?;
    let rows = db.query(&stmt, &[&from, &to, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| PlatformClinic {
            business_id: r.get("business_id"),
            slug: r.get("slug"),
            name: r.get("name"),
            status: r.get("status"),
            plan_code: r.get("plan_code"),
            active_days: r.get("active_days"),
            tokens: r.get("tokens"),
            served: r.get("served"),
            skipped: r.get("skipped"),
            cancelled: r.get("cancelled"),
            unserved: r.get("unserved"),
            wait_mean_seconds: r.get("wait_mean_seconds"),
            service_mean_seconds: r.get("service_mean_seconds"),
            eta_hit_rate: r.get("eta_hit_rate"),
            messages_sent: r.get("messages_sent"),
            messages_failed: r.get("messages_failed"),
            max_waiting: r.get("max_waiting"),
        })
        .collect())
}

/// A row of `qlink.platform_trend`: one day of all clinics together.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendDay {
    pub day: NaiveDate,
    /// Clinics with a token that day.
    pub clinics: i32,
    pub tokens: i64,
    pub served: i64,
    pub messages_sent: i64,
    pub messages_failed: i64,
}

/// `qlink.platform_trend(from_date, to_date, login)`: a row per day.
pub async fn platform_trend(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<TrendDay>> {
    let stmt = db
        .prepare_cached(
            "SELECT day, clinics, tokens, served, messages_sent, messages_failed \
             FROM qlink.platform_trend($1, $2, login => $3) ORDER BY day",
        )
        .await?;
    let rows = db.query(&stmt, &[&from, &to, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| TrendDay {
            day: r.get("day"),
            clinics: r.get("clinics"),
            tokens: r.get("tokens"),
            served: r.get("served"),
            messages_sent: r.get("messages_sent"),
            messages_failed: r.get("messages_failed"),
        })
        .collect())
}

/// A row of `qlink.list_plans`: a plan's terms in force now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    pub code: String,
    pub name: String,
    /// ₹1 = 100 paise.
    pub monthly_fee_paise: i64,
    pub included_tokens: i32,
    pub included_messages: i32,
    pub extra_token_paise: i64,
    pub extra_message_paise: i64,
    /// Clinics on the plan now.
    pub clinics: i32,
    pub updated_at: DateTime<Utc>,
}

/// `qlink.list_plans(login)`.
pub async fn list_plans(db: &impl GenericClient, login: Option<&[u8]>) -> ApiResult<Vec<Plan>> {
    let stmt = db
        .prepare_cached(
            "SELECT code, name, monthly_fee_paise, included_tokens, included_messages, extra_token_paise, \
                    extra_message_paise, clinics, updated_at \
             FROM qlink.list_plans(login => $1) ORDER BY code",
        )
        .await?;
    let rows = db.query(&stmt, &[&login]).await?;
    Ok(rows
        .iter()
        .map(|r| Plan {
            code: r.get("code"),
            name: r.get("name"),
            monthly_fee_paise: r.get("monthly_fee_paise"),
            included_tokens: r.get("included_tokens"),
            included_messages: r.get("included_messages"),
            extra_token_paise: r.get("extra_token_paise"),
            extra_message_paise: r.get("extra_message_paise"),
            clinics: r.get("clinics"),
            updated_at: r.get("updated_at"),
        })
        .collect())
}

/// A plan's terms, as `qlink.create_plan` takes them.
#[derive(Debug, Clone, Copy)]
pub struct PlanTerms<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub monthly_fee_paise: i64,
    pub included_tokens: i32,
    pub included_messages: i32,
    pub extra_token_paise: i64,
    pub extra_message_paise: i64,
}

/// `qlink.create_plan(...)`: the new plan's code.
pub async fn create_plan(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    plan: &PlanTerms<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<String> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.create_plan($1, $2, $3, $4, $5, $6, $7, actor_email => $8, actor_ip => $9, login => $10) AS code",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &plan.code,
                &plan.name,
                &plan.monthly_fee_paise,
                &plan.included_tokens,
                &plan.included_messages,
                &plan.extra_token_paise,
                &plan.extra_message_paise,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("code"))
}

/// What `qlink.update_plan` changes: only what is given, from now on.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlanChange<'a> {
    pub name: Option<&'a str>,
    pub monthly_fee_paise: Option<i64>,
    pub included_tokens: Option<i32>,
    pub included_messages: Option<i32>,
    pub extra_token_paise: Option<i64>,
    pub extra_message_paise: Option<i64>,
}

/// `qlink.update_plan(code, ...)`: the plan's code. An unknown code is 22023 `unknown_plan`.
pub async fn update_plan(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    code: &str,
    change: &PlanChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<String> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_plan($1, $2, $3, $4, $5, $6, $7, actor_email => $8, actor_ip => $9, login => $10) AS code",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &code,
                &change.name,
                &change.monthly_fee_paise,
                &change.included_tokens,
                &change.included_messages,
                &change.extra_token_paise,
                &change.extra_message_paise,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("code"))
}

/// `qlink.set_clinic_plan(business_id, plan_code, login)`: moves the clinic to the plan from now
/// on; the plan's code.
pub async fn set_clinic_plan(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    plan_code: &str,
    actor: Option<Actor<'_>>,
) -> ApiResult<String> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.set_clinic_plan($1, $2, actor_email => $3, actor_ip => $4, login => $5) AS plan_code",
        )
        .await?;
    let row = db
        .query_one(&stmt, &[&business_id, &plan_code, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login])
        .await?;
    Ok(row.get("plan_code"))
}

/// A line of `qlink.usage_statement`: `plan`, `tokens`, `messages` or `total`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementLine {
    /// plan, tokens, messages, total
    pub line: String,
    /// null on the total line.
    pub quantity: Option<i64>,
    pub included: Option<i64>,
    /// max(0, quantity − included).
    pub extra: Option<i64>,
    pub unit_paise: Option<i64>,
    /// extra × unit_paise (the fee on the plan line, the sum on the total line).
    pub amount_paise: i64,
}

/// `qlink.usage_statement(business_id, month, login)`: four lines in order. `month` is any day of
/// the month.
pub async fn usage_statement(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    month: NaiveDate,
) -> ApiResult<Vec<StatementLine>> {
    let stmt = db
        .prepare_cached(
            "SELECT line, quantity, included, extra, unit_paise, amount_paise FROM qlink.usage_statement($1, $2, login => $3)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id, &month, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| StatementLine {
            line: r.get("line"),
            quantity: r.get("quantity"),
            included: r.get("included"),
            extra: r.get("extra"),
            unit_paise: r.get("unit_paise"),
            amount_paise: r.get("amount_paise"),
        })
        .collect())
}

/// A row of `qlink.platform_usage`: one clinic's month against its plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicUsage {
    pub business_id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan_code: String,
    pub tokens: i64,
    pub included_tokens: i64,
    pub messages: i64,
    pub included_messages: i64,
    /// The statement's total.
    pub amount_paise: i64,
}

/// `qlink.platform_usage(month, login)`: every clinic that existed that month, by slug.
pub async fn platform_usage(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    month: NaiveDate,
) -> ApiResult<Vec<ClinicUsage>> {
    let stmt = db
        .prepare_cached(
            "SELECT business_id, slug, name, plan_code, tokens, included_tokens, messages, included_messages, \
                    amount_paise \
             FROM qlink.platform_usage($1, login => $2)",
        )
        .await?;
    let rows = db.query(&stmt, &[&month, &login]).await?;
    Ok(rows
        .iter()
        .map(|r| ClinicUsage {
            business_id: r.get("business_id"),
            slug: r.get("slug"),
            name: r.get("name"),
            plan_code: r.get("plan_code"),
            tokens: r.get("tokens"),
            included_tokens: r.get("included_tokens"),
            messages: r.get("messages"),
            included_messages: r.get("included_messages"),
            amount_paise: r.get("amount_paise"),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// WhatsApp conversations (sql/API.md "WhatsApp conversations"): the messages patients send
// us, the clinics' own sender numbers and the accounts' daily recipient caps.

/// One message a patient sent to one of our numbers, as the webhook read it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Our number it was sent to (`value.metadata.phone_number_id`).
    pub phone_number_id: &'a str,
    /// Meta's `from`: the patient's digits, or a business-scoped user id.
    pub from_phone: &'a str,
    /// What they wrote (a text's body, a button's label); None for a picture, a voice note…
    pub text: Option<&'a str>,
    /// A quick-reply button's payload, or an interactive reply's id.
    pub button_payload: Option<&'a str>,
    /// Meta's message id: the extension handles each once.
    pub wamid: &'a str,
    /// When the patient sent it (None: now).
    pub received_at: Option<DateTime<Utc>>,
    /// Their WhatsApp profile name, for a token they JOIN with.
    pub profile_name: Option<&'a str>,
}

/// A row of `qlink.handle_inbound`: what the message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundHandled {
    /// false: this wamid was handled before (a redelivery); the rest is that first handling.
    pub handled: bool,
    /// JOIN, STATUS, CANCEL, LATE, BACK, STOP, START, HELP or OTHER.
    pub command: String,
    /// joined, refused, status, no_token, cancelled, … (sql/API.md).
    pub outcome: String,
    pub business_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    /// The REPLY row queued, if any: the caller wakes the worker after its commit.
    pub reply_id: Option<i64>,
}

/// `qlink.handle_inbound(...)`. The database error is kept whole, as for
/// [`apply_delivery_status`]: the webhook skips a message PostgreSQL cannot store (SQLSTATE
/// class 22) and has Meta redeliver the batch on any other failure.
pub async fn handle_inbound(db: &impl GenericClient, m: &Inbound<'_>) -> Result<InboundHandled, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "SELECT handled, command, outcome, business_id, token_id, reply_id \
             FROM qlink.handle_inbound($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[&m.phone_number_id, &m.from_phone, &m.text, &m.button_payload, &m.wamid, &m.received_at, &m.profile_name],
        )
        .await?;
    Ok(InboundHandled {
        handled: row.try_get("handled")?,
        command: row.try_get("command")?,
        outcome: row.try_get("outcome")?,
        business_id: row.try_get("business_id")?,
        token_id: row.try_get("token_id")?,
        reply_id: row.try_get("reply_id")?,
    })
}

/// A row of `qlink.clinic_sender`: the number a clinic's messages go out from. Never the
/// access token: only whether the sender has one of its own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicSender {
    /// false: the installation's number (the rest is null).
    pub own_sender: bool,
    pub phone_number_id: Option<String>,
    /// E.164, as patients see it.
    pub display_number: Option<String>,
    /// The WhatsApp business account, whose daily recipient cap the number shares.
    pub waba_id: Option<String>,
    /// Whether the sender has an access token of its own (else the installation's is used).
    pub has_access_token: bool,
    /// The account's cap of unique recipients of template messages per 24 hours.
    pub daily_recipient_limit: Option<i32>,
}

/// `qlink.clinic_sender(business_id)`; an unknown clinic is `ApiError::NotFound`.
pub async fn clinic_sender(db: &impl GenericClient, business_id: Uuid) -> ApiResult<ClinicSender> {
    let stmt = db
        .prepare_cached(
            "SELECT own_sender, phone_number_id, display_number, waba_id, has_access_token, daily_recipient_limit \
             FROM qlink.clinic_sender($1)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id]).await?;
    Ok(ClinicSender {
        own_sender: r.get("own_sender"),
        phone_number_id: r.get("phone_number_id"),
        display_number: r.get("display_number"),
        waba_id: r.get("waba_id"),
        has_access_token: r.get::<_, Option<bool>>("has_access_token").unwrap_or(false),
        daily_recipient_limit: r.get("daily_recipient_limit"),
    })
}

/// What `qlink.set_clinic_sender` takes. The access token arrives sealed
/// (`crypto::SecretKey::seal` with the phone number id as associated data): the database
/// never sees it in the clear.
#[derive(Debug, Clone, Copy)]
pub struct SenderChange<'a> {
    pub phone_number_id: &'a str,
    pub display_number: &'a str,
    pub waba_id: &'a str,
    /// None keeps the sender's stored token.
    pub access_token_enc: Option<&'a [u8]>,
    pub clear_access_token: bool,
}

/// `qlink.set_clinic_sender(...)`: the clinic's sender from now on; its phone number id.
pub async fn set_clinic_sender(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    change: &SenderChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<String> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.set_clinic_sender($1, $2, $3, $4, $5, $6, actor_email => $7, actor_ip => $8, login => $9) \
                 AS phone_number_id",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &business_id,
                &change.phone_number_id,
                &change.display_number,
                &change.waba_id,
                &change.access_token_enc,
                &change.clear_access_token,
                &actor.map(|a| a.email),
                &actor.and_then(|a| a.ip),
                &login,
            ],
        )
        .await?;
    Ok(row.get("phone_number_id"))
}

/// `qlink.clear_clinic_sender(business_id, login)`: back to the installation's number; false if
/// the clinic had no number of its own.
pub async fn clear_clinic_sender(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    actor: Option<Actor<'_>>,
) -> ApiResult<bool> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.clear_clinic_sender($1, actor_email => $2, actor_ip => $3, login => $4) AS cleared",
        )
        .await?;
    let row = db.query_one(&stmt, &[&business_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login]).await?;
    Ok(row.get("cleared"))
}

/// `qlink.set_recipient_limit(waba_id, limit, login)`: the account's new daily recipient cap
/// (`installation` for the installation's account).
pub async fn set_recipient_limit(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    waba_id: &str,
    daily_recipient_limit: i32,
    actor: Option<Actor<'_>>,
) -> ApiResult<i32> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.set_recipient_limit($1, $2, actor_email => $3, actor_ip => $4, login => $5) AS daily_recipient_limit",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[&waba_id, &daily_recipient_limit, &actor.map(|a| a.email), &actor.and_then(|a| a.ip), &login],
        )
        .await?;
    Ok(row.get("daily_recipient_limit"))
}

/// A row of `qlink.sender_backlog`: one sender number's unsent messages and its account's
/// recipients against the cap.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SenderBacklog {
    /// null: the installation's number.
    pub phone_number_id: Option<String>,
    pub display_number: Option<String>,
    /// `installation` for the installation's account.
    pub waba_id: String,
    /// Clinics that send from this number.
    pub clinics: i32,
    /// PENDING messages.
    pub pending: i64,
    /// Of those, held back by the daily recipient cap.
    pub deferred: i64,
    /// FAILED, awaiting a retry.
    pub failed: i64,
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// The account's unique recipients of the last 24 hours.
    pub recipients_24h: i32,
    pub daily_recipient_limit: i32,
}

/// `qlink.sender_backlog()`: the installation's number first.
pub async fn sender_backlog(db: &impl GenericClient) -> ApiResult<Vec<SenderBacklog>> {
    let stmt = db
        .prepare_cached(
            "SELECT phone_number_id, display_number, waba_id, clinics, pending, deferred, failed, oldest_due_at, \
                    recipients_24h, daily_recipient_limit \
             FROM qlink.sender_backlog()",
        )
        .await?;
    let rows = db.query(&stmt, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| SenderBacklog {
            phone_number_id: r.get("phone_number_id"),
            display_number: r.get("display_number"),
            waba_id: r.get("waba_id"),
            clinics: r.get("clinics"),
            pending: r.get("pending"),
            deferred: r.get("deferred"),
            failed: r.get("failed"),
            oldest_due_at: r.get("oldest_due_at"),
            recipients_24h: r.get("recipients_24h"),
            daily_recipient_limit: r.get("daily_recipient_limit"),
        })
        .collect())
}

/// A moment as the clinic's clock shows it (hour, minute), by PostgreSQL's time zone data,
/// the same the extension uses to decide the clinic's day.
pub async fn clock_in(db: &impl GenericClient, at: DateTime<Utc>, timezone: &str) -> ApiResult<(u32, u32)> {
    let stmt = db
        .prepare_cached(
            "SELECT extract(hour FROM $1::timestamptz AT TIME ZONE $2)::int AS h, \
                    extract(minute FROM $1::timestamptz AT TIME ZONE $2)::int AS m",
        )
        .await?;
    let row = db.query_one(&stmt, &[&at, &timezone]).await?;
    Ok((row.get::<_, i32>("h").clamp(0, 23) as u32, row.get::<_, i32>("m").clamp(0, 59) as u32))
}

/// `qlink.expire_holds()`: the housekeeping's sweep of holds that ran out (SPEC §12).
pub async fn expire_holds(db: &impl GenericClient) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.expire_holds() AS n").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("n"))
}
