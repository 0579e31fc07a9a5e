//! Registered clients, whichever way they arrived.

use super::revocations::record_revoked_access_tokens;
use super::users::found;
use super::{
    Store, StoreError, StoreResult, decode_list, encode_list, read_pool, transaction, write_pool,
};
use crate::oauth::client::{
    AuthMethod, Client, ClientKeys, ClientSettings, ClientSource, GrantType,
};
use std::sync::atomic::Ordering;

/// How a source is written in the `clients.source` column.
impl ClientSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Dynamic => "dynamic",
            Self::Cimd => "cimd",
        }
    }
}

/// A client about to be stored; the caller has already validated its settings.
#[derive(Clone)]
pub struct NewClient {
    /// The `client_id` to use.
    pub id: String,
    /// What it may do.
    pub settings: ClientSettings,
    /// How it was registered.
    pub source: ClientSource,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<String>,
    /// May introspect any token.
    pub resource_server: bool,
    /// MCP servers bound to this client by the operator.
    pub resources: Vec<String>,
    /// Public keys, for `private_key_jwt`.
    pub keys: Option<ClientKeys>,
    /// Registration metadata to echo back.
    pub metadata: serde_json::Value,
    /// SHA-256 of the registration access token.
    pub registration_token_hash: Option<String>,
}

/// Fields an operator or RFC 7592 update may change; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct ClientUpdate {
    /// The client's new settings.
    pub settings: Option<ClientSettings>,
    /// New resource-server flag.
    pub resource_server: Option<bool>,
    /// New bound resources.
    pub resources: Option<Vec<String>>,
    /// New public keys (`Some(None)` removes them).
    pub keys: Option<Option<ClientKeys>>,
    /// New secret hash, when the auth method changes or the secret rotates.
    pub secret_hash: Option<Option<String>>,
    /// New registration metadata.
    pub metadata: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    source: String,
    token_endpoint_auth_method: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    grant_types: String,
    scope: Option<String>,
    resource_server: bool,
    resources: String,
    redirect_uris_changed_at: Option<i64>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    metadata: String,
    registration_token_hash: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    tokens_revoked_before: Option<i64>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> StoreResult<Self> {
        let corrupt = |e: String| StoreError::Corrupt(format!("client {}: {e}", row.id));
        let grant_types = decode_list(&row.grant_types)?
            .iter()
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        let source = match row.source.as_str() {
            "cli" => ClientSource::Cli,
            "dynamic" => ClientSource::Dynamic,
            "cimd" => ClientSource::Cimd,
            other => return Err(corrupt(format!("unknown source {other:?}"))),
        };
        Ok(Client {
            settings: ClientSettings {
                name: row.name,
                redirect_uris: decode_list(&row.redirect_uris)?,
                grant_types,
                scope: row.scope,
                auth_method: row
                    .token_endpoint_auth_method
                    .parse::<AuthMethod>()
                    .map_err(corrupt)?,
            },
            source,
            secret_hash: row.secret_hash,
            resource_server: row.resource_server,
            resources: decode_list(&row.resources)?,
            redirect_uris_changed_at: row.redirect_uris_changed_at,
            keys: keys_of(row.jwks.as_deref(), row.jwks_uri).map_err(corrupt)?,
            metadata: serde_json::from_str(&row.metadata)
                .map_err(|e| corrupt(format!("metadata: {e}")))?,
            registration_token_hash: row.registration_token_hash,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
            tokens_revoked_before: row.tokens_revoked_before,
            id: row.id,
        })
    }
}

const CLIENT_COLUMNS: &str = "id, name, source, token_endpoint_auth_method, secret_hash, \
    redirect_uris, grant_types, scope, resource_server, resources, redirect_uris_changed_at, \
    jwks, jwks_uri, metadata, registration_token_hash, created_at, updated_at, last_used_at, \
    tokens_revoked_before";

/// The two key columns as one value.
fn keys_of(jwks: Option<&str>, jwks_uri: Option<String>) -> Result<Option<ClientKeys>, String> {
    match (jwks, jwks_uri) {
        (Some(jwks), _) => serde_json::from_str(jwks)
            .map(|v| Some(ClientKeys::Jwks(v)))
            .map_err(|e| format!("jwks: {e}")),
        (None, Some(uri)) => Ok(Some(ClientKeys::JwksUri(uri))),
        (None, None) => Ok(None),
    }
}

/// The key columns of a value: (`jwks`, `jwks_uri`).
fn key_columns(keys: Option<&ClientKeys>) -> (Option<String>, Option<String>) {
    match keys {
        Some(ClientKeys::Jwks(jwks)) => (Some(jwks.to_string()), None),
        Some(ClientKeys::JwksUri(uri)) => (None, Some(uri.clone())),
        None => (None, None),
    }
}

fn grant_list(grants: &[GrantType]) -> String {
    encode_list(
        &grants
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
}

impl Store {
    /// Stores a new client; `Conflict` if the id is taken.
    pub async fn create_client(&self, new: NewClient, now: i64) -> StoreResult<Client> {
        let s = &new.settings;
        let (jwks, jwks_uri) = key_columns(new.keys.as_ref());
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO clients (id, name, source, token_endpoint_auth_method, secret_hash, \
             redirect_uris, grant_types, scope, resource_server, metadata, registration_token_hash, \
             created_at, updated_at, resources, jwks, jwks_uri) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )
        .bind(&new.id)
        .bind(&s.name)
        .bind(new.source.as_str())
        .bind(s.auth_method.as_str())
        .bind(&new.secret_hash)
        .bind(encode_list(&s.redirect_uris))
        .bind(grant_list(&s.grant_types))
        .bind(&s.scope)
        .bind(new.resource_server)
        .bind(new.metadata.to_string())
        .bind(&new.registration_token_hash)
        .bind(now)
        .bind(now)
        .bind(encode_list(&new.resources))
        .bind(&jwks)
        .bind(&jwks_uri)
        .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(StoreError::conflict_as("a client with this id"))?;
        Ok(Client {
            id: new.id,
            settings: new.settings,
            source: new.source,
            secret_hash: new.secret_hash,
            resource_server: new.resource_server,
            resources: new.resources,
            redirect_uris_changed_at: None,
            keys: new.keys,
            metadata: new.metadata,
            registration_token_hash: new.registration_token_hash,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            tokens_revoked_before: None,
        })
    }

    /// Stores a client fetched from a client ID metadata document, or refreshes the stored
    /// copy, keeping its creation time and usage. Never overwrites a client of another
    /// source (`Conflict`).
    pub async fn upsert_cimd_client(&self, new: NewClient, now: i64) -> StoreResult<Client> {
        let s = &new.settings;
        let (jwks, jwks_uri) = key_columns(new.keys.as_ref());
        let done = write_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO clients (id, name, source, token_endpoint_auth_method, secret_hash, \
             redirect_uris, grant_types, scope, resource_server, metadata, registration_token_hash, \
             created_at, updated_at, jwks, jwks_uri) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, NULL, $10, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             token_endpoint_auth_method = excluded.token_endpoint_auth_method, secret_hash = NULL, \
             redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types, \
             scope = excluded.scope, metadata = excluded.metadata, updated_at = excluded.updated_at, \
             jwks = excluded.jwks, jwks_uri = excluded.jwks_uri, \
             redirect_uris_changed_at = CASE WHEN clients.redirect_uris = excluded.redirect_uris \
             THEN clients.redirect_uris_changed_at ELSE excluded.updated_at END \
             WHERE clients.source = $3"
        )
        .bind(&new.id)
        .bind(&s.name)
        .bind(ClientSource::Cimd.as_str())
        .bind(s.auth_method.as_str())
        .bind(encode_list(&s.redirect_uris))
        .bind(grant_list(&s.grant_types))
        .bind(&s.scope)
        .bind(false)
        .bind(new.metadata.to_string())
        .bind(now)
        .bind(&jwks)
        .bind(&jwks_uri)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        self.note_client_change();
        if done == 0 {
            return Err(StoreError::Conflict("a client with this id"));
        }
        self.find_client(&new.id)
            .await?
            .ok_or(StoreError::NotFound("client"))
    }

    /// The client with this id, if any.
    pub async fn find_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
        let row: Option<ClientRow> = read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(Client::try_from).transpose()
    }

    /// Every client, oldest first.
    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id");
        let rows: Vec<ClientRow> =
            read_pool!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(Client::try_from).collect()
    }

    /// Applies an update to one client and returns it as now stored.
    pub async fn update_client(
        &self,
        id: &str,
        update: ClientUpdate,
        now: i64,
    ) -> StoreResult<Client> {
        let current = self
            .find_client(id)
            .await?
            .ok_or(StoreError::NotFound("client"))?;
        let settings = update.settings.unwrap_or(current.settings);
        let resource_server = update.resource_server.unwrap_or(current.resource_server);
        let resources = update.resources.unwrap_or(current.resources);
        let keys = update.keys.unwrap_or(current.keys);
        let (jwks, jwks_uri) = key_columns(keys.as_ref());
        let secret_hash = update.secret_hash.unwrap_or(current.secret_hash);
        let metadata = update.metadata.unwrap_or(current.metadata);
        let done = write_pool!(self, |pool| {
            sqlx::query(
            "UPDATE clients SET name = $1, token_endpoint_auth_method = $2, secret_hash = $3, \
             redirect_uris_changed_at = CASE WHEN redirect_uris = $4 \
             THEN redirect_uris_changed_at ELSE $9 END, \
             redirect_uris = $4, grant_types = $5, scope = $6, resource_server = $7, metadata = $8, \
             updated_at = $9, resources = $11, jwks = $12, jwks_uri = $13 WHERE id = $10"
        )
        .bind(&settings.name)
        .bind(settings.auth_method.as_str())
        .bind(&secret_hash)
        .bind(encode_list(&settings.redirect_uris))
        .bind(grant_list(&settings.grant_types))
        .bind(&settings.scope)
        .bind(resource_server)
        .bind(metadata.to_string())
        .bind(now)
        .bind(id)
        .bind(encode_list(&resources))
        .bind(&jwks)
        .bind(&jwks_uri)
        .execute(pool).await.map(|r| r.rows_affected())
        })?;
        self.note_client_change();
        found(done, "client")?;
        self.find_client(id)
            .await?
            .ok_or(StoreError::NotFound("client"))
    }

    /// Records a successful token request, which exempts a dynamic client from the
    /// unused-client sweep.
    pub async fn mark_client_used(&self, id: &str, now: i64) -> StoreResult<()> {
        let done = write_pool!(self, |pool| sqlx::query(
            "UPDATE clients SET last_used_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        found(done, "client")
    }

    /// Deletes clients that anyone could create (dynamic registrations and client ID
    /// metadata documents, which come back when fetched again) first stored before
    /// `created_before` and never used to obtain a token; returns how many went.
    pub async fn delete_unused_clients(&self, created_before: i64) -> StoreResult<u64> {
        let deleted = write_pool!(self, |pool| {
            sqlx::query(
            "DELETE FROM clients WHERE source IN ($1, $2) AND last_used_at IS NULL AND created_at < $3"
        )
        .bind(ClientSource::Dynamic.as_str())
        .bind(ClientSource::Cimd.as_str())
        .bind(created_before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        if deleted > 0 {
            self.note_client_change();
        }
        Ok(deleted)
    }

    /// Deletes a client and, by cascade, its codes, grants and refresh tokens. The access
    /// tokens issued beside them are first recorded as revoked, so they stay inactive even if a
    /// client with the same id appears again (a client ID metadata document is re-fetched).
    pub async fn delete_client(&self, id: &str, now: i64) -> StoreResult<()> {
        let done = transaction!(self, |tx| {
            let _recorded = record_revoked_access_tokens!(tx, "client_id", id, now);
            sqlx::query("DELETE FROM clients WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        self.note_client_change();
        found(done, "client")
    }

    /// How many client changes this process has committed (the hourly "last used" mark
    /// aside). The client cache compares it on every lookup, so a change made here is never
    /// answered from memory; changes by other processes show in [`Store::clients_version`].
    pub fn local_client_changes(&self) -> u64 {
        self.client_writes.load(Ordering::Acquire)
    }

    /// Called after a client change commits.
    pub(super) fn note_client_change(&self) {
        self.client_writes.fetch_add(1, Ordering::AcqRel);
    }

    /// The counter every change to a client bumps, whichever process made it (migration
    /// 0012's triggers): polled by each instance's client cache.
    pub async fn clients_version(&self) -> StoreResult<i64> {
        Ok(read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT version FROM cache_versions WHERE name = 'clients'"
        )
        .fetch_one(pool)
        .await)?)
    }
}
