//! The OpenAPI document: its frame here, its paths from the one route list (router.rs),
//! the answers every route can give and the logins it needs added once, after the paths
//! are known, and the one rule utoipa has no words for (which queue actions take a token)
//! added to the JSON that is served.

use crate::http::extract;
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
        (name = "owner", description = "A clinic's owner (OWNER): its queues, rooms, staff logins and settings"),
        (name = "admin", description = "The operator (SUPER_ADMIN)"),
        (name = "ops", description = "Health and metrics"),
        (name = "webhook", description = "WhatsApp delivery statuses from Meta"),
    )
)]
pub struct ApiDoc;

/// The document once the router has added every path.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    CommonResponses.modify(&mut document);
    Logins.modify(&mut document);
    document
}

/// The document as `/api/v1/openapi.json` serves it.
pub fn served(document: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(document).expect("the OpenAPI document serialises");
    if let Some(schema) = json.pointer_mut("/components/schemas/ActionRequest") {
        add_action_rule(schema);
    }
    json
}

/// NEXT and UNDO act on no token (the extension refuses one), RECALL, CANCEL and TRANSFER
/// need one, SERVED and SKIP may name one (`action_takes_no_token`, `action_needs_token` in
/// sql/API.md); only TRANSFER takes a `target_queue_id`, and needs it
/// (`transfer_needs_queue`, `action_takes_no_queue`). JSON Schema says so with a `oneOf`
/// beside the properties, which utoipa's object schema cannot hold; the properties stay
/// where every reader looks for them.
fn add_action_rule(schema: &mut serde_json::Value) {
    use serde_json::json;
    schema["oneOf"] = json!([
        {"properties": {"action": {"enum": ["NEXT", "UNDO"]}, "token_id": {"type": "null"},
                        "target_queue_id": {"type": "null"}}},
        {"properties": {"action": {"enum": ["RECALL", "CANCEL"]}, "token_id": {"type": "string"},
                        "target_queue_id": {"type": "null"}},
         "required": ["token_id"]},
        {"properties": {"action": {"enum": ["SERVED", "SKIP"]}, "target_queue_id": {"type": "null"}}},
        {"properties": {"action": {"enum": ["TRANSFER"]}, "token_id": {"type": "string"},
                        "target_queue_id": {"type": "string"}},
         "required": ["token_id", "target_queue_id"]}
    ]);
}

/// The two ways to send a login: the cookie the login sets (browsers; writes also need our
/// Origin), or its secret as a Bearer token (`issue_token`).
struct Logins;

impl utoipa::Modify for Logins {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The `token` of a login with `issue_token: true`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                extract::SESSION_COOKIE,
                "Set by the login; a write also needs an Origin (or Referer) of this server",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !needs_login(path) {
                continue;
            }
            for op in
                [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put].into_iter().flatten()
            {
                op.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::new("cookie", Vec::<String>::new()),
                ]);
            }
        }
    }
}

fn needs_login(path: &str) -> bool {
    path.starts_with("/api/v1/staff")
        || path.starts_with("/api/v1/owner")
        || path.starts_with("/api/v1/admin")
        || path == "/api/v1/auth/logout"
        || path == "/api/v1/auth/me"
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
            let needs_login = needs_login(path);
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
pub async fn spec(Extension(document): Extension<Arc<serde_json::Value>>) -> Json<serde_json::Value> {
    Json(document.as_ref().clone())
}
