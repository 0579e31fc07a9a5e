//! The JSON error surface (RFC 6749 5.2) shared by every JSON endpoint.

use crate::app::store_failure;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::store::StoreError;
use crate::support::rate_limit::RetryAfter;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered as `{"error": …, "error_description": …}` with the RFC's status code.
#[derive(Debug)]
pub struct ApiError {
    /// What went wrong, client-safe.
    pub error: OAuthError,
    /// Answer `invalid_client` with `WWW-Authenticate: Basic` (the client tried Basic).
    pub basic_challenge: bool,
}

impl ApiError {
    /// Marks an `invalid_client` error as a failed Basic authentication.
    pub fn with_basic_challenge(mut self) -> Self {
        self.basic_challenge = true;
        self
    }
}

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            basic_challenge: false,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        store_failure(&error).into()
    }
}

/// The HTTP status RFC 6749 5.2 and its extensions give each code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Headers every token-bearing or error JSON response carries (RFC 6749 5.1).
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        });
        let mut response = (status_of(self.error.code), Json(body)).into_response();
        no_store(&mut response);
        if self.error.code == ErrorCode::InvalidClient {
            let challenge = if self.basic_challenge {
                "Basic realm=\"mcp-authd\", charset=\"UTF-8\""
            } else {
                "Bearer realm=\"mcp-authd\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl RetryAfter {
    /// A JSON 429 answer with `Retry-After`, saying what was limited (`what` is client-safe).
    pub fn into_json_response(self, what: &str) -> Response {
        let error = OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!("{what}; retry after {} seconds", self.0),
        );
        let mut response = ApiError::from(error).into_response();
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(self.0));
        response
    }
}
