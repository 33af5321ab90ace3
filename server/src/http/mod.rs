//! The HTTP layer: a thin map from REST calls to `qlink.*` functions. The clinic of a staff
//! request always comes from the login, never from the request.

pub mod admin;
pub mod auth;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod public;
pub mod staff;

use crate::error::ApiError;
use crate::webhook::WebhookState;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest JSON body accepted (names and comments are short).
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct App {
    /// The runtime role's pool on the primary.
    pub db: Pool,
    /// Patients' status polls may read from a streaming replica.
    pub read_db: Option<Pool>,
    pub public_url: String,
    /// `scheme://host[:port]` of the public URL: the CSRF origin.
    pub public_origin: String,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub session_ttl: Duration,
    pub metrics: PrometheusHandle,
    pub webhook: WebhookState,
    /// Verified against when the email is unknown, so a login takes as long either way.
    pub dummy_password_hash: String,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl FromRef<AppState> for WebhookState {
    fn from_ref(state: &AppState) -> WebhookState {
        state.webhook.clone()
    }
}

impl App {
    /// Wakes the message worker once this request's transaction has committed. A lost
    /// wake-up only delays the message until the worker's next poll.
    pub async fn wake_worker(&self, client: &deadpool_postgres::Client) {
        if let Err(e) = client.batch_execute(concat!("NOTIFY ", "qlink_messages")).await {
            tracing::warn!(error = %e, "could not notify the message worker");
        }
    }
}

/// The whole application: every route with the middleware stack.
pub fn router(state: AppState) -> Router {
    with_middleware(routes(), state)
}

/// Every route, without middleware (benchmarks add a baseline route beside them).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/clinics/{slug}", get(public::clinic))
        .route("/api/v1/clinics/{slug}/tokens", post(public::create_token))
        .route("/api/v1/tokens/{id}", get(public::token_status))
        .route("/api/v1/tokens/{id}/cancel", post(public::cancel_token))
        .route("/api/v1/tokens/{id}/feedback", post(public::feedback))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/staff/queue", get(staff::queue))
        .route("/api/v1/staff/queue/actions", post(staff::action))
        .route("/api/v1/staff/tokens", post(staff::add_token))
        .route("/api/v1/staff/session/close", post(staff::close_session))
        .route("/api/v1/admin/clinics", get(admin::list_clinics).post(admin::create_clinic))
        .route("/api/v1/admin/clinics/{id}", patch(admin::update_clinic).delete(admin::delete_clinic))
        .route("/api/v1/admin/clinics/{id}/reset-session", post(admin::reset_session))
        .route("/api/v1/admin/metrics", get(admin::metrics))
        .route("/api/v1/admin/messages", get(admin::messages))
        .route("/api/v1/admin/audit", get(admin::audit_log))
        .route("/api/v1/openapi.json", get(openapi::spec))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(crate::webhook::routes())
        .merge(crate::pages::routes())
}

/// Request ids, tracing, metrics, limits, timeouts, panic safety, and the JSON 404.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(15)))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(axum::middleware::map_response(json_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: query strings may carry the webhook verify token.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Every error answer is `{"error":{"code","message"}}`, also those the framework writes on
/// its own in plain text or with no body at all: 405 for a method a route lacks, 400 for a
/// path or query string that does not decode, 503 from the timeout. JSON errors and the
/// pages' HTML errors pass through untouched.
async fn json_errors(response: Response) -> Response {
    use axum::http::{header, StatusCode};
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (status, code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (status, "method_not_allowed", "This method is not allowed here."),
        StatusCode::NOT_FOUND => (status, "not_found", "Not found."),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "payload_too_large", "The request body is too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (status, "unsupported_media_type", "Send JSON with Content-Type: application/json.")
        }
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is briefly unavailable. Please try again in a moment.",
        ),
        s if s.is_server_error() => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong on our side. Please try again.")
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_input", "The request is not valid: check its address and parameters."),
    };
    let (mut parts, _) = response.into_parts();
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
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
    let lang = crate::pages::i18n::Lang::choose(None, req.headers(), crate::pages::i18n::Lang::En);
    crate::pages::not_found(lang)
}

/// Request counts and latency per route (the route template, never the raw path).
async fn record_metrics(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("qlink_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("qlink_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The process-wide Prometheus recorder (installed once, also when tests start many apps).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static buckets")
                .install_recorder()
                .expect("one Prometheus recorder per process")
        })
        .clone()
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| anyhow::anyhow!("QLINK_PUBLIC_URL is not a valid URL"))?;
    Ok(parsed.origin().ascii_serialization())
}
