//! `grant_type=client_credentials` (RFC 6749 4.4): a confidential client acting for itself.

use super::{
    AccessGrant, GrantError, MachineRequest, TokenResponse, mint_access_token, record_use,
};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::resource;

/// Issues an access token whose subject is the client, for a configured MCP server or one
/// the operator bound to the client; no refresh token.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: &MachineRequest<'_>,
) -> Result<TokenResponse, GrantError> {
    let target = resource::resolve_for_machine(
        state.config.audiences(),
        &client.resources,
        request.resources,
    )?;
    let scopes = resource::decide_scopes(
        state.config.audiences(),
        &target,
        request.scope,
        client.settings.scope.as_deref(),
    )?;
    let scope = scopes.granted.join(" ");
    let minted = mint_access_token(
        state,
        &AccessGrant {
            subject: &client.id,
            client_id: &client.id,
            resource: &target.uri,
            scope: &scope,
            auth_time: None,
            reuse: None,
        },
    )?;
    record_use(state, client, state.clock.now()).await?;
    Ok(TokenResponse {
        access_token: minted.jwt,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: None,
        scope,
        id_token: None,
    })
}
