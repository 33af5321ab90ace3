//! The WhatsApp provider: Meta's Cloud API, or the log when no credentials are configured.
//!
//! Two kinds of message go out. Business-initiated ones (WELCOME, REMINDER, CALLED) are
//! pre-approved *templates* (a clinic may message a patient who never wrote first only with
//! templates); their definitions live in [`templates`] — names, bodies in English and Hindi,
//! positional parameters, quick-reply buttons — which `qlink whatsapp templates` prints in
//! the body of Meta's template-creation API and which the sender uses for every send, so
//! what was approved and what is sent cannot drift apart:
//!
//! | template | `{{1}}` | `{{2}}` | `{{3}}` | `{{4}}` | quick replies |
//! | --- | --- | --- | --- | --- | --- |
//! | `qlink_welcome` (token created) | clinic name | token label | tracking link | people ahead | STATUS, CANCEL, STOP |
//! | `qlink_reminder` (token near the front) | clinic name | token label | tracking link | people ahead | STATUS, CANCEL |
//! | `qlink_called` (token now SERVING) | clinic name | token label and room | tracking link | — | — |
//!
//! The token label is what the patient is called by: `A-12`, or `12` in a line without a
//! prefix. In a clinic with several rooms the CALLED message's `{{2}}` also names the room:
//! `A-12 (Room 2)`, so the approved template keeps its parameter count (Meta rejects a send
//! whose count differs: error 132000). Button payloads are set at send time and come back in
//! the webhook as the command they name.
//!
//! The other kind is a REPLY to what a patient wrote (SPEC §11): free-form text, allowed
//! inside the 24-hour window the patient's own message opened. The extension decides what
//! happened (`payload.kind`); [`replies`] words it in the row's language, with the tracking
//! link. DELAY rows (SPEC §12) are not sent by this version: they fail permanently, saying so.
//!
//! Every body follows Meta's published schema (`facebook/openapi`,
//! `business-messaging-api_v23.0.yaml`: `TemplateMessage`, `TextMessage`): template
//! languages carry `policy: deterministic`, which that schema requires. The recipient is the
//! E.164 number's digits; a business-scoped user id (a patient who hides their number) is
//! not a phone number, which is all that schema's `to` names for an individual, so a message
//! to one fails permanently with that reason rather than being guessed at.
//!
//! Each clinic may send from its own number (`whatsapp_senders`): a [`CloudApi`] is made per
//! sender (phone number id and access token) over one shared HTTP client.
//!
//! Outcomes are classified for `qlink.finish_message`: transient failures (network errors,
//! timeouts, 5xx, Meta's "service unavailable" codes) are retried with backoff and spend an
//! attempt; throttling (HTTP 429, codes 4, 80007, 130429, 131056) defers the message without
//! spending one; everything else (bad number 131026, template problems 132000/132001, bad
//! parameter 100, 24-hour window 131047, other 4xx) fails permanently at once.

pub mod replies;
pub mod templates;

use crate::config::{Secret, WhatsAppArgs};
use serde_json::{json, Value};
use std::time::Duration;
pub use templates::{Template, TEMPLATES};

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

/// `message_logs.message_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Welcome,
    Reminder,
    Called,
    /// A free-form answer to what the patient wrote.
    Reply,
    /// The doctor is late (SPEC §12): one per waiting patient, when the clinic asks for it.
    Delay,
}

impl MessageType {
    /// From `message_logs.message_type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "WELCOME" => Some(MessageType::Welcome),
            "REMINDER" => Some(MessageType::Reminder),
            "CALLED" => Some(MessageType::Called),
            "REPLY" => Some(MessageType::Reply),
            "DELAY" => Some(MessageType::Delay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Welcome => "WELCOME",
            MessageType::Reminder => "REMINDER",
            MessageType::Called => "CALLED",
            MessageType::Reply => "REPLY",
            MessageType::Delay => "DELAY",
        }
    }

    /// The approved template this type is sent as (None: not a template message).
    pub fn template(self) -> Option<&'static Template> {
        Template::for_type(self)
    }
}

/// The patient's language; each template exists in every one.
pub use crate::i18n::Lang;

/// What a template message says about the patient's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    pub clinic_name: String,
    /// `A-12` (`12` in a line without a prefix).
    pub token_label: String,
    /// The room a CALLED patient goes to, when the clinic has several rooms.
    pub room_name: Option<String>,
    /// `{public_url}/t/{token_id}`: the patient's live page.
    pub tracking_url: String,
    pub people_ahead: i32,
    /// A DELAY's minutes.
    pub delay_minutes: Option<i32>,
}

/// What is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Template { template: &'static Template, parameters: Vec<String> },
    Text(String),
}

/// One message, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    pub message_type: MessageType,
    /// E.164 with the leading `+`, as stored in `message_logs.to_phone` (or a business-scoped
    /// user id, for a reply to a patient who hides their number).
    pub to_phone: String,
    pub language: Lang,
    pub content: Content,
}

impl OutboundMessage {
    /// A template message; None when `message_type` is not sent as a template.
    pub fn template(message_type: MessageType, to_phone: &str, language: Lang, facts: &TokenFacts) -> Option<Self> {
        let template = message_type.template()?;
        let parameters = template
            .params
            .iter()
            .map(|p| match p {
                templates::Param::ClinicName => facts.clinic_name.clone(),
                templates::Param::Token => match (&facts.room_name, message_type) {
                    (Some(room), MessageType::Called) => format!("{} ({room})", facts.token_label),
                    _ => facts.token_label.clone(),
                },
                templates::Param::TrackingLink => facts.tracking_url.clone(),
                templates::Param::PeopleAhead => facts.people_ahead.max(0).to_string(),
                templates::Param::DelayMinutes => facts.delay_minutes.unwrap_or(0).max(0).to_string(),
            })
            .collect();
        Some(OutboundMessage {
            message_type,
            to_phone: to_phone.to_string(),
            language,
            content: Content::Template { template, parameters },
        })
    }

    /// A free-form text reply.
    pub fn text(to_phone: &str, language: Lang, body: String) -> Self {
        OutboundMessage {
            message_type: MessageType::Reply,
            to_phone: to_phone.to_string(),
            language,
            content: Content::Text(body),
        }
    }

    /// The recipient as Meta wants it: the E.164 digits without `+`. An error (permanent:
    /// nothing to retry) when the stored recipient is not a plausible E.164 number.
    pub fn recipient(&self) -> Result<String, String> {
        let raw = self.to_phone.trim();
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(digits.to_string());
        }
        let looks_like_user_id = !raw.starts_with('+')
            && raw.bytes().any(|b| b.is_ascii_alphabetic())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if looks_like_user_id {
            Err("the recipient is a business-scoped user id; the Cloud API's send schema (v23.0) takes only a phone number in `to`".into())
        } else {
            Err("the recipient is not an E.164 phone number".into())
        }
    }

    /// The template's body parameters, in order (empty for a text message).
    pub fn body_parameters(&self) -> &[String] {
        match &self.content {
            Content::Template { parameters, .. } => parameters,
            Content::Text(_) => &[],
        }
    }

    /// The Cloud API request body (`POST /{version}/{phone_number_id}/messages`).
    pub fn request_body(&self, recipient: &str) -> Value {
        match &self.content {
            Content::Template { template, parameters } => json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": recipient,
                "type": "template",
                "template": {
                    "name": template.name,
                    "language": {"code": self.language.code(), "policy": "deterministic"},
                    "components": template.send_components(parameters),
                },
            }),
            Content::Text(body) => json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": recipient,
                "type": "text",
                "text": {"preview_url": false, "body": body},
            }),
        }
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
        Self::installation(args, http_client()?)
    }

    /// [`Provider::from_args`] over a shared HTTP client.
    pub fn installation(args: &WhatsAppArgs, http: reqwest::Client) -> anyhow::Result<Provider> {
        let phone_number_id = args.whatsapp_phone_number_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let token = Secret::configured(&args.whatsapp_access_token);
        match (phone_number_id, token) {
            (None, None) => Ok(Provider::Log),
            (Some(id), Some(token)) => Ok(Provider::Cloud(CloudApi::with_client(
                http,
                &args.whatsapp_api_base,
                &args.whatsapp_api_version,
                id,
                token,
            ))),
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
                let (template, text) = match &message.content {
                    Content::Template { template, .. } => (template.name, None),
                    Content::Text(text) => ("", Some(text.as_str())),
                };
                tracing::info!(
                    message_type = message.message_type.as_str(),
                    template,
                    language = message.language.code(),
                    to = %mask_phone(&message.to_phone),
                    parameters = ?message.body_parameters(),
                    text,
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
        Ok(Self::with_client(http_client()?, base, version, phone_number_id, access_token))
    }

    /// Over a shared client (the worker has one for every sender).
    pub fn with_client(
        http: reqwest::Client,
        base: &str,
        version: &str,
        phone_number_id: &str,
        access_token: Secret,
    ) -> Self {
        let messages_url = format!(
            "{}/{}/{}/messages",
            base.trim_end_matches('/'),
            version.trim_matches('/'),
            phone_number_id.trim_matches('/')
        );
        CloudApi { http, messages_url, access_token }
    }

    pub async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        let recipient = match message.recipient() {
            Ok(recipient) => recipient,
            Err(reason) => {
                return SendOutcome::Failed {
                    response: json!({"error": {"message": reason.clone(), "source": "qlink"}}),
                    reason,
                }
            }
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

/// The HTTP client for Meta: timeouts that fit the outbox's lease, our user agent.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("qlink/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("building the WhatsApp HTTP client: {e}"))
}

/// What Meta answered one template submission (`POST /{version}/{waba_id}/message_templates`).
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateSubmission {
    pub name: String,
    pub language: String,
    /// Meta's `id` and `status` (PENDING, APPROVED, REJECTED) when accepted.
    pub accepted: Option<(String, String)>,
    /// Meta's error (or the transport's), when not.
    pub error: Option<Value>,
}

/// Submits one template definition (a [`Template::creation_body`]) for review.
pub async fn submit_template(
    http: &reqwest::Client,
    base: &str,
    version: &str,
    waba_id: &str,
    access_token: &Secret,
    definition: &Value,
) -> TemplateSubmission {
    let url = format!(
        "{}/{}/{}/message_templates",
        base.trim_end_matches('/'),
        version.trim_matches('/'),
        waba_id.trim_matches('/')
    );
    let mut submission = TemplateSubmission {
        name: definition["name"].as_str().unwrap_or("").to_string(),
        language: definition["language"].as_str().unwrap_or("").to_string(),
        accepted: None,
        error: None,
    };
    let response = match http.post(&url).bearer_auth(access_token.expose()).json(definition).send().await {
        Ok(r) => r,
        Err(e) => {
            submission.error = Some(json!({"message": format!("could not reach the WhatsApp API: {e}")}));
            return submission;
        }
    };
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let id = parsed.as_ref().and_then(|v| v.get("id")).and_then(Value::as_str);
    match (status, id) {
        (200..=299, Some(id)) => {
            let state = parsed.as_ref().and_then(|v| v.get("status")).and_then(Value::as_str).unwrap_or("");
            submission.accepted = Some((id.to_string(), state.to_string()));
        }
        _ => {
            submission.error = Some(match parsed.as_ref().and_then(|v| v.get("error")) {
                Some(error) => {
                    let mut error = error.clone();
                    error["http_status"] = json!(status);
                    error
                }
                None => error_response(status, parsed, &body),
            })
        }
    }
    submission
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

    fn facts() -> TokenFacts {
        TokenFacts {
            clinic_name: "Sharma Clinic".into(),
            token_label: "7".into(),
            room_name: None,
            tracking_url: "https://q.example/t/abc".into(),
            people_ahead: 3,
            delay_minutes: None,
        }
    }

    fn message(message_type: MessageType) -> OutboundMessage {
        OutboundMessage::template(message_type, "+919876543210", Lang::Hi, &facts()).unwrap()
    }

    #[test]
    fn request_body_follows_the_cloud_api_template_format() {
        let m = message(MessageType::Welcome);
        let body = m.request_body(&m.recipient().unwrap());
        let button = |i: &str, payload: &str| {
            json!({"type": "button", "sub_type": "quick_reply", "index": i,
                   "parameters": [{"type": "payload", "payload": payload}]})
        };
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "919876543210",
                "type": "template",
                "template": {
                    "name": "qlink_welcome",
                    "language": {"code": "hi", "policy": "deterministic"},
                    "components": [{"type": "body", "parameters": [
                        {"type": "text", "text": "Sharma Clinic"},
                        {"type": "text", "text": "7"},
                        {"type": "text", "text": "https://q.example/t/abc"},
                        {"type": "text", "text": "3"},
                    ]}, button("0", "STATUS"), button("1", "CANCEL"), button("2", "STOP")],
                },
            })
        );
        let reminder = message(MessageType::Reminder).request_body("1");
        // The reminder offers "I will be late" between the status and the cancel buttons.
        assert_eq!(reminder["template"]["components"].as_array().unwrap().len(), 4, "{reminder}");
        assert_eq!(reminder["template"]["components"][2], button("1", "LATE"));
        let mut late = facts();
        late.delay_minutes = Some(25);
        let delay = OutboundMessage::template(MessageType::Delay, "+919876543210", Lang::Ta, &late).unwrap();
        assert_eq!(delay.body_parameters(), vec!["Sharma Clinic", "7", "https://q.example/t/abc", "25"]);
        assert_eq!(delay.request_body("1")["template"]["language"]["code"], "ta");
        let called = message(MessageType::Called);
        assert_eq!(called.body_parameters(), vec!["Sharma Clinic", "7", "https://q.example/t/abc"]);
        assert_eq!(called.request_body("1")["template"]["components"].as_array().unwrap().len(), 1);
        assert!(OutboundMessage::template(MessageType::Reply, "+91", Lang::En, &facts()).is_none());
    }

    #[test]
    fn a_reply_is_a_free_form_text() {
        let m = OutboundMessage::text("+919876543210", Lang::En, "Hello".into());
        assert_eq!(
            m.request_body(&m.recipient().unwrap()),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "919876543210",
                   "type": "text", "text": {"preview_url": false, "body": "Hello"}})
        );
    }

    #[test]
    fn the_called_message_names_the_label_and_the_room() {
        let mut f = facts();
        f.token_label = "A-12".into();
        f.room_name = Some("Room 2".into());
        let called = OutboundMessage::template(MessageType::Called, "+919876543210", Lang::En, &f).unwrap();
        assert_eq!(called.body_parameters(), vec!["Sharma Clinic", "A-12 (Room 2)", "https://q.example/t/abc"]);
        // The other messages name the label only (the room is not known before the call).
        let welcome = OutboundMessage::template(MessageType::Welcome, "+919876543210", Lang::En, &f).unwrap();
        assert_eq!(welcome.body_parameters(), vec!["Sharma Clinic", "A-12", "https://q.example/t/abc", "3"]);
    }

    #[test]
    fn recipient_must_be_e164() {
        let mut m = message(MessageType::Reminder);
        m.to_phone = "+91 98765".into();
        assert_eq!(m.recipient().unwrap_err(), "the recipient is not an E.164 phone number");
        m.to_phone = "+4915112345678".into();
        assert_eq!(m.recipient().as_deref(), Ok("4915112345678"));
        m.to_phone = "IN.1349120865530274".into();
        assert!(m.recipient().unwrap_err().contains("business-scoped user id"));
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
            ..WhatsAppArgs::default()
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
