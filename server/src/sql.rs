//! The typed client of the extension's SQL API (sql/API.md): one `async fn` per `qlink.*`
//! function and one struct per result, read by column name. Handlers, pages and the message
//! worker call these instead of writing their own SQL, so a function's result is read in one
//! place and a rule the extension answers (whether a clinic takes tokens, what the lobby
//! shows) is never re-derived in the server. Functions are added here as the code that calls
//! them moves.

use crate::error::ApiResult;
use chrono::{DateTime, Utc};
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
                    waiting_count, accepting_tokens, refusal_reason \
             FROM qlink.clinic_by_slug($1)",
        )
        .await?;
    Ok(ClinicRow::from_row(&db.query_one(&stmt, &[&slug]).await?))
}

/// A row of `qlink.display_state`: what the lobby screen shows, numbers only.
#[derive(Debug, Clone)]
pub struct DisplayRow {
    pub clinic_name: String,
    pub now_serving_number: Option<i32>,
    /// The next numbers in call order.
    pub next_numbers: Vec<i32>,
    pub waiting_count: i32,
    pub accepting_tokens: bool,
    pub refusal_reason: Option<String>,
}

impl DisplayRow {
    fn from_row(row: &Row) -> Self {
        DisplayRow {
            clinic_name: row.get("clinic_name"),
            now_serving_number: row.get("now_serving_number"),
            next_numbers: row.get("next_numbers"),
            waiting_count: row.get("waiting_count"),
            accepting_tokens: row.get("accepting_tokens"),
            refusal_reason: row.get("refusal_reason"),
        }
    }
}

/// `qlink.display_state(business_id, max_next)` of the clinic with this slug (one round
/// trip through `qlink.clinic_by_slug`); an unknown slug is `ApiError::NotFound`.
pub async fn display_state_by_slug(db: &impl GenericClient, slug: &str, max_next: i32) -> ApiResult<DisplayRow> {
    let stmt = db
        .prepare_cached(
            "SELECT d.clinic_name, d.now_serving_number, d.next_numbers, d.waiting_count, d.accepting_tokens, \
                    d.refusal_reason \
             FROM qlink.clinic_by_slug($1) c, LATERAL qlink.display_state(c.business_id, $2) d",
        )
        .await?;
    Ok(DisplayRow::from_row(&db.query_one(&stmt, &[&slug, &max_next]).await?))
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
        }
    }
}

/// `qlink.token_status(token_id)`; an unknown token is `ApiError::NotFound`.
pub async fn token_status(db: &impl GenericClient, token_id: Uuid) -> ApiResult<TokenStatusRow> {
    let stmt = db
        .prepare_cached(
            "SELECT token_number, status, queue_position, people_ahead, now_serving_number, eta_min_minutes, \
                    eta_max_minutes, business_name, updated_at, business_slug, language, is_priority, \
                    joined_people_ahead, feedback_given, session_status, progress_percent, overtaken_by \
             FROM qlink.token_status($1)",
        )
        .await?;
    Ok(TokenStatusRow::from_row(&db.query_one(&stmt, &[&token_id]).await?))
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
}

/// `qlink.settings_schema()`, in the extension's order.
pub async fn settings_schema(db: &impl GenericClient) -> ApiResult<Vec<SettingRow>> {
    let stmt = db
        .prepare_cached("SELECT name, kind, min_value, max_value, default_value, choices FROM qlink.settings_schema()")
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
        })
        .collect())
}

// The receptionist's queue.

/// A row of `qlink.queue_summary`: the dashboard's header.
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
}

/// A row of `qlink.queue_summary`: the summary and the clinic's name and stall setting.
#[derive(Debug)]
pub struct QueueSummaryRow {
    pub summary: QueueSummary,
    pub business_name: String,
    pub stall_warning_minutes: i32,
}

/// `qlink.queue_summary(business_id)`.
pub async fn queue_summary(db: &impl GenericClient, business_id: Uuid) -> ApiResult<QueueSummaryRow> {
    let stmt = db
        .prepare_cached(
            "SELECT session_id, session_status, now_serving_number, serving_token_id, waiting_count, skipped_count, \
                    served_count, cancelled_count, last_token_number, last_action_at, stall_warning, undo_action, \
                    undo_token_number, business_name, stall_warning_minutes \
             FROM qlink.queue_summary($1)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id]).await?;
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
    pub queue_position: Option<i32>,
    pub language: String,
    pub created_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// `qlink.queue_snapshot(business_id)`: SERVING, WAITING (priority first), SKIPPED, finished.
pub async fn queue_snapshot(db: &impl GenericClient, business_id: Uuid) -> ApiResult<Vec<QueueToken>> {
    let stmt = db
        .prepare_cached(
            "SELECT token_id, token_number, status, is_priority, patient_name, patient_phone, source, \
                    queue_position, language, created_at, called_at, served_at, cancelled_at \
             FROM qlink.queue_snapshot($1)",
        )
        .await?;
    let rows = db.query(&stmt, &[&business_id]).await?;
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
        })
        .collect())
}

/// A row of `qlink.queue_action`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub now_serving_number: Option<i32>,
    pub serving_token_id: Option<Uuid>,
    pub affected_token_id: Option<Uuid>,
    pub waiting_count: i32,
}

/// `qlink.queue_action(business_id, action, token_id, staff_id)`.
pub async fn queue_action(
    db: &impl GenericClient,
    business_id: Uuid,
    action: &str,
    token_id: Option<Uuid>,
    staff_id: Option<Uuid>,
) -> ApiResult<ActionResult> {
    let stmt = db
        .prepare_cached(
            "SELECT now_serving_number, serving_token_id, affected_token_id, waiting_count \
             FROM qlink.queue_action($1, $2, $3, $4)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id, &action, &token_id, &staff_id]).await?;
    Ok(ActionResult {
        now_serving_number: r.get("now_serving_number"),
        serving_token_id: r.get("serving_token_id"),
        affected_token_id: r.get("affected_token_id"),
        waiting_count: r.get("waiting_count"),
    })
}

/// A row of `qlink.close_session`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionState {
    pub session_id: Uuid,
    pub status: String,
}

/// `qlink.close_session(business_id, staff_id)`.
pub async fn close_session(
    db: &impl GenericClient,
    business_id: Uuid,
    staff_id: Option<Uuid>,
) -> ApiResult<SessionState> {
    let stmt = db.prepare_cached("SELECT session_id, status FROM qlink.close_session($1, $2)").await?;
    let r = db.query_one(&stmt, &[&business_id, &staff_id]).await?;
    Ok(SessionState { session_id: r.get("session_id"), status: r.get("status") })
}

// Logins.

/// `qlink.check_rate_limit(key, max_hits, window)`: records a hit; false once over.
pub async fn check_rate_limit(
    db: &impl GenericClient,
    key: &str,
    max_hits: i32,
    window: std::time::Duration,
) -> ApiResult<bool> {
    let stmt = db.prepare_cached("SELECT qlink.check_rate_limit($1, $2, make_interval(secs => $3)) AS allowed").await?;
    Ok(db.query_one(&stmt, &[&key, &max_hits, &window.as_secs_f64()]).await?.get("allowed"))
}

/// A row of `qlink.staff_for_login`: whom a login would be, and the hash to check.
#[derive(Debug)]
pub struct LoginCandidate {
    pub staff_id: Uuid,
    pub password_hash: String,
    pub role: String,
    pub business_id: Option<Uuid>,
}

/// `qlink.staff_for_login(email)`: an active login with this email, if any.
pub async fn staff_for_login(db: &impl GenericClient, email: &str) -> ApiResult<Option<LoginCandidate>> {
    let stmt =
        db.prepare_cached("SELECT staff_id, password_hash, role, business_id FROM qlink.staff_for_login($1)").await?;
    Ok(db.query_opt(&stmt, &[&email]).await?.map(|r| LoginCandidate {
        staff_id: r.get("staff_id"),
        password_hash: r.get("password_hash"),
        role: r.get("role"),
        business_id: r.get("business_id"),
    }))
}

/// `qlink.create_login_session(...)`: stores the digest of a new session secret; returns
/// when it expires.
pub async fn create_login_session(
    db: &impl GenericClient,
    digest: &[u8],
    staff_id: Uuid,
    ttl: std::time::Duration,
    ip: std::net::IpAddr,
    user_agent: Option<&str>,
) -> ApiResult<DateTime<Utc>> {
    let stmt = db
        .prepare_cached("SELECT qlink.create_login_session($1, $2, make_interval(secs => $3), $4, $5) AS expires_at")
        .await?;
    let row = db.query_one(&stmt, &[&digest, &staff_id, &ttl.as_secs_f64(), &ip, &user_agent]).await?;
    Ok(row.get("expires_at"))
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
}

/// `qlink.login_session_user(digest)`: the user of a live session, if any.
pub async fn login_session_user(db: &impl GenericClient, digest: &[u8]) -> ApiResult<Option<SessionUser>> {
    let stmt = db.prepare_cached("SELECT staff_id, email, role, business_id FROM qlink.login_session_user($1)").await?;
    Ok(db.query_opt(&stmt, &[&digest]).await?.map(|r| SessionUser {
        staff_id: r.get("staff_id"),
        email: r.get("email"),
        role: r.get("role"),
        business_id: r.get("business_id"),
    }))
}

// The operator's command line.

/// `qlink.set_staff_password(email, password_hash)`: the login's id.
pub async fn set_staff_password(db: &impl GenericClient, email: &str, password_hash: &str) -> ApiResult<Uuid> {
    let stmt = db.prepare_cached("SELECT qlink.set_staff_password($1, $2) AS id").await?;
    Ok(db.query_one(&stmt, &[&email, &password_hash]).await?.get("id"))
}

/// `qlink.create_staff_user(email, password_hash, role, business_id)`: the new login's id.
pub async fn create_staff_user(
    db: &impl GenericClient,
    email: &str,
    password_hash: &str,
    role: &str,
    business_id: Option<Uuid>,
) -> ApiResult<Uuid> {
    let stmt = db.prepare_cached("SELECT qlink.create_staff_user($1, $2, $3, $4) AS id").await?;
    Ok(db.query_one(&stmt, &[&email, &password_hash, &role, &business_id]).await?.get("id"))
}

// ---------------------------------------------------------------------------------------
// The outbox protocol and housekeeping, as the message worker uses them.

/// A row of `qlink.claim_messages`: one outbox message, leased to the caller.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: i64,
    pub business_id: Uuid,
    /// NULL once the token itself is gone (the message row outlives it).
    pub token_id: Option<Uuid>,
    /// WELCOME, REMINDER or CALLED.
    pub message_type: String,
    /// NULL after the retention purge.
    pub to_phone: Option<String>,
    /// The patient's language (`en`, `hi`).
    pub language: String,
    /// The template's values that have no column of their own: `clinic_name`,
    /// `token_number`, `people_ahead` (`{}` after the retention purge).
    pub payload: serde_json::Value,
    /// Attempts already spent (throttled deferrals spend none).
    pub attempts: i32,
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
        }
    }
}

/// `qlink.claim_messages(max_rows, lease)`: leases up to `max_rows` due messages
/// (`FOR UPDATE SKIP LOCKED`); other workers do not see them until the lease ends.
pub async fn claim_messages(db: &impl GenericClient, max_rows: i32, lease: Duration) -> ApiResult<Vec<ClaimedMessage>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, business_id, token_id, message_type, to_phone, language, payload, attempts \
             FROM qlink.claim_messages($1, make_interval(secs => $2))",
        )
        .await?;
    let rows = db.query(&stmt, &[&max_rows, &lease.as_secs_f64()]).await?;
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

/// `qlink.admin_clinics()`: every clinic.
pub async fn admin_clinics(db: &impl GenericClient) -> ApiResult<Vec<AdminClinic>> {
    let stmt = db.prepare_cached(&format!("SELECT {ADMIN_CLINIC_COLUMNS} FROM qlink.admin_clinics()")).await?;
    Ok(db.query(&stmt, &[]).await?.iter().map(AdminClinic::from_row).collect())
}

/// One clinic of `qlink.admin_clinics()`; an unknown id is `ApiError::NotFound`.
pub async fn admin_clinic(db: &impl GenericClient, business_id: Uuid) -> ApiResult<AdminClinic> {
    let stmt = db
        .prepare_cached(&format!("SELECT {ADMIN_CLINIC_COLUMNS} FROM qlink.admin_clinics() WHERE business_id = $1"))
        .await?;
    let row = db.query_opt(&stmt, &[&business_id]).await?;
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
    clinic: &NewBusiness<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<Uuid> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.create_business($1, $2, coalesce($3, 'Asia/Kolkata'), coalesce($4, 'ACTIVE'), \
                 coalesce($5, '{}'::jsonb), $6, $7, actor_email => $8, actor_ip => $9) AS business_id",
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
    business_id: Uuid,
    change: &BusinessChange<'_>,
    actor: Option<Actor<'_>>,
) -> ApiResult<serde_json::Value> {
    let stmt = db
        .prepare_cached(
            "SELECT qlink.update_business($1, $2, $3, $4, $5, $6, $7, actor_email => $8, actor_ip => $9) AS settings",
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
            ],
        )
        .await?;
    Ok(row.get("settings"))
}

/// `qlink.delete_business(business_id)`: refused while the clinic's queue is live.
pub async fn delete_business(db: &impl GenericClient, business_id: Uuid, actor: Option<Actor<'_>>) -> ApiResult<bool> {
    let stmt =
        db.prepare_cached("SELECT qlink.delete_business($1, actor_email => $2, actor_ip => $3) AS deleted").await?;
    let row = db.query_one(&stmt, &[&business_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip)]).await?;
    Ok(row.get("deleted"))
}

/// A row of `qlink.reset_session`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResult {
    pub session_id: Uuid,
    pub cancelled_count: i32,
}

/// `qlink.reset_session(business_id)`: today's queue emptied; refused while someone is served.
pub async fn reset_session(
    db: &impl GenericClient,
    business_id: Uuid,
    actor: Option<Actor<'_>>,
) -> ApiResult<ResetResult> {
    let stmt = db
        .prepare_cached(
            "SELECT session_id, cancelled_count FROM qlink.reset_session($1, actor_email => $2, actor_ip => $3)",
        )
        .await?;
    let r = db.query_one(&stmt, &[&business_id, &actor.map(|a| a.email), &actor.and_then(|a| a.ip)]).await?;
    Ok(ResetResult { session_id: r.get("session_id"), cancelled_count: r.get("cancelled_count") })
}

/// A row of `qlink.admin_metrics`: today across all clinics.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metrics {
    pub tokens_today: i64,
    pub active_sessions: i64,
    pub active_queues: i64,
    pub failed_messages_today: i64,
}

/// `qlink.admin_metrics()`.
pub async fn admin_metrics(db: &impl GenericClient) -> ApiResult<Metrics> {
    let stmt = db
        .prepare_cached(
            "SELECT tokens_today, active_sessions, active_queues, failed_messages_today FROM qlink.admin_metrics()",
        )
        .await?;
    let r = db.query_one(&stmt, &[]).await?;
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

/// `qlink.admin_messages(status, max_rows)`.
pub async fn admin_messages(db: &impl GenericClient, status: Option<&str>, max_rows: i32) -> ApiResult<Vec<Message>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, business_slug, token_number, message_type, to_phone, status, reason, attempts, \
                    provider_response, created_at, updated_at \
             FROM qlink.admin_messages($1, $2)",
        )
        .await?;
    let rows = db.query(&stmt, &[&status, &max_rows]).await?;
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

/// `qlink.admin_audit_log(max_rows)`.
pub async fn admin_audit_log(db: &impl GenericClient, max_rows: i32) -> ApiResult<Vec<AuditEntry>> {
    let stmt = db
        .prepare_cached(
            "SELECT id, actor_email, actor_ip, action, target_type, target_id, details, created_at \
             FROM qlink.admin_audit_log($1)",
        )
        .await?;
    let rows = db.query(&stmt, &[&max_rows]).await?;
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
