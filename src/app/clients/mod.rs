//! Turning a client_id into a client: a stored client, or a client ID metadata document.

pub mod assertion;
pub mod authenticate;
pub mod cache;
pub mod cimd;
pub mod single_flight;

use crate::app::state::AppState;
use crate::app::store_failure;
use crate::oauth::cimd::is_document_url;
use crate::oauth::client::AuthMethod;
use crate::oauth::client::{Client, ClientSource};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::store::NewClient;
use crate::tokens::opaque;
use cimd::FetchError;
use serde_json::Value;

/// The one way the authorize and token endpoints look a client up.
///
/// - A client_id that is an https URL with a path, while `cimd.enabled`, names a client ID
///   metadata document. The stored copy is used while its cache lifetime lasts; otherwise the
///   document is fetched, checked and upserted into the clients table (codes, grants and
///   refresh tokens reference it there). Concurrent lookups of one document share one fetch.
///   A document that cannot be fetched or fails a rule is `Err(invalid_client)` with the
///   reason, also for `cimd.negative_cache_ttl` after it (without fetching again); past
///   `cimd.max_concurrent_fetches` the answer is `temporarily_unavailable`.
/// - Any other client_id is looked up among stored clients; `Ok(None)` when unknown.
///
/// Storage failures are `server_error` or `temporarily_unavailable`.
pub async fn resolve_client(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Client>, OAuthError> {
    let stored = stored_client(state, client_id).await?;
    if !(state.config.cimd.enabled && is_document_url(client_id)) {
        return Ok(stored);
    }
    match stored {
        Some(client) if client.source != ClientSource::Cimd => return Ok(Some(client)),
        Some(client) if state.cimd.is_fresh(client_id, state.clock.now()) => {
            return Ok(Some(client));
        }
        _ => {}
    }
    state
        .cimd_lookups
        .run(client_id, || fetch_document_client(state, client_id))
        .await
}

/// The stored client with this id, never fetching anything: what `/introspect` and
/// `/revoke` use, since a client can only hold tokens once it is stored. A document client
/// stays unusable while documents are turned off. From memory while the client cache is
/// fresh ([`cache`]); unknown ids always ask the database.
pub async fn stored_client(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Client>, OAuthError> {
    let stored = match state.clients.get(client_id) {
        Ok(client) => Some(client),
        Err(ticket) => {
            let stored = state
                .store
                .find_client(client_id)
                .await
                .map_err(|e| store_failure(&e))?;
            if let Some(client) = &stored {
                state.clients.keep(ticket, client);
            }
            stored
        }
    };
    Ok(stored.filter(|c| state.config.cimd.enabled || c.source != ClientSource::Cimd))
}

/// Fetches the document `client_id` names and stores it as a client.
async fn fetch_document_client(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Client>, OAuthError> {
    let now = state.clock.now();
    let fetched = state
        .cimd
        .fetch(
            client_id,
            now,
            &state.config.registration.allowed_redirect_schemes,
        )
        .await
        .map_err(|error| match error {
            FetchError::Refused(reason) => {
                tracing::info!(client_id, %reason, "client ID metadata document refused");
                OAuthError::new(
                    ErrorCode::InvalidClient,
                    format!("the client ID metadata document was refused: {reason}"),
                )
            }
            FetchError::Busy => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many client ID metadata documents are being fetched; retry in a moment",
            ),
        })?;
    let registration = fetched.registration;
    let new = NewClient {
        id: client_id.to_owned(),
        settings: registration.settings,
        source: ClientSource::Cimd,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
        keys: registration.keys,
        metadata: Value::Object(registration.descriptive),
        registration_token_hash: None,
    };
    let client = state
        .store
        .upsert_cimd_client(new, now)
        .await
        .map_err(|e| store_failure(&e))?;
    state.cimd.remember(client_id, now, fetched.ttl);
    Ok(Some(client))
}

/// What an auth-method change does to a client's secret: a client moving to a secret method
/// gets a new secret (shown once), one moving to `none` or `private_key_jwt` loses it.
/// Returns the new plaintext secret, if any, and the `ClientUpdate::secret_hash` to apply.
pub fn secret_transition(
    from: AuthMethod,
    to: AuthMethod,
) -> (Option<String>, Option<Option<String>>) {
    match (from.uses_secret(), to.uses_secret()) {
        (false, true) => {
            let secret = opaque::new_secret();
            let hash = opaque::hash(&secret);
            (Some(secret), Some(Some(hash)))
        }
        (true, false) => (None, Some(None)),
        _ => (None, None),
    }
}
