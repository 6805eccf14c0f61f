//! One error type with a stable code. Internal detail is logged with the request id and
//! never reaches a client. async-graphql's blanket Display conversion is switched off
//! (feature `custom-error-conversion`), so a bare `?` on a database error does not compile
//! in a resolver: it must go through `AppError`.
use async_graphql::ErrorExtensions;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid email or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A legal or procedural rule refuses the change; the code names the rule
    /// (NOTICE_TOO_SHORT, INVALID_TRANSITION, QUORUM_NOT_MET, REQUEST_LIMIT_REACHED...).
    #[error("{1}")]
    Rule(&'static str, String),
    #[error("internal error")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated | AppError::BadCredentials => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Validation { .. } => "VALIDATION",
            AppError::Conflict(_) => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Rule(code, _) => code,
            AppError::Internal(_) => "INTERNAL",
        }
    }
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation { field: field.to_string(), message: message.into() }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound(what.into())
    }
    /// An edit based on `expected`, refused because the record is now at `current`.
    pub fn stale(what: &str, current: i32, expected: i32) -> Self {
        AppError::Conflict(format!(
            "{what} was changed by someone else (version {current} now, you edited {expected}); reload and retry"
        ))
    }
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Rule(code, message.into())
    }
    /// A NOT_FOUND turned into VALIDATION on `field` (an input naming a missing record);
    /// any other error stays as it was.
    pub fn missing_as(self, field: &str, message: &str) -> Self {
        match self {
            AppError::NotFound(_) => AppError::validation(field, message),
            other => other,
        }
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        // Two writers racing past a uniqueness check: the loser is told, not given INTERNAL.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
            return AppError::Conflict("this record was created concurrently by someone else; reload and retry".into());
        }
        AppError::Internal(format!("database: {e}"))
    }
}

impl<E: std::fmt::Display> From<sea_orm::TransactionError<E>> for AppError
where
    E: Into<AppError> + std::error::Error,
{
    fn from(e: sea_orm::TransactionError<E>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app.into(),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        if let AppError::Internal(detail) = &e {
            // The span of the HTTP request carries the request id.
            tracing::error!(error = %detail, "internal error");
        }
        let code = e.code();
        let err = async_graphql::Error::new(e.to_string());
        match e {
            AppError::Validation { field, .. } => err.extend_with(|_, ext| {
                ext.set("code", code);
                ext.set("field", field.clone());
            }),
            AppError::RateLimited { retry_after_secs } => err.extend_with(|_, ext| {
                ext.set("code", code);
                ext.set("retryAfterSeconds", retry_after_secs);
            }),
            _ => err.extend_with(|_, ext| ext.set("code", code)),
        }
    }
}
