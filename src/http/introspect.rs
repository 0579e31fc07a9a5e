//! `POST /introspect` (RFC 7662): an authenticated client asks whether a token is active.

use super::client_auth;
use super::error::{ApiError, no_store};
use super::form::FormParams;
use crate::app::clients::authenticate::Lookup;
use crate::app::introspect::{self, Caller};
use crate::app::state::AppState;
use crate::oauth::error::{ErrorCode, OAuthError};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

/// `POST /introspect`: 401 `invalid_client` unless the caller authenticates as a confidential
/// client (RFC 6749 2.3.1, RFC 7523; a public client's `client_id` alone is anyone's to send, so it is
/// refused); then 200 with the answer, which is `{"active": false}` for any token the caller
/// may not see. `token_type_hint` is ignored.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    if !client_auth::presents_credentials(&headers, &params) {
        return Err(ApiError::from(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection requires client authentication with a secret or a key; public clients cannot introspect",
        ))
        .with_basic_challenge());
    }
    let client = client_auth::authenticate(&state, &headers, &params, Lookup::StoredOnly).await?;
    let token = params.require("token")?;
    let answer = introspect::introspect(&state, Caller::Client(&client), token).await?;
    tracing::debug!(client_id = %client.id, active = answer.active, "token introspected");
    let mut response = Json(&answer).into_response();
    no_store(&mut response);
    Ok(response)
}
