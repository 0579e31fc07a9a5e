//! `grant_type=refresh_token` (RFC 6749 6, RFC 9700 4.14): rotation on every use, with a
//! short idempotent window for clients that refresh from several processes or lost a
//! response, and family revocation on any other reuse.

use super::{
    AccessGrant, GrantError, IdentityGrant, RefreshRequest, TokenResponse, check_resource,
    id_token_for, mint_access_token, record_use,
};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::scope;
use crate::store::{NewRefreshToken, RefreshToken};
use crate::tokens::opaque;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The successor of a refresh token: an HMAC of it under a server secret, so presenting the
/// same token again inside the window yields the same successor without storing plaintext.
/// (HMAC takes keys of any length, so `None` never happens in practice.)
pub fn successor_of(server_secret: &[u8], token: &str) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret).ok()?;
    mac.update(b"mcp-authd refresh successor\0");
    mac.update(token.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Rotates the presented refresh token and issues a new access token.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: &RefreshRequest<'_>,
) -> Result<TokenResponse, GrantError> {
    let presented = request.refresh_token;
    let now = state.clock.now();
    let hash = opaque::hash(presented);
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(current) = state.store.find_refresh_token(&hash).await? else {
        return Err(invalid().into());
    };
    if current.client_id != client.id {
        return Err(invalid().into());
    }
    check_resource(state, request.resources, &current.resource)?;
    let scope = narrowed_scope(request.scope, &current.scope)?;
    if current.revoked_at.is_some() || current.expires_at <= now || current.family_expires_at <= now
    {
        return Err(invalid().into());
    }
    if !current.user_active {
        return Err(invalid().into());
    }
    let successor_token = successor_of(&state.keys.refresh_secret(), presented)
        .ok_or_else(OAuthError::server_error)?;
    if current.rotated_at.is_some() {
        return replay(state, &current, &successor_token, &scope, now).await;
    }
    let minted = mint_access_token(state, &access_grant(&current, &scope, None))?;
    // Signed before the rotation, so a failure here leaves the refresh token usable.
    let id_token = refreshed_id_token(state, &current, &scope, &minted.jwt).await?;
    let tokens = &state.config.tokens;
    let successor = NewRefreshToken {
        token_hash: opaque::hash(&successor_token),
        family_id: current.family_id.clone(),
        parent_hash: Some(hash.clone()),
        grant_id: current.grant_id.clone(),
        client_id: current.client_id.clone(),
        user_id: current.user_id.clone(),
        resource: current.resource.clone(),
        scope: current.scope.clone(),
        auth_time: current.auth_time,
        access_jti: minted.jti.clone(),
        access_expires_at: minted.expires_at,
        issued_at: now,
        expires_at: (now + tokens.refresh_token_idle_ttl.as_i64()).min(current.family_expires_at),
        family_expires_at: current.family_expires_at,
    };
    if !state.store.rotate_refresh_token(&successor).await? {
        // Another request rotated it between our read and our update: treat this one as
        // the re-presentation it is.
        let Some(rotated) = state.store.find_refresh_token(&hash).await? else {
            return Err(invalid().into());
        };
        return replay(state, &rotated, &successor_token, &scope, now).await;
    }
    record_use(state, client, now).await?;
    Ok(TokenResponse {
        access_token: minted.jwt,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: Some(successor_token),
        scope,
        id_token,
    })
}

/// A token presented again after rotation: inside the window, while its successor is
/// unused, the same successor again; otherwise the family is revoked.
async fn replay(
    state: &AppState,
    rotated: &RefreshToken,
    successor_token: &str,
    scope: &str,
    now: i64,
) -> Result<TokenResponse, GrantError> {
    let window = state.config.tokens.refresh_reuse_window.as_i64();
    let within =
        rotated.rotated_at.is_some_and(|at| now - at < window) && rotated.revoked_at.is_none();
    let successor_hash = opaque::hash(successor_token);
    let successor = match rotated.successor_hash.as_deref() {
        Some(stored) if within && stored == successor_hash => {
            state.store.find_refresh_token(stored).await?
        }
        _ => None,
    };
    let Some(successor) = successor.filter(|s| s.rotated_at.is_none() && s.revoked_at.is_none())
    else {
        tracing::warn!(client_id = %rotated.client_id, "refresh token reuse detected; revoking its family");
        state.metrics.refresh_reuse_detected();
        state.audit(reuse_event(rotated)).await;
        state
            .store
            .revoke_refresh_family(&rotated.family_id, now)
            .await?;
        state.revoked.invalidate();
        return Err(OAuthError::invalid_grant("the refresh token was already used").into());
    };
    let reuse = Some((
        successor.access_jti.as_str(),
        successor.issued_at,
        successor.access_expires_at,
    ));
    let minted = mint_access_token(state, &access_grant(&successor, scope, reuse))?;
    let id_token = refreshed_id_token(state, &successor, scope, &minted.jwt).await?;
    Ok(TokenResponse {
        access_token: minted.jwt,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token: Some(successor_token.to_owned()),
        scope: scope.to_owned(),
        id_token,
    })
}

/// OpenID Connect Core 12.2: a refresh of a grant with `openid` gets a fresh ID token with
/// the original `auth_time` and no `nonce`.
async fn refreshed_id_token(
    state: &AppState,
    token: &RefreshToken,
    scope: &str,
    access_token: &str,
) -> Result<Option<String>, GrantError> {
    let Some(user_id) = &token.user_id else {
        return Ok(None);
    };
    let identity = IdentityGrant {
        user_id,
        client_id: &token.client_id,
        scope,
        auth_time: token.auth_time,
        nonce: None,
    };
    id_token_for(state, &identity, access_token).await
}

/// The audit event of a refresh token presented again outside the window.
fn reuse_event(token: &RefreshToken) -> AuditEvent {
    let event = AuditEvent::new(AuditKind::RefreshReuseDetected)
        .client(&token.client_id)
        .with("family_id", token.family_id.as_str());
    match &token.user_id {
        Some(user) => event.user(user),
        None => event,
    }
}

fn access_grant<'a>(
    token: &'a RefreshToken,
    scope: &'a str,
    reuse: Option<(&'a str, i64, i64)>,
) -> AccessGrant<'a> {
    AccessGrant {
        subject: token.user_id.as_deref().unwrap_or(&token.client_id),
        client_id: &token.client_id,
        resource: &token.resource,
        scope,
        auth_time: Some(token.auth_time),
        reuse,
    }
}

/// The requested scope if it is within the token's (RFC 6749 6), else the token's own.
/// Identity scopes asked beside it are never an error: those the grant holds are kept,
/// others (`offline_access`, or `openid` the person never granted) are left out.
fn narrowed_scope(requested: Option<&str>, held: &str) -> Result<String, OAuthError> {
    let (asked, identity) = match requested {
        Some(requested) => {
            scope::split_identity(scope::parse(requested).map_err(OAuthError::invalid_scope)?)
        }
        None => (Vec::new(), Vec::new()),
    };
    if asked.is_empty() {
        return Ok(held.to_owned());
    }
    let held: Vec<&str> = held.split(' ').collect();
    if let Some(extra) = asked.iter().find(|s| !held.contains(&s.as_str())) {
        return Err(OAuthError::invalid_scope(format!(
            "{extra} was not granted; a refresh cannot widen the scope"
        )));
    }
    let kept = identity.into_iter().filter(|s| held.contains(&s.as_str()));
    Ok(scope::join(
        &asked.into_iter().chain(kept).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors_are_deterministic_per_secret() {
        assert_eq!(successor_of(b"k", "t"), successor_of(b"k", "t"));
        assert_ne!(successor_of(b"k", "t"), successor_of(b"other", "t"));
        assert_eq!(successor_of(b"k", "t").map(|s| s.len()), Some(43));
    }

    #[test]
    fn scope_can_narrow_but_never_widen() {
        assert_eq!(narrowed_scope(None, "a b").unwrap(), "a b");
        assert_eq!(
            narrowed_scope(Some("openid offline_access"), "a b").unwrap(),
            "a b"
        );
        assert_eq!(
            narrowed_scope(Some("a offline_access"), "a b").unwrap(),
            "a"
        );
        assert_eq!(narrowed_scope(Some("a"), "a b").unwrap(), "a");
        assert!(narrowed_scope(Some("c"), "a b").is_err());
        assert_eq!(
            narrowed_scope(Some("a openid email"), "a b openid").unwrap(),
            "a openid",
            "held identity scopes stay, others are left out"
        );
    }
}
