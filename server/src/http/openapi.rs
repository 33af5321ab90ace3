//! The OpenAPI document: its frame here, its paths from the one route list (router.rs),
//! and the answers every route can give added once, after the paths are known.

use axum::{Extension, Json};
use std::sync::Arc;
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "QLink API", description = "Walk-in clinic queue: patients, staff and operator endpoints."),
    tags(
        (name = "public", description = "Patients, no login"),
        (name = "auth", description = "Staff and operator login (cookie or Bearer)"),
        (name = "staff", description = "A clinic's receptionist: the clinic comes from the login"),
        (name = "admin", description = "The operator (SUPER_ADMIN)"),
        (name = "ops", description = "Health and metrics"),
        (name = "webhook", description = "WhatsApp delivery statuses from Meta"),
    )
)]
pub struct ApiDoc;

/// The document once the router has added every path.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    CommonResponses.modify(&mut document);
    document
}

/// Answers every route can give besides its own: declared once here rather than on each
/// handler, so the document can't drift from the middleware that produces them.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr, Response};
        let error = |what: &str| -> RefOr<Response> {
            let mut r = Response::new(what);
            r.content.insert(
                "application/json".into(),
                utoipa::openapi::ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            );
            RefOr::T(r)
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let needs_login = path.starts_with("/api/v1/staff")
                || path.starts_with("/api/v1/admin")
                || path == "/api/v1/auth/logout"
                || path == "/api/v1/auth/me";
            let has_id = path.contains('{');
            for op in
                [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put].into_iter().flatten()
            {
                let responses = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    responses.entry(code.to_string()).or_insert_with(|| error(what));
                };
                if needs_login {
                    add("401", "Not logged in, or the session expired");
                    add("403", "Not allowed for this login, or a cookie write from another site (CSRF)");
                }
                if op.request_body.is_some() {
                    add("400", "The body is not valid");
                    add("413", "The body is too large");
                    add("415", "The body is not JSON");
                }
                if has_id {
                    add("400", "A path value that does not decode");
                }
                add("405", "This method is not allowed here");
                add("503", "The database is briefly unavailable");
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn spec(Extension(document): Extension<Arc<utoipa::openapi::OpenApi>>) -> Json<utoipa::openapi::OpenApi> {
    Json(document.as_ref().clone())
}
