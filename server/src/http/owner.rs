//! Setting a clinic up (SPEC §9): its queues, rooms, staff logins and the settings the
//! operator lets it change. The clinic's OWNER does it under `/api/v1/owner/…`, on the
//! clinic of its login, never one named in the request; the operator (SUPER_ADMIN) does the
//! same for any clinic under `/api/v1/admin/clinics/{id}/…`. Both run the same code below
//! and every change is audited by the extension, with the email and IP of whoever made it.

use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ApiJson, ClientIp, ClinicOwner, SuperAdmin, User};
use crate::http::rules;
use crate::http::staff::{QueueList, RoomList};
use crate::sql::{self, Actor, ClinicLogin, QueueLine, RoomLine};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;
use uuid::Uuid;

fn actor(user: &User, ip: IpAddr) -> Actor<'_> {
    Actor { email: &user.email, ip: Some(ip) }
}

// Bodies and answers.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    #[schema(schema_with = rules::queue_name)]
    pub name: String,
    #[schema(schema_with = rules::prefix)]
    pub prefix: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdate {
    #[schema(schema_with = rules::optional_queue_name)]
    pub name: Option<String>,
    #[schema(schema_with = rules::prefix)]
    pub prefix: Option<String>,
    /// false stops new patients joining; a clinic keeps at least one active queue.
    pub is_active: Option<bool>,
    #[schema(schema_with = rules::sort_order)]
    #[serde(default, deserialize_with = "rules::whole_opt_i32")]
    pub sort_order: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    #[schema(schema_with = rules::room_name)]
    pub name: String,
    #[schema(schema_with = rules::room_queue_ids)]
    pub queue_ids: Vec<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomUpdate {
    #[schema(schema_with = rules::optional_room_name)]
    pub name: Option<String>,
    #[schema(schema_with = rules::optional_room_queue_ids)]
    pub queue_ids: Option<Vec<Uuid>>,
    /// false: the room calls nobody (refused while it serves a patient).
    pub is_active: Option<bool>,
    #[schema(schema_with = rules::sort_order)]
    #[serde(default, deserialize_with = "rules::whole_opt_i32")]
    pub sort_order: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLogin {
    #[schema(schema_with = rules::login_email_new)]
    pub email: String,
    #[schema(schema_with = rules::new_password)]
    pub password: String,
    #[schema(schema_with = rules::clinic_role)]
    pub role: String,
    /// Pin the login to this room of the clinic: it then works in that room only.
    pub room_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginUpdate {
    /// false: the login can no longer log in, and its sessions end.
    pub is_active: Option<bool>,
    /// Pin the login to this room of the clinic.
    pub room_id: Option<Uuid>,
    /// true: unpin the login (not together with `room_id`).
    #[serde(default)]
    pub unpin: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    #[schema(schema_with = rules::new_password)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct StaffList {
    /// The clinic's logins (STAFF and OWNER), never the operator's.
    pub staff: Vec<ClinicLogin>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginChanged {
    pub login: ClinicLogin,
    /// Login sessions ended by the change (disabling ends them all).
    pub sessions_ended: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// Login sessions ended: the login must log in again.
    pub sessions_ended: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OwnerSettings {
    /// Every setting of the clinic, defaults filled in.
    pub settings: serde_json::Value,
    /// The settings the owner may change; the others are the operator's.
    pub owner_editable: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[schema(schema_with = rules::owner_settings_patch)]
    pub settings: serde_json::Value,
}

// The operations, for any clinic: the extractors decide which.

async fn queue_line(db: &impl GenericClient, business_id: Uuid, queue_id: Uuid) -> ApiResult<QueueLine> {
    sql::list_queues(db, business_id)
        .await?
        .into_iter()
        .find(|q| q.queue_id == queue_id)
        .ok_or_else(|| ApiError::NotFound("Queue not found.".into()))
}

async fn room_line(db: &impl GenericClient, business_id: Uuid, room_id: Uuid) -> ApiResult<RoomLine> {
    sql::list_rooms(db, business_id)
        .await?
        .into_iter()
        .find(|r| r.room_id == room_id)
        .ok_or_else(|| ApiError::NotFound("Room not found.".into()))
}

async fn login_line(
    db: &impl GenericClient,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: Uuid,
) -> ApiResult<ClinicLogin> {
    sql::clinic_staff(db, login, business_id)
        .await?
        .into_iter()
        .find(|l| l.staff_id == staff_id)
        .ok_or_else(|| ApiError::NotFound("User not found.".into()))
}

async fn do_list_queues(app: &AppState, business_id: Uuid) -> ApiResult<Json<QueueList>> {
    let db = app.db.get().await?;
    Ok(Json(QueueList { queues: sql::list_queues(&db, business_id).await? }))
}

async fn do_create_queue(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    actor: Actor<'_>,
    body: NewQueue,
) -> ApiResult<(StatusCode, Json<QueueLine>)> {
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let id = sql::create_queue(&tx, login, business_id, &body.name, body.prefix.as_deref(), Some(actor)).await?;
    let line = queue_line(&tx, business_id, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(line)))
}

async fn do_update_queue(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    queue_id: &str,
    actor: Actor<'_>,
    body: QueueUpdate,
) -> ApiResult<Json<QueueLine>> {
    let queue_id = path_uuid(queue_id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let change = sql::QueueChange {
        name: body.name.as_deref(),
        prefix: body.prefix.as_deref(),
        is_active: body.is_active,
        sort_order: body.sort_order,
    };
    sql::update_queue(&tx, login, business_id, queue_id, &change, Some(actor)).await?;
    let line = queue_line(&tx, business_id, queue_id).await?;
    tx.commit().await?;
    Ok(Json(line))
}

async fn do_list_rooms(app: &AppState, business_id: Uuid) -> ApiResult<Json<RoomList>> {
    let db = app.db.get().await?;
    Ok(Json(RoomList { rooms: sql::list_rooms(&db, business_id).await? }))
}

fn check_room_queues(ids: &[Uuid]) -> ApiResult<()> {
    if ids.len() > rules::MAX_ROOM_QUEUES {
        return Err(ApiError::InvalidInput(
            format!("A room calls from at most {} queues.", rules::MAX_ROOM_QUEUES).into(),
        ));
    }
    Ok(())
}

async fn do_create_room(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    actor: Actor<'_>,
    body: NewRoom,
) -> ApiResult<(StatusCode, Json<RoomLine>)> {
    check_room_queues(&body.queue_ids)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let id = sql::create_room(&tx, login, business_id, &body.name, &body.queue_ids, Some(actor)).await?;
    let line = room_line(&tx, business_id, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(line)))
}

async fn do_update_room(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    room_id: &str,
    actor: Actor<'_>,
    body: RoomUpdate,
) -> ApiResult<Json<RoomLine>> {
    let room_id = path_uuid(room_id)?;
    if let Some(ids) = &body.queue_ids {
        check_room_queues(ids)?;
    }
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let change = sql::RoomChange {
        name: body.name.as_deref(),
        queue_ids: body.queue_ids.as_deref(),
        is_active: body.is_active,
        sort_order: body.sort_order,
    };
    sql::update_room(&tx, login, business_id, room_id, &change, Some(actor)).await?;
    let line = room_line(&tx, business_id, room_id).await?;
    tx.commit().await?;
    Ok(Json(line))
}

async fn do_list_staff(app: &AppState, login: Option<&[u8]>, business_id: Uuid) -> ApiResult<Json<StaffList>> {
    let db = app.db.get().await?;
    Ok(Json(StaffList { staff: sql::clinic_staff(&db, login, business_id).await? }))
}

async fn hash(password: &str) -> ApiResult<String> {
    accounts::check_password_strength(password).map_err(|e| ApiError::InvalidInput(e.into()))?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)
}

async fn do_create_staff(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    actor: Actor<'_>,
    body: NewLogin,
) -> ApiResult<(StatusCode, Json<ClinicLogin>)> {
    // Only clinic roles here: an operator login is made with the command line.
    let role = body.role.trim().to_ascii_uppercase();
    if !rules::CLINIC_ROLES.contains(&role.as_str()) {
        return Err(ApiError::InvalidInput("role must be STAFF or OWNER.".into()));
    }
    let hash = hash(&body.password).await?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let id = sql::create_staff_user(&tx, login, &body.email, &hash, &role, Some(business_id), body.room_id).await?;
    let line = login_line(&tx, login, business_id, id).await?;
    let details = serde_json::json!({
        "staff_id": id.to_string(),
        "email": line.email,
        "role": role,
        "room_id": body.room_id.map(|r| r.to_string()),
    });
    sql::record_admin_action(
        &tx,
        login,
        actor,
        "CREATE_STAFF",
        Some("clinic"),
        Some(&business_id.to_string()),
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(line)))
}

async fn do_update_staff(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: &str,
    actor: Actor<'_>,
    body: LoginUpdate,
) -> ApiResult<Json<LoginChanged>> {
    let staff_id = path_uuid(staff_id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let change = sql::StaffChange { is_active: body.is_active, room_id: body.room_id, unpin: body.unpin };
    let sessions_ended = sql::update_staff_user(&tx, login, business_id, staff_id, &change, Some(actor)).await?;
    let line = login_line(&tx, login, business_id, staff_id).await?;
    tx.commit().await?;
    Ok(Json(LoginChanged { login: line, sessions_ended }))
}

async fn do_reset_password(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: &str,
    actor: Actor<'_>,
    body: NewPassword,
) -> ApiResult<Json<SessionsEnded>> {
    let staff_id = path_uuid(staff_id)?;
    let hash = hash(&body.password).await?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let sessions_ended = sql::reset_staff_password(&tx, login, business_id, staff_id, &hash, Some(actor)).await?;
    tx.commit().await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

async fn do_end_sessions(
    app: &AppState,
    login: Option<&[u8]>,
    business_id: Uuid,
    staff_id: &str,
    actor: Actor<'_>,
) -> ApiResult<Json<SessionsEnded>> {
    let staff_id = path_uuid(staff_id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let sessions_ended = sql::end_staff_sessions(&tx, login, business_id, staff_id, Some(actor)).await?;
    tx.commit().await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

async fn owner_settings(db: &impl GenericClient, login: Option<&[u8]>, business_id: Uuid) -> ApiResult<OwnerSettings> {
    let clinic = sql::admin_clinic(db, login, business_id).await?;
    let owner_editable =
        sql::settings_schema(db).await?.into_iter().filter(|s| s.owner_editable).map(|s| s.name).collect();
    Ok(OwnerSettings { settings: clinic.settings, owner_editable })
}

// The owner's routes: the clinic of the login.

#[utoipa::path(get, path = "/api/v1/owner/queues", tag = "owner", responses((status = 200, body = QueueList)))]
pub async fn list_queues(State(app): State<AppState>, owner: ClinicOwner) -> ApiResult<Json<QueueList>> {
    do_list_queues(&app, owner.business_id).await
}

#[utoipa::path(post, path = "/api/v1/owner/queues", tag = "owner", request_body = NewQueue,
    responses((status = 201, body = QueueLine), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_queue(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewQueue>,
) -> ApiResult<(StatusCode, Json<QueueLine>)> {
    do_create_queue(&app, owner.user.login(), owner.business_id, actor(&owner.user, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/owner/queues/{id}", tag = "owner", request_body = QueueUpdate,
    params(("id" = Uuid, Path, description = "The queue's id")),
    responses((status = 200, body = QueueLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update_queue(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QueueUpdate>,
) -> ApiResult<Json<QueueLine>> {
    do_update_queue(&app, owner.user.login(), owner.business_id, &id, actor(&owner.user, ip), body).await
}

#[utoipa::path(get, path = "/api/v1/owner/rooms", tag = "owner", responses((status = 200, body = RoomList)))]
pub async fn list_rooms(State(app): State<AppState>, owner: ClinicOwner) -> ApiResult<Json<RoomList>> {
    do_list_rooms(&app, owner.business_id).await
}

#[utoipa::path(post, path = "/api/v1/owner/rooms", tag = "owner", request_body = NewRoom,
    responses((status = 201, body = RoomLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_room(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewRoom>,
) -> ApiResult<(StatusCode, Json<RoomLine>)> {
    do_create_room(&app, owner.user.login(), owner.business_id, actor(&owner.user, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/owner/rooms/{id}", tag = "owner", request_body = RoomUpdate,
    params(("id" = Uuid, Path, description = "The room's id")),
    responses((status = 200, body = RoomLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update_room(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoomUpdate>,
) -> ApiResult<Json<RoomLine>> {
    do_update_room(&app, owner.user.login(), owner.business_id, &id, actor(&owner.user, ip), body).await
}

#[utoipa::path(get, path = "/api/v1/owner/staff", tag = "owner", responses((status = 200, body = StaffList)))]
pub async fn list_staff(State(app): State<AppState>, owner: ClinicOwner) -> ApiResult<Json<StaffList>> {
    do_list_staff(&app, owner.user.login(), owner.business_id).await
}

#[utoipa::path(post, path = "/api/v1/owner/staff", tag = "owner", request_body = NewLogin,
    responses((status = 201, body = ClinicLogin), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_staff(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewLogin>,
) -> ApiResult<(StatusCode, Json<ClinicLogin>)> {
    do_create_staff(&app, owner.user.login(), owner.business_id, actor(&owner.user, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/owner/staff/{id}", tag = "owner", request_body = LoginUpdate,
    params(("id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = LoginChanged), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_staff(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LoginUpdate>,
) -> ApiResult<Json<LoginChanged>> {
    do_update_staff(&app, owner.user.login(), owner.business_id, &id, actor(&owner.user, ip), body).await
}

#[utoipa::path(post, path = "/api/v1/owner/staff/{id}/password", tag = "owner", request_body = NewPassword,
    params(("id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = SessionsEnded), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn reset_password(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> ApiResult<Json<SessionsEnded>> {
    do_reset_password(&app, owner.user.login(), owner.business_id, &id, actor(&owner.user, ip), body).await
}

#[utoipa::path(post, path = "/api/v1/owner/staff/{id}/end-sessions", tag = "owner",
    params(("id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = SessionsEnded), (status = 404, body = crate::error::ErrorBody)))]
pub async fn end_sessions(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionsEnded>> {
    do_end_sessions(&app, owner.user.login(), owner.business_id, &id, actor(&owner.user, ip)).await
}

#[utoipa::path(get, path = "/api/v1/owner/settings", tag = "owner", responses((status = 200, body = OwnerSettings)))]
pub async fn settings(State(app): State<AppState>, owner: ClinicOwner) -> ApiResult<Json<OwnerSettings>> {
    let db = app.db.get().await?;
    Ok(Json(owner_settings(&db, owner.user.login(), owner.business_id).await?))
}

#[utoipa::path(patch, path = "/api/v1/owner/settings", tag = "owner", request_body = SettingsChange,
    responses((status = 200, body = OwnerSettings), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody, description = "A setting only the operator changes")))]
pub async fn update_settings(
    State(app): State<AppState>,
    owner: ClinicOwner,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SettingsChange>,
) -> ApiResult<Json<OwnerSettings>> {
    let patch = rules::whole_settings(Some(body.settings)).unwrap_or_default();
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    sql::update_clinic_settings(&tx, owner.user.login(), owner.business_id, &patch, Some(actor(&owner.user, ip)))
        .await?;
    let answer = owner_settings(&tx, owner.user.login(), owner.business_id).await?;
    tx.commit().await?;
    Ok(Json(answer))
}

// The operator's routes: the clinic named in the path.

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/queues", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = QueueList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_list_queues(
    State(app): State<AppState>,
    _admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<QueueList>> {
    do_list_queues(&app, path_uuid(&id)?).await
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/queues", tag = "admin", request_body = NewQueue,
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 201, body = QueueLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn admin_create_queue(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewQueue>,
) -> ApiResult<(StatusCode, Json<QueueLine>)> {
    do_create_queue(&app, admin.0.login(), path_uuid(&id)?, actor(&admin.0, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/admin/clinics/{id}/queues/{queue_id}", tag = "admin", request_body = QueueUpdate,
    params(("id" = Uuid, Path, description = "The clinic's business_id"), ("queue_id" = Uuid, Path, description = "The queue's id")),
    responses((status = 200, body = QueueLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn admin_update_queue(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path((id, queue_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<QueueUpdate>,
) -> ApiResult<Json<QueueLine>> {
    do_update_queue(&app, admin.0.login(), path_uuid(&id)?, &queue_id, actor(&admin.0, ip), body).await
}

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/rooms", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = RoomList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_list_rooms(
    State(app): State<AppState>,
    _admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<RoomList>> {
    do_list_rooms(&app, path_uuid(&id)?).await
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/rooms", tag = "admin", request_body = NewRoom,
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 201, body = RoomLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn admin_create_room(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewRoom>,
) -> ApiResult<(StatusCode, Json<RoomLine>)> {
    do_create_room(&app, admin.0.login(), path_uuid(&id)?, actor(&admin.0, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/admin/clinics/{id}/rooms/{room_id}", tag = "admin", request_body = RoomUpdate,
    params(("id" = Uuid, Path, description = "The clinic's business_id"), ("room_id" = Uuid, Path, description = "The room's id")),
    responses((status = 200, body = RoomLine), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn admin_update_room(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path((id, room_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoomUpdate>,
) -> ApiResult<Json<RoomLine>> {
    do_update_room(&app, admin.0.login(), path_uuid(&id)?, &room_id, actor(&admin.0, ip), body).await
}

#[utoipa::path(get, path = "/api/v1/admin/clinics/{id}/staff", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = StaffList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_list_staff(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<StaffList>> {
    do_list_staff(&app, admin.0.login(), path_uuid(&id)?).await
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/staff", tag = "admin", request_body = NewLogin,
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 201, body = ClinicLogin), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn admin_create_staff(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewLogin>,
) -> ApiResult<(StatusCode, Json<ClinicLogin>)> {
    do_create_staff(&app, admin.0.login(), path_uuid(&id)?, actor(&admin.0, ip), body).await
}

#[utoipa::path(patch, path = "/api/v1/admin/clinics/{id}/staff/{staff_id}", tag = "admin", request_body = LoginUpdate,
    params(("id" = Uuid, Path, description = "The clinic's business_id"), ("staff_id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = LoginChanged), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_update_staff(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path((id, staff_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<LoginUpdate>,
) -> ApiResult<Json<LoginChanged>> {
    do_update_staff(&app, admin.0.login(), path_uuid(&id)?, &staff_id, actor(&admin.0, ip), body).await
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/staff/{staff_id}/password", tag = "admin", request_body = NewPassword,
    params(("id" = Uuid, Path, description = "The clinic's business_id"), ("staff_id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = SessionsEnded), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_reset_password(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path((id, staff_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewPassword>,
) -> ApiResult<Json<SessionsEnded>> {
    do_reset_password(&app, admin.0.login(), path_uuid(&id)?, &staff_id, actor(&admin.0, ip), body).await
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/staff/{staff_id}/end-sessions", tag = "admin",
    params(("id" = Uuid, Path, description = "The clinic's business_id"), ("staff_id" = Uuid, Path, description = "The login's staff_id")),
    responses((status = 200, body = SessionsEnded), (status = 404, body = crate::error::ErrorBody)))]
pub async fn admin_end_sessions(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path((id, staff_id)): Path<(String, String)>,
) -> ApiResult<Json<SessionsEnded>> {
    do_end_sessions(&app, admin.0.login(), path_uuid(&id)?, &staff_id, actor(&admin.0, ip)).await
}
