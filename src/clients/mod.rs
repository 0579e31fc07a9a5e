//! Turning a client_id into a client: a stored client, or a client ID metadata document.

pub mod cimd;

use crate::http::error::store_failure;
use crate::oauth::cimd::is_document_url;
use crate::oauth::client::AuthMethod;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::store::{Client, ClientSource, NewClient};
use crate::tokens::opaque;
use serde_json::Value;

/// The one way the authorize and token endpoints look a client up.
///
/// - A client_id that is an https URL with a path, while `cimd.enabled`, names a client ID
///   metadata document. The stored copy is used while its cache lifetime lasts; otherwise the
///   document is fetched, checked and upserted into the clients table (codes, grants and
///   refresh tokens reference it there). A document that cannot be fetched or fails a rule is
///   `Err(invalid_client)` with the reason, and that failure is not cached.
/// - Any other client_id is looked up among stored clients; `Ok(None)` when unknown.
///
/// Storage failures are `server_error` or `temporarily_unavailable`.
pub async fn resolve_client(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Client>, OAuthError> {
    let enabled = state.config.cimd.enabled;
    let stored = state
        .store
        .find_client(client_id)
        .await
        .map_err(|e| store_failure(&e))?;
    if !(enabled && is_document_url(client_id)) {
        // A document client stays unusable while documents are turned off.
        return Ok(stored.filter(|c| c.source != ClientSource::Cimd));
    }
    let now = state.clock.now();
    match stored {
        Some(client) if client.source != ClientSource::Cimd => return Ok(Some(client)),
        Some(client) if state.cimd.is_fresh(client_id, now) => return Ok(Some(client)),
        _ => {}
    }
    let fetched = state
        .cimd
        .fetch(
            client_id,
            &state.config.registration.allowed_redirect_schemes,
        )
        .await
        .map_err(|reason| {
            tracing::info!(client_id, %reason, "client ID metadata document refused");
            OAuthError::new(
                ErrorCode::InvalidClient,
                format!("the client ID metadata document was refused: {reason}"),
            )
        })?;
    let registration = fetched.registration;
    let new = NewClient {
        id: client_id.to_owned(),
        settings: registration.settings,
        source: ClientSource::Cimd,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
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

/// What an auth-method change does to a client's secret: a public client becoming
/// confidential gets a new secret (shown once), a confidential one becoming public loses it.
/// Returns the new plaintext secret, if any, and the `ClientUpdate::secret_hash` to apply.
pub fn secret_transition(
    from: AuthMethod,
    to: AuthMethod,
) -> (Option<String>, Option<Option<String>>) {
    match (from.is_confidential(), to.is_confidential()) {
        (false, true) => {
            let secret = opaque::new_secret();
            let hash = opaque::hash(&secret);
            (Some(secret), Some(Some(hash)))
        }
        (true, false) => (None, Some(None)),
        _ => (None, None),
    }
}
