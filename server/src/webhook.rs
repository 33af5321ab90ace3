//! The WhatsApp webhook: Meta's subscription handshake and delivery statuses.
//!
//! - `GET /api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
//!   answers the challenge (text/plain) when the token matches `WHATSAPP_VERIFY_TOKEN`,
//!   403 otherwise.
//! - `POST /api/v1/webhooks/whatsapp`: the body must be signed by Meta —
//!   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>` —
//!   or it is refused with 401 and nothing changes. Each `entry[].changes[].value.statuses[]`
//!   (`id` = the wamid, `status` = sent/delivered/read/failed) goes to
//!   `qlink.apply_delivery_status`, which is forward-only and idempotent, so Meta's
//!   duplicated and out-of-order deliveries end in the right state. Unknown wamids (another
//!   app's messages, or purged rows) are ignored. A database failure answers 500 so Meta
//!   delivers the batch again.

use crate::config::Secret;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where Meta is told to deliver webhooks.
pub const WEBHOOK_PATH: &str = "/api/v1/webhooks/whatsapp";
/// The signature header Meta sends.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Meta batches at most 1000 updates per request, well under this.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A challenge is a short number; anything longer is not Meta's.
const MAX_CHALLENGE_LEN: usize = 256;

#[derive(Clone)]
pub struct WebhookState {
    /// Connects as the runtime role (`qlink_app`).
    pub pool: deadpool_postgres::Pool,
    /// `WHATSAPP_VERIFY_TOKEN`: without it the handshake is refused.
    pub verify_token: Option<Secret>,
    /// `WHATSAPP_APP_SECRET`: without it every POST is refused (unsigned statuses could be
    /// forged by anyone).
    pub app_secret: Option<Secret>,
}

/// The webhook's routes with their OpenAPI paths, for the server's one route list.
pub fn api_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    WebhookState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(verify_subscription, receive_statuses))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The webhook alone (tests serve it without the rest of the server).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebhookState: FromRef<S>,
{
    api_routes().split_for_parts().0
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// Meta's subscription handshake.
#[utoipa::path(get, path = "/api/v1/webhooks/whatsapp", tag = "webhook",
    params(("hub.mode" = String, Query, description = "subscribe"),
           ("hub.verify_token" = String, Query, description = "WHATSAPP_VERIFY_TOKEN"),
           ("hub.challenge" = String, Query, max_length = 256, description = "Echoed back (at most 256 bytes)")),
    responses((status = 200, description = "The challenge, as text/plain"),
              (status = 400, body = crate::error::ErrorBody, description = "hub.challenge missing or too long"),
              (status = 403, body = crate::error::ErrorBody, description = "Wrong or unconfigured verify token")))]
pub async fn verify_subscription(
    State(state): State<WebhookState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(expected) = state.verify_token.as_ref() else {
        tracing::warn!("WhatsApp webhook handshake refused: WHATSAPP_VERIFY_TOKEN is not configured");
        return error(StatusCode::FORBIDDEN, "forbidden", "Webhook verification is not configured.");
    };
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").map(String::as_str).unwrap_or("");
    let challenge = query.get("hub.challenge").map(String::as_str).unwrap_or("");
    let token_matches: bool = token.as_bytes().ct_eq(expected.expose().as_bytes()).into();
    if mode != Some("subscribe") || !token_matches {
        tracing::warn!("WhatsApp webhook handshake refused: wrong mode or verify token");
        return error(StatusCode::FORBIDDEN, "forbidden", "Verification failed.");
    }
    if challenge.is_empty() || challenge.len() > MAX_CHALLENGE_LEN {
        return error(StatusCode::BAD_REQUEST, "invalid_input", "hub.challenge is missing or too long.");
    }
    tracing::info!("WhatsApp webhook subscription verified");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
            // The challenge is echoed verbatim: never let a browser sniff it as HTML.
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        challenge.to_string(),
    )
        .into_response()
}

/// Whether `signature_header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `secret`.
/// Constant-time in the signature's content.
pub fn signature_is_valid(secret: &[u8], body: &[u8], signature_header: &str) -> bool {
    let Some(hex_digest) = signature_header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(claimed) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    expected.as_slice().ct_eq(&claimed).into()
}

/// One delivery status from the payload.
#[derive(Debug, PartialEq)]
struct DeliveryStatus {
    wamid: String,
    status: &'static str,
    details: Value,
}

/// The statuses of a webhook payload, in the order Meta listed them. Entries that are not
/// delivery statuses (incoming messages, other fields) and statuses QLink does not track
/// are skipped.
fn delivery_statuses(payload: &Value) -> Vec<DeliveryStatus> {
    let array = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut found = Vec::new();
    for entry in array(payload.get("entry")) {
        for change in array(entry.get("changes")) {
            for status in array(change.pointer("/value/statuses")) {
                let Some(wamid) = status.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
                    continue;
                };
                let known = match status.get("status").and_then(Value::as_str) {
                    Some("sent") => "sent",
                    Some("delivered") => "delivered",
                    Some("read") => "read",
                    Some("failed") => "failed",
                    other => {
                        tracing::debug!(status = ?other, "WhatsApp status not tracked; ignored");
                        continue;
                    }
                };
                // Keep what explains the status; not `recipient_id` (the patient's number
                // must not outlive the retention purge).
                let mut details = Map::new();
                for key in ["timestamp", "errors"] {
                    if let Some(value) = status.get(key) {
                        details.insert(key.to_string(), value.clone());
                    }
                }
                found.push(DeliveryStatus { wamid: wamid.to_string(), status: known, details: Value::Object(details) });
            }
        }
    }
    found
}

/// Delivery statuses from Meta, signed with the app secret (`X-Hub-Signature-256`).
#[utoipa::path(post, path = "/api/v1/webhooks/whatsapp", tag = "webhook",
    request_body(content = serde_json::Value, description = "Meta's webhook payload"),
    params(("X-Hub-Signature-256" = String, Header, pattern = "^sha256=[0-9a-fA-F]{64}$",
            description = "sha256=<hex HMAC-SHA256 of the raw body with the app secret>")),
    responses((status = 200, description = "`{\"applied\": n, \"ignored\": m}`"),
              (status = 400, body = crate::error::ErrorBody, description = "Signed, but not JSON"),
              (status = 401, body = crate::error::ErrorBody, description = "Missing or bad signature; nothing changed"),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn receive_statuses(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.app_secret.as_ref() else {
        tracing::warn!("WhatsApp webhook refused: WHATSAPP_APP_SECRET is not configured");
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "Webhook signatures cannot be checked.");
    };
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !signature_is_valid(secret.expose().as_bytes(), &body, signature) {
        tracing::warn!(signed = !signature.is_empty(), "WhatsApp webhook refused: bad or missing signature");
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid X-Hub-Signature-256.");
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error(StatusCode::BAD_REQUEST, "invalid_input", "The body is not JSON."),
    };
    let statuses = delivery_statuses(&payload);
    if statuses.is_empty() {
        return (StatusCode::OK, Json(json!({"applied": 0, "ignored": 0}))).into_response();
    }
    let client = match state.pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WhatsApp webhook: no database connection; Meta will retry");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Try again later.");
        }
    };
    let (mut applied, mut ignored) = (0u32, 0u32);
    for status in &statuses {
        match crate::sql::apply_delivery_status(&client, &status.wamid, status.status, &status.details).await {
            Ok(true) => {
                applied += 1;
                metrics::counter!("qlink_webhook_statuses_total", "status" => status.status, "result" => "applied")
                    .increment(1);
            }
            Ok(false) => {
                ignored += 1;
                metrics::counter!("qlink_webhook_statuses_total", "status" => status.status, "result" => "unknown")
                    .increment(1);
                tracing::info!(provider_message_id = %status.wamid, status = status.status, "delivery status for an unknown message; ignored");
            }
            // A status PostgreSQL cannot store (a NUL in its id or details) would fail on
            // every redelivery and hold back the batch forever: ignore that one.
            Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => {
                ignored += 1;
                tracing::warn!(error = %e, "a delivery status that cannot be stored; ignored");
            }
            Err(e) => {
                // Statuses already applied stay applied; applying them again is a no-op.
                tracing::error!(error = %e, provider_message_id = %status.wamid, "applying a delivery status failed; Meta will retry");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Try again later.");
            }
        }
    }
    (StatusCode::OK, Json(json!({"applied": applied, "ignored": ignored}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_is_valid(b"app-secret", body, &good));
        assert!(!signature_is_valid(b"other-secret", body, &good));
        assert!(!signature_is_valid(b"app-secret", b"{}", &good));
        assert!(!signature_is_valid(b"app-secret", body, good.trim_start_matches("sha256=")));
        assert!(!signature_is_valid(b"app-secret", body, "sha256=zz"));
        assert!(!signature_is_valid(b"app-secret", body, ""));
    }

    #[test]
    fn statuses_are_read_from_every_entry_and_change_in_order() {
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "statuses": [
                        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000000", "recipient_id": "919876543210"},
                        {"id": "wamid.B", "status": "failed", "timestamp": "1700000001",
                         "errors": [{"code": 131026, "title": "Message undeliverable"}]},
                        {"id": "wamid.C", "status": "deleted"}
                    ]}}]},
                {"id": "2", "changes": [
                    {"field": "messages", "value": {"messages": [{"from": "919876543210", "text": {"body": "hi"}}]}},
                    {"field": "messages", "value": {"statuses": [{"id": "wamid.A", "status": "read"}]}}
                ]},
                {"id": "3"}
            ]
        });
        let statuses = delivery_statuses(&payload);
        let summary: Vec<_> = statuses.iter().map(|s| (s.wamid.as_str(), s.status)).collect();
        assert_eq!(summary, vec![("wamid.A", "delivered"), ("wamid.B", "failed"), ("wamid.A", "read")]);
        assert_eq!(statuses[0].details, json!({"timestamp": "1700000000"}));
        assert_eq!(statuses[1].details["errors"][0]["code"], json!(131026));
        assert!(delivery_statuses(&json!([1, 2])).is_empty());
    }
}
