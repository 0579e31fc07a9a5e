//! The flows: what each endpoint and command does, between `http` (which translates) and the
//! protocol rules (`oauth`, `tokens`) and storage (`store`) it uses.

pub mod account;
pub mod audit;
pub mod authorize;
pub mod clients;
pub mod consent;
pub mod federation;
pub mod introspect;
pub mod keys;
pub mod register;
pub mod revoke;
pub mod sign_in;
pub mod state;
pub mod sweeps;
pub mod token;
pub mod userinfo;

use crate::oauth::error::OAuthError;
use crate::store::StoreError;

/// Logs a storage failure in full and returns the client-safe error for it: 503 when the
/// database is unreachable (so clients retry), 500 otherwise.
pub fn store_failure(error: &StoreError) -> OAuthError {
    if error.is_unavailable() {
        tracing::warn!(%error, "database unavailable");
        OAuthError::unavailable()
    } else {
        tracing::error!(%error, "storage failure");
        OAuthError::server_error()
    }
}
