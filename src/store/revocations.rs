//! Revoked access tokens (remembered by `jti` until they expire) and revoking every token of
//! one person or one client at once.

use super::{Store, StoreResult, read_pool, transaction, write_pool};
use serde::Serialize;

/// How long after a code's creation its access token may still be alive: revocations of
/// tokens found only through their code are kept that long (the longest configurable
/// access-token lifetime), since the code does not record the token's own expiry.
pub(super) const ACCESS_TOKEN_HORIZON: i64 = 86_400;

/// Records as revoked, inside transaction `$tx`, every unexpired access token issued beside a
/// refresh token or from a code of the person or client whose `$column` (`"user_id"` or
/// `"client_id"`) is `$id`. Evaluates to how many ids were newly recorded.
macro_rules! record_revoked_access_tokens {
    ($tx:ident, $column:literal, $id:expr, $now:expr) => {{
        let now: i64 = $now;
        let from_refresh = sqlx::query(concat!(
            "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) \
             SELECT access_jti, $1, access_expires_at FROM refresh_tokens \
             WHERE ",
            $column,
            " = $2 AND access_expires_at > $1 ON CONFLICT (jti) DO NOTHING"
        ))
        .bind(now)
        .bind($id)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        let from_codes = sqlx::query(concat!(
            "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) \
             SELECT access_jti, $1, created_at + $2 FROM authorization_codes \
             WHERE ",
            $column,
            " = $3 AND access_jti IS NOT NULL AND created_at + $2 > $1 \
             ON CONFLICT (jti) DO NOTHING"
        ))
        .bind(now)
        .bind($crate::store::revocations::ACCESS_TOKEN_HORIZON)
        .bind($id)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        from_refresh + from_codes
    }};
}

/// Revokes, inside transaction `$tx`, every refresh token of the person or client whose
/// `$column` is `$id`, and the access tokens issued beside them or from their codes.
/// Evaluates to the [`RevocationCounts`].
macro_rules! revoke_tokens_of {
    ($tx:ident, $column:literal, $id:expr, $now:expr) => {{
        let now: i64 = $now;
        let families: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens WHERE ",
            $column,
            " = $1 AND revoked_at IS NULL AND rotated_at IS NULL \
             AND expires_at > $2 AND family_expires_at > $2"
        ))
        .bind($id)
        .bind(now)
        .fetch_one(&mut *$tx)
        .await?;
        let access_tokens = record_revoked_access_tokens!($tx, $column, $id, now);
        sqlx::query(concat!(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE ",
            $column,
            " = $2 AND revoked_at IS NULL"
        ))
        .bind(now)
        .bind($id)
        .execute(&mut *$tx)
        .await?;
        RevocationCounts {
            refresh_families: u64::try_from(families).unwrap_or(0),
            access_tokens,
        }
    }};
}

pub(crate) use record_revoked_access_tokens;

/// What revoking every token of a person or client did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RevocationCounts {
    /// Refresh-token families that still had a usable token and are now revoked.
    pub refresh_families: u64,
    /// Access-token ids newly recorded as revoked.
    pub access_tokens: u64,
}

/// One revoked access token, as the in-memory revocation list mirrors it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedAccessToken {
    /// The token's `jti`.
    pub jti: String,
    /// When it was revoked (the revoking instance's clock), unix seconds.
    pub revoked_at: i64,
    /// When the token expires anyway; the record can go then.
    pub expires_at: i64,
}

impl Store {
    /// Unexpired revocations recorded at or after `since`, oldest first, at most `limit`:
    /// how an instance keeps its in-memory revocation list current.
    pub async fn revoked_access_tokens_since(
        &self,
        since: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<RevokedAccessToken>> {
        Ok(read_pool!(self, |pool| sqlx::query_as(
            "SELECT jti, revoked_at, expires_at FROM revoked_access_tokens \
             WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti LIMIT $3"
        )
        .bind(since)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Forgets revocations of tokens that have expired anyway (they fail verification on their
    /// own); returns how many went.
    pub async fn sweep_revoked_access_tokens(&self, now: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(
            "DELETE FROM revoked_access_tokens WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Revokes every refresh-token family of a person and every access token issued to them
    /// that is still recorded (all of a person's tokens are: beside a refresh token or from a
    /// code), and deletes their stored upstream tokens.
    pub async fn revoke_user_tokens(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<RevocationCounts> {
        let counts = transaction!(self, |tx| {
            let counts = revoke_tokens_of!(tx, "user_id", user_id, now);
            sqlx::query("DELETE FROM upstream_tokens WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            counts
        });
        Ok(counts)
    }

    /// Revokes every refresh-token family of a client and the access tokens issued beside
    /// them, and marks every token it was issued up to this second revoked by issue time, which
    /// also reaches its client_credentials tokens (not recorded one by one).
    pub async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: i64,
    ) -> StoreResult<RevocationCounts> {
        let counts = transaction!(self, |tx| {
            let counts = revoke_tokens_of!(tx, "client_id", client_id, now);
            sqlx::query("UPDATE clients SET tokens_revoked_before = $1 WHERE id = $2")
                .bind(now.saturating_add(1))
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            counts
        });
        self.note_client_change();
        Ok(counts)
    }
}
