//! The WhatsApp webhook: Meta's subscription handshake, delivery statuses and the messages
//! patients send us.
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
//!   app's messages, or purged rows) are ignored.
//! - Each `entry[].changes[].value.messages[]` (text, a template's quick-reply button, an
//!   interactive reply; a picture or a voice note has no text) goes to
//!   `qlink.handle_inbound`, with the number it was sent to (`value.metadata.phone_number_id`)
//!   and the sender's profile name (`value.contacts[]`). The extension stores each wamid once
//!   and queues the reply; the server then sends `NOTIFY qlink_messages`, after the commit.
//!
//! Meta delivers at least once and retries what was not answered 2xx: a database failure
//! answers 500 so the batch comes again, and what was already applied is a no-op the second
//! time (statuses are forward-only, messages are deduplicated by wamid). A status or message
//! PostgreSQL cannot store (SQLSTATE class 22) would fail on every redelivery and hold the
//! batch back forever, so that one is skipped. Payloads are read tolerantly: unknown fields
//! are ignored, and a business-scoped user id (Meta's usernames, 2026) is taken where a
//! phone number is missing. Patients' words and numbers are never logged.

use crate::config::Secret;
use crate::whatsapp::mask_phone;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
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
    OpenApiRouter::new().routes(routes!(verify_subscription, receive)).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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

/// One message a patient sent us, as read from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InboundMessage {
    /// Our number it was sent to.
    phone_number_id: String,
    /// The patient's digits (`from`), or their business-scoped user id when no number came.
    from: String,
    wamid: String,
    received_at: Option<DateTime<Utc>>,
    /// Meta's `type` (text, button, interactive, image, …), for the log.
    kind: String,
    /// A text's body, or the label of the button tapped; None for media and the like.
    text: Option<String>,
    /// A quick-reply button's payload, or the id of an interactive reply.
    button_payload: Option<String>,
    /// The sender's WhatsApp profile name.
    profile_name: Option<String>,
}

/// A non-empty string field, with NUL characters removed (PostgreSQL text cannot hold them,
/// and the extension would drop them anyway).
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    let s = value.pointer(pointer)?.as_str()?.replace('\0', "");
    Some(s).filter(|s| !s.trim().is_empty())
}

/// An id field as it came: a string, or a number (a lenient sender may send digits as one).
fn id_at(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Meta's `timestamp`: unix seconds, as a string (or a number).
fn unix_time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = match value? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp(seconds, 0)
}

/// What the patient said and which button they tapped, by the message's type.
fn words_of(message: &Value, kind: &str) -> (Option<String>, Option<String>) {
    match kind {
        "text" => (text_at(message, "/text/body"), None),
        // A template's quick-reply button.
        "button" => (text_at(message, "/button/text"), text_at(message, "/button/payload")),
        "interactive" => {
            let reply = ["/interactive/button_reply", "/interactive/list_reply"]
                .iter()
                .find_map(|p| message.pointer(p).filter(|v| v.is_object()));
            match reply {
                Some(r) => (text_at(r, "/title"), text_at(r, "/id")),
                None => (None, None),
            }
        }
        // Pictures, voice notes, locations, stickers, reactions…: nothing to read.
        _ => (None, None),
    }
}

/// The messages of a webhook payload, in the order Meta listed them. A message without an
/// id or a sender, or sent to no number of ours, is skipped (nothing could be done with it).
fn inbound_messages(payload: &Value) -> Vec<InboundMessage> {
    let array = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut found = Vec::new();
    for entry in array(payload.get("entry")) {
        for change in array(entry.get("changes")) {
            let Some(value) = change.get("value") else { continue };
            let messages = array(value.get("messages"));
            if messages.is_empty() {
                continue;
            }
            let Some(phone_number_id) = value.get("metadata").and_then(|m| id_at(m, "phone_number_id")) else {
                tracing::warn!(
                    messages = messages.len(),
                    "WhatsApp messages without metadata.phone_number_id; skipped"
                );
                continue;
            };
            let contacts = array(value.get("contacts"));
            for message in &messages {
                let wamid = id_at(message, "id");
                // A phone number, else (a patient with a username) the business-scoped user id.
                let from = ["from", "from_user_id", "user_id"].iter().find_map(|k| id_at(message, k));
                let (Some(wamid), Some(from)) = (wamid, from) else {
                    tracing::info!("a WhatsApp message without an id or a sender; skipped");
                    continue;
                };
                let user_id = ["from_user_id", "user_id"].iter().find_map(|k| id_at(message, k));
                let contact = contacts
                    .iter()
                    .find(|c| {
                        let wa_id = id_at(c, "wa_id");
                        let contact_user = id_at(c, "user_id");
                        wa_id.as_deref() == Some(from.as_str())
                            || (contact_user.is_some() && contact_user == user_id)
                            || contact_user.as_deref() == Some(from.as_str())
                    })
                    // One sender per change is the rule: their contact, even unmatched.
                    .or(if contacts.len() == 1 && messages.len() == 1 { contacts.first() } else { None });
                let kind = message.get("type").and_then(Value::as_str).unwrap_or("unknown").to_string();
                let (text, button_payload) = words_of(message, &kind);
                found.push(InboundMessage {
                    phone_number_id: phone_number_id.clone(),
                    from,
                    wamid,
                    received_at: unix_time(message.get("timestamp")),
                    kind,
                    text,
                    button_payload,
                    profile_name: contact.and_then(|c| text_at(c, "/profile/name")),
                });
            }
        }
    }
    found
}

/// Delivery statuses and patients' messages from Meta, signed with the app secret
/// (`X-Hub-Signature-256`).
#[utoipa::path(post, path = "/api/v1/webhooks/whatsapp", tag = "webhook",
    request_body(content = serde_json::Value, description = "Meta's webhook payload"),
    params(("X-Hub-Signature-256" = String, Header, pattern = "^sha256=[0-9a-fA-F]{64}$",
            description = "sha256=<hex HMAC-SHA256 of the raw body with the app secret>")),
    responses((status = 200, description = "`{\"applied\": n, \"ignored\": m, \"messages\": k}`: statuses applied and \
                                            ignored, patients' messages handled (a redelivered one acts once)"),
              (status = 400, body = crate::error::ErrorBody, description = "Signed, but not JSON"),
              (status = 401, body = crate::error::ErrorBody, description = "Missing or bad signature; nothing changed"),
              (status = 413, body = crate::error::ErrorBody),
              (status = 500, body = crate::error::ErrorBody, description = "The database failed; Meta delivers again")))]
pub async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
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
    let messages = inbound_messages(&payload);
    if statuses.is_empty() && messages.is_empty() {
        return (StatusCode::OK, Json(json!({"applied": 0, "ignored": 0, "messages": 0}))).into_response();
    }
    let client = match state.pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WhatsApp webhook: no database connection; Meta will retry");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Try again later.");
        }
    };
    let (applied, ignored) = match apply_statuses(&client, &statuses).await {
        Ok(counts) => counts,
        Err(response) => return response,
    };
    let (handled, replies) = match handle_messages(&client, &messages).await {
        Ok(counts) => counts,
        Err(response) => {
            // Replies already queued by this batch still go out now, not at the next poll.
            notify_worker(&client).await;
            return response;
        }
    };
    if replies > 0 {
        notify_worker(&client).await;
    }
    (StatusCode::OK, Json(json!({"applied": applied, "ignored": ignored, "messages": handled}))).into_response()
}

/// Each status through `qlink.apply_delivery_status`: (applied, ignored), or the 500 to
/// answer.
async fn apply_statuses(
    client: &deadpool_postgres::Client,
    statuses: &[DeliveryStatus],
) -> Result<(u32, u32), Response> {
    let (mut applied, mut ignored) = (0u32, 0u32);
    for status in statuses {
        match crate::sql::apply_delivery_status(client, &status.wamid, status.status, &status.details).await {
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
                return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Try again later."));
            }
        }
    }
    Ok((applied, ignored))
}

/// Each message through `qlink.handle_inbound` (its own transaction: what was handled stays
/// handled if a later one fails): (messages handled, replies queued), or the 500 to answer.
async fn handle_messages(
    client: &deadpool_postgres::Client,
    messages: &[InboundMessage],
) -> Result<(u32, u32), Response> {
    let (mut handled, mut replies) = (0u32, 0u32);
    for m in messages {
        let inbound = crate::sql::Inbound {
            phone_number_id: &m.phone_number_id,
            from_phone: &m.from,
            text: m.text.as_deref(),
            button_payload: m.button_payload.as_deref(),
            wamid: &m.wamid,
            received_at: m.received_at,
            profile_name: m.profile_name.as_deref(),
        };
        match crate::sql::handle_inbound(client, &inbound).await {
            Ok(done) => {
                handled += 1;
                // A redelivery did nothing: counted apart, so outcomes are counted once.
                let outcome = if done.handled { done.outcome.clone() } else { "duplicate".to_string() };
                metrics::counter!("qlink_webhook_messages_total", "command" => done.command.clone(), "outcome" => outcome.clone())
                    .increment(1);
                if done.handled && done.reply_id.is_some() {
                    replies += 1;
                }
                tracing::info!(
                    provider_message_id = %m.wamid,
                    from = %mask_phone(&m.from),
                    kind = %m.kind,
                    command = %done.command,
                    outcome = %outcome,
                    "WhatsApp message from a patient"
                );
            }
            // A message PostgreSQL or the extension cannot take (a NUL in an id, an id too
            // long): skipped, or it would fail on every redelivery.
            Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => {
                metrics::counter!("qlink_webhook_messages_total", "command" => "unknown", "outcome" => "invalid")
                    .increment(1);
                tracing::warn!(provider_message_id = %m.wamid.escape_debug(), sqlstate = ?e.code().map(|c| c.code()),
                    "a WhatsApp message that cannot be handled; skipped");
            }
            Err(e) => {
                // Messages already handled stay handled; a redelivery of them does nothing.
                tracing::error!(error = %e, provider_message_id = %m.wamid, "handling a WhatsApp message failed; Meta will retry");
                return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Try again later."));
            }
        }
    }
    Ok((handled, replies))
}

/// Wakes the message worker for the replies just queued (each `handle_inbound` committed on
/// its own). A lost wake-up only delays a reply until the worker's next poll.
async fn notify_worker(client: &deadpool_postgres::Client) {
    if let Err(e) = client.batch_execute(&format!("NOTIFY {}", crate::db::MESSAGES_CHANNEL)).await {
        tracing::warn!(error = %e, "could not notify the message worker");
    }
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

    fn message_payload(changes: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": changes}]})
    }

    #[test]
    fn messages_are_read_from_every_entry_and_change_with_their_number_and_sender() {
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "919876543210"}],
                    "messages": [{"from": "919876543210", "id": "wamid.A", "timestamp": "1750275992",
                                  "type": "text", "text": {"body": "JOIN city-clinic"}}]
                }}]},
                {"id": "2", "changes": [
                    {"field": "messages", "value": {"statuses": [{"id": "wamid.X", "status": "read"}]}},
                    {"field": "messages", "value": {
                        "metadata": {"phone_number_id": "222222222"},
                        "contacts": [{"profile": {"name": "Asha"}, "wa_id": "918888888888"},
                                     {"profile": {"name": "Ravi"}, "wa_id": "917777777777"}],
                        "messages": [
                            {"from": "917777777777", "id": "wamid.B", "timestamp": 1750276000, "type": "text",
                             "text": {"body": "status"}},
                            {"from": "918888888888", "id": "wamid.C", "type": "image",
                             "image": {"id": "media-1", "caption": "my report"}}
                        ]}}
                ]}
            ]
        });
        let found = inbound_messages(&payload);
        let summary: Vec<_> = found
            .iter()
            .map(|m| {
                (
                    m.phone_number_id.as_str(),
                    m.from.as_str(),
                    m.wamid.as_str(),
                    m.text.as_deref(),
                    m.profile_name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("106540352242922", "919876543210", "wamid.A", Some("JOIN city-clinic"), Some("Sheena Nelson")),
                ("222222222", "917777777777", "wamid.B", Some("status"), Some("Ravi")),
                ("222222222", "918888888888", "wamid.C", None, Some("Asha")),
            ]
        );
        assert_eq!(found[0].received_at, DateTime::from_timestamp(1_750_275_992, 0));
        assert_eq!(found[1].received_at, DateTime::from_timestamp(1_750_276_000, 0));
        assert_eq!(found[2].received_at, None);
        assert_eq!(found[2].kind, "image");
        assert_eq!(found[2].button_payload, None);
        // The statuses of the same payload are still read, and the messages are not statuses.
        assert_eq!(delivery_statuses(&payload).len(), 1);
    }

    #[test]
    fn button_and_interactive_replies_carry_their_payload_and_label() {
        let payload = message_payload(json!([{"field": "messages", "value": {
        "metadata": {"phone_number_id": "106540352242922"},
        "messages": [
            {"from": "919876543210", "id": "wamid.1", "type": "button",
             "button": {"payload": "CANCEL", "text": "Cancel my token"}, "context": {"id": "wamid.sent"}},
            {"from": "919876543210", "id": "wamid.2", "type": "interactive",
             "interactive": {"type": "button_reply", "button_reply": {"id": "STATUS", "title": "My place"}}},
            {"from": "919876543210", "id": "wamid.3", "type": "interactive",
             "interactive": {"type": "list_reply", "list_reply": {"id": "LATE", "title": "Running late", "description": "…"}}},
            {"from": "919876543210", "id": "wamid.4", "type": "interactive", "interactive": {"type": "nfm_reply"}},
            {"from": "919876543210", "id": "wamid.5", "type": "audio", "audio": {"id": "x"}},
            {"from": "919876543210", "id": "wamid.6", "type": "text", "text": {"body": "  "}}
        ]}}]));
        let found = inbound_messages(&payload);
        let words: Vec<_> = found.iter().map(|m| (m.text.as_deref(), m.button_payload.as_deref())).collect();
        assert_eq!(
            words,
            vec![
                (Some("Cancel my token"), Some("CANCEL")),
                (Some("My place"), Some("STATUS")),
                (Some("Running late"), Some("LATE")),
                (None, None),
                (None, None),
                (None, None),
            ]
        );
        assert!(found.iter().all(|m| m.profile_name.is_none()), "no contacts, no names");
    }

    #[test]
    fn a_business_scoped_user_id_is_taken_beside_or_instead_of_a_phone() {
        let payload = message_payload(json!([{"field": "messages", "value": {
        "metadata": {"phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Username Only"}, "user_id": "IN.1648738043044942"},
                     {"profile": {"name": "Both"}, "wa_id": "919876543210", "user_id": "IN.99"}],
        "messages": [
            {"from_user_id": "IN.1648738043044942", "id": "wamid.U", "type": "text", "text": {"body": "HELP"}},
            {"from": "919876543210", "from_user_id": "IN.99", "id": "wamid.P", "type": "text", "text": {"body": "STATUS"}},
            {"user_id": "IN.5", "id": "wamid.V", "type": "text", "text": {"body": "STOP"}},
            {"from": "IN.6", "id": "wamid.W", "type": "text", "text": {"body": "START"}}
        ]}}]));
        let found = inbound_messages(&payload);
        let senders: Vec<_> = found.iter().map(|m| (m.from.as_str(), m.profile_name.as_deref())).collect();
        assert_eq!(
            senders,
            vec![
                ("IN.1648738043044942", Some("Username Only")),
                // The phone wins when both came: a number can JOIN, a user id cannot.
                ("919876543210", Some("Both")),
                ("IN.5", None),
                ("IN.6", None),
            ]
        );
    }

    #[test]
    fn garbage_is_skipped_without_a_panic() {
        for payload in [
            json!(null),
            json!([1, 2]),
            json!({"entry": "x"}),
            json!({"entry": [{"changes": {"value": 1}}]}),
            json!({"entry": [{"changes": [{"value": {"messages": [{"from": "1", "id": "w"}]}}]}]}),
            json!({"entry": [{"changes": [{"value": {"metadata": {"phone_number_id": ["x"]}, "messages": [{"from": "1", "id": "w"}]}}]}]}),
            message_payload(json!([{"value": {"metadata": {"phone_number_id": "1"}, "messages": "nope"}}])),
        ] {
            assert!(inbound_messages(&payload).is_empty(), "{payload}");
        }
        // Without an id or a sender a message is skipped; the others in the batch are kept.
        let payload = message_payload(json!([{"value": {
        "metadata": {"phone_number_id": 106540352242922u64},
        "contacts": [{"wa_id": 5, "profile": {"name": 7}}],
        "messages": [
            {"from": "919876543210", "type": "text", "text": {"body": "no id"}},
            {"id": "wamid.nofrom", "type": "text", "text": {"body": "no sender"}},
            {"from": "", "id": "wamid.empty", "type": "text"},
            {"from": 919876543210u64, "id": "wamid.ok", "timestamp": "soon", "type": ["text"],
             "text": {"body": "JOIN\u{0}x"}},
            "not an object",
            {"from": "919876543210", "id": "wamid.far", "timestamp": "99999999999999999", "type": "text",
             "text": {"body": 5}}
        ]}}]));
        let found = inbound_messages(&payload);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (found[0].phone_number_id.as_str(), found[0].from.as_str(), found[0].wamid.as_str()),
            ("106540352242922", "919876543210", "wamid.ok")
        );
        // An unknown type reads no words; NULs never reach PostgreSQL; a bad time is "now".
        assert_eq!((found[0].kind.as_str(), found[0].text.as_deref(), found[0].received_at), ("unknown", None, None));
        assert_eq!((found[1].text.as_deref(), found[1].received_at), (None, None));
        let nul = message_payload(json!([{"value": {"metadata": {"phone_number_id": "1"},
            "messages": [{"from": "9", "id": "w", "type": "text", "text": {"body": "JOIN\u{0}x"}}]}}]));
        assert_eq!(inbound_messages(&nul)[0].text.as_deref(), Some("JOINx"));
    }
}
