//! Staff and operator login. The password is checked inside the extension
//! (`qlink.login`: argon2id, and the throttle), so the web role never reads a password
//! hash and cannot start a session without the password; the session secret goes to the
//! browser as an HttpOnly cookie, and the database keeps only its SHA-256.
//!
//! Guessing is limited without handing anyone a lockout (the rule is `qlink.login`'s):
//! attempts are counted per address and per (email, address), so one address cannot guess
//! at length and a flood from elsewhere never refuses the right password from the user's
//! own address; an email's failures from everywhere only pace it (one attempt per few
//! seconds, answered 429 with `Retry-After`).

use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{credential, ApiJson, ClientIp, Credential, User, SESSION_COOKIE};
use crate::http::rules;
use crate::sql;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// 429 with `Retry-After` (seconds).
fn too_many(message: &str, retry_after: std::time::Duration) -> Response {
    let mut response = ApiError::RateLimited(message.into()).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
    response
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(schema_with = rules::login_email)]
    pub email: String,
    #[schema(schema_with = rules::login_password)]
    pub password: String,
    /// API clients: also return the session secret in the body, to send as
    /// `Authorization: Bearer`. Browsers leave this out and use the cookie.
    #[serde(default)]
    pub issue_token: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LoggedIn {
    pub user: User,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The staff session cookie (`""` and 0 clear it).
pub(crate) fn session_cookie(app: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie value is base64url")
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = LoggedIn, description = "Sets the qlink_session cookie"),
              (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Response> {
    // The extension trims and lowercases the email and refuses an empty or overlong one.
    let db = app.db.get().await?;
    let secret = accounts::new_session_secret();
    let digest = accounts::session_digest(&secret);
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let (found, expires_at) =
        match sql::login(&db, &body.email, &body.password, &digest, app.session_ttl, ip, user_agent).await? {
            sql::LoginOutcome::Ok { user, expires_at } => (user, expires_at),
            sql::LoginOutcome::Wrong => {
                tracing::info!(%ip, "failed login");
                return Err(ApiError::Unauthorized("Wrong email or password.".into()));
            }
            sql::LoginOutcome::Limited { paced: false, retry_after } => {
                return Ok(too_many(
                    "Too many login attempts from this address. Please wait 15 minutes and try again.",
                    retry_after,
                ))
            }
            sql::LoginOutcome::Limited { paced: true, retry_after } => {
                return Ok(too_many(
                    "Too many failed logins for this account. Please wait a few seconds and try again.",
                    retry_after,
                ))
            }
        };
    let user = User::of_session(found, digest);

    // A fresh secret on every login (no session fixation); any session the browser
    // presented is ended.
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    if let Some(Credential::Cookie(old)) = credential(&parts) {
        let _ = sql::end_login_session(&db, &accounts::session_digest(&old)).await;
    }
    let ttl_seconds = app.session_ttl.as_secs();
    tracing::info!(user_id = %user.id, role = %user.role, "login");
    let mut response =
        Json(LoggedIn { user, expires_at, token: body.issue_token.then(|| secret.clone()) }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&app, &secret, ttl_seconds));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(State(app): State<AppState>, req: axum::extract::Request) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    // Authenticates (and for cookies, checks the origin) before ending anything.
    User::from_request_parts(&mut parts, &app).await?;
    let secret = match credential(&parts) {
        Some(Credential::Cookie(s)) | Some(Credential::Bearer(s)) => s,
        None => return Err(ApiError::Unauthorized("Please log in.".into())),
    };
    let db = app.db.get().await?;
    sql::end_login_session(&db, &accounts::session_digest(&secret)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&app, "", 0));
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(user: User) -> Json<User> {
    Json(user)
}
