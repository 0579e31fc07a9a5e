//! Dynamic client registration (RFC 7591) and its management (RFC 7592) without HTTP: who
//! may register, what a registration may say, and what the registration access token allows.

use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::clients::secret_transition;
use crate::app::state::AppState;
use crate::oauth::client::{Client, ClientSource};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::registration::RegistrationMode;
use crate::oauth::registration::{
    Registration, parse_registration, refuse_unapproved_machine_grant,
};
use crate::store::{ClientUpdate, NewClient, StoreError};
use crate::support::rate_limit::{RetryAfter, network_key};
use crate::tokens::opaque;
use serde_json::Value;
use std::net::IpAddr;

/// Hash compared against when the client does not exist, so both paths do the same work.
const NO_CLIENT_HASH: &str = "no-such-client";

/// Why a registration request was refused.
#[derive(Debug)]
pub enum RegisterError {
    /// `registration.mode = "off"`.
    Off,
    /// `registration.per_ip_per_hour` is used up for this network.
    TooMany(RetryAfter),
    /// The bearer token (initial or registration access token) is missing or wrong; says
    /// which, in words a client may see.
    InvalidToken(&'static str),
    /// The metadata is not acceptable (`invalid_client_metadata`, `invalid_redirect_uri`).
    Refused(OAuthError),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for RegisterError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<OAuthError> for RegisterError {
    fn from(error: OAuthError) -> Self {
        Self::Refused(error)
    }
}

/// A client as just registered or updated, with the secrets issued this once.
pub struct Registered {
    /// The client as stored.
    pub client: Client,
    /// A new client secret, for a client whose method uses one.
    pub client_secret: Option<String>,
    /// A new registration access token (RFC 7592), on registration only.
    pub registration_token: Option<String>,
}

/// Whether this caller may register at all: registration on, within the per-network
/// limit, and with the initial access token when `registration.mode = "token"`.
pub fn admit(state: &AppState, ip: IpAddr, bearer: Option<&str>) -> Result<(), RegisterError> {
    let config = &state.config.registration;
    if config.mode == RegistrationMode::Off {
        return Err(RegisterError::Off);
    }
    state
        .registration_limiter
        .check(&network_key(ip), state.clock.now())
        .map_err(RegisterError::TooMany)?;
    if config.mode == RegistrationMode::Token {
        let expected = config
            .initial_access_token
            .as_ref()
            .map(|t| opaque::hash(t.expose()));
        let valid = matches!((bearer, &expected), (Some(t), Some(h)) if opaque::verify(t, h));
        if !valid {
            return Err(RegisterError::InvalidToken(
                "registration requires a valid initial access token (Authorization: Bearer)",
            ));
        }
    }
    Ok(())
}

/// Registers a client from its metadata (after [`admit`]).
pub async fn register(
    state: &AppState,
    ip: IpAddr,
    body: &Value,
) -> Result<Registered, RegisterError> {
    let Registration {
        settings,
        descriptive,
        keys,
    } = checked_registration(state, body)?;
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
    let client = state.store.create_client(new, state.clock.now()).await?;
    tracing::info!(client_id = %client.id, %ip, "registered a client dynamically");
    state
        .audit(event(AuditKind::ClientRegistered, &client).ip(ip))
        .await;
    Ok(Registered {
        client,
        client_secret,
        registration_token: Some(registration_token),
    })
}

/// The client named in a management URL, if `bearer` is its registration access token.
/// Unknown clients and wrong tokens are refused alike (RFC 7592 3).
pub async fn authorized_client(
    state: &AppState,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<Client, RegisterError> {
    let client = state.store.find_client(client_id).await?;
    let Some(token) = bearer else {
        return Err(RegisterError::InvalidToken(
            "the registration access token is required (Authorization: Bearer)",
        ));
    };
    let stored = client
        .as_ref()
        .and_then(|c| c.registration_token_hash.as_deref());
    let valid = opaque::verify(token, stored.unwrap_or(NO_CLIENT_HASH)) && stored.is_some();
    match client {
        Some(client) if valid => Ok(client),
        _ => Err(RegisterError::InvalidToken(
            "the registration access token is not valid for this client",
        )),
    }
}

/// Replaces a registration (RFC 7592 2.2), checked like a new one. A client moving to a
/// secret method gets a new secret; the current secret, if the body repeats it, must be right.
pub async fn update(
    state: &AppState,
    ip: IpAddr,
    client: &Client,
    body: &Value,
) -> Result<Registered, RegisterError> {
    let metadata_error = |m: &'static str| OAuthError::new(ErrorCode::InvalidClientMetadata, m);
    match body.get("client_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if *id == client.id => {}
        Some(_) => Err(metadata_error("client_id must be this client's identifier"))?,
    }
    match body.get("client_secret") {
        None | Some(Value::Null) => {}
        Some(Value::String(secret))
            if client
                .secret_hash
                .as_deref()
                .is_some_and(|h| opaque::verify(secret, h)) => {}
        Some(_) => Err(metadata_error("client_secret is not this client's secret"))?,
    }
    let Registration {
        settings,
        descriptive,
        keys,
    } = checked_registration(state, body)?;
    let (client_secret, secret_hash) =
        secret_transition(client.settings.auth_method, settings.auth_method);
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
        .await?;
    tracing::info!(client_id = %client.id, "updated a dynamically registered client");
    state
        .audit(event(AuditKind::ClientUpdated, &client).ip(ip))
        .await;
    Ok(Registered {
        client,
        client_secret,
        registration_token: None,
    })
}

/// Deletes a client with its grants and tokens (RFC 7592 2.3).
pub async fn remove(state: &AppState, ip: IpAddr, client: &Client) -> Result<(), StoreError> {
    state
        .store
        .delete_client(&client.id, state.clock.now())
        .await?;
    state.revoked.invalidate();
    state.principals.forget_client(&client.id);
    tracing::info!(client_id = %client.id, "deleted a dynamically registered client");
    state
        .audit(event(AuditKind::ClientDeleted, client).ip(ip))
        .await;
    Ok(())
}

/// The metadata parsed and checked against this server's registration rules.
fn checked_registration(state: &AppState, body: &Value) -> Result<Registration, OAuthError> {
    let config = &state.config.registration;
    let registration = parse_registration(body, &config.allowed_redirect_schemes)?;
    refuse_unapproved_machine_grant(&registration.settings, config.machine_clients_allowed())?;
    Ok(registration)
}

/// The audit event of a registration change, through RFC 7591/7592.
fn event(kind: AuditKind, client: &Client) -> AuditEvent {
    AuditEvent::new(kind)
        .client(&client.id)
        .with("name", client.settings.name.as_str())
        .with("via", "registration_endpoint")
}
