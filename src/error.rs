//! The one error type of the application, with the error codes of `docs/protocol.md`. It knows
//! no transport: `http` maps it to a response and `realtime` to a failed ack, each in one place.
//! Internal details go to the log, never to clients.

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    /// Also what a caller gets for a room it may not see: no existence leak.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("payload too large")]
    TooLarge,
    /// An upload would take its uploader past `MISSIVE_MEDIA_QUOTA`.
    #[error("your storage quota is used up")]
    QuotaExceeded,
    #[error("too many requests")]
    RateLimited { retry_after_ms: u64 },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge => "too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The `error` object of both REST bodies and failed acks.
    pub fn body(&self) -> Value {
        if let Self::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Self::RateLimited { retry_after_ms } = self {
            error["retry_after_ms"] = json!(retry_after_ms);
        }
        error
    }

    /// The failed-ack form: `{"ok": false, "error": {...}}`.
    pub fn ack(&self) -> Value {
        json!({ "ok": false, "error": self.body() })
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        // A missing row is never a client's `not_found` by accident: the store answers `Option`
        // where a row may be missing, so `RowNotFound` here is a bug, reported as internal.
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable
            }
            e => Self::Internal(e.into()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;
