//! Checking a `private_key_jwt` client's assertion against the keys it registered: inline,
//! or fetched from its `jwks_uri` (again, once, when the assertion names a key not in the
//! cached set), then recording its `jti` so that no instance accepts it a second time.

use super::cimd::{FetchError, KeySetFreshness};
use crate::app::state::AppState;
use crate::app::store_failure;
use crate::oauth::client::Client;
use crate::oauth::client::ClientKeys;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::tokens::client_assertion::{self, VerifiedAssertion};
use crate::tokens::key_set;
use serde_json::Value;
use std::sync::Arc;

/// Why an assertion was not accepted.
#[derive(Debug)]
pub enum AssertionFailure {
    /// The assertion is not good; the reason is for the log, the client gets
    /// `invalid_client` whatever it is.
    Refused(String),
    /// The check could not be made (storage down, too many key fetches in flight).
    Unavailable(OAuthError),
}

/// Accepts `assertion` as `client`'s proof of identity at this server: signed by one of its
/// keys, addressed to the issuer or the token endpoint, not expired, and never seen before.
pub async fn check_assertion(
    state: &AppState,
    client: &Client,
    assertion: &str,
) -> Result<(), AssertionFailure> {
    let issuer = &state.config.issuer;
    let audiences = [issuer.clone(), format!("{issuer}/token")];
    let now = state.clock.now();
    let verify = |jwks: &Value| {
        client_assertion::verify(assertion, &client.id, jwks, &audiences, now)
            .map_err(|reason| AssertionFailure::Refused(reason.to_owned()))
    };
    let verified: VerifiedAssertion = match &client.keys {
        None => return Err(AssertionFailure::Refused("the client has no keys".into())),
        Some(ClientKeys::Jwks(jwks)) => verify(jwks)?,
        Some(ClientKeys::JwksUri(uri)) => {
            let mut jwks = key_set(state, uri, now, KeySetFreshness::Cached).await?;
            if key_set::names_unknown_key(assertion, &jwks) {
                jwks = key_set(state, uri, now, KeySetFreshness::Refetch).await?;
            }
            verify(&jwks)?
        }
    };
    let first_use = state
        .store
        .record_client_assertion(&client.id, &verified.jti, verified.expires_at)
        .await
        .map_err(|e| AssertionFailure::Unavailable(store_failure(&e)))?;
    if !first_use {
        return Err(AssertionFailure::Refused(
            "the assertion's jti was used before".into(),
        ));
    }
    Ok(())
}

async fn key_set(
    state: &AppState,
    uri: &str,
    now: i64,
    freshness: KeySetFreshness,
) -> Result<Arc<Value>, AssertionFailure> {
    state
        .cimd
        .key_set(uri, now, freshness)
        .await
        .map_err(|error| match error {
            FetchError::Refused(reason) => {
                AssertionFailure::Refused(format!("the client's jwks_uri: {reason}"))
            }
            FetchError::Busy => AssertionFailure::Unavailable(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many client key sets are being fetched; retry in a moment",
            )),
        })
}
