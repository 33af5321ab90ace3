//! What patients use, without a login: the clinic, joining the queue, the live status
//! (the hot path: every waiting patient polls it), cancelling and feedback.

use crate::app::{App, AppState};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ApiJson, ClientIp};
use crate::http::rules;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct Clinic {
    pub slug: String,
    pub name: String,
    /// ACTIVE, TRIAL, SUSPENDED or DISABLED
    pub status: String,
    /// Whether patients can take a token by QR code right now (the extension's rule,
    /// including the daily limit).
    pub accepting_tokens: bool,
    /// Why not, while `accepting_tokens` is false: `clinic_suspended`, `clinic_disabled`,
    /// `qr_intake_off`, `session_closed` or `daily_token_limit` (sql/API.md).
    pub refusal_reason: Option<String>,
    /// OPEN or CLOSED (today's queue)
    pub session_status: String,
    pub now_serving_number: Option<i32>,
    pub waiting_count: i32,
    pub default_language: String,
    /// How many queues the clinic has: with more than one active, a patient picks one
    /// (`queue_id` when joining).
    pub queue_count: i32,
    /// The clinic's active queues, each with its current wait.
    pub queues: Vec<PublicQueue>,
}

/// A queue a patient can pick, with what joining it now means.
#[derive(Serialize, ToSchema)]
pub struct PublicQueue {
    pub queue_id: Uuid,
    /// What patients pick ("Dr. Mehta — General").
    pub name: String,
    /// Labels of this queue read `A-12` (empty: plain numbers).
    pub prefix: String,
    /// OPEN or CLOSED (today)
    pub session_status: String,
    pub waiting_count: i32,
    pub now_serving_number: Option<i32>,
    /// The wait a patient joining now is shown, in minutes.
    pub eta_min_minutes: i32,
    pub eta_max_minutes: i32,
    pub accepting_tokens: bool,
    pub refusal_reason: Option<String>,
}

impl From<crate::sql::QueueLine> for PublicQueue {
    fn from(q: crate::sql::QueueLine) -> Self {
        PublicQueue {
            queue_id: q.queue_id,
            name: q.name,
            prefix: q.prefix,
            session_status: q.session_status,
            waiting_count: q.waiting_count,
            now_serving_number: q.now_serving_number,
            eta_min_minutes: q.eta_min_minutes,
            eta_max_minutes: q.eta_max_minutes,
            accepting_tokens: q.accepting_tokens,
            refusal_reason: q.refusal_reason,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/clinics/{slug}", tag = "public",
    params(("slug" = String, Path, description = "The clinic's short name", pattern = "^[a-z0-9][a-z0-9-]{1,62}$")),
    responses((status = 200, body = Clinic), (status = 404, body = crate::error::ErrorBody)))]
pub async fn clinic(State(app): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<Clinic>> {
    let db = app.db.get().await?;
    let c = crate::sql::clinic_by_slug(&db, &slug).await?;
    let queues = crate::sql::list_queues(&db, c.business_id).await?;
    Ok(Json(Clinic {
        queue_count: c.queue_count,
        queues: queues.into_iter().filter(|q| q.is_active).map(PublicQueue::from).collect(),
        default_language: c.default_language().to_string(),
        slug: c.slug,
        name: c.name,
        status: c.status,
        accepting_tokens: c.accepting_tokens,
        refusal_reason: c.refusal_reason,
        session_status: c.session_status,
        now_serving_number: c.now_serving_number,
        waiting_count: c.waiting_count,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(schema_with = rules::patient_name)]
    pub patient_name: String,
    #[schema(schema_with = rules::patient_phone)]
    pub patient_phone: String,
    #[schema(schema_with = rules::language)]
    pub language: Option<String>,
    /// The queue to join (`queues` of the clinic; default: its only active queue, and with
    /// several it is required: 400 `queue_required`).
    pub queue_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token_id: Uuid,
    pub token_number: i32,
    pub status: String,
    pub queue_position: Option<i32>,
    pub eta_min_minutes: Option<i32>,
    pub eta_max_minutes: Option<i32>,
    /// What the patient is called by: `A-12` (or `12` for a queue without a prefix).
    pub token_label: String,
    /// The queue (line) the token joined.
    pub queue_id: Uuid,
    pub queue_name: String,
    /// The patient's live page.
    pub track_url: String,
}

/// `hi` when the browser prefers Hindi, else None (the clinic's default applies).
pub fn language_from_headers(headers: &HeaderMap) -> Option<String> {
    crate::i18n::Lang::from_headers(headers).map(|l| l.code().to_string())
}

#[utoipa::path(post, path = "/api/v1/clinics/{slug}/tokens", tag = "public", request_body = NewToken,
    params(("slug" = String, Path, description = "The clinic's short name", pattern = "^[a-z0-9][a-z0-9-]{1,62}$")),
    responses((status = 201, body = CreatedToken, headers(("Location" = String, description = "The patient's live page"))),
              (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<Response> {
    let language = body.language.filter(|l| !l.trim().is_empty()).or_else(|| language_from_headers(&headers));
    let created =
        create_qr_token_in(&app, &slug, body.queue_id, &body.patient_name, &body.patient_phone, ip, language).await?;
    let location = HeaderValue::from_str(&created.track_url).ok();
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    if let Some(v) = location {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A patient joins by QR code: the one call behind both the JSON API and the intake page's
/// plain form (pages::intake), so both apply exactly the same rules and limits. The clinic's
/// only queue; [`create_qr_token_in`] names one.
pub async fn create_qr_token(
    app: &App,
    slug: &str,
    patient_name: &str,
    patient_phone: &str,
    ip: IpAddr,
    language: Option<String>,
) -> ApiResult<CreatedToken> {
    create_qr_token_in(app, slug, None, patient_name, patient_phone, ip, language).await
}

/// A patient joins a queue of the clinic by QR code (None: the clinic's only active queue;
/// with several that is 400 `queue_required`).
pub async fn create_qr_token_in(
    app: &App,
    slug: &str,
    queue_id: Option<Uuid>,
    patient_name: &str,
    patient_phone: &str,
    ip: IpAddr,
    language: Option<String>,
) -> ApiResult<CreatedToken> {
    let db = app.db.get().await?;
    let token = crate::sql::NewToken {
        patient_name,
        patient_phone: Some(patient_phone),
        source: "QR",
        client_ip: Some(ip),
        is_priority: false,
        language: language.as_deref(),
        staff_id: None,
        queue_id,
    };
    let row = match crate::sql::create_token_by_slug(&db, slug, &token).await {
        // The refusal rolled the source's intake hits back with the rest; the extension
        // charges them again, so that asking about phone after phone is not free.
        Err(refusal) if refusal.reason() == Some("phone_limit") => {
            if let Err(e) = crate::sql::charge_refused_intake(&db, slug, ip).await {
                tracing::warn!(error = %e, "could not charge a refused intake");
            }
            return Err(refusal);
        }
        other => other?,
    };
    app.wake_worker(&db).await;
    Ok(CreatedToken::from_created(row, &app.public_url))
}

impl CreatedToken {
    /// From a `qlink.create_token` row, with the patient's live page.
    pub fn from_created(row: crate::sql::CreatedTokenRow, public_url: &str) -> CreatedToken {
        CreatedToken {
            token_id: row.token_id,
            token_number: row.token_number,
            status: row.status,
            queue_position: row.queue_position,
            eta_min_minutes: row.eta_min_minutes,
            eta_max_minutes: row.eta_max_minutes,
            token_label: row.token_label,
            queue_id: row.queue_id,
            queue_name: row.queue_name,
            track_url: format!("{public_url}/t/{}", row.token_id),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenStatus {
    pub token_number: i32,
    /// What the patient is called by: `A-12` (or `12` for a queue without a prefix).
    pub token_label: String,
    /// The queue (line) the token is in now (a TRANSFER moves it).
    pub queue_id: Uuid,
    pub queue_name: String,
    /// The room that called the patient, once called ("A-12 → Room 2").
    pub room_name: Option<String>,
    /// WAITING, SERVING, SERVED, SKIPPED or CANCELLED
    pub status: String,
    pub queue_position: Option<i32>,
    pub people_ahead: Option<i32>,
    pub now_serving_number: Option<i32>,
    /// The label of `now_serving_number` ("B-3"), the same number for a line without a prefix.
    pub now_serving_label: Option<String>,
    pub eta_min_minutes: Option<i32>,
    pub eta_max_minutes: Option<i32>,
    pub business_name: String,
    pub business_slug: String,
    pub language: String,
    pub is_priority: bool,
    /// People ahead when the token was taken: the start of the progress bar.
    pub joined_people_ahead: i32,
    pub feedback_given: bool,
    /// OPEN or CLOSED
    pub session_status: String,
    /// Progress from joining to being called, 0–100 (the extension's one rule: the share of
    /// the people ahead on joining who are gone, rounded down).
    pub progress_percent: i32,
    /// How many of the people ahead now were put there after this patient joined (an
    /// emergency, or a patient recalled after being skipped); 0 unless WAITING.
    pub overtaken_by: i32,
    /// When to poll again (seconds): sooner when the patient is close to the front.
    pub poll_after_seconds: u32,
    pub updated_at: DateTime<Utc>,
    /// The patient stepped out until then (SPEC §12); kept once the hold ran out.
    pub held_until: Option<DateTime<Utc>>,
    /// `HELD` while the place is kept, `EXPIRED` once the time away ran out, else null.
    pub hold_state: Option<String>,
    /// "Tell me when this many are ahead" (the patient's own, else the clinic's).
    pub reminder_position: i32,
    /// A doctor's delay on the line: minutes still to run (in the ETA already), note, end.
    pub delay_minutes: Option<i32>,
    pub delay_note: Option<String>,
    pub delay_until: Option<DateTime<Utc>>,
    /// How long the clinic keeps a place for a patient who steps out (0: it does not).
    pub hold_minutes: i32,
    /// When the patient joined (the printed slip shows it).
    pub joined_at: DateTime<Utc>,
}

async fn read_status(pool: &deadpool_postgres::Pool, id: Uuid) -> ApiResult<TokenStatus> {
    let db = pool.get().await?;
    let row = crate::sql::token_status(&db, id).await?;
    let poll_after_seconds = match (row.status.as_str(), row.people_ahead) {
        ("WAITING", Some(n)) if n <= 2 => 5,
        ("WAITING", Some(n)) if n <= 6 => 10,
        ("WAITING", _) => 20,
        ("SERVING", _) => 10,
        _ => 60,
    };
    Ok(TokenStatus {
        token_number: row.token_number,
        token_label: row.token_label,
        queue_id: row.queue_id,
        queue_name: row.queue_name,
        room_name: row.room_name,
        status: row.status,
        queue_position: row.queue_position,
        people_ahead: row.people_ahead,
        now_serving_number: row.now_serving_number,
        now_serving_label: row.now_serving_label,
        eta_min_minutes: row.eta_min_minutes,
        eta_max_minutes: row.eta_max_minutes,
        business_name: row.business_name,
        updated_at: row.updated_at,
        business_slug: row.business_slug,
        language: row.language,
        is_priority: row.is_priority,
        joined_people_ahead: row.joined_people_ahead,
        feedback_given: row.feedback_given,
        session_status: row.session_status,
        progress_percent: row.progress_percent,
        overtaken_by: row.overtaken_by,
        poll_after_seconds,
        held_until: row.held_until,
        hold_state: row.hold_state,
        reminder_position: row.reminder_position,
        delay_minutes: row.delay_minutes,
        delay_note: row.delay_note,
        delay_until: row.delay_until,
        hold_minutes: row.hold_minutes,
        joined_at: row.created_at,
    })
}

/// The token's status as the patient sees it (the tracking page renders it too).
pub async fn load_status(app: &App, id: Uuid) -> ApiResult<TokenStatus> {
    match &app.read_db {
        // A replica may lag behind the primary by a moment: a token it doesn't know yet
        // (the patient's own, just created) is looked up on the primary.
        Some(replica) => match read_status(replica, id).await {
            Err(ApiError::NotFound(_)) | Err(ApiError::Unavailable(_)) => read_status(&app.db, id).await,
            other => other,
        },
        None => read_status(&app.db, id).await,
    }
}

/// The ETag covers exactly what the patient sees (not `updated_at`, which also moves when
/// another patient joins behind them).
pub fn etag(status: &TokenStatus) -> String {
    let mut h = Sha256::new();
    let visible = serde_json::json!([
        status.token_number,
        status.status,
        status.queue_position,
        status.people_ahead,
        status.now_serving_number,
        status.now_serving_label,
        status.eta_min_minutes,
        status.eta_max_minutes,
        status.business_name,
        status.language,
        status.is_priority,
        status.feedback_given,
        status.session_status,
        status.poll_after_seconds,
        status.progress_percent,
        status.overtaken_by,
        status.token_label,
        status.queue_id,
        status.queue_name,
        status.room_name,
        status.held_until,
        status.hold_state,
        status.reminder_position,
        status.delay_minutes,
        status.delay_note,
        status.hold_minutes
    ]);
    h.update(visible.to_string().as_bytes());
    format!("\"{}\"", hex::encode(&h.finalize()[..12]))
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "public",
    params(("id" = Uuid, Path, description = "The token id from the patient's link"),
           ("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer")),
    responses((status = 200, body = TokenStatus, description = "With an ETag; send it back in If-None-Match",
               headers(("ETag" = String), ("Cache-Control" = String))),
              (status = 304, description = "Nothing changed since that ETag", headers(("ETag" = String))),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn token_status(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = path_uuid(&id)?;
    let status = load_status(&app, id).await?;
    let tag = etag(&status);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == tag));
    let mut response = if matches { StatusCode::NOT_MODIFIED.into_response() } else { Json(status).into_response() };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex etag"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct CancelledToken {
    pub token_number: i32,
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/cancel", tag = "public",
    params(("id" = Uuid, Path, description = "The token id from the patient's link")),
    responses((status = 200, body = CancelledToken), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn cancel_token(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<CancelledToken>> {
    let id = path_uuid(&id)?;
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT token_number, status FROM qlink.cancel_token($1)").await?;
    let row = db.query_one(&stmt, &[&id]).await?;
    app.wake_worker(&db).await;
    Ok(Json(CancelledToken { token_number: row.get("token_number"), status: row.get("status") }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// How long to keep the place (default and at most the clinic's `hold_minutes`).
    #[schema(minimum = 1, maximum = 120)]
    #[serde(default, deserialize_with = "crate::http::rules::whole_opt_i32")]
    pub minutes: Option<i32>,
}

/// "I'm stepping out": the place is kept; NEXT passes over the patient until they are back.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/hold", tag = "public", request_body = HoldRequest,
    params(("id" = Uuid, Path, description = "The token id from the patient's link")),
    responses((status = 200, body = crate::sql::Held), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn hold_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<crate::sql::Held>> {
    let id = path_uuid(&id)?;
    // The body is optional (no body: the clinic's time); a body is JSON, as everywhere,
    // and one declared JSON must be the object above.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    let body: HoldRequest = if json {
        // An object, not serde's other spelling of a struct (an array of its fields).
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| ApiError::InvalidInput("Send {\"minutes\": 1–120} or no body.".into()))?
    } else if body.is_empty() {
        HoldRequest::default()
    } else {
        return Err(ApiError::UnsupportedMediaType("Send JSON with Content-Type: application/json.".into()));
    };
    let db = app.db.get().await?;
    Ok(Json(crate::sql::hold_token(&db, id, body.minutes).await?))
}

/// "I'm back": in their place again, at the front if their turn passed, or (time away run
/// out) told so: the token is SKIPPED and the desk can recall it.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/return", tag = "public",
    params(("id" = Uuid, Path, description = "The token id from the patient's link")),
    responses((status = 200, body = crate::sql::Returned), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn return_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::sql::Returned>> {
    let id = path_uuid(&id)?;
    let db = app.db.get().await?;
    let back = crate::sql::return_token(&db, id).await?;
    app.wake_worker(&db).await;
    Ok(Json(back))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderRequest {
    /// Remind me when this many people are ahead (1–10).
    #[schema(minimum = 1, maximum = 10)]
    #[serde(deserialize_with = "crate::http::rules::whole_i32")]
    pub position: i32,
}

#[derive(Serialize, ToSchema)]
pub struct Reminder {
    pub reminder_position: i32,
}

/// The patient chooses when their WhatsApp reminder comes.
#[utoipa::path(put, path = "/api/v1/tokens/{id}/reminder", tag = "public", request_body = ReminderRequest,
    params(("id" = Uuid, Path, description = "The token id from the patient's link")),
    responses((status = 200, body = Reminder), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn set_reminder(
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReminderRequest>,
) -> ApiResult<Json<Reminder>> {
    let id = path_uuid(&id)?;
    let db = app.db.get().await?;
    let reminder_position = crate::sql::set_reminder_position(&db, id, body.position).await?;
    app.wake_worker(&db).await;
    Ok(Json(Reminder { reminder_position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    #[schema(schema_with = rules::rating)]
    #[serde(deserialize_with = "rules::whole_i32")]
    pub rating: i32,
    #[schema(schema_with = rules::feedback)]
    pub feedback: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Done {
    pub ok: bool,
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/feedback", tag = "public", request_body = Feedback,
    params(("id" = Uuid, Path, description = "The token id from the patient's link")),
    responses((status = 200, body = Done), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn feedback(
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Feedback>,
) -> ApiResult<Json<Done>> {
    let id = path_uuid(&id)?;
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT qlink.submit_feedback($1, $2, $3) AS ok").await?;
    let ok: bool = db.query_one(&stmt, &[&id, &body.rating, &body.feedback]).await?.get("ok");
    Ok(Json(Done { ok }))
}
