//! Token introspection (RFC 7662) without HTTP: what the server says about a token, and to
//! whom. Shared by `POST /introspect`, `mcp-authd tokens introspect` and the benchmark.
//!
//! A JWT access token is checked entirely in memory on the hot path: signature, `typ`, `iss`
//! and `exp` by the keyring, revocation by [`revoked::RevokedTokens`], the person and client by
//! [`principals::Principals`]. A refresh token is opaque and is looked up by its hash.
//! Anything that is not an active token the caller may see is exactly `{"active": false}`.

pub mod principals;
pub mod revoked;

use crate::app::introspect::principals::PersonStatus;
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::store::StoreResult;
use crate::tokens::access_token::AccessTokenClaims;
use crate::tokens::opaque;
use serde::Serialize;

/// Who is asking, which decides which tokens they may learn about.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// An authenticated client: it sees the tokens issued to itself, and, when it is a
    /// confidential client flagged as a resource server, every token. A public client
    /// identified only by its client_id never gets the resource-server view, since anyone can
    /// send a public client_id.
    Client(&'a Client),
    /// The operator at the CLI: sees what a resource server would.
    Operator,
}

impl Caller<'_> {
    /// Whether this caller may learn about a token issued to `client_id`.
    pub fn may_see(&self, client_id: &str) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Client(caller) => {
                caller.id == client_id
                    || (caller.resource_server && caller.settings.auth_method.is_confidential())
            }
        }
    }
}

/// `token_type` of an access token (RFC 7662 2.2 takes RFC 6749 5.1 token types).
pub const BEARER: &str = "Bearer";

/// `token_type` of a refresh token, so a resource server never mistakes one for an access
/// token (its answer also has no `aud`).
pub const REFRESH_TOKEN: &str = "refresh_token";

/// An introspection answer (RFC 7662 2.2). Inactive answers carry nothing but `active`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Introspection {
    /// Whether the token is active and the caller may see it.
    pub active: bool,
    /// Space-delimited scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The person's username; absent for a client acting for itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// [`BEARER`] or [`REFRESH_TOKEN`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The person's id, or the client's for client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The resource (MCP server) an access token is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// This server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// An access token's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Introspection {
    /// `{"active": false}`, the one answer for every token that is not active for the caller.
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// Which kind of token a string is, told apart by form: a JWS compact JWT has two dots, the
/// opaque refresh tokens have none. `token_type_hint` is therefore not needed (RFC 7662 2.1
/// lets a server ignore it), and a wrong hint cannot hide a token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Introspects `token` for `caller` at the state's clock. Only storage failures are errors.
pub async fn introspect(
    state: &AppState,
    caller: Caller<'_>,
    token: &str,
) -> StoreResult<Introspection> {
    if looks_like_jwt(token) {
        access_token(state, caller, token).await
    } else {
        refresh_token(state, caller, token).await
    }
}

async fn access_token(
    state: &AppState,
    caller: Caller<'_>,
    token: &str,
) -> StoreResult<Introspection> {
    let Some(ActiveAccessToken { claims, person }) = active_access_token(state, token).await?
    else {
        return Ok(Introspection::inactive());
    };
    if !caller.may_see(&claims.client_id) {
        return Ok(Introspection::inactive());
    }
    Ok(Introspection {
        active: true,
        scope: Some(claims.scope),
        client_id: Some(claims.client_id),
        username: person.map(|p| p.username),
        token_type: Some(BEARER),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
    })
}

/// An access token that is live right now, and its person.
pub struct ActiveAccessToken {
    /// Its verified claims.
    pub claims: AccessTokenClaims,
    /// The person; `None` for a client acting for itself.
    pub person: Option<PersonStatus>,
}

/// The access token's claims if it is live: signed by a published key as an access token
/// (never an ID token), unexpired, not revoked, its client not revoked since it was
/// issued, its person existing and enabled. Shared by `/introspect` and `/userinfo`.
pub async fn active_access_token(
    state: &AppState,
    token: &str,
) -> StoreResult<Option<ActiveAccessToken>> {
    let now = state.clock.now();
    // Bad signature, unknown or withdrawn key, forged header, wrong typ or iss, expired.
    let Ok(claims) = state.keys.verify(token, now) else {
        return Ok(None);
    };
    if state.revoked.is_revoked(&claims.jti).await? {
        return Ok(None);
    }
    match state.principals.client(&claims.client_id).await? {
        Some(client) if !client.revoked_at_issue(claims.iat) => {}
        _ => return Ok(None),
    }
    // A client acting for itself (client_credentials) is its own subject; every other
    // subject is a person, who must still exist and be enabled.
    let person = if claims.sub == claims.client_id {
        None
    } else {
        match state.principals.person(&claims.sub).await? {
            Some(person) if !person.disabled => Some(person),
            _ => return Ok(None),
        }
    };
    Ok(Some(ActiveAccessToken { claims, person }))
}

async fn refresh_token(
    state: &AppState,
    caller: Caller<'_>,
    token: &str,
) -> StoreResult<Introspection> {
    let now = state.clock.now();
    let Some(stored) = state.store.find_refresh_token(&opaque::hash(token)).await? else {
        return Ok(Introspection::inactive());
    };
    // Revoked, rotated out (its successor is the live token), idle or absolutely expired.
    let live = stored.revoked_at.is_none()
        && stored.rotated_at.is_none()
        && stored.expires_at > now
        && stored.family_expires_at > now;
    if !live || !caller.may_see(&stored.client_id) {
        return Ok(Introspection::inactive());
    }
    match state.principals.client(&stored.client_id).await? {
        Some(client) if !client.revoked_at_issue(stored.issued_at) => {}
        _ => return Ok(Introspection::inactive()),
    }
    let username = match &stored.user_id {
        None => None,
        Some(user_id) => match state.principals.person(user_id).await? {
            Some(person) if !person.disabled => Some(person.username),
            _ => return Ok(Introspection::inactive()),
        },
    };
    Ok(Introspection {
        active: true,
        scope: Some(stored.scope),
        sub: Some(stored.user_id.unwrap_or_else(|| stored.client_id.clone())),
        client_id: Some(stored.client_id),
        username,
        token_type: Some(REFRESH_TOKEN),
        exp: Some(stored.expires_at.min(stored.family_expires_at)),
        iat: Some(stored.issued_at),
        aud: None,
        iss: Some(state.config.issuer.clone()),
        jti: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_answer_is_exactly_active_false() {
        assert_eq!(
            serde_json::to_string(&Introspection::inactive()).unwrap_or_default(),
            r#"{"active":false}"#
        );
    }

    #[test]
    fn jwts_and_refresh_tokens_are_told_apart_by_form() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(looks_like_jwt("a.b."));
        assert!(!looks_like_jwt(&opaque::new_secret()));
        assert!(!looks_like_jwt("a.b"));
    }
}
