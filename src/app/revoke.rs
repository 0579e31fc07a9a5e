//! Token revocation (RFC 7009) without HTTP: a client revokes a token issued to itself.

use crate::app::introspect::looks_like_jwt;
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::store::StoreResult;
use crate::tokens::opaque;

/// What a revocation request did. The client hears 200 whichever it is (RFC 7009 2.2), so
/// nobody learns whether a token exists or whose it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// An access token: its `jti` is remembered as revoked until it expires.
    AccessToken,
    /// A refresh token: its whole family, and every access token issued beside it.
    RefreshFamily,
    /// Unknown, already invalid, or issued to another client: nothing changed.
    Nothing,
}

/// Revokes `token` if it was issued to `client`. `token_type_hint` is not needed: access and
/// refresh tokens are told apart by form.
pub async fn revoke(state: &AppState, client: &Client, token: &str) -> StoreResult<Revoked> {
    let now = state.clock.now();
    if looks_like_jwt(token) {
        // A token that does not verify (forged, expired, signed by a withdrawn key) is already
        // unusable: there is nothing to revoke.
        let Ok(claims) = state.keys.verify(token, now) else {
            return Ok(Revoked::Nothing);
        };
        if claims.client_id != client.id {
            return Ok(Revoked::Nothing);
        }
        state
            .store
            .revoke_access_token(&claims.jti, claims.exp, now)
            .await?;
        state.revoked.note_revoked(&claims.jti, claims.exp);
        return Ok(Revoked::AccessToken);
    }
    let Some(stored) = state.store.find_refresh_token(&opaque::hash(token)).await? else {
        return Ok(Revoked::Nothing);
    };
    if stored.client_id != client.id {
        return Ok(Revoked::Nothing);
    }
    state
        .store
        .revoke_refresh_family(&stored.family_id, now)
        .await?;
    state.revoked.invalidate();
    Ok(Revoked::RefreshFamily)
}
