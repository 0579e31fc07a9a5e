//! Deleting what can no longer be used, so the database stays bounded: expired pending
//! requests, sessions and codes, and refresh-token families that are over. Each sweep is one
//! statement, idempotent, and safe to run from several instances at once.

use super::revocations::ACCESS_TOKEN_HORIZON;
use super::{Store, StoreResult, write_pool};

/// Refresh-token families to delete: `$1` now, `$2` the retention cutoff. A family goes once
/// no access token issued beside it is alive (revoking a person's tokens still finds those)
/// and it is over: past its absolute lifetime, or idle-expired or revoked before the
/// cutoff, so that a stolen token presented again within the retention still counts as reuse.
const DEAD_FAMILIES: &str = "DELETE FROM refresh_tokens WHERE family_id IN ( \
    SELECT family_id FROM refresh_tokens GROUP BY family_id \
    HAVING MAX(access_expires_at) <= $1 AND ( \
        MIN(family_expires_at) <= $1 \
        OR MAX(expires_at) <= $2 \
        OR (COUNT(revoked_at) = COUNT(*) AND MAX(revoked_at) <= $2)))";

impl Store {
    /// Deletes authorization requests past their expiry, consumed or not; returns how many.
    pub async fn sweep_expired_pending_requests(&self, now: i64) -> StoreResult<u64> {
        self.delete_expired(
            "DELETE FROM authorization_requests WHERE expires_at <= $1",
            now,
        )
        .await
    }

    /// Deletes round trips to identity providers that never came back; returns how many.
    pub async fn sweep_expired_federated_sign_ins(&self, now: i64) -> StoreResult<u64> {
        self.delete_expired("DELETE FROM federated_sign_ins WHERE expires_at <= $1", now)
            .await
    }

    /// Deletes login sessions past their expiry; returns how many.
    pub async fn sweep_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        self.delete_expired("DELETE FROM sessions WHERE expires_at <= $1", now)
            .await
    }

    /// Runs a `DELETE` whose only parameter, `$1`, is now.
    async fn delete_expired(&self, sql: &'static str, now: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(sql)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Deletes expired codes. A redeemed one is kept while the access token it bought may
    /// still be alive, so that a replay or a revocation by person or client still reaches
    /// that token; returns how many went.
    pub async fn sweep_expired_codes(&self, now: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(
            "DELETE FROM authorization_codes WHERE expires_at <= $1 \
             AND (access_jti IS NULL OR created_at + $2 <= $1)"
        )
        .bind(now)
        .bind(ACCESS_TOKEN_HORIZON)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Deletes every token of the refresh families that are over (see [`DEAD_FAMILIES`]):
    /// past their absolute lifetime at `now`, or idle-expired or revoked before `cutoff`
    /// (now minus `tokens.revoked_retention`); returns how many tokens went.
    pub async fn sweep_dead_refresh_families(&self, now: i64, cutoff: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(DEAD_FAMILIES)
            .bind(now)
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
