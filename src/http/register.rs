//! `POST /register` (RFC 7591 dynamic client registration) and `GET`/`PUT`/`DELETE
//! /register/{client_id}` (RFC 7592 management with the registration access token).

use super::client_ip::ClientIp;
use super::error::{ApiError, no_store};
use super::json::JsonBody;
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::state::AppState;
use crate::config::RegistrationMode;
use crate::oauth::client::{ClientKeys, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::registration::{
    MAX_BODY_BYTES, Registration, parse_registration, refuse_unapproved_machine_grant,
};
use crate::store::{Client, ClientSource, ClientUpdate, NewClient};
use crate::support::rate_limit::network_key;
use crate::tokens::opaque;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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

/// 401 `invalid_token` with the RFC 6750 challenge, for a missing or wrong bearer token.
fn invalid_token(description: &'static str) -> Response {
    let mut response = error(OAuthError::new(ErrorCode::InvalidToken, description));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// The token of an `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The audit event of a registration change, through RFC 7591/7592.
fn client_event(kind: AuditKind, client: &Client) -> AuditEvent {
    AuditEvent::new(kind)
        .client(&client.id)
        .with("name", client.settings.name.as_str())
        .with("via", "registration_endpoint")
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

/// `POST /register`.
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Answer {
    let config = &state.config.registration;
    if config.mode == RegistrationMode::Off {
        let mut response = error(OAuthError::new(
            ErrorCode::AccessDenied,
            "dynamic client registration is turned off on this server",
        ));
        *response.status_mut() = StatusCode::FORBIDDEN;
        return Err(response);
    }
    let now = state.clock.now();
    state
        .registration_limiter
        .check(&network_key(ip), now)
        .map_err(|retry| retry.into_json_response("too many registrations from this address"))?;
    if config.mode == RegistrationMode::Token {
        let expected = config
            .initial_access_token
            .as_ref()
            .map(|t| opaque::hash(t.expose()));
        let presented = bearer_token(&headers);
        let valid = matches!((presented, &expected), (Some(t), Some(h)) if opaque::verify(t, h));
        if !valid {
            return Err(invalid_token(
                "registration requires a valid initial access token (Authorization: Bearer)",
            ));
        }
    }
    let JsonBody(body) = body.map_err(body_error)?;
    let Registration {
        settings,
        descriptive,
        keys,
    } = parse_registration(&body, &config.allowed_redirect_schemes).map_err(error)?;
    refuse_unapproved_machine_grant(&settings, config.machine_clients_allowed()).map_err(error)?;

    let client_secret = settings.auth_method.uses_secret().then(opaque::new_secret);
    let registration_token = opaque::new_secret();
    let new = NewClient {
        id: opaque::new_id(),
        settings,
        source: ClientSource::Dynamic,
        secret_hash: client_secret.as_deref().map(opaque::hash),
        resource_server: false,
        resources: Vec::new(),
        keys,
        metadata: Value::Object(descriptive),
        registration_token_hash: Some(opaque::hash(&registration_token)),
    };
    let client = state
        .store
        .create_client(new, now)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    tracing::info!(client_id = %client.id, %ip, "registered a client dynamically");
    state
        .audit(client_event(AuditKind::ClientRegistered, &client).ip(ip))
        .await;
    let info = client_information(
        &state.config.issuer,
        &client,
        client_secret.as_deref(),
        Some(&registration_token),
    );
    Ok(json_response(StatusCode::CREATED, info))
}

/// Hash compared against when the client does not exist, so both paths do the same work.
const NO_CLIENT_HASH: &str = "no-such-client";

/// The client named in the path, if the bearer token is its registration access token.
/// Unknown clients and wrong tokens get the same 401 (RFC 7592 3).
async fn authorized_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<Client, Response> {
    let client = state
        .store
        .find_client(client_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let Some(token) = bearer_token(headers) else {
        return Err(invalid_token(
            "the registration access token is required (Authorization: Bearer)",
        ));
    };
    let stored = client
        .as_ref()
        .and_then(|c| c.registration_token_hash.as_deref());
    let valid = opaque::verify(token, stored.unwrap_or(NO_CLIENT_HASH)) && stored.is_some();
    match client {
        Some(client) if valid => Ok(client),
        _ => Err(invalid_token(
            "the registration access token is not valid for this client",
        )),
    }
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

/// `PUT /register/{client_id}` (RFC 7592 2.2): the body replaces the registration and is
/// checked like a new one. A client moving to a secret method gets a new secret; the
/// current secret, if the body repeats it, must be right.
async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, ApiError>,
) -> Answer {
    let client = authorized_client(&state, &headers, &client_id).await?;
    let JsonBody(body) = body.map_err(body_error)?;
    let metadata_error =
        |m: &'static str| error(OAuthError::new(ErrorCode::InvalidClientMetadata, m));
    match body.get("client_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if *id == client.id => {}
        Some(_) => return Err(metadata_error("client_id must be this client's identifier")),
    }
    match body.get("client_secret") {
        None | Some(Value::Null) => {}
        Some(Value::String(secret))
            if client
                .secret_hash
                .as_deref()
                .is_some_and(|h| opaque::verify(secret, h)) => {}
        Some(_) => return Err(metadata_error("client_secret is not this client's secret")),
    }
    let Registration {
        settings,
        descriptive,
        keys,
    } = parse_registration(&body, &state.config.registration.allowed_redirect_schemes)
        .map_err(error)?;
    refuse_unapproved_machine_grant(
        &settings,
        state.config.registration.machine_clients_allowed(),
    )
    .map_err(error)?;

    let (new_secret, secret_hash) =
        crate::app::clients::secret_transition(client.settings.auth_method, settings.auth_method);
    let update = ClientUpdate {
        settings: Some(settings),
        resource_server: None,
        resources: None,
        keys: Some(keys),
        secret_hash,
        metadata: Some(Value::Object(descriptive)),
    };
    let client = state
        .store
        .update_client(&client.id, update, state.clock.now())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    tracing::info!(client_id = %client.id, "updated a dynamically registered client");
    state
        .audit(client_event(AuditKind::ClientUpdated, &client).ip(ip))
        .await;
    let info = client_information(&state.config.issuer, &client, new_secret.as_deref(), None);
    Ok(json_response(StatusCode::OK, info))
}

/// `DELETE /register/{client_id}` (RFC 7592 2.3): the client goes with its grants and tokens.
async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let client = authorized_client(&state, &headers, &client_id).await?;
    state
        .store
        .delete_client(&client.id, state.clock.now())
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    state.revoked.invalidate();
    state.principals.forget_client(&client.id);
    tracing::info!(client_id = %client.id, "deleted a dynamically registered client");
    state
        .audit(client_event(AuditKind::ClientDeleted, &client).ip(ip))
        .await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    no_store(&mut response);
    Ok(response)
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
