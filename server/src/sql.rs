//! The typed client of the extension's SQL API (sql/API.md): one `async fn` per `qlink.*`
//! function and one struct per result, read by column name. Handlers and pages call these
//! instead of writing their own SQL, so a function's result is read in one place and a
//! rule the extension answers (whether a clinic takes tokens, what the lobby shows) is never
//! re-derived in the server. Functions are added here as the code that calls them moves.

use crate::error::ApiResult;
use deadpool_postgres::Client;
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
pub async fn display_state_by_slug(db: &Client, slug: &str, max_next: i32) -> ApiResult<DisplayRow> {
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
pub async fn token_status(db: &Client, token_id: Uuid) -> ApiResult<TokenStatusRow> {
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
pub async fn settings_schema(db: &Client) -> ApiResult<Vec<SettingRow>> {
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
