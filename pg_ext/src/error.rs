//! One error type for the extension. Every user-facing failure carries one of the
//! SQLSTATEs of SPEC §3, so the server can map it 1:1 to HTTP.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::PgSqlErrorCode;
use pgrx::spi::SpiError;

#[derive(Debug)]
pub enum QError {
    Report(ErrorReport),
    Spi(SpiError),
}

pub type QResult<T> = Result<T, QError>;

impl From<SpiError> for QError {
    fn from(e: SpiError) -> Self {
        QError::Spi(e)
    }
}

impl From<ErrorReport> for QError {
    fn from(e: ErrorReport) -> Self {
        QError::Report(e)
    }
}

impl QError {
    pub fn into_report(self) -> ErrorReport {
        match self {
            QError::Report(r) => r,
            QError::Spi(e) => {
                ErrorReport::new(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("qlink internal error: {e}"), "qlink")
            }
        }
    }

    /// The SQLSTATE class of a user error, for unit tests of pure code.
    #[cfg(test)]
    pub fn message(&self) -> String {
        match self {
            QError::Report(r) => r.message().to_string(),
            QError::Spi(e) => e.to_string(),
        }
    }
}

fn report(code: PgSqlErrorCode, msg: impl Into<String>) -> QError {
    QError::Report(ErrorReport::new(code, msg.into(), "qlink"))
}

/// 22023: bad input (name, phone, action, settings).
pub fn invalid_input(msg: impl Into<String>) -> QError {
    report(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, msg)
}

/// P0002: unknown clinic / token, or a token of another clinic.
pub fn not_found(msg: impl Into<String>) -> QError {
    report(PgSqlErrorCode::ERRCODE_NO_DATA_FOUND, msg)
}

/// 42501: clinic suspended or disabled, intake off, session closed.
pub fn forbidden(msg: impl Into<String>) -> QError {
    report(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, msg)
}

/// 55000: state conflict (nothing to undo, reset while serving, ...).
pub fn conflict(msg: impl Into<String>) -> QError {
    report(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg)
}

/// 54000: a rate or daily limit was reached.
pub fn rate_limited(msg: impl Into<String>) -> QError {
    report(PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED, msg)
}

/// Runs a function body and turns its error into the `ErrorReport` pgrx raises.
pub fn run<T>(body: impl FnOnce() -> QResult<T>) -> Result<T, ErrorReport> {
    body().map_err(QError::into_report)
}
