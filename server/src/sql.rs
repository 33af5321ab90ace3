//! The typed client of the extension's SQL API (sql/API.md): one `async fn` per `qlink.*`
//! function and one struct per result, read by column name. Handlers, pages and the message
//! worker call these instead of writing their own SQL, so a function's result is read in one
//! place and a rule the extension answers (whether a clinic takes tokens, what the lobby
//! shows) is never re-derived in the server. Functions are added here as the code that calls
//! them moves.

use crate::error::ApiResult;
use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use std::time::Duration;
use tokio_postgres::Row;
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
pub async fn clinic_by_slug(db: &Client, slug: &str) -> ApiResult<ClinicRow> {
    let stmt = db
        .prepare_cached(
            "SELECT business_id, slug, name, status, timezone, settings, session_status, now_serving_number, \
                    waiting_count, accepting_tokens, refusal_reason \
             FROM qlink.clinic_by_slug($1)",
        )
        .await?;
    Ok(ClinicRow::from_row(&db.query_one(&stmt, &[&slug]).await?))
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
pub async fn claim_messages(db: &Client, max_rows: i32, lease: Duration) -> ApiResult<Vec<ClaimedMessage>> {
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
pub async fn finish_message(db: &Client, id: i64, outcome: MessageOutcome<'_>) -> ApiResult<FinishedMessage> {
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

/// `qlink.outbox_lag_seconds()`: how long the oldest due, unsent message has waited.
pub async fn outbox_lag_seconds(db: &Client) -> ApiResult<f64> {
    let stmt = db.prepare_cached("SELECT qlink.outbox_lag_seconds()::float8 AS lag_seconds").await?;
    let lag: Option<f64> = db.query_one(&stmt, &[]).await?.get("lag_seconds");
    Ok(lag.unwrap_or(0.0).max(0.0))
}

/// `qlink.purge_tokens(older_than)`: erases the personal data of tokens older than
/// `retention_days`; returns how many tokens were purged.
pub async fn purge_tokens(db: &Client, retention_days: i32) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.purge_tokens(make_interval(days => $1)) AS purged").await?;
    Ok(db.query_one(&stmt, &[&retention_days]).await?.get("purged"))
}

/// `qlink.prune_rate_limits()`: drops rate-limit hits older than a day; returns how many.
pub async fn prune_rate_limits(db: &Client) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.prune_rate_limits() AS pruned").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("pruned"))
}

/// `qlink.prune_login_sessions()`: drops expired staff logins; returns how many.
pub async fn prune_login_sessions(db: &Client) -> ApiResult<i64> {
    let stmt = db.prepare_cached("SELECT qlink.prune_login_sessions() AS pruned").await?;
    Ok(db.query_one(&stmt, &[]).await?.get("pruned"))
}
