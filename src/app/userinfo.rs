//! The UserInfo endpoint's rule (OpenID Connect Core 5.3): a live access token whose scope
//! has `openid` gets the claims its other identity scopes allow, whatever MCP server it is
//! for (the person granted the identity scopes to the client, not to a server).

use crate::app::introspect::{ActiveAccessToken, active_access_token};
use crate::app::state::AppState;
use crate::store::StoreResult;
use crate::tokens::id_token::PersonClaims;
use serde::Serialize;

/// The UserInfo response: `sub` and the claims the token's scopes allow.
#[derive(Debug, Serialize)]
pub struct UserInfo {
    /// The same `sub` as the access and ID tokens.
    pub sub: String,
    /// The person's claims.
    #[serde(flatten)]
    pub claims: PersonClaims,
}

/// Why a token gets no claims.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a live access token of a person (RFC 6750 `invalid_token`).
    InvalidToken,
    /// A live token without `openid` (RFC 6750 `insufficient_scope`).
    NoOpenId,
}

/// The claims for `token`, or why there are none.
pub async fn userinfo(state: &AppState, token: &str) -> StoreResult<Result<UserInfo, Refusal>> {
    let Some(ActiveAccessToken { claims, person }) = active_access_token(state, token).await?
    else {
        return Ok(Err(Refusal::InvalidToken));
    };
    // A client acting for itself is nobody's: it has no person to describe.
    let Some(person) = person else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return Ok(Err(Refusal::NoOpenId));
    }
    Ok(Ok(UserInfo {
        claims: PersonClaims::for_scopes(&person.claims_source(), scopes),
        sub: claims.sub,
    }))
}
