//! Access-token signing keys: public halves in the clear, private halves sealed, and the
//! race-safe writes that create and rotate them across instances.

use super::{Backend, Store, StoreError, StoreResult, read_pool, transaction};
use sqlx::postgres::PgListener;

/// A signing key as stored. The private half is sealed (AES-256-GCM) and never printed.
#[derive(Clone, sqlx::FromRow)]
pub struct StoredSigningKey {
    /// Key id, the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// JWS algorithm (`ES256`, `EdDSA`, `RS256`).
    pub algorithm: String,
    /// The public key as the JWK served in `/jwks.json`.
    pub public_jwk: String,
    /// The sealed private key, as written by `tokens::key_encryption`.
    pub private_key: String,
    /// Position in the rotation sequence; unique, so racing instances create one key each step.
    pub generation: i64,
    /// Unix seconds; the key is published from here on.
    pub created_at: i64,
    /// Unix seconds; the key signs from here on.
    pub activates_at: i64,
    /// Unix seconds; the key stops signing here.
    pub retires_at: Option<i64>,
    /// Unix seconds; the key leaves the JWKS here.
    pub withdrawn_at: Option<i64>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .field("withdrawn_at", &self.withdrawn_at)
            .finish_non_exhaustive()
    }
}

/// A freshly generated key about to be stored.
#[derive(Clone)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// The public JWK.
    pub public_jwk: String,
    /// The sealed private key.
    pub private_key: String,
    /// When it starts signing.
    pub activates_at: i64,
}

impl std::fmt::Debug for NewSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

const KEY_COLUMNS: &str = "kid, algorithm, public_jwk, private_key, \
    COALESCE(generation, 0) AS generation, created_at, activates_at, retires_at, withdrawn_at";

const INSERT_KEY: &str = "INSERT INTO signing_keys \
    (kid, algorithm, public_jwk, private_key, generation, created_at, activates_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Every transaction that inserts a key reads the next generation in its *first* statement
/// and inserts exactly that one. A key committed by another instance after this read has the
/// same generation (it read the same maximum) or a later one (it read a key that collides with
/// ours), so one of the two inserts fails on the unique index: key writes behave as if
/// serialized on both backends, even under PostgreSQL's READ COMMITTED.
const NEXT_GENERATION: &str = "SELECT COALESCE(MAX(generation), 0) + 1 FROM signing_keys";

/// Binds a [`NewSigningKey`] to [`INSERT_KEY`].
macro_rules! bind_new_key {
    ($query:expr, $key:expr, $generation:expr, $now:expr) => {
        $query
            .bind(&$key.kid)
            .bind(&$key.algorithm)
            .bind(&$key.public_jwk)
            .bind(&$key.private_key)
            .bind($generation)
            .bind($now)
            .bind($key.activates_at)
    };
}

impl Store {
    /// Every key still in the JWKS at `now` (not withdrawn), by generation.
    pub async fn published_signing_keys(&self, now: i64) -> StoreResult<Vec<StoredSigningKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys \
             WHERE withdrawn_at IS NULL OR withdrawn_at > $1 ORDER BY generation"
        );
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(now)
            .fetch_all(pool)
            .await)?)
    }

    /// Every key ever stored, withdrawn ones included, by generation.
    pub async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY generation");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Stores a key that signs at once, unless some key signs now or will sign later (the
    /// first key, or a replacement when every key has retired). `Ok(false)` when one does, or
    /// when another instance inserted one at the same moment (the unique generation refuses
    /// ours).
    pub async fn insert_first_signing_key(
        &self,
        key: &NewSigningKey,
        now: i64,
    ) -> StoreResult<bool> {
        let outcome: StoreResult<bool> = async {
            Ok(transaction!(self, |tx| {
                // One statement, so the generation and the count come from one snapshot.
                let (generation, live): (i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(MAX(generation), 0) + 1, \
                     COALESCE(SUM(CASE WHEN (retires_at IS NULL OR retires_at > $1) \
                     AND (withdrawn_at IS NULL OR withdrawn_at > $1) THEN 1 ELSE 0 END), 0) \
                     FROM signing_keys",
                )
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                if live > 0 {
                    false
                } else {
                    bind_new_key!(sqlx::query(INSERT_KEY), key, generation, now)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::conflict_as("signing key"))?;
                    true
                }
            }))
        }
        .await;
        lost_race_is_false(outcome)
    }

    /// Schedules a rotation: `current_kid` stops signing when `next` starts and leaves the
    /// JWKS at `withdraw_current_at`; `next` is published now. `Ok(false)` when the current key
    /// was already scheduled to retire (another instance rotated first): nothing changes.
    pub async fn schedule_signing_key(
        &self,
        current_kid: &str,
        next: &NewSigningKey,
        withdraw_current_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let outcome: StoreResult<bool> = async {
            Ok(transaction!(self, |tx| {
                let generation: i64 = sqlx::query_scalar(NEXT_GENERATION)
                    .fetch_one(&mut *tx)
                    .await?;
                // The row lock taken here makes racing instances wait; the loser then finds
                // `retires_at` set and changes nothing.
                let claimed = sqlx::query(
                    "UPDATE signing_keys SET retires_at = $1, withdrawn_at = $2 \
                     WHERE kid = $3 AND retires_at IS NULL AND withdrawn_at IS NULL",
                )
                .bind(next.activates_at)
                .bind(withdraw_current_at)
                .bind(current_kid)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    false
                } else {
                    bind_new_key!(sqlx::query(INSERT_KEY), next, generation, now)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::conflict_as("signing key"))?;
                    true
                }
            }))
        }
        .await;
        lost_race_is_false(outcome)
    }

    /// An immediate rotation: `key` signs from now on and every other key stops signing now.
    /// Keys that signed leave the JWKS at `withdraw_signed_at` (or earlier, if they were due
    /// to), keys that never signed leave now. The emergency path passes `now`, so every other
    /// key leaves at once; the switch that keeps old keys passes the moment their tokens have
    /// expired. `Conflict` if another instance inserted a key at the same moment (then
    /// nothing changed and the caller may try again).
    pub async fn replace_signing_keys(
        &self,
        key: &NewSigningKey,
        withdraw_signed_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let generation: i64 = sqlx::query_scalar(NEXT_GENERATION)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL OR retires_at > $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE signing_keys \
                 SET withdrawn_at = CASE WHEN activates_at > $1 THEN $1 ELSE $2 END \
                 WHERE withdrawn_at IS NULL \
                 OR withdrawn_at > CASE WHEN activates_at > $1 THEN $1 ELSE $2 END",
            )
            .bind(now)
            .bind(withdraw_signed_at)
            .execute(&mut *tx)
            .await?;
            bind_new_key!(sqlx::query(INSERT_KEY), key, generation, now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::conflict_as("signing key"))?;
        });
        Ok(())
    }
}

/// The channel migration 0007's trigger notifies whenever the signing keys change.
const KEY_CHANGES_CHANNEL: &str = "mcp_authd_signing_keys";

/// A PostgreSQL `LISTEN` on the signing keys: wakes an instance as soon as another instance,
/// or the CLI, commits a key change.
pub struct KeyChanges(PgListener);

impl KeyChanges {
    /// Waits for the next change. Also returns after the connection dropped (a change may
    /// have been missed meanwhile, so the caller reloads either way); the next call
    /// reconnects, and fails while the database is unreachable.
    pub async fn changed(&mut self) -> StoreResult<()> {
        self.0.try_recv().await?;
        Ok(())
    }
}

impl Store {
    /// Listens for signing-key changes on PostgreSQL; `None` on SQLite, which has no
    /// notifications (its instances poll instead).
    pub async fn listen_for_key_changes(&self) -> StoreResult<Option<KeyChanges>> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(KEY_CHANGES_CHANNEL).await?;
                Ok(Some(KeyChanges(listener)))
            }
            Backend::Sqlite { .. } => Ok(None),
        }
    }

    /// Whether key changes are announced ([`Store::listen_for_key_changes`] gives a listener).
    pub fn announces_key_changes(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }
}

/// A unique-generation conflict means another instance won the race: not an error.
fn lost_race_is_false(outcome: StoreResult<bool>) -> StoreResult<bool> {
    match outcome {
        Err(StoreError::Conflict(_)) => Ok(false),
        other => other,
    }
}
