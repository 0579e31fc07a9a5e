//! Login sessions and the authorization requests waiting on a person.

use super::users::User;
use super::{Store, StoreResult, read_pool, write_pool};

/// A live login session with its person.
#[derive(Clone, Debug)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub id_hash: String,
    /// When the person signed in.
    pub auth_time: i64,
    /// The identity provider they signed in with; `None` for the local password.
    pub identity_provider: Option<String>,
    /// When the session ends.
    pub expires_at: i64,
    /// Who is logged in.
    pub user: User,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    auth_time: i64,
    identity_provider: Option<String>,
    expires_at: i64,
    #[sqlx(flatten)]
    user: User,
}

impl Store {
    /// Starts a session for a person who just signed in, with their password or at
    /// `identity_provider`.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: &str,
        identity_provider: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        write_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, identity_provider, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(identity_provider)
        .bind(now)
        .bind(expires_at)
        .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The live session with this id, if its person still exists and is enabled.
    pub async fn find_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = read_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT s.id_hash, s.auth_time, s.identity_provider, s.expires_at, u.id, u.username, u.password_hash, \
             u.disabled, u.display_name, u.email, u.email_verified, u.created_at, u.updated_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = $3"
        )
        .bind(id_hash)
        .bind(now)
        .bind(false)
        .fetch_optional(pool)
        .await
        })?;
        Ok(row.map(|r| Session {
            id_hash: r.id_hash,
            auth_time: r.auth_time,
            identity_provider: r.identity_provider,
            expires_at: r.expires_at,
            user: r.user,
        }))
    }

    /// Ends a session (logout, or a new login replacing it).
    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Keeps a validated authorization request while the person logs in and decides.
    pub async fn insert_pending_request(
        &self,
        id_hash: &str,
        binding_hash: &str,
        client_id: &str,
        request_json: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        write_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO authorization_requests (id_hash, binding_hash, client_id, request, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(id_hash)
        .bind(binding_hash)
        .bind(client_id)
        .bind(request_json)
        .bind(now)
        .bind(expires_at)
        .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The stored request JSON if it is unexpired, unconsumed and belongs to this browser.
    pub async fn find_pending_request(
        &self,
        id_hash: &str,
        binding_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        Ok(read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT request FROM authorization_requests \
             WHERE id_hash = $1 AND binding_hash = $2 AND consumed_at IS NULL AND expires_at > $3"
        )
        .bind(id_hash)
        .bind(binding_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
    }

    /// Consumes a pending request once: of concurrent calls, exactly one gets its JSON.
    pub async fn consume_pending_request(
        &self,
        id_hash: &str,
        binding_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        Ok(write_pool!(self, |pool| sqlx::query_scalar(
            "UPDATE authorization_requests SET consumed_at = $1 \
             WHERE id_hash = $2 AND binding_hash = $3 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING request"
        )
        .bind(now)
        .bind(id_hash)
        .bind(binding_hash)
        .fetch_optional(pool)
        .await)?)
    }

    /// Gives a waiting request a new handle (after a round trip to an identity provider,
    /// which never saw the old one); false if it is no longer waiting for this browser.
    pub async fn rekey_pending_request(
        &self,
        old_hash: &str,
        new_hash: &str,
        binding_hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let changed = write_pool!(self, |pool| sqlx::query(
            "UPDATE authorization_requests SET id_hash = $1 \
             WHERE id_hash = $2 AND binding_hash = $3 AND consumed_at IS NULL AND expires_at > $4"
        )
        .bind(new_hash)
        .bind(old_hash)
        .bind(binding_hash)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }
}
