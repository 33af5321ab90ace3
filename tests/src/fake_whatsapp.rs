//! A fake WhatsApp Cloud API on a loopback port, speaking Meta's request and response
//! format, for the messaging tests (and for trying the worker locally without Meta: see the
//! `fake_whatsapp_for_local_development` test in tests/tests/messaging.rs).
//!
//! `POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>` and a
//! template or text message body answers like Meta:
//! `{"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],"messages":[{"id":"wamid.<unique>"}]}`.
//! Errors use Meta's envelope:
//! `{"error":{"message":..,"type":"OAuthException","code":..,"error_data":{..},"fbtrace_id":..}}`.
//! Every request is recorded (parsed body, arrival time, the path's phone number id, the
//! bearer token, what it was answered), and a test can script faults for the next requests:
//! 500s, throttling, hangs, permanent errors. Senders besides the default one (a clinic's own
//! number with its own token) are added with [`FakeWhatsApp::add_sender`]; a token is
//! accepted only for its own number.
//!
//! `POST /{version}/{waba_id}/message_templates` (template creation) is recorded apart
//! ([`FakeWhatsApp::template_submissions`]) and answered like Meta
//! (`{"id":..,"status":"PENDING","category":"UTILITY"}`; a second submission of one name and
//! language is refused as Meta does).
//!
//! Inbound: [`FakeWhatsApp::post_inbound`] posts a patient's message to a webhook in Meta's
//! payload, signed as Meta signs it (`X-Hub-Signature-256`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use qlink_server::config::{Secret, WhatsAppArgs};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ACCESS_TOKEN: &str = "EAAG-fake-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const API_VERSION: &str = "v21.0";
/// The WhatsApp Business account of the default sender, in inbound payloads.
pub const WABA_ID: &str = "102290129340398";

/// How the fake answers one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 500 with Meta's "something went wrong" (code 131000).
    ServerError,
    /// HTTP 429 with Meta's throughput error 130429 and, if given, `Retry-After` seconds.
    Throttle { retry_after: Option<u64> },
    /// Holds the request this long before answering normally (a client gives up first).
    Hang(Duration),
    /// HTTP 400 with this Meta error code (131026 undeliverable, 132001 no template, …).
    Permanent(i64),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub body: Value,
    /// The bearer token is one the fake knows (of any sender).
    pub authorized: bool,
    /// The `{phone_number_id}` of the path.
    pub path_phone_number_id: String,
    /// The bearer token sent.
    pub token: Option<String>,
    /// The scripted fault it met, None when answered normally.
    pub fault: Option<Fault>,
    /// The wamid it was given (answered successfully, after any hang).
    pub wamid: Option<String>,
}

impl Received {
    /// `to`: the recipient's E.164 digits without `+`.
    pub fn to(&self) -> &str {
        self.body["to"].as_str().unwrap_or("")
    }
    /// The phone number id it was sent from (the path's).
    pub fn phone_number_id(&self) -> &str {
        &self.path_phone_number_id
    }
    /// A text message's body (None for a template).
    pub fn text(&self) -> Option<&str> {
        self.body["text"]["body"].as_str()
    }
    /// The quick-reply payloads the template message carries, in button order.
    pub fn button_payloads(&self) -> Vec<String> {
        self.body["template"]["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["type"] == "button")
            .map(|c| c["parameters"][0]["payload"].as_str().unwrap_or("").to_string())
            .collect()
    }
    pub fn template(&self) -> &str {
        self.body["template"]["name"].as_str().unwrap_or("")
    }
    pub fn language(&self) -> &str {
        self.body["template"]["language"]["code"].as_str().unwrap_or("")
    }
    /// The body parameters' texts, in order.
    pub fn parameters(&self) -> Vec<String> {
        self.body["template"]["components"][0]["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| p["text"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

/// One template-creation request the fake received.
#[derive(Clone, Debug)]
pub struct TemplateSubmission {
    pub waba_id: String,
    pub token: Option<String>,
    pub body: Value,
}

struct Inner {
    /// phone_number_id → its access token.
    senders: Mutex<HashMap<String, String>>,
    templates: Mutex<Vec<TemplateSubmission>>,
    received: Mutex<Vec<Received>>,
    faults: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
    counter: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            senders: Mutex::new(HashMap::from([(PHONE_NUMBER_ID.to_string(), ACCESS_TOKEN.to_string())])),
            templates: Mutex::default(),
            received: Mutex::default(),
            faults: Mutex::default(),
            latency: Mutex::default(),
            counter: AtomicU64::default(),
        }
    }
}

/// The running fake; stops when dropped.
pub struct FakeWhatsApp {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
}

impl Drop for FakeWhatsApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl FakeWhatsApp {
    /// Starts on a free loopback port.
    pub async fn start() -> FakeWhatsApp {
        Self::start_on("127.0.0.1:0".parse().expect("address")).await
    }

    pub async fn start_on(addr: SocketAddr) -> FakeWhatsApp {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the fake WhatsApp API");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Inner::default());
        let shutdown = CancellationToken::new();
        // One name for the middle segment: the router refuses two names at one position.
        let app = Router::new()
            .route("/{version}/{id}/messages", post(send_message))
            .route("/{version}/{id}/message_templates", post(create_template))
            .with_state(inner.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
        });
        FakeWhatsApp { addr, inner, shutdown }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Worker settings pointing at this fake with valid credentials.
    pub fn whatsapp_args(&self) -> WhatsAppArgs {
        WhatsAppArgs {
            whatsapp_api_base: self.base_url(),
            whatsapp_api_version: API_VERSION.into(),
            whatsapp_phone_number_id: Some(PHONE_NUMBER_ID.into()),
            whatsapp_access_token: Some(Secret::new(ACCESS_TOKEN)),
            whatsapp_app_secret: None,
            whatsapp_verify_token: None,
            whatsapp_display_number: None,
            secret_key: None,
        }
    }

    /// Another sender number with its own access token (a clinic's own number).
    pub fn add_sender(&self, phone_number_id: &str, access_token: &str) {
        self.inner.senders.lock().unwrap().insert(phone_number_id.to_string(), access_token.to_string());
    }

    /// Template-creation requests so far.
    pub fn template_submissions(&self) -> Vec<TemplateSubmission> {
        self.inner.templates.lock().unwrap().clone()
    }

    /// Posts a patient's message to `webhook_url` as Meta does: its webhook payload, signed
    /// with `app_secret`.
    pub async fn post_inbound(&self, webhook_url: &str, app_secret: &str, msg: &Inbound) -> reqwest::Response {
        let body = serde_json::to_vec(&msg.payload()).expect("payload");
        let signature = sign(app_secret, &body);
        self.post_raw(webhook_url, body, Some(&signature)).await
    }

    /// Posts any body, with the given `X-Hub-Signature-256` (or none).
    pub async fn post_raw(&self, url: &str, body: Vec<u8>, signature: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("POST to the webhook")
    }

    /// The next `n` requests meet `fault` (after any faults already scripted).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut faults = self.inner.faults.lock().unwrap();
        faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Faults scripted and not yet used.
    pub fn faults_left(&self) -> usize {
        self.inner.faults.lock().unwrap().len()
    }

    /// Every answer waits this long (a slow network).
    pub fn set_latency(&self, latency: Duration) {
        *self.inner.latency.lock().unwrap() = latency;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Requests to one recipient (E.164 with or without `+`).
    pub fn received_by(&self, phone: &str) -> Vec<Received> {
        let to = phone.trim_start_matches('+');
        self.received().into_iter().filter(|r| r.to() == to).collect()
    }

    /// Waits until `done` holds for the requests received, or panics after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if Instant::now() > deadline {
                panic!(
                    "fake WhatsApp: timed out after {timeout:?} waiting for {what}; received {} requests",
                    received.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn meta_error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = json!({
        "error": {
            "message": format!("(#{code}) {message}"),
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": format!("A{}", uuid::Uuid::new_v4().simple()),
        }
    });
    (status, Json(body)).into_response()
}

fn permanent_error(code: i64) -> Response {
    let (message, details) = match code {
        131026 => ("Message undeliverable", "Message could not be delivered to the recipient."),
        132000 => (
            "Number of parameters does not match the expected number of params",
            "body: number of localizable_params does not match",
        ),
        132001 => ("Template name does not exist in the translation", "template name does not exist in the language"),
        131047 => ("Re-engagement message", "More than 24 hours have passed since the recipient last replied."),
        100 => ("Invalid parameter", "Invalid parameter"),
        _ => ("Error", "Scripted permanent error"),
    };
    meta_error(StatusCode::BAD_REQUEST, code, message, details)
}

/// What Meta checks before accepting a template or text message.
fn validate(body: &Value) -> Result<String, &'static str> {
    if body["messaging_product"] != "whatsapp" {
        return Err("messaging_product must be whatsapp");
    }
    let to = body["to"].as_str().ok_or("to is required")?;
    if to.is_empty() || to.starts_with('+') || !to.bytes().all(|b| b.is_ascii_digit()) {
        return Err("to must be the recipient's number in digits");
    }
    match body["type"].as_str() {
        Some("template") => {
            if body["template"]["name"].as_str().is_none_or(str::is_empty) {
                return Err("template.name is required");
            }
            if body["template"]["language"]["code"].as_str().is_none_or(str::is_empty) {
                return Err("template.language.code is required");
            }
        }
        Some("text") => {
            if body["text"]["body"].as_str().is_none_or(str::is_empty) {
                return Err("text.body is required");
            }
        }
        _ => return Err("type must be template or text"),
    }
    Ok(to.to_string())
}

async fn send_message(
    State(inner): State<Arc<Inner>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = bearer(&headers);
    let (authorized, senders_token) = {
        let senders = inner.senders.lock().unwrap();
        let known: HashSet<&String> = senders.values().collect();
        (token.as_ref().is_some_and(|t| known.contains(t)), senders.get(&phone_number_id).cloned())
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = if authorized { inner.faults.lock().unwrap().pop_front() } else { None };
    let index = {
        let mut received = inner.received.lock().unwrap();
        received.push(Received {
            at: Instant::now(),
            body: parsed.clone(),
            authorized,
            path_phone_number_id: phone_number_id.clone(),
            token: token.clone(),
            fault: fault.clone(),
            wamid: None,
        });
        received.len() - 1
    };
    let latency = *inner.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    if !authorized {
        return meta_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.", "Invalid OAuth access token.");
    }
    // A token is good only for its own number (Meta: the number is not in the token's
    // account, or the app has no permission on it).
    if version != API_VERSION || senders_token.is_none() || senders_token != token {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request.",
            "Unknown phone number id or version",
        );
    }
    match fault {
        Some(Fault::ServerError) => {
            return meta_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                131000,
                "Something went wrong",
                "Something went wrong.",
            )
        }
        Some(Fault::Throttle { retry_after }) => {
            let mut response = meta_error(
                StatusCode::TOO_MANY_REQUESTS,
                130429,
                "Rate limit hit",
                "Cloud API message throughput has been reached.",
            );
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
            }
            return response;
        }
        Some(Fault::Permanent(code)) => return permanent_error(code),
        Some(Fault::Hang(duration)) => tokio::time::sleep(duration).await,
        None => {}
    }
    let to = match validate(&parsed) {
        Ok(to) => to,
        Err(problem) => return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", problem),
    };
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    let wamid = format!("wamid.HBgM{n:010}{}", uuid::Uuid::new_v4().simple());
    inner.received.lock().unwrap()[index].wamid = Some(wamid.clone());
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

async fn create_template(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = bearer(&headers);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let duplicate = {
        let mut templates = inner.templates.lock().unwrap();
        let duplicate = templates.iter().any(|t| {
            t.waba_id == waba_id && t.body["name"] == parsed["name"] && t.body["language"] == parsed["language"]
        });
        templates.push(TemplateSubmission { waba_id: waba_id.clone(), token: token.clone(), body: parsed.clone() });
        duplicate
    };
    let known = token.as_ref().is_some_and(|t| inner.senders.lock().unwrap().values().any(|v| v == t));
    if !known {
        return meta_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.", "Invalid OAuth access token.");
    }
    let complete = ["name", "language", "category"].iter().all(|k| parsed[*k].as_str().is_some_and(|s| !s.is_empty()))
        && parsed["components"].as_array().is_some_and(|c| !c.is_empty());
    if version != API_VERSION || !complete {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "name, language, category and components are required",
        );
    }
    if duplicate {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Content in this language already exists for this template name.",
        );
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    Json(json!({"id": format!("{}", 1_689_556_908_000_000u64 + n), "status": "PENDING", "category": "UTILITY"}))
        .into_response()
}

/// `sha256=<hex HMAC-SHA256 of the body>`, as Meta signs webhook posts.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a patient sent, as the webhook receives it.
#[derive(Clone, Debug)]
pub enum InboundContent {
    Text(String),
    /// A template's quick-reply button: its payload and its text.
    Button {
        payload: String,
        text: String,
    },
}

/// One message a patient sent to one of our numbers.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    /// Meta's `from`: the patient's number in digits (or a business-scoped user id).
    pub from: String,
    pub profile_name: Option<String>,
    pub wamid: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub content: InboundContent,
}

impl Inbound {
    /// A text message from `from` (digits, no `+`) to the number `phone_number_id`.
    pub fn text(phone_number_id: &str, from: &str, body: &str) -> Inbound {
        Inbound {
            waba_id: WABA_ID.into(),
            phone_number_id: phone_number_id.into(),
            display_phone_number: "15550001234".into(),
            from: from.trim_start_matches('+').into(),
            profile_name: Some("Meena".into()),
            wamid: format!("wamid.HBgL{}", uuid::Uuid::new_v4().simple()),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            content: InboundContent::Text(body.into()),
        }
    }

    /// A tap on a template's quick-reply button.
    pub fn button(phone_number_id: &str, from: &str, payload: &str, text: &str) -> Inbound {
        let mut m = Inbound::text(phone_number_id, from, "");
        m.content = InboundContent::Button { payload: payload.into(), text: text.into() };
        m
    }

    /// Meta's webhook payload for this one message.
    pub fn payload(&self) -> Value {
        let mut message = json!({"from": self.from, "id": self.wamid, "timestamp": self.timestamp.to_string()});
        match &self.content {
            InboundContent::Text(body) => {
                message["type"] = json!("text");
                message["text"] = json!({"body": body});
            }
            InboundContent::Button { payload, text } => {
                message["type"] = json!("button");
                message["button"] = json!({"payload": payload, "text": text});
            }
        }
        let profile = self.profile_name.as_ref().map_or(json!({}), |name| json!({"name": name}));
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": self.waba_id,
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id},
                        "contacts": [{"profile": profile, "wa_id": self.from}],
                        "messages": [message],
                    },
                }],
            }],
        })
    }
}
