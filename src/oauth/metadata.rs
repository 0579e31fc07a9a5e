//! RFC 8414 authorization server metadata, built from configuration alone.

use super::audiences::Audiences;
use super::client::{AuthMethod, GrantType};
use super::registration::RegistrationMode;
use super::scope::IDENTITY_SCOPES;
use crate::tokens::client_assertion::SIGNING_ALGORITHMS;
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
}

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
    if config.open_resource_mode() {
        // The server's own scopes: every other scope is the client's to choose there, and
        // scopes clients registered are not listed, since anyone could write them.
        scopes_supported = IDENTITY_SCOPES.iter().map(|s| (*s).to_owned()).collect();
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
        jwks_uri: at("/jwks.json"),
        registration_endpoint: (profile.registration != RegistrationMode::Off)
            .then(|| at("/register")),
        scopes_supported,
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
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
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: profile.client_id_metadata_documents,
        gated,
    }
}

/// The paths the metadata is served at: the RFC 8414 3.1 well-known URL (path-inserted for an
/// issuer with a path), the plain one, and the path-appended form some clients still try.
pub fn well_known_paths(issuer: &str) -> Vec<String> {
    const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
    let path = url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let mut paths = vec![WELL_KNOWN.to_owned()];
    if !path.is_empty() {
        paths.push(format!("{WELL_KNOWN}{path}"));
        paths.push(format!("{path}{WELL_KNOWN}"));
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
            ["/.well-known/oauth-authorization-server"]
        );
    }

    #[test]
    fn an_issuer_with_a_path_gets_the_path_inserted_form() {
        let paths = well_known_paths("https://example.com/tenant/auth");
        assert!(paths.contains(&"/.well-known/oauth-authorization-server/tenant/auth".to_owned()));
        assert!(paths.contains(&"/tenant/auth/.well-known/oauth-authorization-server".to_owned()));
    }
}
