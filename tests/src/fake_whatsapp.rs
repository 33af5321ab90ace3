//! A fake WhatsApp Cloud API on a loopback port, speaking Meta's request and response
//! format, for the messaging tests (and for trying the worker locally without Meta: see the
//! `fake_whatsapp_for_local_development` test in tests/tests/messaging.rs).
//!
//! `POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>` and a
//! template message body answers like Meta:
//! `{"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],"messages":[{"id":"wamid.<unique>"}]}`.
//! Errors use Meta's envelope:
//! `{"error":{"message":..,"type":"OAuthException","code":..,"error_data":{..},"fbtrace_id":..}}`.
//! Every request is recorded (parsed body, arrival time, what it was answered), and a test
//! can script faults for the next requests: 500s, throttling, hangs, permanent errors.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use qlink_server::config::{Secret, WhatsAppArgs};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ACCESS_TOKEN: &str = "EAAG-fake-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const API_VERSION: &str = "v21.0";

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
    pub authorized: bool,
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

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    faults: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
    counter: AtomicU64,
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
        let app =
            Router::new().route("/{version}/{phone_number_id}/messages", post(send_message)).with_state(inner.clone());
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

/// What Meta checks before accepting a template message.
fn validate(body: &Value) -> Result<String, &'static str> {
    if body["messaging_product"] != "whatsapp" {
        return Err("messaging_product must be whatsapp");
    }
    let to = body["to"].as_str().ok_or("to is required")?;
    if to.is_empty() || to.starts_with('+') || !to.bytes().all(|b| b.is_ascii_digit()) {
        return Err("to must be the recipient's number in digits");
    }
    if body["type"] != "template" {
        return Err("type must be template");
    }
    if body["template"]["name"].as_str().is_none_or(str::is_empty) {
        return Err("template.name is required");
    }
    if body["template"]["language"]["code"].as_str().is_none_or(str::is_empty) {
        return Err("template.language.code is required");
    }
    Ok(to.to_string())
}

async fn send_message(
    State(inner): State<Arc<Inner>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = if authorized { inner.faults.lock().unwrap().pop_front() } else { None };
    let index = {
        let mut received = inner.received.lock().unwrap();
        received.push(Received {
            at: Instant::now(),
            body: parsed.clone(),
            authorized,
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
    if version != API_VERSION || phone_number_id != PHONE_NUMBER_ID {
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
