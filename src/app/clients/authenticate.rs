//! Client authentication (RFC 6749 2.3.1, RFC 7523 2.2): the presented credentials against
//! the client's registered method, its secret hash or its keys. Every failure looks the same.

use crate::app::clients::assertion::{AssertionFailure, check_assertion};
use crate::app::clients::{resolve_client, stored_client};
use crate::app::state::AppState;
use crate::oauth::client::{AuthMethod, Client};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::tokens::opaque;

/// The credentials a request presented.
#[derive(Clone, Debug)]
pub enum Presented {
    /// `client_secret_basic`.
    Basic {
        /// The client_id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// `client_secret_post`.
    Post {
        /// The client_id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// A public client's `client_id` alone.
    Public {
        /// The client_id.
        id: String,
    },
    /// A signed JWT; the id is the body's `client_id`, else the assertion's `sub`.
    Assertion {
        /// The client_id.
        id: String,
        /// The JWT.
        assertion: String,
    },
}

impl Presented {
    /// The client_id the credentials name.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { id, .. }
            | Self::Post { id, .. }
            | Self::Public { id }
            | Self::Assertion { id, .. } => id,
        }
    }
}

/// How the calling client is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Stored, or fetched as a client ID metadata document (`/token`).
    MayFetch,
    /// Stored clients only (`/introspect`, `/revoke`): a client that holds tokens is stored,
    /// so an unknown document URL there never costs a fetch.
    StoredOnly,
}

/// Why authentication failed.
#[derive(Debug)]
pub enum AuthFailure {
    /// Unknown client, wrong method, wrong secret or a refused assertion: one answer for all,
    /// so none can be told apart.
    Failed,
    /// The database or a key set could not be reached (503 or 500).
    Unavailable(OAuthError),
}

/// The client the credentials authenticate, enforcing its registered method.
pub async fn authenticate(
    state: &AppState,
    presented: &Presented,
    lookup: Lookup,
) -> Result<Client, AuthFailure> {
    let id = presented.client_id();
    let secret = match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => Some(secret),
        Presented::Public { .. } | Presented::Assertion { .. } => None,
    };
    let found = match lookup {
        Lookup::MayFetch => resolve_client(state, id).await,
        Lookup::StoredOnly => stored_client(state, id).await,
    };
    let client = found.map_err(|error| match error.code {
        ErrorCode::InvalidClient => AuthFailure::Failed,
        _ => AuthFailure::Unavailable(error),
    })?;
    let Some(client) = client else {
        // Spend the same hashing work as a real check, then fail identically.
        let _ = secret.map(|s| opaque::verify(s, ""));
        return Err(AuthFailure::Failed);
    };
    let method = client.settings.auth_method;
    let method_matches = matches!(
        (presented, method),
        (Presented::Basic { .. }, AuthMethod::ClientSecretBasic)
            | (Presented::Post { .. }, AuthMethod::ClientSecretPost)
            | (Presented::Public { .. }, AuthMethod::None)
            | (Presented::Assertion { .. }, AuthMethod::PrivateKeyJwt)
    );
    if !method_matches {
        // The same answer as a wrong secret: naming the registered method would tell a
        // prober which clients exist and how to attack them.
        tracing::info!(client_id = %client.id, registered = %method, "client authentication with the wrong method");
        return Err(AuthFailure::Failed);
    }
    if let Some(secret) = secret {
        let stored = client.secret_hash.as_deref().unwrap_or("");
        if !opaque::verify(secret, stored) {
            tracing::info!(client_id = %client.id, "client authentication failed");
            return Err(AuthFailure::Failed);
        }
    }
    if let Presented::Assertion { assertion, .. } = presented {
        match check_assertion(state, &client, assertion).await {
            Ok(()) => {}
            Err(AssertionFailure::Refused(reason)) => {
                tracing::info!(client_id = %client.id, %reason, "client assertion refused");
                return Err(AuthFailure::Failed);
            }
            Err(AssertionFailure::Unavailable(error)) => {
                return Err(AuthFailure::Unavailable(error));
            }
        }
    }
    Ok(client)
}
