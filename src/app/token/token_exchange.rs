//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): an MCP server,
//! authenticated as its resource-server client, trades the access token a person's MCP client
//! sent it for that person's access token at an upstream identity provider, so it can call the
//! provider's API (GitHub's, Google Drive, Microsoft Graph) for them.

use super::GrantError;
use crate::app::federation::upstream_tokens::{self, Unobtainable};
use crate::app::introspect::{ActiveAccessToken, active_access_token};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::resource;
use serde::Serialize;

/// RFC 8693 3: the token type of the subject token and of the issued token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What the MCP server sends.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeRequest<'a> {
    /// `subject_token`: the mcp-authd access token whose `aud` is the MCP server.
    pub subject_token: &'a str,
    /// `subject_token_type`: must be [`ACCESS_TOKEN_TYPE`].
    pub subject_token_type: &'a str,
    /// `audience`: the identity provider's `id`.
    pub audience: &'a str,
    /// `requested_token_type`: [`ACCESS_TOKEN_TYPE`] when sent.
    pub requested_token_type: Option<&'a str>,
}

/// The answer (RFC 8693 2.2.1): the provider's access token, never a refresh token.
#[derive(Debug, Serialize)]
pub struct ExchangeResponse {
    /// The upstream access token.
    pub access_token: String,
    /// Always [`ACCESS_TOKEN_TYPE`].
    pub issued_token_type: &'static str,
    /// The provider's token type (`Bearer`).
    pub token_type: String,
    /// Seconds it still lasts, when the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// The scopes the provider granted, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Display for ExchangeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExchangeResponse(<redacted>, scope={:?})", self.scope)
    }
}

/// Checks that `client` may act for the person `request.subject_token` names at the MCP
/// server it serves, and hands out their upstream access token.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<ExchangeResponse, GrantError> {
    if !(client.resource_server && client.settings.auth_method.is_confidential()) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "only an MCP server's confidential resource-server client may exchange tokens \
             (mcp-authd clients create --resource-server --resource URI)",
        )
        .into());
    }
    if request.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        ))
        .into());
    }
    if request
        .requested_token_type
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}: only upstream access tokens are issued"
        ))
        .into());
    }
    let Some(upstream) = state
        .providers
        .get(request.audience)
        .filter(|p| p.config.store_upstream_tokens)
    else {
        return Err(OAuthError::invalid_target(
            "audience must be the id of an identity provider with store_upstream_tokens = true",
        )
        .into());
    };
    let Some(ActiveAccessToken {
        claims,
        person: Some(_),
    }) = active_access_token(state, request.subject_token).await?
    else {
        return Err(OAuthError::invalid_grant(
            "subject_token is not a live access token issued for a person",
        )
        .into());
    };
    if !serves(state, client, &claims.aud) {
        return Err(OAuthError::invalid_grant(
            "subject_token was issued for an MCP server this client does not serve",
        )
        .into());
    }
    let now = state.clock.now();
    match upstream_tokens::access_token_for(state, upstream, &claims.sub, now).await {
        Ok(token) => {
            tracing::info!(client_id = %client.id, provider = %upstream.config.id, user_id = %claims.sub, "upstream token handed to an MCP server");
            Ok(ExchangeResponse {
                access_token: token.access_token,
                issued_token_type: ACCESS_TOKEN_TYPE,
                token_type: token.token_type,
                expires_in: token.expires_in,
                scope: token.scope,
            })
        }
        Err(Unobtainable::Missing(why)) => Err(OAuthError::invalid_grant(why).into()),
        Err(Unobtainable::ProviderDown) => Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the identity provider cannot be reached to refresh the token; try again later",
        )
        .into()),
        Err(Unobtainable::Store(error)) => Err(error.into()),
    }
}

/// Whether the token's audience is an MCP server this client serves: one bound to it with
/// `--resource`, or, in open-resource mode for a client bound to none, any.
fn serves(state: &AppState, client: &Client, aud: &str) -> bool {
    let audiences = state.config.audiences();
    if client.resources.is_empty() {
        return audiences.open_resource_mode();
    }
    client.resources.iter().any(|bound| {
        bound == aud || resource::configured(audiences, bound).is_some_and(|r| r.uri == aud)
    })
}
