//! The token endpoint's grants (RFC 6749 4.1.3, 4.4, 6): each checks what was presented
//! against what is stored, then mints an access token and, where due, a refresh token.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod token_exchange;

use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::resource;
use crate::store::StoreError;
use crate::tokens::access_token::AccessTokenClaims;
use crate::tokens::id_token::{IdTokenClaims, PersonClaims};
use crate::tokens::opaque;
use serde::Serialize;

/// The successful token response (RFC 6749 5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The next refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes (RFC 6749 5.1 requires them when they differ from the request).
    pub scope: String,
    /// The ID token, when the grant has `openid` (OpenID Connect Core 3.1.3.3, 12.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Display for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenResponse(<redacted>, scope={:?})", self.scope)
    }
}

/// What an access token says, before it is signed.
pub struct AccessGrant<'a> {
    /// The person's id, or the client's for client credentials.
    pub subject: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// The audience.
    pub resource: &'a str,
    /// Space-delimited scopes.
    pub scope: &'a str,
    /// When the person authenticated.
    pub auth_time: Option<i64>,
    /// Reuse this id and lifetime (idempotent refresh); otherwise a new one.
    pub reuse: Option<(&'a str, i64, i64)>,
}

/// A signed access token with its id and expiry, so callers can record them.
pub struct MintedAccessToken {
    /// The JWT.
    pub jwt: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: i64,
    /// Seconds until `exp`, for `expires_in`.
    pub expires_in: i64,
}

/// Notes that a client obtained tokens, so unused dynamic registrations can be told apart.
/// The mark is refreshed at most every [`CLIENT_USE_RESOLUTION`]: it only has to outlive
/// `registration.unused_client_ttl` (days), and skipping the write keeps the hot path of
/// every grant free of a second write transaction. (A grant's own "last used" is written
/// in the transaction that issues its tokens.)
pub async fn record_use(state: &AppState, client: &Client, now: i64) -> Result<(), StoreError> {
    let recently_marked = client
        .last_used_at
        .is_some_and(|at| now - at < CLIENT_USE_RESOLUTION);
    if recently_marked {
        return Ok(());
    }
    state.store.mark_client_used(&client.id, now).await?;
    state.clients.note_used(&client.id, now);
    Ok(())
}

/// Seconds between refreshes of a client's "last used" mark.
const CLIENT_USE_RESOLUTION: i64 = 3_600;

/// Signs an RFC 9068 access token with the active key.
pub fn mint_access_token(
    state: &AppState,
    grant: &AccessGrant<'_>,
) -> Result<MintedAccessToken, OAuthError> {
    let now = state.clock.now();
    let (jti, iat, exp) = match grant.reuse {
        Some((jti, iat, exp)) => (jti.to_owned(), iat, exp),
        None => (
            opaque::new_id(),
            now,
            now + state.config.tokens.access_token_ttl.as_i64(),
        ),
    };
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: grant.subject.to_owned(),
        aud: grant.resource.to_owned(),
        client_id: grant.client_id.to_owned(),
        scope: grant.scope.to_owned(),
        iat,
        exp,
        jti: jti.clone(),
        auth_time: grant.auth_time,
    };
    let jwt = state.keys.sign(&claims).map_err(|error| {
        tracing::error!(%error, "signing an access token failed");
        OAuthError::server_error()
    })?;
    Ok(MintedAccessToken {
        jwt,
        jti,
        expires_at: exp,
        expires_in: (exp - now).max(0),
    })
}

/// Who an ID token is about and for, and what it echoes.
pub struct IdentityGrant<'a> {
    /// The person's id (`sub`, the same as the access token's).
    pub user_id: &'a str,
    /// The client (`aud`).
    pub client_id: &'a str,
    /// The granted scopes: `openid` decides whether there is an ID token at all, `profile`
    /// and `email` which claims it holds.
    pub scope: &'a str,
    /// When the person signed in.
    pub auth_time: i64,
    /// The request's `nonce`, on the code exchange only.
    pub nonce: Option<&'a str>,
}

/// Signs an ID token for `grant` beside `access_token`, or `None` without `openid`.
pub async fn id_token_for(
    state: &AppState,
    grant: &IdentityGrant<'_>,
    access_token: &str,
) -> Result<Option<String>, GrantError> {
    let scopes: Vec<&str> = grant.scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return Ok(None);
    }
    let Some(person) = state.principals.person(grant.user_id).await? else {
        return Err(OAuthError::invalid_grant("the person no longer exists").into());
    };
    let now = state.clock.now();
    let claims = IdTokenClaims {
        iss: state.config.issuer.clone(),
        sub: grant.user_id.to_owned(),
        aud: grant.client_id.to_owned(),
        exp: now + state.config.tokens.access_token_ttl.as_i64(),
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.map(str::to_owned),
        at_hash: None,
        person: PersonClaims::for_scopes(&person.claims_source(), scopes),
    };
    let signed = state.keys.sign_id_token(claims, access_token);
    signed.map(Some).map_err(|error| {
        tracing::error!(%error, "signing an ID token failed");
        OAuthError::server_error().into()
    })
}

/// `grant_type=authorization_code`: what the client sends with the code (RFC 6749 4.1.3).
#[derive(Clone, Copy, Debug)]
pub struct CodeRequest<'a> {
    /// `code`.
    pub code: &'a str,
    /// `code_verifier` (RFC 7636 4.5).
    pub code_verifier: &'a str,
    /// `redirect_uri`, which OAuth 2.1 lets a PKCE client omit.
    pub redirect_uri: Option<&'a str>,
    /// Every `resource` sent (RFC 8707).
    pub resources: &'a [String],
}

/// `grant_type=refresh_token` (RFC 6749 6).
#[derive(Clone, Copy, Debug)]
pub struct RefreshRequest<'a> {
    /// `refresh_token`.
    pub refresh_token: &'a str,
    /// `scope`: at most the scope of the grant.
    pub scope: Option<&'a str>,
    /// Every `resource` sent (RFC 8707).
    pub resources: &'a [String],
}

/// `grant_type=client_credentials` (RFC 6749 4.4).
#[derive(Clone, Copy, Debug)]
pub struct MachineRequest<'a> {
    /// `scope`.
    pub scope: Option<&'a str>,
    /// Every `resource` sent (RFC 8707).
    pub resources: &'a [String],
}

/// RFC 8707 2.2: a `resource` at `/token` must name the audience the code or refresh token
/// was issued for (a configured resource matches with or without its trailing slash); more
/// than one is `invalid_target`, never silently the first.
pub fn check_resource(
    state: &AppState,
    resources: &[String],
    held: &str,
) -> Result<(), OAuthError> {
    let same = |requested: &str| {
        requested == held
            || resource::configured(state.config.audiences(), requested)
                .is_some_and(|r| r.uri == held)
    };
    match resources {
        [] => Ok(()),
        [one] if same(one) => Ok(()),
        [_] => Err(OAuthError::invalid_target(
            "resource must be the one the grant was issued for",
        )),
        _ => Err(OAuthError::invalid_target(
            "send at most one resource at the token endpoint",
        )),
    }
}

/// A grant failure: a protocol error for the client, or a storage failure.
#[derive(Debug)]
pub enum GrantError {
    /// Answer with this RFC error.
    OAuth(OAuthError),
    /// The database failed.
    Store(StoreError),
}

impl From<OAuthError> for GrantError {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl From<StoreError> for GrantError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}
