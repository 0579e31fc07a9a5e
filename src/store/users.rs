//! People who can log in.

use super::revocations::record_revoked_access_tokens;
use super::{Store, StoreError, StoreResult, read_pool, transaction, write_pool};
use crate::tokens::opaque::new_id;
use serde::Serialize;

/// A person (resource owner). The password hash never leaves the store in Debug or JSON.
#[derive(Clone, sqlx::FromRow, Serialize)]
pub struct User {
    /// Stable id, used as `sub` in tokens.
    pub id: String,
    /// What the person types to log in.
    pub username: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// A disabled person cannot log in and their tokens stop working.
    pub disabled: bool,
    /// The name ID tokens and userinfo show with `profile` (the username when unset).
    pub display_name: Option<String>,
    /// The address ID tokens and userinfo show with `email`.
    pub email: Option<String>,
    /// Whether the operator vouches for that address.
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str = "id, username, password_hash, disabled, display_name, email, \
    email_verified, created_at, updated_at";

/// What ID tokens and userinfo may say of a person (OpenID Connect Core 5.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// `name`; the username stands in when unset.
    pub display_name: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
}

impl Store {
    /// Adds a person; `Conflict` if the username is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<User> {
        let user = User {
            id: new_id(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            disabled: false,
            display_name: None,
            email: None,
            email_verified: false,
            created_at: now,
            updated_at: now,
        };
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO users (id, username, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::conflict_as("a user with this username"))?;
        Ok(user)
    }

    /// Every person, by username.
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Whether anyone has been created yet (first-run hints).
    pub async fn any_user(&self) -> StoreResult<bool> {
        Ok(read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users)"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// The person with this username, if any.
    pub async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?)
    }

    /// The person with this id, if any.
    pub async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(read_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Replaces what ID tokens and userinfo say of a person; `NotFound` without one.
    pub async fn set_user_profile(
        &self,
        username: &str,
        profile: &Profile,
        now: i64,
    ) -> StoreResult<()> {
        let changed = write_pool!(self, |pool| {
            sqlx::query(
            "UPDATE users SET display_name = $1, email = $2, email_verified = $3, updated_at = $4 \
             WHERE username = $5"
        )
        .bind(&profile.display_name)
        .bind(&profile.email)
        .bind(profile.email_verified)
        .bind(now)
        .bind(username)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Replaces a person's password hash and ends their sign-in sessions, in one
    /// transaction: a new password is what a person sets when the old one leaked, so no
    /// browser that signed in with the old one may stay signed in.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        let done = transaction!(self, |tx| {
            let done = sqlx::query(
                "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3",
            )
            .bind(password_hash)
            .bind(now)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)",
            )
            .bind(username)
            .execute(&mut *tx)
            .await?;
            done
        });
        found(done, "user")
    }

    /// Replaces a person's password hash with one of the same password made with today's
    /// parameters, unless the hash changed since `old_hash` was read (a password set
    /// meanwhile stays). Sessions stay too: the password is the same. True if replaced.
    pub async fn upgrade_password_hash(
        &self,
        user_id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> StoreResult<bool> {
        let replaced = write_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new_hash)
                .bind(user_id)
                .bind(old_hash)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(replaced == 1)
    }

    /// Disables or re-enables a person. Disabling also ends their login sessions and deletes
    /// their stored upstream tokens.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> StoreResult<()> {
        let done = write_pool!(self, |pool| sqlx::query(
            "UPDATE users SET disabled = $1, updated_at = $2 WHERE username = $3"
        )
        .bind(disabled)
        .bind(now)
        .bind(username)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        found(done, "user")?;
        if disabled {
            transaction!(self, |tx| {
                for table in ["sessions", "upstream_tokens"] {
                    sqlx::query(&format!(
                        "DELETE FROM {table} \
                         WHERE user_id = (SELECT id FROM users WHERE username = $1)"
                    ))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
                }
            });
        }
        Ok(())
    }

    /// Deletes a person and, by cascade, their sessions, grants, codes and refresh tokens. The
    /// access tokens issued to them are first recorded as revoked.
    pub async fn delete_user(&self, username: &str, now: i64) -> StoreResult<()> {
        let id: Option<String> = read_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE username = $1"
        )
        .bind(username)
        .fetch_optional(pool)
        .await)?;
        let Some(id) = id else {
            return Err(StoreError::NotFound("user"));
        };
        let done = transaction!(self, |tx| {
            let _recorded = record_revoked_access_tokens!(tx, "user_id", &id, now);
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        found(done, "user")
    }
}

/// `NotFound(what)` when an update or delete touched no row.
pub(super) fn found(rows: u64, what: &'static str) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}
