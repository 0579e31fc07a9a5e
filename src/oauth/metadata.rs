//! RFC 8414 authorization server metadata, built from configuration alone. The same
//! document is the OpenID Provider Metadata (OpenID Connect Discovery 1.0 3): one set of
//! values, served at both well-known names.

use super::audiences::Audiences;
use super::client::{AuthMethod, GrantType};
use super::registration::RegistrationMode;
use super::scope::IDENTITY_SCOPES;
use crate::tokens::key_set::SIGNING_ALGORITHMS;
use crate::tokens::signing_key::{SigningAlgorithm, algorithm_name};
use serde::Serialize;
use std::collections::BTreeMap;

/// An endpoint advertised in metadata only while it is listed in [`GATED_ENDPOINTS`].
#[derive(Clone, Copy, Debug)]
pub struct GatedEndpoint {
    /// The metadata member naming the endpoint, e.g. `revocation_endpoint`.
    pub member: &'static str,
    /// Its path relative to the issuer.
    pub path: &'static str,
    /// The member listing its client authentication methods, with their values.
    pub auth_methods: Option<(&'static str, &'static [&'static str])>,
}

/// Endpoints built separately from discovery. Metadata advertises only what works, so an
/// entry belongs here exactly while its route is served; remove one to stop advertising it.
pub const GATED_ENDPOINTS: &[GatedEndpoint] = &[
    GatedEndpoint {
        member: "revocation_endpoint",
        path: "/revoke",
        auth_methods: Some((
            "revocation_endpoint_auth_methods_supported",
            REVOCATION_AUTH_METHODS,
        )),
    },
    GatedEndpoint {
        member: "introspection_endpoint",
        path: "/introspect",
        auth_methods: Some((
            "introspection_endpoint_auth_methods_supported",
            INTROSPECTION_AUTH_METHODS,
        )),
    },
];

/// How clients authenticate at `/revoke`: as at `/token`. RFC 7009 lets a public client
/// (`none`) revoke the tokens issued to itself.
const REVOCATION_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// How callers authenticate at `/introspect`: with a secret or a key only. Anyone can send
/// a public client_id, so `none` authenticates nobody (DESIGN.md 7).
const INTROSPECTION_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// The metadata document; members in the order RFC 8414 2 lists them.
#[derive(Clone, Debug, Serialize)]
pub struct AuthorizationServerMetadata {
    /// Byte-identical to the configured issuer.
    pub issuer: String,
    /// `{issuer}/authorize`.
    pub authorization_endpoint: String,
    /// `{issuer}/token`.
    pub token_endpoint: String,
    /// `{issuer}/userinfo` (OpenID Connect Core 5.3).
    pub userinfo_endpoint: String,
    /// `{issuer}/jwks.json`.
    pub jwks_uri: String,
    /// `{issuer}/register`, unless registration is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Union of the configured resources' scopes; the identity scopes in open-resource mode.
    pub scopes_supported: Vec<String>,
    /// Only `code`.
    pub response_types_supported: Vec<&'static str>,
    /// Only `query` (the default for `code`), stated for strict clients.
    pub response_modes_supported: Vec<&'static str>,
    /// Every grant the token endpoint serves.
    pub grant_types_supported: Vec<&'static str>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `none`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The algorithms a `private_key_jwt` assertion may be signed with: asymmetric only.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Only `S256`: `plain` gives no protection.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// OpenID Connect: `sub` is the same person id for every client.
    pub subject_types_supported: Vec<&'static str>,
    /// OpenID Connect: the algorithm of the keys that sign ID tokens (and access tokens).
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// OpenID Connect: the claims ID tokens and userinfo may carry.
    pub claims_supported: Vec<&'static str>,
    /// OpenID Connect `prompt` values understood (`select_account` signs in again).
    pub prompt_values_supported: Vec<&'static str>,
    /// OpenID Connect Discovery: no `request` objects (false is the default, stated).
    pub request_parameter_supported: bool,
    /// OpenID Connect Discovery: no `request_uri` (whose default is true, so it is stated).
    pub request_uri_parameter_supported: bool,
    /// OpenID Connect Discovery: no `claims` request parameter.
    pub claims_parameter_supported: bool,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// Whether https client_ids are fetched as client ID metadata documents.
    pub client_id_metadata_document_supported: bool,
    /// Gated endpoints and their authentication methods.
    #[serde(flatten)]
    pub gated: BTreeMap<&'static str, serde_json::Value>,
}

/// What the metadata document says about this server, from its configuration (`Config::server_profile`).
#[derive(Clone, Copy, Debug)]
pub struct ServerProfile<'a> {
    /// The MCP servers tokens may be for (and the issuer).
    pub audiences: Audiences<'a>,
    /// `registration.mode`: whether `/register` is listed.
    pub registration: RegistrationMode,
    /// `cimd.enabled`: whether client ID metadata documents are accepted.
    pub client_id_metadata_documents: bool,
    /// `keys.algorithm`: what ID tokens are signed with.
    pub signing_algorithm: SigningAlgorithm,
    /// Whether an identity provider keeps upstream tokens, so MCP servers may obtain them
    /// with token exchange (RFC 8693).
    pub token_exchange: bool,
}

/// RFC 8693's grant type: an MCP server trades a person's access token for their upstream
/// provider's.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The claims an ID token or userinfo answer may hold (OpenID Connect Core 2, 5.1).
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
];

/// Builds the metadata document for this server.
pub fn authorization_server_metadata(profile: ServerProfile<'_>) -> AuthorizationServerMetadata {
    let config = profile.audiences;
    let issuer = config.issuer;
    let at = |path: &str| format!("{issuer}{path}");
    let mut scopes_supported: Vec<String> = Vec::new();
    for scope in config.resources.iter().flat_map(|r| &r.scopes) {
        if !scopes_supported.contains(scope) {
            scopes_supported.push(scope.clone());
        }
    }
    // The server's own scopes, always (OpenID Connect Discovery requires `openid`). In
    // open-resource mode they are all that is listed: every other scope is the client's to
    // choose there, and scopes clients registered are not listed, since anyone could write them.
    for scope in IDENTITY_SCOPES {
        if !scopes_supported.iter().any(|s| s == scope) {
            scopes_supported.push(scope.to_owned());
        }
    }
    let mut gated = BTreeMap::new();
    for endpoint in GATED_ENDPOINTS {
        gated.insert(endpoint.member, at(endpoint.path).into());
        if let Some((member, methods)) = endpoint.auth_methods {
            gated.insert(member, methods.to_vec().into());
        }
    }
    AuthorizationServerMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: at("/authorize"),
        token_endpoint: at("/token"),
        userinfo_endpoint: at("/userinfo"),
        jwks_uri: at("/jwks.json"),
        registration_endpoint: (profile.registration != RegistrationMode::Off)
            .then(|| at("/register")),
        scopes_supported,
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: GrantType::ALL
            .iter()
            .map(|g| g.as_str())
            .chain(profile.token_exchange.then_some(TOKEN_EXCHANGE))
            .collect(),
        token_endpoint_auth_methods_supported: [
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
            AuthMethod::PrivateKeyJwt,
            AuthMethod::None,
        ]
        .iter()
        .map(|m| m.as_str())
        .collect(),
        token_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        code_challenge_methods_supported: vec!["S256"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec![algorithm_name(profile.signing_algorithm)],
        claims_supported: CLAIMS_SUPPORTED.to_vec(),
        prompt_values_supported: vec!["none", "login", "consent", "select_account"],
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: profile.client_id_metadata_documents,
        gated,
    }
}

/// The two well-known names of the document: RFC 8414's and OpenID Connect Discovery's.
const WELL_KNOWN: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// The paths the metadata is served at, under both names: the plain well-known URL, and
/// for an issuer with a path the path-inserted form (RFC 8414 3.1) and the path-appended
/// form (OpenID Connect Discovery 4.1, which MCP clients try too).
pub fn well_known_paths(issuer: &str) -> Vec<String> {
    let path = url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let mut paths = Vec::new();
    for name in WELL_KNOWN {
        paths.push(name.to_owned());
        if !path.is_empty() {
            paths.push(format!("{name}{path}"));
            paths.push(format!("{path}{name}"));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_issuer_is_served_at_the_plain_well_known_path() {
        assert_eq!(
            well_known_paths("https://auth.example.com"),
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn an_issuer_with_a_path_gets_the_path_inserted_form() {
        let paths = well_known_paths("https://example.com/tenant/auth");
        assert!(paths.contains(&"/.well-known/oauth-authorization-server/tenant/auth".to_owned()));
        assert!(paths.contains(&"/tenant/auth/.well-known/oauth-authorization-server".to_owned()));
        assert!(paths.contains(&"/.well-known/openid-configuration/tenant/auth".to_owned()));
        assert!(paths.contains(&"/tenant/auth/.well-known/openid-configuration".to_owned()));
    }
}
