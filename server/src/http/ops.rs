//! Operations: liveness, readiness (database reachable, extension version as expected),
//! and Prometheus metrics.

use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The extension version this binary was built with (one workspace version).
pub const EXPECTED_EXTENSION_VERSION: &str = env!("CARGO_PKG_VERSION");

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers, its `qlink` extension is the version we expect, and
/// this server's role can run its functions.
pub async fn check_ready(app: &AppState) -> Result<String, String> {
    let db = app.db.get().await.map_err(|_| "database unreachable".to_string())?;
    let row = db
        .query_opt("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'qlink'", &[])
        .await
        .map_err(|_| "database unreachable".to_string())?
        .ok_or_else(|| "the qlink extension is not installed".to_string())?;
    let installed: String = row.get("extversion");
    if installed != EXPECTED_EXTENSION_VERSION {
        return Err(format!("extension qlink {installed} installed, this server needs {EXPECTED_EXTENSION_VERSION}"));
    }
    // The catalogue answers even when the queue's functions cannot run for this role (an
    // upgrade recreated them before their grants were restored) or the library fails to
    // load: call one, as every request does.
    let library: String = db
        .query_one("SELECT qlink.qlink_version() AS v", &[])
        .await
        .map_err(|_| "the qlink functions cannot be run by this server's database role".to_string())?
        .get("v");
    if library != EXPECTED_EXTENSION_VERSION {
        return Err(format!("the qlink library is {library}, this server needs {EXPECTED_EXTENSION_VERSION}"));
    }
    Ok(installed)
}

#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Database reachable, extension version matches"), (status = 503)))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    match check_ready(&app).await {
        Ok(version) => Json(serde_json::json!({"status": "ready", "extension_version": version})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "not_ready", "reason": reason})))
                .into_response()
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format"),
    (status = 404, body = crate::error::ErrorBody, description = "Served on `QLINK_METRICS_BIND` instead")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    // With a listener of its own, the public one does not show the server's insides.
    if app.metrics_elsewhere {
        return crate::error::ApiError::not_found().into_response();
    }
    serve_metrics(State(app)).await
}

/// The Prometheus text, on whichever listener serves it.
pub async fn serve_metrics(State(app): State<AppState>) -> Response {
    let status = app.db.status();
    metrics::gauge!("qlink_db_pool_connections", "pool" => "primary", "state" => "total").set(status.size as f64);
    metrics::gauge!("qlink_db_pool_connections", "pool" => "primary", "state" => "idle").set(status.available as f64);
    metrics::gauge!("qlink_db_pool_waiting").set(status.waiting as f64);
    metrics::gauge!("qlink_db_pool_max", "pool" => "primary").set(status.max_size as f64);
    if let Some(read) = &app.read_db {
        let s = read.status();
        metrics::gauge!("qlink_db_pool_connections", "pool" => "replica", "state" => "total").set(s.size as f64);
        metrics::gauge!("qlink_db_pool_connections", "pool" => "replica", "state" => "idle").set(s.available as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}
