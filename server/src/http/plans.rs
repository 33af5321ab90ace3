//! The operator's plans (SPEC §10): their terms, and which plan a clinic is on. Every
//! change takes effect from now on and is audited by the extension with the operator's
//! email and IP; a month already over keeps the terms it ended with.

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{path_uuid, ApiObject, ClientIp, SuperAdmin};
use crate::http::rules;
use crate::sql::{self, Actor, Plan};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    /// Every plan with the terms in force now, by code.
    pub plans: Vec<Plan>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    #[schema(schema_with = rules::plan_code)]
    pub code: String,
    #[schema(schema_with = rules::plan_name)]
    pub name: String,
    #[schema(schema_with = rules::paise)]
    #[serde(deserialize_with = "rules::whole_i64")]
    pub monthly_fee_paise: i64,
    #[schema(schema_with = rules::allowance)]
    #[serde(deserialize_with = "rules::whole_i32")]
    pub included_tokens: i32,
    #[schema(schema_with = rules::allowance)]
    #[serde(deserialize_with = "rules::whole_i32")]
    pub included_messages: i32,
    #[schema(schema_with = rules::paise)]
    #[serde(deserialize_with = "rules::whole_i64")]
    pub extra_token_paise: i64,
    #[schema(schema_with = rules::paise)]
    #[serde(deserialize_with = "rules::whole_i64")]
    pub extra_message_paise: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanUpdate {
    #[schema(schema_with = rules::optional_plan_name)]
    pub name: Option<String>,
    #[schema(schema_with = rules::optional_paise)]
    #[serde(default, deserialize_with = "rules::whole_opt_i64")]
    pub monthly_fee_paise: Option<i64>,
    #[schema(schema_with = rules::optional_allowance)]
    #[serde(default, deserialize_with = "rules::whole_opt_i32")]
    pub included_tokens: Option<i32>,
    #[schema(schema_with = rules::optional_allowance)]
    #[serde(default, deserialize_with = "rules::whole_opt_i32")]
    pub included_messages: Option<i32>,
    #[schema(schema_with = rules::optional_paise)]
    #[serde(default, deserialize_with = "rules::whole_opt_i64")]
    pub extra_token_paise: Option<i64>,
    #[schema(schema_with = rules::optional_paise)]
    #[serde(default, deserialize_with = "rules::whole_opt_i64")]
    pub extra_message_paise: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicPlanChange {
    #[schema(schema_with = rules::plan_code)]
    pub plan_code: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClinicPlan {
    pub business_id: Uuid,
    /// The plan the clinic is on from now on.
    pub plan_code: String,
}

async fn plan_line(db: &impl GenericClient, login: Option<&[u8]>, code: &str) -> ApiResult<Plan> {
    sql::list_plans(db, login)
        .await?
        .into_iter()
        .find(|p| p.code == code)
        .ok_or_else(|| ApiError::NotFound("Plan not found.".into()))
}

fn actor(admin: &SuperAdmin, ip: std::net::IpAddr) -> Actor<'_> {
    Actor { email: &admin.0.email, ip: Some(ip) }
}

#[utoipa::path(get, path = "/api/v1/admin/plans", tag = "admin", responses((status = 200, body = PlanList)))]
pub async fn list_plans(State(app): State<AppState>, admin: SuperAdmin) -> ApiResult<Json<PlanList>> {
    let db = app.db.get().await?;
    Ok(Json(PlanList { plans: sql::list_plans(&db, admin.0.login()).await? }))
}

#[utoipa::path(post, path = "/api/v1/admin/plans", tag = "admin", request_body = NewPlan,
    responses((status = 201, body = Plan), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "The code is in use (plan_code_taken)")))]
pub async fn create_plan(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    ApiObject(body): ApiObject<NewPlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    let terms = sql::PlanTerms {
        code: &body.code,
        name: &body.name,
        monthly_fee_paise: body.monthly_fee_paise,
        included_tokens: body.included_tokens,
        included_messages: body.included_messages,
        extra_token_paise: body.extra_token_paise,
        extra_message_paise: body.extra_message_paise,
    };
    let code = sql::create_plan(&tx, admin.0.login(), &terms, Some(actor(&admin, ip))).await?;
    let plan = plan_line(&tx, admin.0.login(), &code).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

#[utoipa::path(patch, path = "/api/v1/admin/plans/{code}", tag = "admin", request_body = PlanUpdate,
    params(("code" = String, Path, description = "The plan's code", pattern = "^[a-z0-9][a-z0-9_-]{0,31}$")),
    responses((status = 200, body = Plan), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "No plan with this code")))]
pub async fn update_plan(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
    ApiObject(body): ApiObject<PlanUpdate>,
) -> ApiResult<Json<Plan>> {
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    // The plan in the address: an unknown one is "not found", as any address is (the
    // extension says `unknown_plan`, 22023, which is what a body naming one gets).
    plan_line(&tx, admin.0.login(), &code).await?;
    let change = sql::PlanChange {
        name: body.name.as_deref(),
        monthly_fee_paise: body.monthly_fee_paise,
        included_tokens: body.included_tokens,
        included_messages: body.included_messages,
        extra_token_paise: body.extra_token_paise,
        extra_message_paise: body.extra_message_paise,
    };
    sql::update_plan(&tx, admin.0.login(), &code, &change, Some(actor(&admin, ip))).await?;
    let plan = plan_line(&tx, admin.0.login(), &code).await?;
    tx.commit().await?;
    Ok(Json(plan))
}

#[utoipa::path(put, path = "/api/v1/admin/clinics/{id}/plan", tag = "admin", request_body = ClinicPlanChange,
    params(("id" = Uuid, Path, description = "The clinic's business_id")),
    responses((status = 200, body = ClinicPlan),
              (status = 400, body = crate::error::ErrorBody, description = "No plan with this code (unknown_plan)"),
              (status = 404, body = crate::error::ErrorBody, description = "No such clinic")))]
pub async fn set_clinic_plan(
    State(app): State<AppState>,
    admin: SuperAdmin,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiObject(body): ApiObject<ClinicPlanChange>,
) -> ApiResult<Json<ClinicPlan>> {
    let business_id = path_uuid(&id)?;
    let mut db = app.db.get().await?;
    let tx = db.transaction().await?;
    // An unknown clinic is "not found" before its plan is looked at.
    sql::admin_clinic(&tx, admin.0.login(), business_id).await?;
    let plan_code =
        sql::set_clinic_plan(&tx, admin.0.login(), business_id, &body.plan_code, Some(actor(&admin, ip))).await?;
    tx.commit().await?;
    Ok(Json(ClinicPlan { business_id, plan_code }))
}
