//! The receptionist's API. The clinic is always the one of the login (`ClinicStaff`),
//! whatever ids the request carries; the extension refuses another clinic's tokens.

use crate::app::AppState;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ClinicStaff};
use crate::http::public::CreatedToken;
use crate::http::rules;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct Queue {
    pub business_id: Uuid,
    pub business_name: String,
    pub stall_warning_minutes: i32,
    pub summary: QueueSummary,
    /// Today's tokens in call order: SERVING, WAITING (priority first), SKIPPED, finished.
    pub tokens: Vec<QueueToken>,
}

#[utoipa::path(get, path = "/api/v1/staff/queue", tag = "staff",
    responses((status = 200, body = Queue), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn queue(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<Queue>> {
    let db = app.db.get().await?;
    let summary_stmt = db.prepare_cached("SELECT * FROM qlink.queue_summary($1)").await?;
    let s = db.query_one(&summary_stmt, &[&staff.business_id]).await?;
    let tokens_stmt = db.prepare_cached("SELECT * FROM qlink.queue_snapshot($1)").await?;
    let tokens = db
        .query(&tokens_stmt, &[&staff.business_id])
        .await?
        .into_iter()
        .map(|r| QueueToken {
            token_id: r.get(0),
            token_number: r.get(1),
            status: r.get(2),
            is_priority: r.get(3),
            patient_name: r.get(4),
            patient_phone: r.get(5),
            source: r.get(6),
            queue_position: r.get(7),
            language: r.get(8),
            created_at: r.get(9),
            called_at: r.get(10),
            served_at: r.get(11),
            cancelled_at: r.get(12),
        })
        .collect();
    Ok(Json(Queue {
        business_id: staff.business_id,
        business_name: s.get(13),
        stall_warning_minutes: s.get(14),
        summary: QueueSummary {
            session_id: s.get(0),
            session_status: s.get(1),
            now_serving_number: s.get(2),
            serving_token_id: s.get(3),
            waiting_count: s.get(4),
            skipped_count: s.get(5),
            served_count: s.get(6),
            cancelled_count: s.get(7),
            last_token_number: s.get(8),
            last_action_at: s.get(9),
            stall_warning: s.get(10),
            undo_action: s.get(11),
            undo_token_number: s.get(12),
        },
        tokens,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// NEXT, SERVED, SKIP, RECALL, CANCEL or UNDO. Which of them take a `token_id` the
    /// document says with a `oneOf` added in openapi.rs (utoipa has no words for it).
    #[schema(schema_with = rules::action)]
    pub action: String,
    pub token_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionResult {
    pub now_serving_number: Option<i32>,
    pub serving_token_id: Option<Uuid>,
    pub affected_token_id: Option<Uuid>,
    pub waiting_count: i32,
}

#[utoipa::path(post, path = "/api/v1/staff/queue/actions", tag = "staff", request_body = ActionRequest,
    responses((status = 200, body = ActionResult), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn action(
    State(app): State<AppState>,
    staff: ClinicStaff,
    ApiJson(body): ApiJson<ActionRequest>,
) -> ApiResult<Json<ActionResult>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT * FROM qlink.queue_action($1, $2, $3, $4)").await?;
    let row = db.query_one(&stmt, &[&staff.business_id, &body.action, &body.token_id, &staff.user.id]).await?;
    app.wake_worker(&db).await;
    metrics::counter!("qlink_queue_actions_total", "action" => body.action.trim().to_ascii_uppercase()).increment(1);
    Ok(Json(ActionResult {
        now_serving_number: row.get(0),
        serving_token_id: row.get(1),
        affected_token_id: row.get(2),
        waiting_count: row.get(3),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkIn {
    #[schema(schema_with = rules::patient_name)]
    pub patient_name: String,
    #[schema(schema_with = rules::optional_phone)]
    pub patient_phone: Option<String>,
    /// An emergency: called before everyone else.
    #[serde(default)]
    pub is_priority: bool,
    #[schema(schema_with = rules::language)]
    pub language: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/staff/tokens", tag = "staff", request_body = WalkIn,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn add_token(
    State(app): State<AppState>,
    staff: ClinicStaff,
    ApiJson(body): ApiJson<WalkIn>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let db = app.db.get().await?;
    let stmt = db
        .prepare_cached(
            "SELECT token_id, token_number, status, queue_position, eta_min_minutes, eta_max_minutes \
             FROM qlink.create_token($1, $2, $3, 'STAFF', NULL, $4, $5, $6)",
        )
        .await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &staff.business_id,
                &body.patient_name,
                &body.patient_phone,
                &body.is_priority,
                &body.language,
                &staff.user.id,
            ],
        )
        .await?;
    app.wake_worker(&db).await;
    Ok((StatusCode::CREATED, Json(CreatedToken::from_row(&row, &app.public_url))))
}

#[derive(Serialize, ToSchema)]
pub struct SessionState {
    pub session_id: Uuid,
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/staff/session/close", tag = "staff",
    responses((status = 200, body = SessionState), (status = 403, body = crate::error::ErrorBody)))]
pub async fn close_session(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<SessionState>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT session_id, status FROM qlink.close_session($1, $2)").await?;
    let row = db.query_one(&stmt, &[&staff.business_id, &staff.user.id]).await?;
    Ok(Json(SessionState { session_id: row.get(0), status: row.get(1) }))
}
