//! `grant_type=authorization_code` (RFC 6749 4.1.3, RFC 7636 4.6): redeem a code once.

use super::{
    AccessGrant, CodeRequest, GrantError, IdentityGrant, MintedAccessToken, TokenResponse,
    check_resource, id_token_for, mint_access_token, record_use,
};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::client::GrantType;
use crate::oauth::error::OAuthError;
use crate::oauth::pkce;
use crate::store::{AuthorizationCode, CodeRedemption, NewRefreshToken};
use crate::tokens::opaque;

/// Checks the code against the client, redirect URI and PKCE verifier, consumes it
/// atomically, and issues tokens. A second redemption revokes what the first one bought.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: &CodeRequest<'_>,
) -> Result<TokenResponse, GrantError> {
    let (code, verifier) = (request.code, request.code_verifier);
    let now = state.clock.now();
    let code_hash = opaque::hash(code);
    let invalid =
        || OAuthError::invalid_grant("the authorization code is invalid, expired or already used");
    let Some(stored) = state.store.find_code(&code_hash).await? else {
        return Err(invalid().into());
    };
    if stored.consumed_at.is_some() {
        revoke_replayed(state, &stored, now).await?;
        return Err(invalid().into());
    }
    if stored.client_id != client.id || stored.expires_at <= now {
        return Err(invalid().into());
    }
    // OAuth 2.1 4.1.3: PKCE binds the code to this client, so redirect_uri may be omitted;
    // when sent, it must be the one the code was delivered to.
    if request
        .redirect_uri
        .is_some_and(|sent| sent != stored.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into());
    }
    check_resource(state, request.resources, &stored.resource)?;
    if !pkce::verify(verifier, &stored.code_challenge) {
        return Err(
            OAuthError::invalid_grant("code_verifier does not match the code_challenge").into(),
        );
    }
    if !stored.user_active {
        return Err(invalid().into());
    }
    let minted = mint_access_token(
        state,
        &AccessGrant {
            subject: &stored.user_id,
            client_id: &client.id,
            resource: &stored.resource,
            scope: &stored.scope,
            auth_time: Some(stored.auth_time),
            reuse: None,
        },
    )?;
    // Signed before the code is spent, so a failure here leaves the code usable.
    let identity = IdentityGrant {
        user_id: &stored.user_id,
        client_id: &client.id,
        scope: &stored.scope,
        auth_time: stored.auth_time,
        nonce: stored.nonce.as_deref(),
    };
    let id_token = id_token_for(state, &identity, &minted.jwt).await?;
    let refresh_token = client
        .settings
        .grant_types
        .contains(&GrantType::RefreshToken)
        .then(opaque::new_secret);
    let redemption = CodeRedemption {
        access_jti: minted.jti.clone(),
        refresh_token: refresh_token
            .as_deref()
            .map(|token| first_refresh_token(state, &stored, token, &minted, now)),
    };
    // The conditional update is the single point of truth: of concurrent redemptions one wins.
    if !state.store.redeem_code(&stored, &redemption, now).await? {
        // Lost a race with another redemption of the same code: that is a replay too, and
        // the winner's tokens are revoked as a sequential replay would revoke them.
        if let Some(winner) = state.store.find_code(&code_hash).await?
            && winner.consumed_at.is_some()
        {
            revoke_replayed(state, &winner, now).await?;
        }
        return Err(invalid().into());
    }
    record_use(state, client, now).await?;
    Ok(TokenResponse {
        access_token: minted.jwt,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        refresh_token,
        scope: stored.scope,
        id_token,
    })
}

/// The first refresh token of the family a code starts; it lives at most the absolute
/// lifetime counted from the sign-in.
fn first_refresh_token(
    state: &AppState,
    code: &AuthorizationCode,
    token: &str,
    minted: &MintedAccessToken,
    now: i64,
) -> NewRefreshToken {
    let tokens = &state.config.tokens;
    let family_expires_at = code.auth_time + tokens.refresh_token_absolute_ttl.as_i64();
    NewRefreshToken {
        token_hash: opaque::hash(token),
        family_id: opaque::new_id(),
        parent_hash: None,
        grant_id: code.grant_id.clone(),
        client_id: code.client_id.clone(),
        user_id: Some(code.user_id.clone()),
        resource: code.resource.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        access_jti: minted.jti.clone(),
        access_expires_at: minted.expires_at,
        issued_at: now,
        expires_at: (now + tokens.refresh_token_idle_ttl.as_i64()).min(family_expires_at),
        family_expires_at,
    }
}

/// RFC 6749 4.1.2: a code used twice revokes every token issued from it.
async fn revoke_replayed(
    state: &AppState,
    code: &AuthorizationCode,
    now: i64,
) -> Result<(), GrantError> {
    tracing::warn!(client_id = %code.client_id, "authorization code replayed; revoking its tokens");
    state.metrics.code_reuse_detected();
    let event = AuditEvent::new(AuditKind::CodeReuseDetected).client(&code.client_id);
    state.audit(event.user(&code.user_id)).await;
    if let Some(family) = &code.family_id {
        state.store.revoke_refresh_family(family, now).await?;
    }
    if let Some(jti) = &code.access_jti {
        let horizon = now + state.config.tokens.access_token_ttl.as_i64();
        state.store.revoke_access_token(jti, horizon, now).await?;
        state.revoked.note_revoked(jti, horizon);
    }
    state.revoked.invalidate();
    Ok(())
}
