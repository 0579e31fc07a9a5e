//! Periodic housekeeping that runs beside the server, so the database stays bounded whatever
//! anonymous callers do: deleting clients that were registered (or fetched as a metadata
//! document) but never used, expired pending requests, sessions and codes, refresh-token
//! families that are over, revocations of access tokens that have expired, and audit events
//! past `audit.retention`.

use crate::app::state::AppState;
use crate::store::StoreResult;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the sweeps run; each is idempotent, so instances may overlap.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(3_600);

/// Deletes dynamically registered and metadata-document clients that never obtained a token
/// within `registration.unused_client_ttl` of being stored; returns how many went.
pub async fn sweep_unused_clients(state: &AppState) -> StoreResult<u64> {
    let ttl = state.config.registration.unused_client_ttl.as_i64();
    let cutoff = state.clock.now().saturating_sub(ttl);
    let deleted = state.store.delete_unused_clients(cutoff).await?;
    if deleted > 0 {
        tracing::info!(
            deleted,
            "deleted unused dynamic and metadata-document clients"
        );
    }
    Ok(deleted)
}

/// What one [`sweep_expired`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Authorization requests past their expiry.
    pub pending_requests: u64,
    /// Login sessions past their expiry.
    pub sessions: u64,
    /// Round trips to identity providers that never came back.
    pub federated_sign_ins: u64,
    /// Codes past their expiry (redeemed ones once their access token has expired too).
    pub codes: u64,
    /// Refresh tokens of families that are over.
    pub refresh_tokens: u64,
    /// Remembered `private_key_jwt` assertion ids past their expiry.
    pub client_assertions: u64,
}

/// Deletes expired pending requests, sessions and codes, and the refresh-token families past
/// their absolute lifetime or revoked (or idle-expired) longer than `tokens.revoked_retention`.
pub async fn sweep_expired(state: &AppState) -> StoreResult<Expired> {
    let now = state.clock.now();
    let retention = state.config.tokens.revoked_retention.as_i64();
    let store = &state.store;
    let expired = Expired {
        pending_requests: store.sweep_expired_pending_requests(now).await?,
        sessions: store.sweep_expired_sessions(now).await?,
        federated_sign_ins: store.sweep_expired_federated_sign_ins(now).await?,
        codes: store.sweep_expired_codes(now).await?,
        refresh_tokens: store
            .sweep_dead_refresh_families(now, now.saturating_sub(retention))
            .await?,
        client_assertions: store.sweep_expired_client_assertions(now).await?,
    };
    if expired != Expired::default() {
        tracing::info!(
            ?expired,
            "deleted expired requests, sessions, codes and refresh tokens"
        );
    }
    Ok(expired)
}

/// Deletes the records of revoked access tokens that have expired anyway (they no longer
/// verify, so nothing needs to remember them); returns how many went.
pub async fn sweep_revoked_access_tokens(state: &AppState) -> StoreResult<u64> {
    let swept = state
        .store
        .sweep_revoked_access_tokens(state.clock.now())
        .await?;
    if swept > 0 {
        tracing::info!(swept, "forgot revocations of expired access tokens");
    }
    Ok(swept)
}

/// Deletes audit events older than `audit.retention`; returns how many went.
pub async fn sweep_audit_events(state: &AppState) -> StoreResult<u64> {
    let retention = state.config.audit.retention.as_i64();
    let deleted = crate::app::audit::prune(&state.store, &state.clock, retention).await?;
    if deleted > 0 {
        tracing::info!(deleted, "pruned audit events past audit.retention");
    }
    Ok(deleted)
}

/// Runs every sweep now and then every [`SWEEP_INTERVAL`] until the task is aborted.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = sweep_unused_clients(&state).await {
                tracing::warn!(%error, "unused-client sweep failed; retrying next interval");
            }
            if let Err(error) = sweep_expired(&state).await {
                tracing::warn!(%error, "expiry sweep failed; retrying next interval");
            }
            if let Err(error) = sweep_revoked_access_tokens(&state).await {
                tracing::warn!(%error, "revoked-token sweep failed; retrying next interval");
            }
            if let Err(error) = sweep_audit_events(&state).await {
                tracing::warn!(%error, "audit-event sweep failed; retrying next interval");
            }
        }
    })
}
