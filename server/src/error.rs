//! One error type for the whole HTTP API. SQLSTATEs raised by the `qlink` extension map
//! 1:1 to HTTP statuses (sql/API.md) and carry the extension's message, which is written for
//! people, and its machine-readable reason (the DETAIL `qlink:<reason>`), which programs and
//! our own pages switch on; everything else is logged with its cause and answered with a
//! generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// What a refusal says: the readable message, and the extension's reason when the
/// refusal came from it (sql/API.md lists them). Built from a plain string for the
/// server's own refusals, which have no reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub reason: Option<String>,
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal { message, reason: None }
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for Refusal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidInput(Refusal),
    #[error("{0}")]
    NotFound(Refusal),
    #[error("{0}")]
    Forbidden(Refusal),
    #[error("{0}")]
    Conflict(Refusal),
    #[error("{0}")]
    RateLimited(Refusal),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// invalid_input, not_found, forbidden, conflict, rate_limited, unauthorized,
    /// payload_too_large, unsupported_media_type, method_not_allowed, unavailable, internal
    pub code: &'static str,
    /// Why the extension refused, when it did (for example `phone_limit`, `session_closed`;
    /// every reason is listed in sql/API.md). Absent for the server's own errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn not_found() -> Self {
        ApiError::NotFound("Not found.".into())
    }

    /// The extension's reason for a refusal, if it gave one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ApiError::InvalidInput(r)
            | ApiError::NotFound(r)
            | ApiError::Forbidden(r)
            | ApiError::Conflict(r)
            | ApiError::RateLimited(r) => r.reason.as_deref(),
            _ => None,
        }
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // Connection-level trouble: the database is down or restarting.
            return ApiError::Unavailable(e.into());
        };
        let message = Refusal {
            message: db.message().to_string(),
            reason: db.detail().and_then(|d| d.strip_prefix("qlink:")).map(str::to_string),
        };
        match db.code().code() {
            "22023" => ApiError::InvalidInput(message),
            "P0002" => ApiError::NotFound(message),
            "42501" => ApiError::Forbidden(message),
            "55000" => ApiError::Conflict(message),
            "54000" => ApiError::RateLimited(message),
            // Text PostgreSQL cannot store (a NUL character in text or JSON): the client's
            // input, refused before anything ran. PostgreSQL's own words are not shown.
            "22021" | "22P05" => {
                ApiError::InvalidInput("The request contains a character that is not allowed (NUL).".into())
            }
            // Admin shutdown / cannot connect now / crash recovery.
            "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006" => ApiError::Unavailable(e.into()),
            _ => ApiError::Internal(e.into()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(db) => db.into(),
            other => ApiError::Unavailable(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "Something went wrong on our side. Please try again.".to_string()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                "The service is briefly unavailable. Please try again in a moment.".to_string()
            }
            other => other.to_string(),
        };
        let reason = self.reason().map(str::to_string);
        let mut response = (status, Json(ErrorBody { error: ErrorDetail { code, reason, message } })).into_response();
        if matches!(self, ApiError::Unavailable(_)) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
