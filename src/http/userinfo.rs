//! `GET`/`POST /userinfo` (OpenID Connect Core 5.3): the person's claims for a bearer access
//! token whose scope has `openid`.

use super::bearer::{bearer_token, insufficient_scope, invalid_token};
use super::error::{ApiError, no_store};
use crate::app::state::AppState;
use crate::app::userinfo::{Refusal, userinfo as claims_for};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

/// 200 with the claims; 401 `invalid_token` for a missing, forged, expired or revoked token
/// (or an ID token); 403 `insufficient_scope` for a token without `openid` (RFC 6750 3.1).
/// The token travels in the `Authorization` header only, never in the query or body.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return invalid_token("send the access token as Authorization: Bearer");
    };
    match claims_for(&state, token).await {
        Ok(Ok(info)) => {
            let mut response = Json(&info).into_response();
            no_store(&mut response);
            response
        }
        Ok(Err(Refusal::InvalidToken)) => {
            invalid_token("the access token is invalid, expired or revoked")
        }
        Ok(Err(Refusal::NoOpenId)) => insufficient_scope(
            "the access token was not granted the openid scope",
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        ),
        Err(error) => ApiError::from(error).into_response(),
    }
}
