//! Authorization codes: stored hashed, redeemed at most once.

use super::{Store, StoreResult, read_pool, write_pool};

/// A code about to be stored, with everything the token endpoint must check it against.
#[derive(Clone, Debug)]
pub struct NewAuthorizationCode {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The person who approved it.
    pub user_id: String,
    /// The consent it was issued under.
    pub grant_id: Option<String>,
    /// The redirect URI it was delivered to.
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then `/token` must repeat it).
    pub redirect_uri_sent: bool,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The audience of the tokens it will buy.
    pub resource: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// When the person authenticated, unix seconds.
    pub auth_time: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A stored code.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The person who approved it.
    pub user_id: String,
    /// The consent it was issued under.
    pub grant_id: Option<String>,
    /// The redirect URI it was delivered to.
    pub redirect_uri: String,
    /// Whether the request named the redirect URI.
    pub redirect_uri_sent: bool,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The audience.
    pub resource: String,
    /// Granted scopes.
    pub scope: String,
    /// When the person authenticated.
    pub auth_time: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// When it was redeemed, if it was.
    pub consumed_at: Option<i64>,
    /// The refresh family bought with it, so a replay can revoke it.
    pub family_id: Option<String>,
    /// The access token bought with it, so a replay can revoke it.
    pub access_jti: Option<String>,
}

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, grant_id, redirect_uri, \
    redirect_uri_sent, code_challenge, resource, scope, auth_time, created_at, expires_at, \
    consumed_at, family_id, access_jti";

impl Store {
    /// Stores a freshly minted code.
    pub async fn insert_code(&self, code: &NewAuthorizationCode, now: i64) -> StoreResult<()> {
        write_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, grant_id, redirect_uri, \
             redirect_uri_sent, code_challenge, resource, scope, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.grant_id)
        .bind(&code.redirect_uri)
        .bind(code.redirect_uri_sent)
        .bind(&code.code_challenge)
        .bind(&code.resource)
        .bind(&code.scope)
        .bind(code.auth_time)
        .bind(now)
        .bind(code.expires_at)
        .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Marks an unexpired, unused code as used and returns it, in one conditional statement:
    /// of any number of concurrent calls with the same code, exactly one gets `Some`.
    pub async fn consume_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<AuthorizationCode>> {
        let sql = format!(
            "UPDATE authorization_codes SET consumed_at = $1 \
             WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING {CODE_COLUMNS}"
        );
        Ok(write_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(now)
            .bind(code_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// A code in whatever state it is, to tell a replay from an unknown code.
    pub async fn find_code(&self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(code_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records what a redeemed code bought, so a later replay can revoke exactly that.
    pub async fn record_code_tokens(
        &self,
        code_hash: &str,
        family_id: Option<&str>,
        access_jti: &str,
    ) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "UPDATE authorization_codes SET family_id = $1, access_jti = $2 WHERE code_hash = $3"
        )
        .bind(family_id)
        .bind(access_jti)
        .bind(code_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
