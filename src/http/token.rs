//! `POST /token` (RFC 6749 3.2): authenticate the client, dispatch on `grant_type` (the
//! RFC 6749 grants and RFC 8693 token exchange), and answer with `Cache-Control: no-store`
//! either way.

use super::client_auth;
use super::client_ip::ClientIp;
use super::error::{ApiError, no_store};
use super::form::FormParams;
use crate::app::clients::authenticate::Lookup;
use crate::app::state::AppState;
use crate::app::token::token_exchange::{ExchangeRequest, ExchangeResponse};
use crate::app::token::{
    self, CodeRequest, GrantError, MachineRequest, RefreshRequest, TokenResponse,
};
use crate::oauth::client::Client;
use crate::oauth::client::GrantType;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::metadata::TOKEN_EXCHANGE;
use crate::oauth::params::Params;
use crate::support::rate_limit::network_key;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

/// `POST /token`. Only failed client authentication counts against the limit, per client
/// network and claimed client_id: past `tokens.max_failures` in `tokens.failure_window` that
/// pair gets 429 until the window ends. Codes, refresh tokens and secrets are 256-bit, so an
/// `invalid_grant` reveals nothing worth limiting, and counting it would let a company's
/// clients behind one NAT address lock themselves out with ordinary expired tokens.
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    let claimed = client_auth::claimed_client_id(&headers, &params).unwrap_or_default();
    let network = network_key(ip);
    let now = state.clock.now();
    if let Err(retry) = state.token_limiter.peek_member(&network, &claimed, now) {
        tracing::warn!(client_id = %claimed, %ip, "token request refused: too many failed client authentications");
        return Ok(retry.into_json_response("too many failed client authentications"));
    }
    let answer = issue(&state, &headers, &params).await;
    if let Err(error) = &answer {
        state.metrics.token_refused(error.error.code.as_str());
        if error.error.code == ErrorCode::InvalidClient {
            state.token_limiter.record_member(&network, &claimed, now);
        }
    }
    answer
}

/// What `grant_type` asks for: one of the client's registered grants, or token exchange,
/// which a resource-server client may use without registering it.
#[derive(Clone, Copy)]
enum Requested {
    Grant(GrantType),
    TokenExchange,
}

impl Requested {
    fn as_str(self) -> &'static str {
        match self {
            Self::Grant(grant) => grant.as_str(),
            Self::TokenExchange => "token_exchange",
        }
    }
}

/// Authenticates the client and runs its grant.
async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, ApiError> {
    let requested = match params.require("grant_type")? {
        "authorization_code" => Requested::Grant(GrantType::AuthorizationCode),
        "refresh_token" => Requested::Grant(GrantType::RefreshToken),
        "client_credentials" => Requested::Grant(GrantType::ClientCredentials),
        TOKEN_EXCHANGE => Requested::TokenExchange,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            )
            .into());
        }
    };
    let client = client_auth::authenticate(state, headers, params, Lookup::MayFetch).await?;
    let result = match requested {
        Requested::Grant(grant_type) => {
            if !client.settings.grant_types.contains(&grant_type) {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    format!("this client is not registered for the {grant_type} grant"),
                )
                .into());
            }
            run_grant(state, &client, grant_type, params)
                .await
                .map(|tokens| Json(&tokens).into_response())
        }
        Requested::TokenExchange => exchange_token(state, &client, params)
            .await
            .map(|tokens| Json(&tokens).into_response()),
    };
    let grant = requested.as_str();
    match result {
        Ok(mut response) => {
            tracing::info!(client_id = %client.id, grant, "tokens issued");
            state.metrics.tokens_issued(grant);
            no_store(&mut response);
            Ok(response)
        }
        Err(GrantError::OAuth(error)) => {
            tracing::info!(client_id = %client.id, grant, error = %error.code, "token request refused");
            Err(error.into())
        }
        Err(GrantError::Store(error)) => Err(error.into()),
    }
}

/// RFC 8693 2.1: the exchange's parameters; `audience` names the identity provider.
async fn exchange_token(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<ExchangeResponse, GrantError> {
    let request = ExchangeRequest {
        subject_token: params.require("subject_token")?,
        subject_token_type: params.require("subject_token_type")?,
        audience: params.require("audience")?,
        requested_token_type: params.get("requested_token_type"),
    };
    token::token_exchange::exchange(state, client, &request).await
}

/// Reads the grant's parameters into its typed request and runs the grant.
async fn run_grant(
    state: &AppState,
    client: &Client,
    grant_type: GrantType,
    params: &Params,
) -> Result<TokenResponse, GrantError> {
    let resources = params.all("resource");
    match grant_type {
        GrantType::AuthorizationCode => {
            let request = CodeRequest {
                code: params.require("code")?,
                code_verifier: params.require("code_verifier")?,
                redirect_uri: params.get("redirect_uri"),
                resources,
            };
            token::authorization_code::exchange(state, client, &request).await
        }
        GrantType::RefreshToken => {
            let request = RefreshRequest {
                refresh_token: params.require("refresh_token")?,
                scope: params.get("scope"),
                resources,
            };
            token::refresh_token::exchange(state, client, &request).await
        }
        GrantType::ClientCredentials => {
            let request = MachineRequest {
                scope: params.get("scope"),
                resources,
            };
            token::client_credentials::exchange(state, client, &request).await
        }
    }
}
