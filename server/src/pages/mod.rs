//! Server-rendered pages (being built): intake, tracking, staff dashboard, admin panel,
//! QR code and poster, lobby display.

use crate::http::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
