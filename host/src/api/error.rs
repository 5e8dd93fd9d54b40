//! The one API error type: every failure becomes `{"error":{"code","message"}}` with its status,
//! and its cause is logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::log_text::LogText;
use crate::pipeline::PipelineError;
use crate::store::StoreError;

/// An error as the API answers it. `Internal` keeps its cause for the log only: a client sees
/// a generic message, so nothing about the database, a secret or a file path leaks.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String, details: Option<serde_json::Value> },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the host is busy, retry shortly")]
    Busy,
    /// Over the project's request rate; answered with `Retry-After` in whole seconds.
    #[error("too many requests for this project: retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// The database cannot be reached: retry later (`/readyz` says when it is back).
    #[error("the store is unavailable, retry shortly")]
    StoreUnavailable(#[source] StoreError),
    /// The request's deadline (`http_request_timeout_ms`) passed before it was answered.
    #[error("the request did not complete within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into(), details: None }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Self::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(cause) = &self {
            // A cause may quote a plugin's or an upstream's text.
            tracing::error!(error = %LogText(&format!("{cause:#}")), "request failed");
        }
        if let Self::StoreUnavailable(cause) = &self {
            tracing::warn!(error = %LogText(&cause.to_string()), "store unavailable");
        }
        let mut error = json!({ "code": code, "message": self.to_string() });
        if let Self::Unprocessable { details: Some(details), .. } = &self {
            error["details"] = details.clone();
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let Self::RateLimited { retry_after_seconds } = &self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, (*retry_after_seconds).into());
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::InUse(what) => Self::Conflict(what),
            unavailable if unavailable.is_unavailable() => Self::StoreUnavailable(unavailable),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::Store(store) => store.into(),
            PipelineError::NotFound(what) => Self::NotFound(what),
            PipelineError::RateLimited { retry_after } => {
                Self::RateLimited { retry_after_seconds: retry_after.seconds() }
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// Answers routes that do not exist, in the API's error shape rather than an empty 404.
pub async fn unknown_route() -> ApiError {
    ApiError::NotFound("route".to_string())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
