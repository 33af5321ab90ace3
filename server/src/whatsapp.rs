//! The WhatsApp provider: Meta's Cloud API, or the log when no credentials are configured.
//!
//! Every message is a pre-approved *template* (a clinic may message a patient who never wrote
//! first only with templates). Three templates must exist in the WhatsApp Business account,
//! each in English (`en`) and Hindi (`hi`), with these positional body parameters:
//!
//! | template | `{{1}}` | `{{2}}` | `{{3}}` | `{{4}}` |
//! | --- | --- | --- | --- | --- |
//! | `qlink_welcome` (token created) | clinic name | token label | tracking link | people ahead |
//! | `qlink_reminder` (token near the front) | clinic name | token label | tracking link | people ahead |
//! | `qlink_called` (token now SERVING) | clinic name | token label and room | tracking link | — |
//!
//! The token label is what the patient is called by: `A-12`, or `12` in a line without a
//! prefix (every 0.1 clinic). In a clinic with several rooms the CALLED message's `{{2}}`
//! also names the room the patient is called to: `A-12 (Room 2)`; with one room it is the
//! label alone, as in 0.1. The room rides in the same parameter so that the approved
//! templates keep their parameter count.
//!
//! `qlink_called` has no "people ahead" (there is nobody ahead any more): Meta rejects a send
//! whose parameter count differs from the template's (error 132000), so it gets three.
//! Suggested English bodies:
//! - welcome: "{{1}}: your token is {{2}}. {{4}} people are ahead of you. Follow the queue live: {{3}}"
//! - reminder: "{{1}}: token {{2}}, your turn is coming ({{4}} ahead of you). Please be near the reception. {{3}}"
//! - called: "{{1}}: token {{2}}, it is your turn now. Please go in. {{3}}"
//!
//! Outcomes are classified for `qlink.finish_message`: transient failures (network errors,
//! timeouts, 5xx, Meta's "service unavailable" codes) are retried with backoff and spend an
//! attempt; throttling (HTTP 429, codes 4, 80007, 130429, 131056) defers the message without
//! spending one; everything else (bad number 131026, template problems 132000/132001, bad
//! parameter 100, 24-hour window 131047, other 4xx) fails permanently at once.

use crate::config::{Secret, WhatsAppArgs};
use serde_json::{json, Value};
use std::time::Duration;

/// `message_logs.provider` for messages sent through Meta's Cloud API.
pub const PROVIDER_CLOUD: &str = "whatsapp";
/// `message_logs.provider` for messages only written to the log (no credentials configured).
pub const PROVIDER_LOG: &str = "log";

/// How long establishing a connection to Meta may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole send request may take. The worker shortens it further so that a send
/// never outlives the lease of its outbox row.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most of a non-JSON error body kept in `provider_response` (an HTML error page of a proxy
/// can be large and says little).
const MAX_TEXT_BODY: usize = 2000;

/// Meta error codes that mean "slow down": defer without spending an attempt.
const THROTTLING_CODES: &[i64] = &[
    4,      // application request limit reached
    80007,  // WhatsApp Business account rate limit
    130429, // Cloud API throughput reached
    131056, // pair rate limit: too many messages to the same recipient
];

/// Meta error codes that mean "our side is having trouble, try again".
const TRANSIENT_CODES: &[i64] = &[
    1,      // API unknown (temporary)
    2,      // API service temporarily unavailable
    131000, // something went wrong
    131016, // service overloaded / unavailable
    133004, // server temporarily unavailable
];

/// The three messages a patient gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Welcome,
    Reminder,
    Called,
}

impl MessageType {
    /// From `message_logs.message_type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "WELCOME" => Some(MessageType::Welcome),
            "REMINDER" => Some(MessageType::Reminder),
            "CALLED" => Some(MessageType::Called),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Welcome => "WELCOME",
            MessageType::Reminder => "REMINDER",
            MessageType::Called => "CALLED",
        }
    }

    /// The name of the approved template in the WhatsApp Business account.
    pub fn template_name(self) -> &'static str {
        match self {
            MessageType::Welcome => "qlink_welcome",
            MessageType::Reminder => "qlink_reminder",
            MessageType::Called => "qlink_called",
        }
    }
}

/// The patient's language; each template exists in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    En,
    Hi,
}

impl Language {
    /// From `message_logs.language`; anything unexpected falls back to English rather than
    /// failing the message.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "hi" => Language::Hi,
            _ => Language::En,
        }
    }

    /// The template language code Meta expects.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Hi => "hi",
        }
    }
}

/// One template message, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    pub message_type: MessageType,
    /// E.164 with the leading `+`, as stored in `message_logs.to_phone`.
    pub to_phone: String,
    pub language: Language,
    pub clinic_name: String,
    pub token_number: i32,
    /// `A-12` (`12` in a line without a prefix).
    pub token_label: String,
    /// The room a CALLED patient goes to, when the clinic has several rooms.
    pub room_name: Option<String>,
    /// `{public_url}/t/{token_id}`: the patient's live page.
    pub tracking_url: String,
    pub people_ahead: i32,
}

impl OutboundMessage {
    /// The recipient as Meta wants it: the E.164 digits without `+`. None when the stored
    /// number is not a plausible E.164 number (nothing to retry: the message cannot be sent).
    pub fn recipient(&self) -> Option<String> {
        let digits = self.to_phone.trim().strip_prefix('+').unwrap_or(self.to_phone.trim());
        let plausible = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        plausible.then(|| digits.to_string())
    }

    /// The template's body parameters, in order (see the table in the module docs).
    pub fn body_parameters(&self) -> Vec<String> {
        let token = match (&self.room_name, self.message_type) {
            (Some(room), MessageType::Called) => format!("{} ({room})", self.token_label),
            _ => self.token_label.clone(),
        };
        let mut params = vec![self.clinic_name.clone(), token, self.tracking_url.clone()];
        if self.message_type != MessageType::Called {
            params.push(self.people_ahead.max(0).to_string());
        }
        params
    }

    /// The Cloud API request body (`POST /{version}/{phone_number_id}/messages`).
    pub fn request_body(&self, recipient: &str) -> Value {
        let parameters: Vec<Value> =
            self.body_parameters().into_iter().map(|text| json!({"type": "text", "text": text})).collect();
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient,
            "type": "template",
            "template": {
                "name": self.message_type.template_name(),
                "language": {"code": self.language.code()},
                "components": [{"type": "body", "parameters": parameters}],
            },
        })
    }
}

/// What happened to one send, in the terms of `qlink.finish_message`.
#[derive(Clone, Debug, PartialEq)]
pub enum SendOutcome {
    /// Accepted by the provider. `provider_message_id` is Meta's wamid (None for the log).
    Sent { provider_message_id: Option<String>, response: Option<Value> },
    /// A transient failure: try again later, spending an attempt.
    Retry { reason: String, response: Value },
    /// The provider asked us to slow down: defer without spending an attempt.
    Throttled { retry_after: Option<Duration>, response: Value },
    /// A permanent failure: sending again would fail the same way.
    Failed { reason: String, response: Value },
}

impl SendOutcome {
    /// The `outcome` argument of `qlink.finish_message`.
    pub fn finish_outcome(&self) -> &'static str {
        match self {
            SendOutcome::Sent { .. } => "SENT",
            SendOutcome::Retry { .. } => "RETRY",
            SendOutcome::Throttled { .. } => "THROTTLED",
            SendOutcome::Failed { .. } => "FAILED",
        }
    }

    /// The `outcome` label of the `qlink_messages_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Retry { .. } => "retry",
            SendOutcome::Throttled { .. } => "throttled",
            SendOutcome::Failed { .. } => "failed",
        }
    }

    /// What the provider answered (kept in `message_logs.provider_response`).
    pub fn response(&self) -> Option<&Value> {
        match self {
            SendOutcome::Sent { response, .. } => response.as_ref(),
            SendOutcome::Retry { response, .. }
            | SendOutcome::Throttled { response, .. }
            | SendOutcome::Failed { response, .. } => Some(response),
        }
    }

    pub fn provider_message_id(&self) -> Option<&str> {
        match self {
            SendOutcome::Sent { provider_message_id, .. } => provider_message_id.as_deref(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendOutcome::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Where messages go.
#[derive(Clone, Debug)]
pub enum Provider {
    /// No WhatsApp credentials: messages are written to the log and count as sent.
    Log,
    Cloud(CloudApi),
}

impl Provider {
    /// The Cloud API when both the access token and the phone number id are configured, the
    /// log when neither is. One without the other is a configuration mistake and an error:
    /// silently logging would mark every patient's message SENT without sending it.
    pub fn from_args(args: &WhatsAppArgs) -> anyhow::Result<Provider> {
        let phone_number_id = args.whatsapp_phone_number_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let token = args.whatsapp_access_token.as_ref().filter(|t| !t.expose().trim().is_empty());
        match (phone_number_id, token) {
            (None, None) => Ok(Provider::Log),
            (Some(id), Some(token)) => Ok(Provider::Cloud(CloudApi::new(
                &args.whatsapp_api_base,
                &args.whatsapp_api_version,
                id,
                token.clone(),
            )?)),
            (Some(_), None) => anyhow::bail!("WHATSAPP_PHONE_NUMBER_ID is set but WHATSAPP_ACCESS_TOKEN is not"),
            (None, Some(_)) => anyhow::bail!("WHATSAPP_ACCESS_TOKEN is set but WHATSAPP_PHONE_NUMBER_ID is not"),
        }
    }

    /// `message_logs.provider`.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Log => PROVIDER_LOG,
            Provider::Cloud(_) => PROVIDER_CLOUD,
        }
    }

    /// Sends one message. Never panics and never returns an error: every failure is
    /// classified into an outcome the outbox understands.
    pub async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        match self {
            Provider::Log => {
                tracing::info!(
                    template = message.message_type.template_name(),
                    language = message.language.code(),
                    to = %mask_phone(&message.to_phone),
                    clinic = %message.clinic_name,
                    token_number = message.token_number,
                    parameters = ?message.body_parameters(),
                    "WhatsApp message (provider log: no credentials configured, not sent)"
                );
                SendOutcome::Sent { provider_message_id: None, response: None }
            }
            Provider::Cloud(api) => api.send(message).await,
        }
    }
}

/// Meta's WhatsApp Cloud API for one sender phone number.
#[derive(Clone)]
pub struct CloudApi {
    http: reqwest::Client,
    messages_url: String,
    access_token: Secret,
}

impl std::fmt::Debug for CloudApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The access token is a Secret (prints redacted) but leave it out altogether.
        f.debug_struct("CloudApi").field("messages_url", &self.messages_url).finish_non_exhaustive()
    }
}

impl CloudApi {
    pub fn new(base: &str, version: &str, phone_number_id: &str, access_token: Secret) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("qlink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("building the WhatsApp HTTP client: {e}"))?;
        let messages_url = format!(
            "{}/{}/{}/messages",
            base.trim_end_matches('/'),
            version.trim_matches('/'),
            phone_number_id.trim_matches('/')
        );
        Ok(CloudApi { http, messages_url, access_token })
    }

    pub async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        let Some(recipient) = message.recipient() else {
            return SendOutcome::Failed {
                reason: "the recipient is not an E.164 phone number".into(),
                response: json!({"error": {"message": "invalid recipient phone number", "source": "qlink"}}),
            };
        };
        let body = message.request_body(&recipient);
        let result =
            self.http.post(&self.messages_url).bearer_auth(self.access_token.expose()).json(&body).send().await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        match response.bytes().await {
            Ok(bytes) => classify_response(status, retry_after, &bytes),
            // The status arrived but the body did not: a broken connection, worth a retry
            // unless the status already says the request itself was bad.
            Err(e) if !(400..500).contains(&status) => transport_failure(&e),
            Err(_) => classify_response(status, retry_after, b""),
        }
    }
}

fn transport_failure(e: &reqwest::Error) -> SendOutcome {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "network"
    };
    SendOutcome::Retry {
        reason: format!("{kind} error: {e}"),
        response: json!({"error": {"message": format!("{kind} error talking to the WhatsApp API"), "source": "qlink"}}),
    }
}

/// `Retry-After` as delta-seconds (what Meta and most proxies send). An HTTP-date is rare
/// here and ignored: the outbox's default deferral applies instead.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Classifies an HTTP answer of the Cloud API (status, `Retry-After`, raw body).
pub fn classify_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendOutcome {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let wamid = parsed
            .as_ref()
            .and_then(|v| v.pointer("/messages/0/id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        return match wamid {
            // Keep only `messages`: `contacts` holds the patient's number, which must not
            // outlive the retention purge (it scrubs `to_phone` and `payload`, not this).
            Some(id) => SendOutcome::Sent {
                provider_message_id: Some(id),
                response: parsed.as_ref().and_then(|v| v.get("messages")).map(|m| json!({"messages": m})),
            },
            // A 2xx without a message id: we cannot tell whether Meta will deliver it, and
            // without the wamid delivery statuses cannot be matched. Retrying may send a
            // duplicate; not retrying may lose the message. A patient waiting in a clinic is
            // better served by a rare duplicate.
            None => SendOutcome::Retry {
                reason: format!("HTTP {status} without a message id"),
                response: error_response(status, parsed, body),
            },
        };
    }
    let code = parsed.as_ref().and_then(|v| v.pointer("/error/code")).and_then(|c| {
        // Meta sends a number; some gateways relay it as a string.
        c.as_i64().or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let meta_message =
        parsed.as_ref().and_then(|v| v.pointer("/error/message")).and_then(Value::as_str).unwrap_or("").to_string();
    let reason = match code {
        Some(code) => format!("HTTP {status}, Meta error {code}: {meta_message}"),
        None => format!("HTTP {status}"),
    };
    let response = error_response(status, parsed, body);
    let throttled = status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c));
    if throttled {
        return SendOutcome::Throttled { retry_after, response };
    }
    let transient = status >= 500 || status == 408 || code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if transient {
        SendOutcome::Retry { reason, response }
    } else {
        SendOutcome::Failed { reason, response }
    }
}

/// Meta's error body with the HTTP status added, or the (truncated) text of a non-JSON body.
fn error_response(status: u16, parsed: Option<Value>, raw: &[u8]) -> Value {
    match parsed {
        Some(Value::Object(mut map)) => {
            map.insert("http_status".into(), json!(status));
            Value::Object(map)
        }
        Some(other) => json!({"http_status": status, "body": other}),
        None => {
            let text = String::from_utf8_lossy(raw);
            let text: String = text.chars().take(MAX_TEXT_BODY).collect();
            json!({"http_status": status, "body": text})
        }
    }
}

/// A phone number fit for a log line: country code and the last four digits only.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(message_type: MessageType) -> OutboundMessage {
        OutboundMessage {
            message_type,
            to_phone: "+919876543210".into(),
            language: Language::Hi,
            clinic_name: "Sharma Clinic".into(),
            token_number: 7,
            token_label: "7".into(),
            room_name: None,
            tracking_url: "https://q.example/t/abc".into(),
            people_ahead: 3,
        }
    }

    #[test]
    fn request_body_follows_the_cloud_api_template_format() {
        let m = message(MessageType::Welcome);
        let body = m.request_body(&m.recipient().unwrap());
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "919876543210",
                "type": "template",
                "template": {
                    "name": "qlink_welcome",
                    "language": {"code": "hi"},
                    "components": [{"type": "body", "parameters": [
                        {"type": "text", "text": "Sharma Clinic"},
                        {"type": "text", "text": "7"},
                        {"type": "text", "text": "https://q.example/t/abc"},
                        {"type": "text", "text": "3"},
                    ]}],
                },
            })
        );
        let called = message(MessageType::Called);
        assert_eq!(called.body_parameters(), vec!["Sharma Clinic", "7", "https://q.example/t/abc"]);
    }

    #[test]
    fn the_called_message_names_the_label_and_the_room() {
        let mut called = message(MessageType::Called);
        called.token_label = "A-12".into();
        called.room_name = Some("Room 2".into());
        assert_eq!(called.body_parameters(), vec!["Sharma Clinic", "A-12 (Room 2)", "https://q.example/t/abc"]);
        // The other messages name the label only (the room is not known before the call).
        let mut welcome = called.clone();
        welcome.message_type = MessageType::Welcome;
        assert_eq!(welcome.body_parameters(), vec!["Sharma Clinic", "A-12", "https://q.example/t/abc", "3"]);
    }

    #[test]
    fn recipient_must_be_e164() {
        let mut m = message(MessageType::Reminder);
        m.to_phone = "+91 98765".into();
        assert_eq!(m.recipient(), None);
        m.to_phone = "+4915112345678".into();
        assert_eq!(m.recipient().as_deref(), Some("4915112345678"));
    }

    #[test]
    fn success_keeps_the_wamid_and_drops_the_patients_number() {
        let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"919876543210","wa_id":"919876543210"}],"messages":[{"id":"wamid.ABC"}]}"#;
        match classify_response(200, None, body) {
            SendOutcome::Sent { provider_message_id, response } => {
                assert_eq!(provider_message_id.as_deref(), Some("wamid.ABC"));
                assert_eq!(response, Some(json!({"messages": [{"id": "wamid.ABC"}]})));
            }
            other => panic!("{other:?}"),
        }
    }

    fn meta_error(code: Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"error": {"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "T"}}),
        )
        .unwrap()
    }

    #[test]
    fn errors_are_classified_as_retry_throttled_or_permanent() {
        assert_eq!(classify_response(500, None, b"<html>oops</html>").finish_outcome(), "RETRY");
        assert_eq!(classify_response(503, None, b"").finish_outcome(), "RETRY");
        assert_eq!(classify_response(200, None, b"{}").finish_outcome(), "RETRY");
        for code in [4, 80007, 130429, 131056] {
            assert_eq!(classify_response(400, None, &meta_error(json!(code))).finish_outcome(), "THROTTLED", "{code}");
        }
        assert_eq!(classify_response(429, None, b"").finish_outcome(), "THROTTLED");
        assert_eq!(classify_response(400, None, &meta_error(json!("130429"))).finish_outcome(), "THROTTLED");
        for code in [131026, 132000, 132001, 100, 131047, 190] {
            assert_eq!(classify_response(400, None, &meta_error(json!(code))).finish_outcome(), "FAILED", "{code}");
        }
        assert_eq!(classify_response(404, None, b"not found").finish_outcome(), "FAILED");
        assert_eq!(classify_response(400, None, &meta_error(json!(131000))).finish_outcome(), "RETRY");
    }

    #[test]
    fn throttling_honours_retry_after_and_keeps_metas_body() {
        let out = classify_response(429, parse_retry_after(" 7 "), &meta_error(json!(130429)));
        assert_eq!(out.retry_after(), Some(Duration::from_secs(7)));
        let response = out.response().unwrap();
        assert_eq!(response["error"]["code"], json!(130429));
        assert_eq!(response["http_status"], json!(429));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn phones_are_masked_in_logs() {
        assert_eq!(mask_phone("+919876543210"), "+91******3210");
        assert_eq!(mask_phone("12345"), "*****");
    }

    #[test]
    fn half_configured_credentials_are_refused() {
        let mut args = WhatsAppArgs {
            whatsapp_api_base: "http://127.0.0.1:1".into(),
            whatsapp_api_version: "v21.0".into(),
            whatsapp_phone_number_id: None,
            whatsapp_access_token: None,
            whatsapp_app_secret: None,
            whatsapp_verify_token: None,
            whatsapp_display_number: None,
            secret_key: None,
        };
        assert!(matches!(Provider::from_args(&args), Ok(Provider::Log)));
        args.whatsapp_phone_number_id = Some("123".into());
        assert!(Provider::from_args(&args).is_err());
        args.whatsapp_access_token = Some(Secret::new("tok"));
        let provider = Provider::from_args(&args).unwrap();
        assert_eq!(provider.name(), PROVIDER_CLOUD);
        assert!(!format!("{provider:?}").contains("tok"));
    }
}
