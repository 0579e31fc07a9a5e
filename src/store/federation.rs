//! People linked at upstream identity providers, and the round trips to those providers in
//! progress.

use super::users::{Profile, User};
use super::{Store, StoreError, StoreResult, read_pool, transaction, write_pool};
use crate::tokens::opaque::new_id;

/// One link between a person and their account at a provider.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct FederatedIdentity {
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The provider's `sub` (or GitHub user id) for the person.
    pub subject: String,
    /// mcp-authd's id of the person.
    pub user_id: String,
}

/// A round trip to a provider, as the callback finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedSignIn {
    /// The hash of the pending authorization request it continues, if any.
    pub request_hash: Option<String>,
}

impl Store {
    /// The person linked to `subject` at `provider`, if any (disabled or not).
    pub async fn find_federated_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        Ok(read_pool!(self, |pool| sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash, u.disabled, u.display_name, u.email, \
             u.email_verified, u.created_at, u.updated_at \
             FROM federated_identities f JOIN users u ON u.id = f.user_id \
             WHERE f.provider = $1 AND f.subject = $2"
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(pool)
        .await)?)
    }

    /// Creates a person who signed in at `provider` for the first time, linked to `subject`,
    /// in one transaction. They have no password (an empty hash matches none); `Conflict` if
    /// the username is taken or the subject already linked.
    pub async fn create_federated_user(
        &self,
        username: &str,
        identity: (&str, &str),
        profile: &Profile,
        now: i64,
    ) -> StoreResult<User> {
        let (provider, subject) = identity;
        let user = User {
            id: new_id(),
            username: username.to_owned(),
            password_hash: String::new(),
            disabled: false,
            display_name: profile.display_name.clone(),
            email: profile.email.clone(),
            email_verified: profile.email_verified,
            created_at: now,
            updated_at: now,
        };
        transaction!(self, |tx| {
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, disabled, display_name, email, \
                 email_verified, created_at, updated_at) VALUES ($1, $2, '', $3, $4, $5, $6, $7, $7)",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(false)
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(user.email_verified)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::conflict_as("a user with this username"))?;
            sqlx::query(
                "INSERT INTO federated_identities (provider, subject, user_id, created_at, \
                 last_used_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(provider)
            .bind(subject)
            .bind(&user.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::conflict_as("a person linked to this subject"))?
            .rows_affected()
        });
        Ok(user)
    }

    /// Links an existing person to `subject` at `provider`; `Conflict` if that subject is
    /// already linked, `NotFound` without the person.
    pub async fn link_federated_identity(
        &self,
        username: &str,
        provider: &str,
        subject: &str,
        now: i64,
    ) -> StoreResult<()> {
        let user = self
            .find_user_by_username(username)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO federated_identities (provider, subject, user_id, created_at) \
             VALUES ($1, $2, $3, $4)"
        )
        .bind(provider)
        .bind(subject)
        .bind(&user.id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::conflict_as("a person linked to this subject"))?;
        Ok(())
    }

    /// Records a sign-in through a link and what the provider now says of the person.
    pub async fn touch_federated_identity(
        &self,
        identity: (&str, &str),
        profile: &Profile,
        now: i64,
    ) -> StoreResult<()> {
        let (provider, subject) = identity;
        transaction!(self, |tx| {
            let user_id: Option<String> = sqlx::query_scalar(
                "UPDATE federated_identities SET last_used_at = $1 \
                 WHERE provider = $2 AND subject = $3 RETURNING user_id",
            )
            .bind(now)
            .bind(provider)
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(user_id) = user_id {
                sqlx::query(
                    "UPDATE users SET display_name = $1, email = $2, email_verified = $3, \
                     updated_at = $4 WHERE id = $5",
                )
                .bind(&profile.display_name)
                .bind(&profile.email)
                .bind(profile.email_verified)
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Every link, by provider and subject: for `users list`.
    pub async fn list_federated_identities(&self) -> StoreResult<Vec<FederatedIdentity>> {
        Ok(read_pool!(self, |pool| sqlx::query_as(
            "SELECT provider, subject, user_id FROM federated_identities \
             ORDER BY provider, subject"
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Remembers a round trip to `provider` started by this browser.
    pub async fn insert_federated_sign_in(
        &self,
        state_hash: &str,
        provider: &str,
        binding_hash: &str,
        request_hash: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO federated_sign_ins (state_hash, provider, binding_hash, request_hash, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(state_hash)
        .bind(provider)
        .bind(binding_hash)
        .bind(request_hash)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Takes the round trip a callback names, once: of concurrent or replayed callbacks,
    /// exactly one finds it, and only from the browser and for the provider that started it.
    pub async fn take_federated_sign_in(
        &self,
        state_hash: &str,
        provider: &str,
        binding_hash: &str,
        now: i64,
    ) -> StoreResult<Option<FederatedSignIn>> {
        let row: Option<(Option<String>,)> = write_pool!(self, |pool| sqlx::query_as(
            "DELETE FROM federated_sign_ins \
             WHERE state_hash = $1 AND provider = $2 AND binding_hash = $3 AND expires_at > $4 \
             RETURNING request_hash"
        )
        .bind(state_hash)
        .bind(provider)
        .bind(binding_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(request_hash,)| FederatedSignIn { request_hash }))
    }
}
