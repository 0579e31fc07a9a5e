//! Consents: which person let which client reach which MCP server, with which scopes.

use super::revocations::ACCESS_TOKEN_HORIZON;
use super::{Store, StoreResult, read_pool, transaction};
use crate::tokens::opaque::new_id;
use serde::Serialize;

/// A remembered consent.
#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Grant {
    /// Its id.
    pub id: String,
    /// The person.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The MCP server (token audience).
    pub resource: String,
    /// Space-delimited consented scopes.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Last time a token was issued under it.
    pub last_used_at: Option<i64>,
}

/// A grant with the names people recognise, for the account page and `grants list`.
#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct GrantListing {
    /// The grant.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub grant: Grant,
    /// The person's username.
    pub username: String,
    /// The client's name.
    pub client_name: String,
}

/// Which grants to list.
#[derive(Clone, Debug, Default)]
pub struct GrantFilter {
    /// Only this person's.
    pub user_id: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
}

const GRANT_COLUMNS: &str =
    "g.id, g.user_id, g.client_id, g.resource, g.scope, g.created_at, g.updated_at, g.last_used_at";

impl Store {
    /// Records consent, widening an existing grant for the same (person, client, resource)
    /// to the union of its scopes and the new ones. Returns the grant as stored.
    pub async fn upsert_grant(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scopes: &[String],
        now: i64,
    ) -> StoreResult<Grant> {
        let sql_find = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.user_id = $1 AND g.client_id = $2 AND g.resource = $3"
        );
        let grant = transaction!(self, |tx| {
            let existing: Option<Grant> = sqlx::query_as(&sql_find)
                .bind(user_id)
                .bind(client_id)
                .bind(resource)
                .fetch_optional(&mut *tx)
                .await?;
            let mut all: Vec<String> = existing
                .as_ref()
                .map(|g| {
                    g.scope
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            for scope in scopes {
                if !all.contains(scope) {
                    all.push(scope.clone());
                }
            }
            let scope = all.join(" ");
            match existing {
                Some(mut grant) => {
                    sqlx::query("UPDATE grants SET scope = $1, updated_at = $2 WHERE id = $3")
                        .bind(&scope)
                        .bind(now)
                        .bind(&grant.id)
                        .execute(&mut *tx)
                        .await?;
                    grant.scope = scope;
                    grant.updated_at = now;
                    grant
                }
                None => {
                    let grant = Grant {
                        id: new_id(),
                        user_id: user_id.to_owned(),
                        client_id: client_id.to_owned(),
                        resource: resource.to_owned(),
                        scope,
                        created_at: now,
                        updated_at: now,
                        last_used_at: None,
                    };
                    sqlx::query(
                        "INSERT INTO grants (id, user_id, client_id, resource, scope, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(&grant.id)
                    .bind(&grant.user_id)
                    .bind(&grant.client_id)
                    .bind(&grant.resource)
                    .bind(&grant.scope)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    grant
                }
            }
        });
        Ok(grant)
    }

    /// The grant for (person, client, resource), if consent was given.
    pub async fn find_grant(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<Grant>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.user_id = $1 AND g.client_id = $2 AND g.resource = $3"
        );
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .bind(client_id)
            .bind(resource)
            .fetch_optional(pool)
            .await)?)
    }

    /// The grant with this id, if it still exists.
    pub async fn find_grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Grants with person and client names, newest first.
    pub async fn list_grants(&self, filter: &GrantFilter) -> StoreResult<Vec<GrantListing>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS}, u.username, c.name AS client_name FROM grants g \
             JOIN users u ON u.id = g.user_id JOIN clients c ON c.id = g.client_id \
             WHERE ($1 IS NULL OR g.user_id = $1) AND ($2 IS NULL OR g.client_id = $2) \
             ORDER BY g.created_at DESC, g.id"
        );
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(&filter.user_id)
            .bind(&filter.client_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes grants: their refresh tokens die at once (deleted by cascade), every access
    /// token issued under them is recorded as revoked, so it introspects as inactive, and
    /// the person's stored upstream tokens are deleted.
    pub async fn revoke_grants(&self, ids: &[String], now: i64) -> StoreResult<u64> {
        let revoked = transaction!(self, |tx| {
            let mut revoked = 0;
            for id in ids {
                sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) \
                     SELECT access_jti, $1, access_expires_at FROM refresh_tokens \
                     WHERE grant_id = $2 AND access_expires_at > $1 ON CONFLICT (jti) DO NOTHING",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) \
                     SELECT access_jti, $1, created_at + $2 FROM authorization_codes \
                     WHERE grant_id = $3 AND access_jti IS NOT NULL ON CONFLICT (jti) DO NOTHING",
                )
                .bind(now)
                .bind(ACCESS_TOKEN_HORIZON)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // The person's upstream tokens go too: whoever acted for them must ask again.
                sqlx::query(
                    "DELETE FROM upstream_tokens WHERE user_id = \
                     (SELECT user_id FROM grants WHERE id = $1)",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                revoked += sqlx::query("DELETE FROM grants WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            revoked
        });
        Ok(revoked)
    }
}
