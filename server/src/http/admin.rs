//! The operator's API (SUPER_ADMIN only). Every change is written to `admin_audit_logs` by
//! the extension's own function, in the same statement as the change: the server passes
//! the operator's email and IP as the actor (a DBA's change from psql is audited too).

use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ApiJson, ClientIp, SuperAdmin};
use crate::http::rules;
use crate::sql::{self, Actor, AdminClinic, AuditEntry, Message, Metrics, ResetResult};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct ClinicList {
    pub clinics: Vec<AdminClinic>,
}

#[utoipa::path(get, path = "/api/v1/admin/clinics", tag = "admin",
    responses((status = 200, body = ClinicList), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_clinics(State(app): State<AppState>, admin: SuperAdmin) -> ApiResult<Json<ClinicList>> {
    let db = app.db.get().await?;
    Ok(Json(ClinicList { clinics: sql::admin_clinics(&db, admin.0.login()).await? }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClinic {
    #[schema(schema_with = rules::slug)]
    pub slug: String,
    #[schema(schema_with = rules::clinic_name)]
    pub name: String,
    #[schema(schema_with = rules::timezone)]
    pub timezone: Option<String>,
    #[schema(schema_with = rules::create_status)]
    pub status: Option<String>,
    #[schema(schema_with = rules::new_settings)]
    pub settings: Option<serde_json::Value>,
    #[schema(schema_with = rules::address)]
    pub address: Option<String>,
    #[schema(schema_with = rules::optional_phone)]
    pub contact_phone: Option<String>,
    #[schema(schema_with = rules::staff_email)]
    pub staff_email: String,
    #[schema(schema_with = rules::new_password)]
    pub staff_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct StaffLogin {
    pub id: Uuid,
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedClinic {
    pub clinic: AdminClinic,
    pub staff_user: StaffLogin,
}

#[utoipa::path(post, path = "/api/v1/admin/clinics", tag = "admin", request_body = NewClinic,
    responses((status = 201, body = CreatedClinic), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_clinic(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewClinic>,
) -> ApiResult<(StatusCode, Json<CreatedClinic>)> {
    accounts::check_password_strength(&body.staff_password).map_err(|e| ApiError::InvalidInput(e.into()))?;
    let password = body.staff_password.clone();
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let settings = rules::whole_settings(body.settings.clone());
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let clinic = sql::NewBusiness {
        slug: &body.slug,
        name: &body.name,
        timezone: body.timezone.as_deref(),
        status: body.status.as_deref(),
        settings: settings.as_ref(),
        address: body.address.as_deref(),
        contact_phone: body.contact_phone.as_deref(),
    };
    let id = sql::create_business(&tx, admin.0.login(), &clinic, Some(Actor { email: &admin.0.email, ip: Some(ip) }))
        .await?;
    let staff_id =
        sql::create_staff_user(&tx, admin.0.login(), &body.staff_email, &hash, "STAFF", Some(id), None).await?;
    let email = body.staff_email.trim().to_lowercase();
    let clinic = sql::admin_clinic(&tx, admin.0.login(), id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(CreatedClinic { clinic, staff_user: StaffLogin { id: staff_id, email } })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicChange {
    #[schema(schema_with = rules::update_status)]
    pub status: Option<String>,
    #[schema(schema_with = rules::settings_patch)]
    pub settings: Option<serde_json::Value>,
    #[schema(schema_with = rules::optional_clinic_name)]
    pub name: Option<String>,
    #[schema(schema_with = rules::timezone)]
    pub timezone: Option<String>,
    #[schema(schema_with = rules::address)]
    pub address: Option<String>,
    #[schema(schema_with = rules::optional_phone)]
    pub contact_phone: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/admin/clinics/{id}", tag = "admin", request_body = ClinicChange,
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = AdminClinic), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_clinic(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClinicChange>,
) -> ApiResult<Json<AdminClinic>> {
    let id = path_uuid(&id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let settings = rules::whole_settings(body.settings.clone());
    let change = sql::BusinessChange {
        status: body.status.as_deref(),
        settings: settings.as_ref(),
        name: body.name.as_deref(),
        timezone: body.timezone.as_deref(),
        address: body.address.as_deref(),
        contact_phone: body.contact_phone.as_deref(),
    };
    sql::update_business(&tx, admin.0.login(), id, &change, Some(Actor { email: &admin.0.email, ip: Some(ip) }))
        .await?;
    let clinic = sql::admin_clinic(&tx, admin.0.login(), id).await?;
    tx.commit().await?;
    Ok(Json(clinic))
}

#[utoipa::path(delete, path = "/api/v1/admin/clinics/{id}", tag = "admin", params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "Patients are waiting or being served")))]
pub async fn delete_clinic(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(&id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    sql::delete_business(&tx, admin.0.login(), id, Some(Actor { email: &admin.0.email, ip: Some(ip) })).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/clinics/{id}/reset-session", tag = "admin", params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = ResetResult), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "A patient is being served")))]
pub async fn reset_session(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<ResetResult>> {
    let id = path_uuid(&id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let result =
        sql::reset_session(&tx, admin.0.login(), id, None, Some(Actor { email: &admin.0.email, ip: Some(ip) })).await?;
    tx.commit().await?;
    result.into_iter().next().map(Json).ok_or_else(ApiError::not_found)
}

#[utoipa::path(get, path = "/api/v1/admin/metrics", tag = "admin", responses((status = 200, body = Metrics)))]
pub async fn metrics(State(app): State<AppState>, admin: SuperAdmin) -> ApiResult<Json<Metrics>> {
    let db = app.db.get().await?;
    Ok(Json(sql::admin_metrics(&db, admin.0.login()).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct MessageFilter {
    #[param(schema_with = rules::message_status)]
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<Message>,
}

#[utoipa::path(get, path = "/api/v1/admin/messages", tag = "admin", params(MessageFilter),
    responses((status = 200, body = MessageList), (status = 400, body = crate::error::ErrorBody)))]
pub async fn messages(
    State(app): State<AppState>,
    admin: SuperAdmin,
    Query(filter): Query<MessageFilter>,
) -> ApiResult<Json<MessageList>> {
    let db = app.db.get().await?;
    let messages = sql::admin_messages(&db, admin.0.login(), filter.status.as_deref(), 200).await?;
    Ok(Json(MessageList { messages }))
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", responses((status = 200, body = AuditList)))]
pub async fn audit_log(State(app): State<AppState>, admin: SuperAdmin) -> ApiResult<Json<AuditList>> {
    let db = app.db.get().await?;
    let entries = sql::admin_audit_log(&db, admin.0.login(), 200).await?;
    Ok(Json(AuditList { entries }))
}
