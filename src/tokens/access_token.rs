//! The claims of a JWT access token (RFC 9068), as signed by the keyring.

use serde::{Deserialize, Serialize};

/// The claims of an RFC 9068 access token. Resource servers read `aud` (the one resource the
/// token is for), `scope`, `sub` and `client_id`; `jti` lets a token be revoked by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer, byte for byte as configured.
    pub iss: String,
    /// The person (user id) or, for `client_credentials`, the client.
    pub sub: String,
    /// The resource (MCP server) the token is for.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// When the person authenticated, if a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}
