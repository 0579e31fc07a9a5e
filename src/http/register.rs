//! `POST /register` (RFC 7591 dynamic client registration) and `GET`/`PUT`/`DELETE
//! /register/{client_id}` (RFC 7592 management with the registration access token).

use super::bearer::{bearer_token, invalid_token};
use super::client_ip::ClientIp;
use super::error::{ApiError, no_store};
use super::json::JsonBody;
use crate::app::register::{self as flow, RegisterError, Registered};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::client::{ClientKeys, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::registration::MAX_BODY_BYTES;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

/// A handler's answer: the success response, or an error already shaped as a response.
type Answer = Result<Response, Response>;

/// The registration routes; bodies are capped at 16 KB (or `http.max_body_bytes` if lower).
pub fn routes(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route(
            "/register/{client_id}",
            get(read).put(update).delete(remove),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes.min(MAX_BODY_BYTES)))
}

fn error(error: OAuthError) -> Response {
    ApiError::from(error).into_response()
}

/// Body failures at `/register` are metadata errors (RFC 7591 3.2.2).
fn body_error(e: ApiError) -> Response {
    error(OAuthError::new(
        ErrorCode::InvalidClientMetadata,
        e.error.description,
    ))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    no_store(&mut response);
    response
}

/// The client information response (RFC 7591 3.2.1): every registered field, plus the
/// secrets only when just issued.
fn client_information(
    issuer: &str,
    client: &Client,
    client_secret: Option<&str>,
    registration_access_token: Option<&str>,
) -> Value {
    let s = &client.settings;
    let mut info: Map<String, Value> = client.metadata.as_object().cloned().unwrap_or_default();
    info.insert("client_id".into(), client.id.clone().into());
    info.insert("client_id_issued_at".into(), client.created_at.into());
    info.insert("redirect_uris".into(), s.redirect_uris.clone().into());
    info.insert(
        "grant_types".into(),
        s.grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    if s.grant_types.contains(&GrantType::AuthorizationCode) {
        info.insert("response_types".into(), vec!["code"].into());
    }
    info.insert(
        "token_endpoint_auth_method".into(),
        s.auth_method.as_str().into(),
    );
    if let Some(scope) = &s.scope {
        info.insert("scope".into(), scope.clone().into());
    }
    match &client.keys {
        Some(ClientKeys::Jwks(jwks)) => {
            info.insert("jwks".into(), jwks.clone());
        }
        Some(ClientKeys::JwksUri(uri)) => {
            info.insert("jwks_uri".into(), uri.clone().into());
        }
        None => {}
    }
    if s.auth_method.uses_secret() {
        if let Some(secret) = client_secret {
            info.insert("client_secret".into(), secret.into());
        }
        info.insert("client_secret_expires_at".into(), 0.into());
    }
    if let Some(token) = registration_access_token {
        info.insert("registration_access_token".into(), token.into());
    }
    info.insert(
        "registration_client_uri".into(),
        format!("{issuer}/register/{}", client.id).into(),
    );
    Value::Object(info)
}

/// The answer to a refused registration request.
fn refusal(refused: RegisterError) -> Response {
    match refused {
        RegisterError::Off => {
            let mut response = error(OAuthError::new(
                ErrorCode::AccessDenied,
                "dynamic client registration is turned off on this server",
            ));
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        }
        RegisterError::TooMany(retry) => {
            retry.into_json_response("too many registrations from this address")
        }
        RegisterError::InvalidToken(description) => invalid_token(description),
        RegisterError::Refused(e) => error(e),
        RegisterError::Store(e) => ApiError::from(e).into_response(),
    }
}

/// The client information response of a registration or update.
fn registered(state: &AppState, status: StatusCode, registered: &Registered) -> Response {
    let info = client_information(
        &state.config.issuer,
        &registered.client,
        registered.client_secret.as_deref(),
        registered.registration_token.as_deref(),
    );
    json_response(status, info)
}

/// `POST /register`.
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Answer {
    flow::admit(&state, ip, bearer_token(&headers)).map_err(refusal)?;
    let JsonBody(body) = body.map_err(body_error)?;
    let client = flow::register(&state, ip, &body).await.map_err(refusal)?;
    Ok(registered(&state, StatusCode::CREATED, &client))
}

/// The client of a management URL, for the bearer of its registration access token.
async fn authorized_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<Client, Response> {
    flow::authorized_client(state, client_id, bearer_token(headers))
        .await
        .map_err(refusal)
}

/// `GET /register/{client_id}` (RFC 7592 2.1).
async fn read(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let client = authorized_client(&state, &headers, &client_id).await?;
    let info = client_information(&state.config.issuer, &client, None, None);
    Ok(json_response(StatusCode::OK, info))
}

/// `PUT /register/{client_id}` (RFC 7592 2.2).
async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Answer {
    let client = authorized_client(&state, &headers, &client_id).await?;
    let JsonBody(body) = body.map_err(body_error)?;
    let client = flow::update(&state, ip, &client, &body)
        .await
        .map_err(refusal)?;
    Ok(registered(&state, StatusCode::OK, &client))
}

/// `DELETE /register/{client_id}` (RFC 7592 2.3): the client goes with its grants and tokens.
async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let client = authorized_client(&state, &headers, &client_id).await?;
    flow::remove(&state, ip, &client)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    no_store(&mut response);
    Ok(response)
}
