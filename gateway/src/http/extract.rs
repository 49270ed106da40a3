//! Typed extractors: the raw body with our own 413/400 errors, and the bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::{ApiError, AppState};

/// The request body, or `413` JSON when it is over `limits.max_body_bytes`.
pub struct Body(pub Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge {
                limit: state.max_body_bytes,
            }),
            Err(e) => Err(ApiError::BadRequest(format!(
                "cannot read body: {}",
                e.body_text()
            ))),
        }
    }
}

/// The token of `Authorization: Bearer <token>`, if sent.
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            });
        Ok(Bearer(token))
    }
}

/// Checks an `{id}` path parameter; a bad one is a 400 on field `id`.
pub fn check_path_instance_id(id: &str) -> Result<(), ApiError> {
    tradestate_mt5_bridge::validate_instance_id(id).map_err(|e| {
        ApiError::Invalid(tradestate_mt5_bridge::ValidationErrors(vec![
            tradestate_mt5_bridge::FieldError::new("id", e.message),
        ]))
    })
}
