//! The receptionist's API. The clinic is always the one of the login (`ClinicStaff`),
//! whatever ids the request carries; the extension refuses another clinic's tokens, queues
//! and rooms. A clinic with several rooms works one room at a time: the request names it
//! (`room_id`), or the login is pinned to one; the extension refuses a pinned login's other
//! rooms.

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ClinicStaff};
use crate::http::public::CreatedToken;
use crate::http::rules;
use crate::sql::{self, ActionResult, Delay, QueueLine, QueueSummary, QueueToken, RoomLine, SessionState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct Queue {
    pub business_id: Uuid,
    pub business_name: String,
    pub stall_warning_minutes: i32,
    pub summary: QueueSummary,
    /// Today's tokens in call order: SERVING, WAITING (priority first), SKIPPED, finished;
    /// with a room, those of the queues it calls from.
    pub tokens: Vec<QueueToken>,
}

#[derive(Deserialize, IntoParams)]
pub struct RoomFilter {
    /// The room to show (default: the login's pinned room, or the clinic's only room;
    /// with several rooms and none named, the whole clinic).
    pub room_id: Option<Uuid>,
}

/// The room a read is about: the one asked for, else the login's pin.
fn room_of(staff: &ClinicStaff, asked: Option<Uuid>) -> Option<Uuid> {
    asked.or(staff.user.room_id)
}

#[utoipa::path(get, path = "/api/v1/staff/queue", tag = "staff", params(RoomFilter),
    responses((status = 200, body = Queue), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn queue(
    State(app): State<AppState>,
    staff: ClinicStaff,
    Query(filter): Query<RoomFilter>,
) -> ApiResult<Json<Queue>> {
    let db = app.db.get().await?;
    let room = room_of(&staff, filter.room_id);
    let header = sql::queue_summary(&db, staff.user.login(), staff.business_id, room).await?;
    let tokens = sql::queue_snapshot(&db, staff.user.login(), staff.business_id, room).await?;
    Ok(Json(Queue {
        business_id: staff.business_id,
        business_name: header.business_name,
        stall_warning_minutes: header.stall_warning_minutes,
        summary: header.summary,
        tokens,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RoomList {
    /// Every room of the clinic with whom it serves and how many wait in its queues: the
    /// clinic overview.
    pub rooms: Vec<RoomLine>,
}

#[utoipa::path(get, path = "/api/v1/staff/rooms", tag = "staff",
    responses((status = 200, body = RoomList), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn rooms(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<RoomList>> {
    let db = app.db.get().await?;
    Ok(Json(RoomList { rooms: sql::list_rooms(&db, staff.business_id).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct QueueList {
    /// Every queue of the clinic with today's state.
    pub queues: Vec<QueueLine>,
}

#[utoipa::path(get, path = "/api/v1/staff/queues", tag = "staff",
    responses((status = 200, body = QueueList), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn queues(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<QueueList>> {
    let db = app.db.get().await?;
    Ok(Json(QueueList { queues: sql::list_queues(&db, staff.business_id).await? }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// NEXT, SERVED, SKIP, RECALL, CANCEL, UNDO or TRANSFER. Which of them take a
    /// `token_id` and a `target_queue_id` the document says with a `oneOf` added in
    /// openapi.rs (utoipa has no words for it).
    #[schema(schema_with = rules::action)]
    pub action: String,
    pub token_id: Option<Uuid>,
    /// The room acting (default: the login's pinned room, or the clinic's only room; with
    /// several rooms it is required: 400 `room_required`).
    pub room_id: Option<Uuid>,
    /// TRANSFER only: the queue the token moves to.
    pub target_queue_id: Option<Uuid>,
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
        room_id: body.room_id,
        target_queue_id: body.target_queue_id,
    };
    let result = sql::queue_action(&db, staff.user.login(), staff.business_id, &action).await?;
    app.wake_worker(&db).await;
    metrics::counter!("qlink_queue_actions_total", "action" => body.action.trim().to_ascii_uppercase()).increment(1);
    Ok(Json(result))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayRequest {
    /// The line the doctor is late for (default: the clinic's only active queue; with
    /// several it is required: 400 `queue_required`).
    pub queue_id: Option<Uuid>,
    /// 1–240 starts or replaces the delay; 0 clears it.
    #[schema(minimum = 0, maximum = 240)]
    #[serde(deserialize_with = "crate::http::rules::whole_i32")]
    pub minutes: i32,
    /// Shown on every waiting patient's page ("Doctor stuck in traffic"), at most 200
    /// characters.
    #[schema(schema_with = crate::http::rules::delay_note)]
    pub note: Option<String>,
}

/// The doctor is late: every waiting patient's ETA moves by the delay, their page shows the
/// note and, with the clinic's `notify_delays`, each gets one DELAY message. The next call
/// ends it. Undoable.
#[utoipa::path(post, path = "/api/v1/staff/delay", tag = "staff", request_body = DelayRequest,
    responses((status = 200, body = Delay), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delay(
    State(app): State<AppState>,
    staff: ClinicStaff,
    ApiJson(body): ApiJson<DelayRequest>,
) -> ApiResult<Json<Delay>> {
    let db = app.db.get().await?;
    let delay = sql::announce_delay(
        &db,
        staff.user.login(),
        staff.business_id,
        body.queue_id,
        body.minutes,
        body.note.as_deref(),
        Some(staff.user.id),
    )
    .await?;
    app.wake_worker(&db).await;
    Ok(Json(delay))
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
    /// The queue to join (default: the clinic's only active queue; with several it is
    /// required: 400 `queue_required`).
    pub queue_id: Option<Uuid>,
}

#[utoipa::path(post, path = "/api/v1/staff/tokens", tag = "staff", request_body = WalkIn,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
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
        queue_id: body.queue_id,
    };
    let row = sql::create_token(&db, staff.user.login(), staff.business_id, &token).await?;
    app.wake_worker(&db).await;
    Ok((StatusCode::CREATED, Json(CreatedToken::from_created(row, &app.public_url))))
}

#[derive(Deserialize, IntoParams)]
pub struct QueueFilter {
    /// One queue (default: every queue of the clinic).
    pub queue_id: Option<Uuid>,
}

/// Today's days closed for QR intake.
#[derive(Serialize, ToSchema)]
pub struct ClosedSessions {
    /// The first queue's day (a clinic with one queue has just that one).
    pub session_id: Uuid,
    pub status: String,
    pub queue_id: Uuid,
    /// Every queue's day closed by this call.
    pub sessions: Vec<SessionState>,
}

#[utoipa::path(post, path = "/api/v1/staff/session/close", tag = "staff", params(QueueFilter),
    responses((status = 200, body = ClosedSessions), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn close_session(
    State(app): State<AppState>,
    staff: ClinicStaff,
    Query(filter): Query<QueueFilter>,
) -> ApiResult<Json<ClosedSessions>> {
    let db = app.db.get().await?;
    let sessions =
        sql::close_session(&db, staff.user.login(), staff.business_id, Some(staff.user.id), filter.queue_id).await?;
    let first = sessions.first().ok_or_else(ApiError::not_found)?;
    Ok(Json(ClosedSessions {
        session_id: first.session_id,
        status: first.status.clone(),
        queue_id: first.queue_id,
        sessions,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct KioskList {
    /// Where a tablet is signed in as the clinic's kiosk (`/c/<slug>/kiosk`).
    pub kiosk_path: String,
    /// The clinic's open kiosks, newest first.
    pub kiosks: Vec<crate::sql::KioskRow>,
}

#[utoipa::path(get, path = "/api/v1/staff/kiosks", tag = "staff",
    responses((status = 200, body = KioskList), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn kiosks(State(app): State<AppState>, staff: ClinicStaff) -> ApiResult<Json<KioskList>> {
    let db = app.db.get().await?;
    let slug = sql::clinic_slug(&db, staff.business_id).await?;
    let kiosks = sql::list_kiosks(&db, staff.user.login(), staff.business_id).await?;
    Ok(Json(KioskList { kiosk_path: format!("/c/{slug}/kiosk"), kiosks }))
}

/// Signs a kiosk out: its tablet shows the staff sign-in again and takes no more tokens.
#[utoipa::path(delete, path = "/api/v1/staff/kiosks/{id}", tag = "staff",
    params(("id" = Uuid, Path, description = "The kiosk's kiosk_id")),
    responses((status = 204, description = "Signed out"), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "No open kiosk of this clinic has this id")))]
pub async fn close_kiosk(
    State(app): State<AppState>,
    staff: ClinicStaff,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = crate::http::extract::path_uuid(&id)?;
    let db = app.db.get().await?;
    if sql::close_kiosk(&db, staff.user.login(), staff.business_id, id).await? {
        tracing::info!(kiosk_id = %id, user_id = %staff.user.id, "kiosk closed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Kiosk not found.".into()))
    }
}
