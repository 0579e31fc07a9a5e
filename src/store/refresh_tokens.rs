//! Refresh tokens: stored hashed, rotated at most once, revoked by family.

use super::group_commit::GroupWrite;
use super::{Backend, Store, StoreResult, bind_padding, read_pool, transaction, write_pool};
use sqlx::sqlite::SqliteConnection;
use std::collections::HashSet;

/// A refresh token about to be stored.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Every token rotated from one code shares a family; reuse revokes the family.
    pub family_id: String,
    /// The token this one replaced.
    pub parent_hash: Option<String>,
    /// The consent it lives under.
    pub grant_id: Option<String>,
    /// The client it is bound to.
    pub client_id: String,
    /// The person, absent for client-only grants.
    pub user_id: Option<String>,
    /// The audience it buys tokens for.
    pub resource: String,
    /// The scopes it may buy (never widened).
    pub scope: String,
    /// When the person authenticated.
    pub auth_time: i64,
    /// The access token issued beside it.
    pub access_jti: String,
    /// When that access token expires.
    pub access_expires_at: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Idle expiry.
    pub expires_at: i64,
    /// Absolute expiry of the family.
    pub family_expires_at: i64,
}

/// A stored refresh token.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Its family.
    pub family_id: String,
    /// The token it replaced.
    pub parent_hash: Option<String>,
    /// Its consent.
    pub grant_id: Option<String>,
    /// Its client.
    pub client_id: String,
    /// Its person.
    pub user_id: Option<String>,
    /// Its audience.
    pub resource: String,
    /// Its scopes.
    pub scope: String,
    /// When the person authenticated.
    pub auth_time: i64,
    /// The access token issued beside it.
    pub access_jti: String,
    /// When that access token expires.
    pub access_expires_at: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Idle expiry.
    pub expires_at: i64,
    /// Absolute expiry.
    pub family_expires_at: i64,
    /// When it was exchanged for a successor.
    pub rotated_at: Option<i64>,
    /// SHA-256 of the successor.
    pub successor_hash: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Whether its person exists and is enabled (always true for tokens without a person).
    pub user_active: bool,
}

const REFRESH_COLUMNS: &str = "token_hash, family_id, parent_hash, grant_id, client_id, user_id, \
    resource, scope, auth_time, access_jti, access_expires_at, issued_at, expires_at, \
    family_expires_at, rotated_at, successor_hash, revoked_at";

/// Whether the row's person, if it has one, exists and is enabled.
const USER_ACTIVE: &str = "(user_id IS NULL OR COALESCE((SELECT NOT disabled FROM users \
    WHERE users.id = refresh_tokens.user_id), FALSE))";

/// The insert of a refresh token without its values, for one row or many.
macro_rules! insert_refresh_columns {
    () => {
        "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, grant_id, client_id, \
         user_id, resource, scope, auth_time, access_jti, access_expires_at, issued_at, \
         expires_at, family_expires_at)"
    };
}

pub(super) const INSERT_REFRESH_COLUMNS: &str = insert_refresh_columns!();

pub(super) const INSERT_REFRESH: &str = concat!(
    insert_refresh_columns!(),
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);

/// PostgreSQL rotation ($15: the parent's hash; $12, the successor's `issued_at`, is now).
const ROTATE_POSTGRES: &str = "WITH parent AS ( \
        UPDATE refresh_tokens SET rotated_at = $12, successor_hash = $1 \
        WHERE token_hash = $15 AND rotated_at IS NULL AND revoked_at IS NULL \
        AND expires_at > $12 AND family_expires_at > $12 RETURNING token_hash), \
    stored AS ( \
        INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, grant_id, client_id, \
        user_id, resource, scope, auth_time, access_jti, access_expires_at, issued_at, \
        expires_at, family_expires_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM parent \
        RETURNING grant_id), \
    touched AS (UPDATE grants SET last_used_at = $12 WHERE id = (SELECT grant_id FROM stored)) \
    SELECT count(*) FROM parent";

/// SQLite rotation of a batch: one row of `VALUES` per successor (the 14 columns of
/// [`INSERT_REFRESH`]), each inserted only under a live parent (`column3`, checked at its
/// own `issued_at`, `column12`); the trigger `refresh_token_rotation` marks each parent and
/// touches its grant. Returns the parents rotated. The parents of one batch are distinct
/// (see [`GroupWrite::key`]): SQLite reads the whole `SELECT` before inserting, so two
/// successors of one parent in one statement would both pass the check. A padding row (see
/// `store::batch_rows`) has no parent, so it is never inserted.
fn rotate_sqlite(rows: usize) -> String {
    format!(
        "{INSERT_REFRESH_COLUMNS} SELECT * FROM (VALUES {}) AS successor \
         WHERE EXISTS (SELECT 1 FROM refresh_tokens AS parent \
         WHERE parent.token_hash = successor.column3 \
         AND parent.rotated_at IS NULL AND parent.revoked_at IS NULL \
         AND parent.expires_at > successor.column12 \
         AND parent.family_expires_at > successor.column12) \
         RETURNING parent_hash",
        super::values(rows, 14)
    )
}

impl GroupWrite for NewRefreshToken {
    fn key(&self) -> &str {
        self.parent_hash.as_deref().unwrap_or_default()
    }

    async fn apply_all(
        connection: &mut SqliteConnection,
        successors: &[Self],
    ) -> sqlx::Result<Vec<bool>> {
        let sql = rotate_sqlite(successors.len());
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for successor in successors {
            query = bind_new_refresh!(query, successor);
        }
        let query = bind_padding!(query, successors.len(), 14);
        let rotated: HashSet<String> = query.fetch_all(connection).await?.into_iter().collect();
        Ok(successors
            .iter()
            .map(|s| rotated.contains(s.key()))
            .collect())
    }
}

macro_rules! bind_new_refresh {
    ($query:expr, $t:expr) => {
        $query
            .bind(&$t.token_hash)
            .bind(&$t.family_id)
            .bind(&$t.parent_hash)
            .bind(&$t.grant_id)
            .bind(&$t.client_id)
            .bind(&$t.user_id)
            .bind(&$t.resource)
            .bind(&$t.scope)
            .bind($t.auth_time)
            .bind(&$t.access_jti)
            .bind($t.access_expires_at)
            .bind($t.issued_at)
            .bind($t.expires_at)
            .bind($t.family_expires_at)
    };
}

pub(super) use bind_new_refresh;

impl Store {
    /// Stores the first token of a new family.
    pub async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        transaction!(self, |tx| {
            bind_new_refresh!(sqlx::query(INSERT_REFRESH), token)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The token with this hash in whatever state it is.
    pub async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        let sql = format!(
            "SELECT {REFRESH_COLUMNS}, {USER_ACTIVE} AS user_active \
             FROM refresh_tokens WHERE token_hash = $1"
        );
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// Rotates `successor.parent_hash` at `successor.issued_at`: marks the parent rotated,
    /// stores the successor and touches the grant, in one statement, so a rotation costs one
    /// database round trip and of any number of concurrent calls for the same parent exactly
    /// one returns `true` (and one successor exists). The parent must be live: not rotated,
    /// not revoked, not expired.
    pub async fn rotate_refresh_token(&self, successor: &NewRefreshToken) -> StoreResult<bool> {
        let Some(parent) = &successor.parent_hash else {
            return Ok(false);
        };
        let rotated = match &self.backend {
            // The UPDATE takes the parent's row lock, so a concurrent rotation or family
            // revocation waits and then re-checks the conditions; the INSERT and the touch
            // run only for the row it returned.
            Backend::Postgres(pool) => {
                let rotated: i64 =
                    bind_new_refresh!(sqlx::query_scalar(ROTATE_POSTGRES), successor)
                        .bind(parent)
                        .fetch_one(pool)
                        .await?;
                rotated == 1
            }
            // Queued with the rotations of concurrent requests and applied as one statement
            // on the one writer (see `group_commit`).
            Backend::Sqlite { rotations, .. } => rotations.apply(successor.clone()).await?,
        };
        Ok(rotated)
    }

    /// Revokes every token of a family and every access token issued beside them, including
    /// a successor whose rotation commits at the same moment.
    pub async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
        let postgres = matches!(self.backend, Backend::Postgres(_));
        let revoked = transaction!(self, |tx| {
            // PostgreSQL (READ COMMITTED): lock the family's rows first. A rotation in flight
            // holds its parent's row lock, so this waits for it to commit, and the statements
            // below, each with a fresh snapshot, then see its successor; a rotation that comes
            // later waits here and finds its parent revoked. (SQLite has one writer at a time.)
            if postgres {
                sqlx::query(
                    "SELECT 1 FROM refresh_tokens WHERE family_id = $1 \
                     ORDER BY token_hash FOR UPDATE",
                )
                .bind(family_id)
                .fetch_all(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) \
                 SELECT access_jti, $1, access_expires_at FROM refresh_tokens \
                 WHERE family_id = $2 AND access_expires_at > $1 \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(now)
            .bind(family_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(family_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(revoked)
    }
}

impl Store {
    /// Records an access token as revoked until it would have expired anyway.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, revoked_at, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING"
        )
        .bind(jti)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether an access token id has been revoked.
    pub async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let found: Option<i64> = read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT revoked_at FROM revoked_access_tokens WHERE jti = $1"
        )
        .bind(jti)
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }
}
