//! Every route of QLink, listed once. The API's routes are registered from their
//! `#[utoipa::path]` annotations (utoipa-axum), so this one list also produces the paths of
//! the OpenAPI document: a route cannot exist undocumented, nor a documented path without
//! its route. The pages (HTML for people) are not part of the API document.

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::{self, admin, auth, openapi, ops, owner, plans, public, reports, senders, staff};
use crate::pages::{self, i18n::Lang};
use crate::webhook;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The whole application: every route, `extra` beside them, and the middleware stack.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let (api, document) = api().split_for_parts();
    let document = Arc::new(openapi::served(&openapi::finish(document)));
    let routes = api.layer(Extension(document)).merge(pages::routes()).merge(extra).fallback(not_found);
    http::with_middleware(routes, state)
}

/// `/metrics` alone, for its own listener (`QLINK_METRICS_BIND`).
pub fn metrics_router(state: AppState) -> Router {
    http::with_middleware(Router::new().route("/metrics", axum::routing::get(ops::serve_metrics)), state)
}

/// The OpenAPI document of the routes, as `/api/v1/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    openapi::served(&openapi::finish(api().split_for_parts().1))
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(public::clinic))
        .routes(routes!(public::create_token))
        .routes(routes!(public::token_status))
        .routes(routes!(public::cancel_token))
        .routes(routes!(public::hold_token))
        .routes(routes!(public::return_token))
        .routes(routes!(public::set_reminder))
        .routes(routes!(public::feedback))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(staff::queue))
        .routes(routes!(staff::action))
        .routes(routes!(staff::add_token))
        .routes(routes!(staff::close_session))
        .routes(routes!(staff::delay))
        .routes(routes!(staff::rooms))
        .routes(routes!(staff::queues))
        .routes(routes!(staff::kiosks))
        .routes(routes!(staff::close_kiosk))
        .routes(routes!(owner::list_queues, owner::create_queue))
        .routes(routes!(owner::update_queue))
        .routes(routes!(owner::list_rooms, owner::create_room))
        .routes(routes!(owner::update_room))
        .routes(routes!(owner::list_staff, owner::create_staff))
        .routes(routes!(owner::update_staff))
        .routes(routes!(owner::reset_password))
        .routes(routes!(owner::end_sessions))
        .routes(routes!(owner::settings, owner::update_settings))
        .routes(routes!(reports::staff_reports))
        .routes(routes!(senders::owner_sender))
        .routes(routes!(admin::list_clinics, admin::create_clinic))
        .routes(routes!(admin::update_clinic, admin::delete_clinic))
        .routes(routes!(admin::reset_session))
        .routes(routes!(owner::admin_list_queues, owner::admin_create_queue))
        .routes(routes!(owner::admin_update_queue))
        .routes(routes!(owner::admin_list_rooms, owner::admin_create_room))
        .routes(routes!(owner::admin_update_room))
        .routes(routes!(owner::admin_list_staff, owner::admin_create_staff))
        .routes(routes!(owner::admin_update_staff))
        .routes(routes!(owner::admin_reset_password))
        .routes(routes!(owner::admin_end_sessions))
        .routes(routes!(admin::metrics))
        .routes(routes!(admin::messages))
        .routes(routes!(admin::audit_log))
        .routes(routes!(reports::admin_clinic_reports))
        .routes(routes!(reports::platform_reports))
        .routes(routes!(reports::usage))
        .routes(routes!(reports::statement))
        .routes(routes!(plans::list_plans, plans::create_plan))
        .routes(routes!(plans::update_plan))
        .routes(routes!(plans::set_clinic_plan))
        .routes(routes!(senders::clinic_sender, senders::set_clinic_sender, senders::clear_clinic_sender))
        .routes(routes!(senders::set_recipient_limit))
        .routes(routes!(senders::sender_backlog))
        .routes(routes!(openapi::spec))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .merge(webhook::api_routes())
}

/// An unknown address: JSON for API clients, a page for people.
async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let machine = path.starts_with("/api/")
        || path.starts_with("/assets/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics");
    if machine {
        return ApiError::not_found().into_response();
    }
    let lang = Lang::choose(None, req.headers(), Lang::En);
    pages::not_found(lang)
}
