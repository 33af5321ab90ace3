//! The receptionist's API. The clinic is always the one of the login (`ClinicStaff`),
//! whatever ids the request carries; the extension refuses another clinic's tokens.

use crate::app::AppState;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ClinicStaff};
use crate::http::public::CreatedToken;
use crate::http::rules;
use crate::sql::{self, ActionResult, QueueSummary, QueueToken, SessionState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    let header = sql::queue_summary(&db, staff.business_id, staff.user.room_id).await?;
    let tokens = sql::queue_snapshot(&db, staff.business_id, staff.user.room_id).await?;
    Ok(Json(Queue {
        business_id: staff.business_id,
        business_name: header.business_name,
        stall_warning_minutes: header.stall_warning_minutes,
        summary: header.summary,
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
    let action = sql::QueueAction {
        action: &body.action,
        token_id: body.token_id,
        staff_id: Some(staff.user.id),
        room_id: None,
        target_queue_id: None,
    };
    let result = sql::queue_action(&db, staff.business_id, &action).await?;
    app.wake_worker(&db).await;
    metrics::counter!("qlink_queue_actions_total", "action" => body.action.trim().to_ascii_uppercase()).increment(1);
    Ok(Json(result))
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
    let token = sql::NewToken {
        patient_name: &body.patient_name,
        patient_phone: body.patient_phone.as_deref(),
        source: "STAFF",
        client_ip: None,
        is_priority: body.is_priority,
        language: body.language.as_deref(),
        staff_id: Some(staff.user.id),
        queue_id: None,
    };
    let row = sql::create_token(&db, staff.business_id, &token).await?;
    app.wake_worker(&db).await;
    Ok((StatusCode::CREATED, Json(CreatedToken::from_created(row, &app.public_url))))
}

#[utoipa::path(post, path = "/api/v1/staff/session/close", tag = "staff",
    responses((status = 200, body = SessionState), (status = 403, body = crate::error::ErrorBody)))]
pub async fn close_session(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<SessionState>> {
    let db = app.db.get().await?;
    let sessions = sql::close_session(&db, staff.business_id, Some(staff.user.id), None).await?;
    sessions.into_iter().next().map(Json).ok_or_else(crate::error::ApiError::not_found)
}
