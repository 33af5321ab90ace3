//! The HTTP layer: a thin map from REST calls to `qlink.*` functions, and the middleware
//! every answer goes through. The clinic of a staff request always comes from the login,
//! never from the request. The routes themselves are listed once, in `router.rs`.

pub mod admin;
pub mod auth;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod owner;
pub mod plans;
pub mod public;
pub mod reports;
pub mod rules;
pub mod senders;
pub mod staff;

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest JSON body accepted (names and comments are short).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Request ids, tracing, metrics, limits, timeouts, panic safety, and JSON error bodies.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    routes
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
        .layer(axum::middleware::map_request(plain_request_id))
        .layer(axum::middleware::from_fn(no_store_by_default))
        .with_state(state)
}

/// A client's X-Request-Id is kept (so a proxy's id follows the request through the logs)
/// only when it is one plain id: 1–64 of `A–Z a–z 0–9 . _ -`. Anything else would go into
/// the logs and back to the client as they wrote it; it is dropped, and SetRequestIdLayer
/// gives the request a fresh UUID.
async fn plain_request_id(mut req: Request) -> Request {
    let ids = req.headers().get_all("x-request-id");
    let mut values = ids.iter();
    let plain = match (values.next(), values.next()) {
        (Some(id), None) => is_plain_id(id.as_bytes()),
        _ => false,
    };
    if !plain {
        req.headers_mut().remove("x-request-id");
    }
    req
}

pub fn is_plain_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len()) && id.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// API answers carry names and phone numbers: no shared or browser cache may keep one unless
/// its route says otherwise (the patient's status poll revalidates with `no-cache` + ETag).
async fn no_store_by_default(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    if api && !response.headers().contains_key(axum::http::header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    }
    response
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
