//! What a client may be: its authentication method, grant types and the rules tying them.

use super::redirect_uri::{InvalidRedirectUri, validate_for_registration};
use super::scope;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a client authenticates at the token endpoint (RFC 7591 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no secret, PKCE is its only proof.
    None,
    /// Secret in the `Authorization: Basic` header.
    ClientSecretBasic,
    /// Secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 2.2, OpenID Connect Core 9);
    /// the server holds only the public keys.
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The RFC 7591 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Whether the client proves who it is at `/token` (a secret or a key), unlike a
    /// public client.
    pub fn is_confidential(self) -> bool {
        self != Self::None
    }

    /// Whether the client authenticates with a shared secret the server issues.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

impl FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            _ => Err(format!(
                "unsupported token endpoint auth method {s:?}: use none, client_secret_basic, client_secret_post or private_key_jwt"
            )),
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grant types this server offers (RFC 6749 4 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Refresh token rotation.
    RefreshToken,
    /// A confidential client acting for itself.
    ClientCredentials,
}

impl GrantType {
    /// Every grant type, in the order metadata lists them.
    pub const ALL: [GrantType; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
    ];

    /// The RFC 6749 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            format!("unsupported grant type {s:?}: use authorization_code, refresh_token or client_credentials")
        })
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a `private_key_jwt` client's public keys are: inline, or at a URL it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeys {
    /// A JWK Set (RFC 7517 5), kept as given.
    Jwks(serde_json::Value),
    /// An https URL serving the JWK Set, fetched with the document fetcher's rules.
    JwksUri(String),
}

impl ClientKeys {
    /// Reads `jwks` or `jwks_uri` from client metadata (RFC 7591 2); both at once is an
    /// error, as RFC 7591 says.
    pub fn from_metadata(
        jwks: Option<&serde_json::Value>,
        jwks_uri: Option<&str>,
    ) -> Result<Option<Self>, String> {
        match (jwks, jwks_uri) {
            (Some(_), Some(_)) => Err("give jwks or jwks_uri, not both".into()),
            (Some(jwks), None) => {
                let keys = jwks.get("keys").and_then(serde_json::Value::as_array);
                match keys {
                    Some(keys) if !keys.is_empty() && keys.len() <= MAX_CLIENT_KEYS => {
                        if keys.iter().any(is_secret_key) {
                            return Err(
                                "jwks must hold public keys only: a key has private or symmetric members (d, p, q, k)"
                                    .into(),
                            );
                        }
                        Ok(Some(Self::Jwks(jwks.clone())))
                    }
                    _ => Err(format!(
                        "jwks must be a JWK Set with 1 to {MAX_CLIENT_KEYS} keys"
                    )),
                }
            }
            (None, Some(uri)) => match url::Url::parse(uri) {
                Ok(url)
                    if url.scheme() == "https" && url.host().is_some() && url.as_str() == uri =>
                {
                    Ok(Some(Self::JwksUri(uri.to_owned())))
                }
                _ => Err("jwks_uri must be an absolute https URL in normalized form".into()),
            },
            (None, None) => Ok(None),
        }
    }
}

/// Whether a JWK carries secret material: a private key's `d` (or RSA's `p`, `q`) or a
/// symmetric key's `k`. Such a key is refused rather than stored, since the server needs
/// only what verifies a signature.
fn is_secret_key(key: &serde_json::Value) -> bool {
    ["d", "p", "q", "k"].iter().any(|m| key.get(m).is_some())
}

/// The rule tying keys to the method: a `private_key_jwt` client needs keys, and keys
/// belong to no other method.
pub fn check_keys(method: AuthMethod, keys: Option<&ClientKeys>) -> Result<(), String> {
    match (method == AuthMethod::PrivateKeyJwt, keys.is_some()) {
        (true, false) => Err("private_key_jwt needs jwks or jwks_uri".into()),
        (false, true) => Err(format!(
            "jwks and jwks_uri are for private_key_jwt clients, not {method}"
        )),
        _ => Ok(()),
    }
}

/// Most keys one client may publish.
pub const MAX_CLIENT_KEYS: usize = 10;

/// Longest client name accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;

/// The settings every client has, whichever way it was registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Shown on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// Space-delimited scopes the client may ask for; `None` means no limit beyond the resource's.
    pub scope: Option<String>,
    /// How it authenticates at `/token`.
    pub auth_method: AuthMethod,
}

/// Characters that make shown text say something other than what it is: controls,
/// bidirectional overrides and isolates (`"Goo\u{202e}elg"` reads as another name), and
/// invisible joiners and marks. Client names and metadata are refused when they hold one.
pub fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Why a client's settings are not acceptable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientSettingsError {
    /// A redirect URI is not allowed (RFC 7591 `invalid_redirect_uri`).
    #[error(transparent)]
    RedirectUri(#[from] InvalidRedirectUri),
    /// Anything else (RFC 7591 `invalid_client_metadata`).
    #[error("{0}")]
    Metadata(String),
}

impl ClientSettings {
    /// Checks the settings against each other and against the redirect URI rules.
    pub fn validate(&self, allowed_private_schemes: &[String]) -> Result<(), ClientSettingsError> {
        let meta = |m: &str| Err(ClientSettingsError::Metadata(m.to_owned()));
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(is_deceptive_char)
        {
            return meta(
                "the client name must be 1 to 200 characters without control, bidirectional or invisible characters",
            );
        }
        if self.grant_types.is_empty() {
            return meta("at least one grant type is required");
        }
        let has = |g| self.grant_types.contains(&g);
        if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
            return meta("refresh_token is only issued with authorization_code");
        }
        if has(GrantType::ClientCredentials) && !self.auth_method.is_confidential() {
            return meta(
                "client_credentials needs a confidential client (a secret or a key), not a public one",
            );
        }
        if has(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return meta("a redirect URI is required for the authorization_code grant");
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return meta("at most 10 redirect URIs may be registered");
        }
        for uri in &self.redirect_uris {
            validate_for_registration(uri, allowed_private_schemes)?;
        }
        if let Some(text) = &self.scope {
            scope::parse(text).map_err(ClientSettingsError::Metadata)?;
        }
        Ok(())
    }
}

/// How a client came to exist, which decides who may change it and when it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientSource {
    /// Created by an operator with the CLI.
    Cli,
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// A client ID metadata document, fetched and kept as a row so that codes, grants and
    /// tokens can reference it; refreshed from the document when its cache lifetime ends.
    Cimd,
}

/// A registered client, however it arrived (CLI, RFC 7591, or a metadata document).
#[derive(Clone)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// What it may do.
    pub settings: ClientSettings,
    /// How it was registered.
    pub source: ClientSource,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<String>,
    /// May introspect any token (RFC 7662), for MCP servers that do not verify JWTs.
    pub resource_server: bool,
    /// MCP servers the operator bound to this client (`clients create|update --resource`):
    /// the audiences a machine client may get tokens for beyond the configured resources.
    pub resources: Vec<String>,
    /// When the redirect URIs last changed (unix seconds): consent given before then does
    /// not cover a new request, since codes may now go somewhere else.
    pub redirect_uris_changed_at: Option<i64>,
    /// The public keys of a `private_key_jwt` client.
    pub keys: Option<ClientKeys>,
    /// Registration metadata kept to echo back (RFC 7591 3.2.1).
    pub metadata: serde_json::Value,
    /// SHA-256 of the RFC 7592 registration access token.
    pub registration_token_hash: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Last successful token request, unix seconds.
    pub last_used_at: Option<i64>,
    /// Set by `tokens revoke --client`: every token of this client issued (`iat`) before this
    /// unix second is revoked, including client_credentials tokens, which are not recorded.
    pub tokens_revoked_before: Option<i64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("settings", &self.settings)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClientSettings {
        ClientSettings {
            name: "Inspector".into(),
            redirect_uris: vec!["http://localhost:6274/oauth/callback".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scope: None,
            auth_method: AuthMethod::None,
        }
    }

    #[test]
    fn a_public_code_client_is_valid() {
        assert_eq!(settings().validate(&[]), Ok(()));
    }

    #[test]
    fn client_credentials_needs_a_secret() {
        let s = ClientSettings {
            grant_types: vec![GrantType::ClientCredentials],
            ..settings()
        };
        assert!(s.validate(&[]).is_err());
    }

    #[test]
    fn the_code_grant_needs_a_redirect_uri() {
        let s = ClientSettings {
            redirect_uris: vec![],
            ..settings()
        };
        assert!(s.validate(&[]).is_err());
    }

    #[test]
    fn names_that_read_as_something_else_are_refused() {
        for name in [
            "Goo\u{202e}elg",
            "Claude\u{200b}",
            "a\u{2066}b",
            "tab\there",
        ] {
            let s = ClientSettings {
                name: name.into(),
                ..settings()
            };
            assert!(s.validate(&[]).is_err(), "{name:?} was accepted");
        }
        let s = ClientSettings {
            name: "Café ☕ 日本".into(),
            ..settings()
        };
        assert_eq!(s.validate(&[]), Ok(()));
    }

    #[test]
    fn a_bad_redirect_uri_is_named() {
        let s = ClientSettings {
            redirect_uris: vec!["http://evil.example/cb".into()],
            ..settings()
        };
        assert!(matches!(
            s.validate(&[]),
            Err(ClientSettingsError::RedirectUri(_))
        ));
    }
}
