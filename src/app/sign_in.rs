//! Signing in with a local password (the attempt limits and the check), and the session
//! every way of signing in ends with.

use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::state::AppState;
use crate::store::{Session, StoreError, User};
use crate::support::password;
use crate::support::rate_limit::{RetryAfter, network_key};
use crate::tokens::opaque;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

/// How a sign-in attempt ended.
pub enum SignIn {
    /// The password was right: a new session, whose secret goes in the browser's cookie for
    /// `ttl` seconds.
    SignedIn {
        /// The person signed in.
        user_id: String,
        /// The session cookie's value.
        session_secret: String,
        /// Seconds the session lasts.
        ttl: i64,
    },
    /// Unknown person, wrong password, or disabled person: the same answer for each.
    Refused,
    /// `login.max_failures` (per username) or `login.max_failures_per_ip` is used up.
    TooManyAttempts(RetryAfter),
}

/// Checks a password within the attempt limits and starts a session on success.
pub async fn sign_in(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
    previous: Option<&Session>,
) -> Result<SignIn, StoreError> {
    let now = state.clock.now();
    let user_key = format!("user:{}", username.to_lowercase());
    let ip_key = format!("ip:{}", network_key(ip));
    // Attempts count before the password check, so parallel guesses count too; a success
    // gives its attempt back.
    if let Err(retry) = state.login_limiter.check(&user_key, now) {
        tracing::warn!(%ip, "sign-in refused: too many attempts for this username");
        return Ok(SignIn::TooManyAttempts(retry));
    }
    if let Err(retry) = state.login_ip_limiter.check(&ip_key, now) {
        state.login_limiter.refund(&user_key);
        tracing::warn!(%ip, "sign-in refused: too many attempts from this address");
        return Ok(SignIn::TooManyAttempts(retry));
    }
    let mut attempt = Attempt {
        state,
        user_key,
        ip_key,
        verdict: false,
    };
    let user = state.store.find_user_by_username(username).await?;
    let stored_hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map(|u| u.password_hash.clone());
    let verified = state
        .passwords
        .verify(password.to_owned(), stored_hash)
        .await;
    attempt.verdict = true;
    let user = match user {
        Some(user) if verified && !user.disabled => user,
        _ => {
            tracing::info!(%ip, "sign-in failed");
            state.metrics.login_failed();
            state
                .audit(failure_event(user.as_ref(), username, verified).ip(ip))
                .await;
            return Ok(SignIn::Refused);
        }
    };
    state.login_limiter.reset(&attempt.user_key);
    state.login_ip_limiter.refund(&attempt.ip_key);
    let signed_in = start_session(state, &user, None, previous, ip).await?;
    // Upgraded once the session exists, so the time between the check and the session
    // (in which a new password could be set) stays as short as before.
    if !password::is_current(&user.password_hash) {
        upgrade_hash(state, &user, password).await;
    }
    Ok(signed_in)
}

/// Replaces a hash made with older argon2id parameters by one with today's, now that the
/// password is known: once per person, so old hashes do not keep their larger memory (and
/// weaker or stronger settings) forever. A failure leaves the old hash, which still works.
async fn upgrade_hash(state: &AppState, user: &User, password: &str) {
    let Some(hash) = state.passwords.hash(password.to_owned()).await else {
        return;
    };
    match state
        .store
        .upgrade_password_hash(&user.id, &user.password_hash, &hash)
        .await
    {
        Ok(true) => tracing::info!(user_id = %user.id, "password hash moved to today's parameters"),
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(user_id = %user.id, %error, "could not store the upgraded password hash");
        }
    }
}

/// A counted sign-in attempt, given back unless the password check reached a verdict: an
/// attempt that ends first (the browser went away mid-check, the database failed) answered
/// nobody anything, so it must not bring a person or a network closer to a lockout.
struct Attempt<'a> {
    state: &'a AppState,
    user_key: String,
    ip_key: String,
    verdict: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.verdict {
            self.state.login_limiter.refund(&self.user_key);
            self.state.login_ip_limiter.refund(&self.ip_key);
        }
    }
}

/// Starts a session for a person who has just proved who they are (with their password, or
/// at `identity_provider`), ending the browser's previous one (no session fixation).
pub async fn start_session(
    state: &AppState,
    user: &User,
    identity_provider: Option<&str>,
    previous: Option<&Session>,
    ip: IpAddr,
) -> Result<SignIn, StoreError> {
    let now = state.clock.now();
    if let Some(old) = previous {
        state.store.delete_session(&old.id_hash).await?;
    }
    let session_secret = opaque::new_secret();
    let ttl = state.config.login.session_ttl.as_i64();
    let id_hash = opaque::hash(&session_secret);
    state
        .store
        .create_session(&id_hash, &user.id, identity_provider, now, now + ttl)
        .await?;
    tracing::info!(user_id = %user.id, provider = identity_provider, "signed in");
    state.metrics.login_succeeded();
    let mut event = AuditEvent::new(AuditKind::LoginSucceeded)
        .user(&user.id)
        .ip(ip);
    if let Some(provider) = identity_provider {
        event = event.with("provider", provider);
    }
    state.audit(event).await;
    Ok(SignIn::SignedIn {
        user_id: user.id.clone(),
        session_secret,
        ttl,
    })
}

/// True on a first run: no identity provider is configured and no person exists, so the
/// sign-in page can only say how to create one. Asks the database until someone exists.
pub async fn nobody_can_sign_in(state: &AppState) -> Result<bool, StoreError> {
    if !state.providers.is_empty() || state.someone_can_sign_in.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let anyone = state.store.any_user().await?;
    if anyone {
        state.someone_can_sign_in.store(true, Ordering::Relaxed);
    }
    Ok(!anyone)
}

/// The audit event of a failed sign-in: who was tried, and why it failed (operators only).
fn failure_event(user: Option<&User>, username: &str, verified: bool) -> AuditEvent {
    let event = AuditEvent::new(AuditKind::LoginFailed).attempted_username(username);
    match user {
        None => event.with("reason", "unknown_user"),
        Some(u) if u.disabled => event.user(&u.id).with("reason", "disabled"),
        Some(u) if !verified => event.user(&u.id).with("reason", "wrong_password"),
        Some(u) => event.user(&u.id),
    }
}
