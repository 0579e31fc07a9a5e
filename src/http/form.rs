//! A form-body extractor whose every failure is an RFC 6749 JSON error, never plain text.

use super::error::ApiError;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

/// `application/x-www-form-urlencoded` parameters, strictly parsed.
pub struct FormParams(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                OAuthError::invalid_request(format!(
                    "the request body could not be read: {rejection}"
                ))
            })?;
        let params = Params::parse(&body)?;
        params.refuse_repeats(&["resource"])?;
        Ok(Self(params))
    }
}
