//! RFC 9728 protected-resource metadata: how an MCP client learns that mcp-authd issues the
//! tokens for this server, and which scopes to ask for.

use crate::settings::Settings;
use serde::Serialize;

/// The RFC 9728 well-known suffix.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The protected-resource metadata document (RFC 9728 section 2).
#[derive(Clone, Debug, Serialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier, byte-identical to the `aud` of its tokens.
    pub resource: String,
    /// The issuers whose tokens this server accepts: mcp-authd's, as configured there.
    pub authorization_servers: Vec<String>,
    /// Scopes a client may ask for.
    pub scopes_supported: Vec<String>,
    /// Tokens travel in the `Authorization` header only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// A name people may be shown.
    pub resource_name: String,
}

/// The document for these settings.
pub fn document(settings: &Settings) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata {
        resource: settings.resource_id().to_owned(),
        authorization_servers: vec![settings.issuer.clone()],
        scopes_supported: settings.scopes_supported.clone(),
        bearer_methods_supported: vec!["header"],
        resource_name: settings.resource_name.clone(),
    }
}

/// The paths the document is served at: the path-inserted form RFC 9728 3.1 defines for
/// the resource (what the `WWW-Authenticate` challenge points to), and the bare well-known
/// path that clients without a challenge try for a resource at the root.
pub fn paths(settings: &Settings) -> Vec<String> {
    let path = settings.mcp_path().trim_end_matches('/');
    let mut paths = vec![format!("{WELL_KNOWN}{path}")];
    if !path.is_empty() {
        paths.push(WELL_KNOWN.to_owned());
    }
    paths
}

/// The absolute URL of the metadata for this resource, as the challenge names it.
pub fn url(settings: &Settings) -> String {
    let mut url = settings.resource.clone();
    let path = settings.mcp_path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{WELL_KNOWN}{path}"));
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_with_a_path_gets_the_path_inserted_url() {
        let s = Settings::new("https://mcp.example.com/mcp", "https://auth.example.com").unwrap();
        assert_eq!(
            url(&s),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            paths(&s),
            [
                "/.well-known/oauth-protected-resource/mcp",
                "/.well-known/oauth-protected-resource"
            ]
        );
    }

    #[test]
    fn a_resource_at_the_root_uses_the_bare_well_known_url() {
        let s = Settings::new("https://mcp.example.com", "https://auth.example.com").unwrap();
        assert_eq!(
            url(&s),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(paths(&s), ["/.well-known/oauth-protected-resource"]);
    }

    #[test]
    fn the_document_names_the_issuer_and_the_resource() {
        let s = Settings::new("https://mcp.example.com/mcp", "https://auth.example.com").unwrap();
        let doc = serde_json::to_value(document(&s)).unwrap();
        assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
        assert_eq!(doc["authorization_servers"][0], "https://auth.example.com");
        assert_eq!(doc["scopes_supported"][0], "mcp:tools");
    }
}
