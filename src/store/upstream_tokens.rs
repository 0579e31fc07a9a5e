//! The tokens an upstream provider issued for a person, kept (sealed by the caller) so MCP
//! servers can act for them through token exchange.

use super::{Store, StoreResult, read_pool, write_pool};

/// One person's tokens at one provider, as stored: both tokens sealed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UpstreamTokens {
    /// mcp-authd's id of the person.
    pub user_id: String,
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The sealed access token.
    pub access_token: String,
    /// The sealed refresh token, when the provider issued one.
    pub refresh_token: Option<String>,
    /// The provider's `token_type` (usually `Bearer`).
    pub token_type: String,
    /// The scopes the provider granted, when it said.
    pub scope: Option<String>,
    /// When the access token expires, unix seconds; `None` when the provider did not say.
    pub expires_at: Option<i64>,
    /// When these tokens were stored, unix seconds.
    pub updated_at: i64,
}

impl Store {
    /// Stores (or replaces) a person's tokens at a provider.
    pub async fn save_upstream_tokens(&self, tokens: &UpstreamTokens) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO upstream_tokens (user_id, provider, access_token, refresh_token, \
             token_type, scope, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (user_id, provider) DO UPDATE SET access_token = excluded.access_token, \
             refresh_token = excluded.refresh_token, token_type = excluded.token_type, \
             scope = excluded.scope, expires_at = excluded.expires_at, \
             updated_at = excluded.updated_at"
        )
        .bind(&tokens.user_id)
        .bind(&tokens.provider)
        .bind(&tokens.access_token)
        .bind(&tokens.refresh_token)
        .bind(&tokens.token_type)
        .bind(&tokens.scope)
        .bind(tokens.expires_at)
        .bind(tokens.updated_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A person's tokens at a provider, if stored.
    pub async fn find_upstream_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> StoreResult<Option<UpstreamTokens>> {
        Ok(read_pool!(self, |pool| sqlx::query_as(
            "SELECT user_id, provider, access_token, refresh_token, token_type, scope, \
             expires_at, updated_at FROM upstream_tokens WHERE user_id = $1 AND provider = $2"
        )
        .bind(user_id)
        .bind(provider)
        .fetch_optional(pool)
        .await)?)
    }

    /// Forgets a person's tokens at a provider, unless they were replaced after `updated_at`
    /// (by a fresh sign-in or another instance's refresh): for tokens the provider refused.
    pub async fn forget_upstream_tokens(
        &self,
        user_id: &str,
        provider: &str,
        updated_at: i64,
    ) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(
            "DELETE FROM upstream_tokens WHERE user_id = $1 AND provider = $2 \
             AND updated_at <= $3"
        )
        .bind(user_id)
        .bind(provider)
        .bind(updated_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
