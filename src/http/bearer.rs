//! Bearer tokens presented to this server (RFC 6750): reading the header and the challenge
//! that answers a missing, wrong or insufficient one. Used by `/register/{id}` and `/userinfo`.

use super::error::ApiError;
use crate::oauth::error::{ErrorCode, OAuthError};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401 `invalid_token` with the RFC 6750 challenge, for a missing or wrong bearer token.
pub fn invalid_token(description: &'static str) -> Response {
    challenge(
        OAuthError::new(ErrorCode::InvalidToken, description),
        "Bearer error=\"invalid_token\"",
    )
}

/// 403 `insufficient_scope` naming the scope needed (RFC 6750 3.1).
pub fn insufficient_scope(description: &'static str, challenge_value: &'static str) -> Response {
    challenge(
        OAuthError::new(ErrorCode::InsufficientScope, description),
        challenge_value,
    )
}

fn challenge(error: OAuthError, value: &'static str) -> Response {
    let mut response = ApiError::from(error).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }
}
