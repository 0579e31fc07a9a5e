//! Deleting what can no longer be used, so the database stays bounded: expired pending
//! requests, sessions and codes, and refresh-token families that are over. Each sweep is one
//! statement, idempotent, and safe to run from several instances at once.

use super::revocations::ACCESS_TOKEN_HORIZON;
use super::{Store, StoreResult, read_pool, write_pool};

/// Whether a family (the rows grouped by `family_id`) is over: `$1` now, `$2` the retention
/// cutoff. A family goes once no access token issued beside it is alive (revoking a
/// person's tokens still finds those) and it is over: past its absolute lifetime, or
/// idle-expired or revoked before the cutoff, so that a stolen token presented again
/// within the retention still counts as reuse.
const FAMILY_IS_DEAD: &str = "MAX(access_expires_at) <= $1 AND ( \
    MIN(family_expires_at) <= $1 \
    OR MAX(expires_at) <= $2 \
    OR (COUNT(revoked_at) = COUNT(*) AND MAX(revoked_at) <= $2))";

/// Dead families looked for per page of the scan (in `family_id` order, after `$3`).
const SCAN_PAGE: i64 = 1_000;

/// Families deleted per statement: each holds the writer only briefly.
const DELETE_CHUNK: usize = 250;

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

    /// Deletes every token of the refresh families that are over (see [`FAMILY_IS_DEAD`]):
    /// past their absolute lifetime at `now`, or idle-expired or revoked before `cutoff`
    /// (now minus `tokens.revoked_retention`); returns how many tokens went.
    ///
    /// Finding them reads every token, seconds at a million: that scan runs on a reader,
    /// a page of families at a time, and only the deletes, a few hundred families each and
    /// re-checked, take the writer (SQLite's only one), so writes wait milliseconds, not
    /// the whole scan.
    pub async fn sweep_dead_refresh_families(&self, now: i64, cutoff: i64) -> StoreResult<u64> {
        let page_sql = format!(
            "SELECT family_id FROM refresh_tokens WHERE family_id > $3 GROUP BY family_id \
             HAVING {FAMILY_IS_DEAD} ORDER BY family_id LIMIT {SCAN_PAGE}"
        );
        let mut after = String::new();
        let mut deleted = 0;
        loop {
            let page: Vec<String> = read_pool!(self, |pool| sqlx::query_scalar(&page_sql)
                .bind(now)
                .bind(cutoff)
                .bind(&after)
                .fetch_all(pool)
                .await)?;
            for chunk in page.chunks(DELETE_CHUNK) {
                deleted += self.delete_dead_families(chunk, now, cutoff).await?;
            }
            match page.last() {
                Some(last) if page.len() as i64 == SCAN_PAGE => after.clone_from(last),
                _ => return Ok(deleted),
            }
        }
    }

    /// Deletes the tokens of those of `families` that are (still) dead.
    async fn delete_dead_families(
        &self,
        families: &[String],
        now: i64,
        cutoff: i64,
    ) -> StoreResult<u64> {
        let listed: Vec<String> = (3..families.len() + 3).map(|i| format!("${i}")).collect();
        let sql = format!(
            "DELETE FROM refresh_tokens WHERE family_id IN ( \
             SELECT family_id FROM refresh_tokens WHERE family_id IN ({}) \
             GROUP BY family_id HAVING {FAMILY_IS_DEAD})",
            listed.join(", ")
        );
        Ok(write_pool!(self, |pool| {
            let mut query = sqlx::query(&sql).bind(now).bind(cutoff);
            for family in families {
                query = query.bind(family);
            }
            query.execute(pool).await.map(|r| r.rows_affected())
        })?)
    }
}
