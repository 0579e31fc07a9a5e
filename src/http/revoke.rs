//! `POST /revoke` (RFC 7009): a client revokes a token issued to itself.

use super::client_auth;
use super::error::{ApiError, no_store};
use super::form::FormParams;
use crate::app::clients::authenticate::Lookup;
use crate::app::revoke::{self, Revoked};
use crate::app::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// `POST /revoke`: 401 `invalid_client` unless the caller authenticates as a client (public
/// clients send `client_id`); then 200 with an empty body whether the token was revoked,
/// unknown, or another client's (RFC 7009 2.2). `token_type_hint` is ignored.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    let client = client_auth::authenticate(&state, &headers, &params, Lookup::StoredOnly).await?;
    let token = params.require("token")?;
    let revoked = revoke::revoke(&state, &client, token).await?;
    if revoked != Revoked::Nothing {
        tracing::info!(client_id = %client.id, what = ?revoked, "token revoked by its client");
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
