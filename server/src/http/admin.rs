//! The operator's API (SUPER_ADMIN only). Every change is written to `admin_audit_logs`
//! with the actor's email and IP in the same transaction as the change itself.

use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ApiJson, ClientIp, SuperAdmin};
use crate::http::rules;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
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

fn clinic_from(r: &tokio_postgres::Row) -> AdminClinic {
    AdminClinic {
        business_id: r.get(0),
        slug: r.get(1),
        name: r.get(2),
        status: r.get(3),
        timezone: r.get(4),
        settings: r.get(5),
        created_at: r.get(6),
        session_status: r.get(7),
        tokens_today: r.get(8),
        waiting_count: r.get(9),
        serving_count: r.get(10),
        failed_messages_today: r.get(11),
    }
}

async fn audit(
    tx: &deadpool_postgres::Transaction<'_>,
    admin: &SuperAdmin,
    ip: IpAddr,
    action: &str,
    target_id: Option<String>,
    details: serde_json::Value,
) -> ApiResult<()> {
    let stmt = tx.prepare_cached("SELECT qlink.record_admin_action($1, $2, $3, 'clinic', $4, $5)").await?;
    tx.query_one(&stmt, &[&admin.0.email, &ip, &action, &target_id, &details]).await?;
    Ok(())
}

async fn one_clinic(tx: &deadpool_postgres::Transaction<'_>, id: Uuid) -> ApiResult<AdminClinic> {
    let stmt = tx.prepare_cached("SELECT * FROM qlink.admin_clinics() WHERE business_id = $1").await?;
    let row = tx.query_opt(&stmt, &[&id]).await?.ok_or_else(|| ApiError::NotFound("Clinic not found.".into()))?;
    Ok(clinic_from(&row))
}

#[derive(Serialize, ToSchema)]
pub struct ClinicList {
    pub clinics: Vec<AdminClinic>,
}

#[utoipa::path(get, path = "/api/v1/admin/clinics", tag = "admin",
    responses((status = 200, body = ClinicList), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_clinics(State(app): State<AppState>, _admin: SuperAdmin) -> ApiResult<Json<ClinicList>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT * FROM qlink.admin_clinics()").await?;
    let clinics = db.query(&stmt, &[]).await?.iter().map(clinic_from).collect();
    Ok(Json(ClinicList { clinics }))
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
    let settings = rules::whole_settings(body.settings.clone()).unwrap_or_else(|| serde_json::json!({}));
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let create = tx
        .prepare_cached(
            "SELECT qlink.create_business($1, $2, coalesce($3, 'Asia/Kolkata'), coalesce($4, 'ACTIVE'), $5, $6, $7)",
        )
        .await?;
    let id: Uuid = tx
        .query_one(
            &create,
            &[&body.slug, &body.name, &body.timezone, &body.status, &settings, &body.address, &body.contact_phone],
        )
        .await?
        .get(0);
    let user = tx.prepare_cached("SELECT qlink.create_staff_user($1, $2, 'STAFF', $3)").await?;
    let staff_id: Uuid = tx.query_one(&user, &[&body.staff_email, &hash, &id]).await?.get(0);
    let email = body.staff_email.trim().to_lowercase();
    audit(
        &tx,
        &admin,
        ip,
        "CREATE_CLINIC",
        Some(id.to_string()),
        serde_json::json!({"slug": body.slug, "name": body.name, "staff_email": email}),
    )
    .await?;
    let clinic = one_clinic(&tx, id).await?;
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
    let stmt = tx.prepare_cached("SELECT qlink.update_business($1, $2, $3, $4, $5, $6, $7)").await?;
    tx.query_one(
        &stmt,
        &[&id, &body.status, &settings, &body.name, &body.timezone, &body.address, &body.contact_phone],
    )
    .await?;
    let action = match body.status.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("SUSPENDED") => "SUSPEND_CLINIC",
        Some("DISABLED") => "DISABLE_CLINIC",
        Some("ACTIVE") | Some("TRIAL") => "ACTIVATE_CLINIC",
        _ => "UPDATE_CLINIC",
    };
    audit(
        &tx,
        &admin,
        ip,
        action,
        Some(id.to_string()),
        serde_json::json!({
            "status": body.status, "settings": settings, "name": body.name, "timezone": body.timezone,
        }),
    )
    .await?;
    let clinic = one_clinic(&tx, id).await?;
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
    let before = one_clinic(&tx, id).await?;
    let stmt = tx.prepare_cached("SELECT qlink.delete_business($1)").await?;
    tx.query_one(&stmt, &[&id]).await?;
    audit(
        &tx,
        &admin,
        ip,
        "DELETE_CLINIC",
        Some(id.to_string()),
        serde_json::json!({"slug": before.slug, "name": before.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ResetResult {
    pub session_id: Uuid,
    pub cancelled_count: i32,
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
    let stmt = tx.prepare_cached("SELECT session_id, cancelled_count FROM qlink.reset_session($1)").await?;
    let row = tx.query_one(&stmt, &[&id]).await?;
    let result = ResetResult { session_id: row.get(0), cancelled_count: row.get(1) };
    audit(
        &tx,
        &admin,
        ip,
        "RESET_SESSION",
        Some(id.to_string()),
        serde_json::json!({"cancelled": result.cancelled_count}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(result))
}

#[derive(Serialize, ToSchema)]
pub struct Metrics {
    pub tokens_today: i64,
    pub active_sessions: i64,
    pub active_queues: i64,
    pub failed_messages_today: i64,
}

#[utoipa::path(get, path = "/api/v1/admin/metrics", tag = "admin", responses((status = 200, body = Metrics)))]
pub async fn metrics(State(app): State<AppState>, _admin: SuperAdmin) -> ApiResult<Json<Metrics>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT * FROM qlink.admin_metrics()").await?;
    let r = db.query_one(&stmt, &[]).await?;
    Ok(Json(Metrics {
        tokens_today: r.get(0),
        active_sessions: r.get(1),
        active_queues: r.get(2),
        failed_messages_today: r.get(3),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct MessageFilter {
    #[param(schema_with = rules::message_status)]
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<Message>,
}

#[utoipa::path(get, path = "/api/v1/admin/messages", tag = "admin", params(MessageFilter),
    responses((status = 200, body = MessageList), (status = 400, body = crate::error::ErrorBody)))]
pub async fn messages(
    State(app): State<AppState>,
    _admin: SuperAdmin,
    Query(filter): Query<MessageFilter>,
) -> ApiResult<Json<MessageList>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT * FROM qlink.admin_messages($1, 200)").await?;
    let messages = db
        .query(&stmt, &[&filter.status])
        .await?
        .iter()
        .map(|r| Message {
            id: r.get(0),
            business_slug: r.get(1),
            token_number: r.get(2),
            message_type: r.get(3),
            to_phone: r.get(4),
            status: r.get(5),
            reason: r.get(6),
            attempts: r.get(7),
            provider_response: r.get(8),
            created_at: r.get(9),
            updated_at: r.get(10),
        })
        .collect();
    Ok(Json(MessageList { messages }))
}

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", responses((status = 200, body = AuditList)))]
pub async fn audit_log(State(app): State<AppState>, _admin: SuperAdmin) -> ApiResult<Json<AuditList>> {
    let db = app.db.get().await?;
    let stmt = db.prepare_cached("SELECT * FROM qlink.admin_audit_log(200)").await?;
    let entries = db
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            actor_email: r.get(1),
            actor_ip: r.get(2),
            action: r.get(3),
            target_type: r.get(4),
            target_id: r.get(5),
            details: r.get(6),
            created_at: r.get(7),
        })
        .collect();
    Ok(Json(AuditList { entries }))
}
