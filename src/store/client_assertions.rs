//! The replay cache of `private_key_jwt` assertions: each `jti` of a client is accepted
//! once, on every instance, until the assertion expires (RFC 7523 3, item 7).

use super::{Store, StoreResult, write_pool};

impl Store {
    /// Records that `client_id` used assertion `jti`, valid until `expires_at`. Returns
    /// `false` when it was already recorded: a replay. One `INSERT … ON CONFLICT DO NOTHING`
    /// decides, so two requests racing with one assertion cannot both win.
    pub async fn record_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let inserted = write_pool!(self, |pool| sqlx::query(
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO NOTHING"
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Forgets assertions that expired before `now` (they fail their `exp` check anyway);
    /// returns how many went.
    pub async fn sweep_expired_client_assertions(&self, now: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(
            "DELETE FROM client_assertions WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
