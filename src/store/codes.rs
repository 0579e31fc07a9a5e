//! Authorization codes: stored hashed, redeemed at most once.

use super::group_commit::GroupWrite;
use super::refresh_tokens::{INSERT_REFRESH_COLUMNS, bind_new_refresh};
use super::{Backend, NewRefreshToken, Store, StoreResult, bind_padding, read_pool, write_pool};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use sqlx::sqlite::SqliteConnection;
use std::collections::HashSet;
use std::sync::LazyLock;

/// PostgreSQL redemption without a refresh token ($1: now, $2: the code's hash, $3: its
/// grant, $4: the access token's id). The code is consumed only if unused and unexpired, and
/// the grant's use is noted only if it was. Concurrent redemptions of one code queue on its
/// row lock; when the winner commits, the others find it consumed and change nothing.
const REDEEM_POSTGRES: &str = "WITH consumed AS ( \
        UPDATE authorization_codes SET consumed_at = $1, family_id = NULL, access_jti = $4 \
        WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at > $1 RETURNING code_hash), \
    touched AS (UPDATE grants SET last_used_at = $1 \
        WHERE id = $3 AND EXISTS (SELECT 1 FROM consumed)) \
    SELECT count(*) FROM consumed";

/// [`REDEEM_POSTGRES`] that also stores the family's first refresh token, only if the code
/// was consumed ($1–$14 as in `refresh_tokens::INSERT_REFRESH`; then $15: now, $16: the
/// code's hash, $17: its grant, $18: the access token's id).
static REDEEM_WITH_REFRESH_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH consumed AS ( \
            UPDATE authorization_codes SET consumed_at = $15, family_id = $2, access_jti = $18 \
            WHERE code_hash = $16 AND consumed_at IS NULL AND expires_at > $15 \
            RETURNING code_hash), \
        stored AS ({INSERT_REFRESH_COLUMNS} \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM consumed), \
        touched AS (UPDATE grants SET last_used_at = $15 \
            WHERE id = $17 AND EXISTS (SELECT 1 FROM consumed)) \
        SELECT count(*) FROM consumed"
    )
});

/// Binds the code's four parameters of a PostgreSQL redemption, after the token's if any.
fn bind_code<'q>(
    query: QueryScalar<'q, Postgres, i64, PgArguments>,
    now: i64,
    code: &'q AuthorizationCode,
    access_jti: &'q str,
) -> QueryScalar<'q, Postgres, i64, PgArguments> {
    query
        .bind(now)
        .bind(&code.code_hash)
        .bind(&code.grant_id)
        .bind(access_jti)
}

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
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The audience of the tokens it will buy.
    pub resource: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// When the person authenticated, unix seconds.
    pub auth_time: i64,
    /// The OpenID Connect `nonce` of the request, echoed in the ID token.
    pub nonce: Option<String>,
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
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The audience.
    pub resource: String,
    /// Granted scopes.
    pub scope: String,
    /// When the person authenticated.
    pub auth_time: i64,
    /// The OpenID Connect `nonce` of the request.
    pub nonce: Option<String>,
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
    /// Whether the person who approved it still exists and is enabled.
    pub user_active: bool,
}

/// What redeeming a code buys, stored in the same transaction that consumes it.
#[derive(Clone, Debug)]
pub struct CodeRedemption {
    /// The access token issued, so a replay of the code can revoke it.
    pub access_jti: String,
    /// The first refresh token of a new family, when the client may refresh.
    pub refresh_token: Option<NewRefreshToken>,
}

/// Whether the row's person exists and is enabled (codes always have one).
const USER_ACTIVE: &str = "COALESCE((SELECT NOT disabled FROM users \
    WHERE users.id = authorization_codes.user_id), FALSE)";

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, grant_id, redirect_uri, \
    code_challenge, resource, scope, auth_time, nonce, created_at, expires_at, \
    consumed_at, family_id, access_jti";

impl Store {
    /// Stores a freshly minted code.
    pub async fn insert_code(&self, code: &NewAuthorizationCode, now: i64) -> StoreResult<()> {
        write_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, grant_id, redirect_uri, \
             code_challenge, resource, scope, auth_time, nonce, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(&code.grant_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(&code.resource)
        .bind(&code.scope)
        .bind(code.auth_time)
        .bind(&code.nonce)
        .bind(now)
        .bind(code.expires_at)
        .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Consumes an unexpired, unused code and stores what it bought, in one transaction: of
    /// any number of concurrent calls with the same code exactly one returns `true`, and a
    /// crash leaves either nothing or the code consumed with its tokens recorded.
    pub async fn redeem_code(
        &self,
        code: &AuthorizationCode,
        redemption: &CodeRedemption,
        now: i64,
    ) -> StoreResult<bool> {
        let pool = match &self.backend {
            Backend::Postgres(pool) => pool,
            Backend::Sqlite { redemptions, .. } => {
                // Queued with the redemptions of concurrent requests and applied as one
                // transaction on the one writer (see `group_commit`).
                let queued = QueuedRedemption {
                    code_hash: code.code_hash.clone(),
                    grant_id: code.grant_id.clone(),
                    redemption: redemption.clone(),
                    now,
                };
                return redemptions.apply(queued).await;
            }
        };
        // One statement, so one round trip: the code, the family and the grant's use
        // commit together or not at all.
        let jti = redemption.access_jti.as_str();
        let consumed = match &redemption.refresh_token {
            Some(token) => {
                let sql = REDEEM_WITH_REFRESH_POSTGRES.as_str();
                let query = bind_new_refresh!(sqlx::query_scalar(sql), token);
                bind_code(query, now, code, jti).fetch_one(pool).await?
            }
            None => {
                let query = sqlx::query_scalar(REDEEM_POSTGRES);
                bind_code(query, now, code, jti).fetch_one(pool).await?
            }
        };
        Ok(consumed == 1)
    }

    /// A code in whatever state it is, to tell a replay from an unknown code.
    pub async fn find_code(&self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS}, {USER_ACTIVE} AS user_active \
             FROM authorization_codes WHERE code_hash = $1"
        );
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(code_hash)
            .fetch_optional(pool)
            .await)?)
    }
}

/// A redemption waiting for SQLite's group commit: the code, its grant, what it buys.
pub(super) struct QueuedRedemption {
    code_hash: String,
    grant_id: Option<String>,
    redemption: CodeRedemption,
    now: i64,
}

impl GroupWrite for QueuedRedemption {
    fn key(&self) -> &str {
        &self.code_hash
    }

    /// In one transaction: consumes every code still unused and unexpired at its own `now`,
    /// stores the refresh families the consumed ones bought, and touches their grants.
    async fn apply_all(
        connection: &mut SqliteConnection,
        queued: &[Self],
    ) -> sqlx::Result<Vec<bool>> {
        let mut tx = sqlx::Connection::begin_with(connection, "BEGIN IMMEDIATE").await?;
        let consume = format!(
            "UPDATE authorization_codes SET consumed_at = redeemed.column2, \
             family_id = redeemed.column3, access_jti = redeemed.column4 \
             FROM (VALUES {}) AS redeemed \
             WHERE authorization_codes.code_hash = redeemed.column1 \
             AND consumed_at IS NULL AND expires_at > redeemed.column2 \
             RETURNING authorization_codes.code_hash",
            super::values(queued.len(), 4)
        );
        let mut query = sqlx::query_scalar::<_, String>(&consume);
        for q in queued {
            let family_id = q.redemption.refresh_token.as_ref().map(|t| &t.family_id);
            query = query
                .bind(&q.code_hash)
                .bind(q.now)
                .bind(family_id)
                .bind(&q.redemption.access_jti);
        }
        let query = bind_padding!(query, queued.len(), 4);
        let consumed: HashSet<String> = query.fetch_all(&mut *tx).await?.into_iter().collect();
        let won: Vec<&Self> = queued
            .iter()
            .filter(|q| consumed.contains(&q.code_hash))
            .collect();
        let families: Vec<&NewRefreshToken> = won
            .iter()
            .filter_map(|q| q.redemption.refresh_token.as_ref())
            .collect();
        if !families.is_empty() {
            let insert = format!(
                "{INSERT_REFRESH_COLUMNS} SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL",
                super::values(families.len(), 14)
            );
            let rows = families.len();
            let mut query = sqlx::query(&insert);
            for token in families {
                query = bind_new_refresh!(query, token);
            }
            bind_padding!(query, rows, 14).execute(&mut *tx).await?;
        }
        let touched: Vec<(&String, i64)> = won
            .iter()
            .filter_map(|q| q.grant_id.as_ref().map(|g| (g, q.now)))
            .collect();
        if !touched.is_empty() {
            let touch = format!(
                "UPDATE grants SET last_used_at = used.column2 FROM (VALUES {}) AS used \
                 WHERE grants.id = used.column1",
                super::values(touched.len(), 2)
            );
            let rows = touched.len();
            let mut query = sqlx::query(&touch);
            for (grant_id, now) in touched {
                query = query.bind(grant_id).bind(now);
            }
            bind_padding!(query, rows, 2).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(queued
            .iter()
            .map(|q| consumed.contains(&q.code_hash))
            .collect())
    }
}
