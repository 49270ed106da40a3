//! Errors of the HTTP API as one type that turns into a JSON response with the right status
//! (and `Retry-After` / `WWW-Authenticate` where a client needs them).

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tradestate_mt5_bridge::{FieldError, ValidationErrors};

use crate::admission::Rejection;

#[derive(Debug)]
pub enum ApiError {
    /// Missing or wrong bearer token for this terminal (or operator).
    Unauthorized(&'static str),
    /// The body or a path parameter failed validation.
    Invalid(ValidationErrors),
    /// The body is larger than `limits.max_body_bytes`.
    TooLarge {
        limit: usize,
    },
    /// The body could not be read at all.
    BadRequest(String),
    NotFound(String),
    /// Quotas or watermarks: 429.
    Rejected(Rejection),
    /// A partition is down or timed out: 503.
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl ApiError {
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(ValidationErrors(vec![FieldError::new(field, message)]))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, errors, retry_after) = match &self {
            ApiError::Unauthorized(what) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("{what}: send `Authorization: Bearer <token>` with a configured token"),
                None,
                None,
            ),
            ApiError::Invalid(errors) => (
                StatusCode::BAD_REQUEST,
                "invalid",
                format!(
                    "{} field error(s); fix the listed fields and resend",
                    errors.0.len()
                ),
                Some(errors.0.as_slice()),
                None,
            ),
            ApiError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body exceeds limits.max_body_bytes ({limit} bytes); send smaller batches"),
                None,
                None,
            ),
            ApiError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                why.clone(),
                None,
                None,
            ),
            ApiError::NotFound(what) => {
                (StatusCode::NOT_FOUND, "not_found", what.clone(), None, None)
            }
            ApiError::Rejected(rejection) => (
                if rejection.is_unavailable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::TOO_MANY_REQUESTS
                },
                rejection.reason(),
                rejection.message(),
                None,
                Some(rejection.retry_after()),
            ),
            ApiError::Unavailable {
                reason,
                retry_after,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                reason.clone(),
                None,
                Some(*retry_after),
            ),
        };
        let body = ErrorBody {
            error: code,
            message,
            errors,
            retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_header(retry_after));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `Retry-After` in whole seconds, never 0 (a client would retry at once).
pub fn retry_after_header(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}
