//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "QLink API", description = "Walk-in clinic queue: patients, staff and operator endpoints."),
    paths(
        super::public::clinic, super::public::create_token, super::public::token_status,
        super::public::cancel_token, super::public::feedback,
        super::auth::login, super::auth::logout, super::auth::me,
        super::staff::queue, super::staff::action, super::staff::add_token, super::staff::close_session,
        super::admin::list_clinics, super::admin::create_clinic, super::admin::update_clinic,
        super::admin::delete_clinic, super::admin::reset_session, super::admin::metrics,
        super::admin::messages, super::admin::audit_log,
        super::ops::healthz, super::ops::readyz, super::ops::metrics,
    ),
    tags(
        (name = "public", description = "Patients, no login"),
        (name = "auth", description = "Staff and operator login (cookie or Bearer)"),
        (name = "staff", description = "A clinic's receptionist: the clinic comes from the login"),
        (name = "admin", description = "The operator (SUPER_ADMIN)"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
