//! RFC 9728 protected-resource metadata for an MCP server that trusts this issuer: what
//! `mcp-authd resources metadata` prints for operators to serve, and what `doctor` expects.

use super::resource;
use crate::oauth::audiences::{Audiences, is_acceptable_resource_uri};
use serde::Serialize;

/// The RFC 9728 well-known segment.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The document an MCP server serves about itself (RFC 9728 section 2).
#[derive(Clone, Debug, Serialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: byte-identical to the `aud` of its tokens.
    pub resource: String,
    /// This issuer, byte for byte.
    pub authorization_servers: Vec<String>,
    /// The resource's configured scopes; absent in open-resource mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Tokens travel in the `Authorization` header only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// The configured name, which clients may show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// Everything an MCP server needs to advertise this issuer for one resource.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceAdvice {
    /// Where to serve the document: the path-inserted well-known URL (RFC 9728 3.1).
    pub metadata_url: String,
    /// The document.
    pub metadata: ProtectedResourceMetadata,
    /// `WWW-Authenticate` for a 401 answer to a request without a (valid) token.
    pub www_authenticate: String,
    /// `WWW-Authenticate` for a 403 answer to a token without the needed scope, with
    /// `SCOPE` to be replaced by the scopes the request needs.
    pub www_authenticate_insufficient_scope: String,
}

/// Why no advice can be given for a URI.
#[derive(Debug, thiserror::Error)]
pub enum AdviceError {
    /// Not a URI this server could ever issue tokens for.
    #[error("{0:?} is not an absolute https URL (or http on loopback) without a fragment")]
    NotAResource(String),
    /// Resources are configured and this is not one of them.
    #[error(
        "{uri:?} is not one of the configured [[resources]] ({known}); tokens for it would be refused"
    )]
    NotConfigured {
        /// The URI asked about.
        uri: String,
        /// The configured URIs.
        known: String,
    },
}

/// The RFC 9728 metadata URL of a resource: the well-known segment between host and path.
pub fn metadata_url(resource: &str) -> Option<String> {
    let mut url = url::Url::parse(resource).ok()?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{WELL_KNOWN}{path}"));
    url.set_fragment(None);
    Some(url.to_string())
}

/// The advice for `uri` under this configuration.
pub fn advise(audiences: Audiences<'_>, uri: &str) -> Result<ResourceAdvice, AdviceError> {
    if !is_acceptable_resource_uri(uri) {
        return Err(AdviceError::NotAResource(uri.to_owned()));
    }
    let configured = resource::configured(audiences, uri);
    if configured.is_none() && !audiences.open_resource_mode() {
        let known: Vec<&str> = audiences.resources.iter().map(|r| r.uri.as_str()).collect();
        return Err(AdviceError::NotConfigured {
            uri: uri.to_owned(),
            known: known.join(", "),
        });
    }
    // The configured spelling is what tokens carry as `aud`.
    let resource = configured.map_or(uri, |r| r.uri.as_str()).to_owned();
    let metadata_url =
        metadata_url(&resource).ok_or_else(|| AdviceError::NotAResource(uri.to_owned()))?;
    let scopes = configured.map(|r| r.scopes.clone());
    let wanted = configured
        .map(|r| {
            if r.default_scopes.is_empty() {
                r.scopes.clone()
            } else {
                r.default_scopes.clone()
            }
        })
        .unwrap_or_default();
    let mut www_authenticate = format!("Bearer resource_metadata=\"{metadata_url}\"");
    if !wanted.is_empty() {
        www_authenticate.push_str(&format!(", scope=\"{}\"", wanted.join(" ")));
    }
    Ok(ResourceAdvice {
        www_authenticate_insufficient_scope: format!(
            "Bearer error=\"insufficient_scope\", scope=\"SCOPE\", resource_metadata=\"{metadata_url}\""
        ),
        metadata_url,
        metadata: ProtectedResourceMetadata {
            resource,
            authorization_servers: vec![audiences.issuer.to_owned()],
            scopes_supported: scopes,
            bearer_methods_supported: vec!["header"],
            resource_name: configured.map(|r| r.name.clone()),
        },
        www_authenticate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::Overrides;
    use crate::oauth::audiences::ResourceConfig;

    fn config(resources: &[(&str, &[&str], &[&str])]) -> Config {
        let mut config = crate::config::load(&Overrides::default(), Vec::new()).unwrap();
        config.issuer = "https://auth.example.com".into();
        config.resources = resources
            .iter()
            .map(|(uri, scopes, defaults)| ResourceConfig {
                uri: (*uri).into(),
                name: "Notes".into(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                default_scopes: defaults.iter().map(|s| (*s).to_owned()).collect(),
                scope_descriptions: Default::default(),
            })
            .collect();
        config
    }

    #[test]
    fn the_metadata_url_inserts_the_well_known_segment_before_the_path() {
        assert_eq!(
            metadata_url("https://mcp.example.com/mcp").unwrap(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("https://mcp.example.com").unwrap(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn a_configured_resource_gets_its_scopes_and_name() {
        let config = config(&[(
            "https://mcp.example.com/mcp",
            &["notes:read", "notes:write"],
            &["notes:read"],
        )]);
        let advice = advise(config.audiences(), "https://mcp.example.com/mcp").unwrap();
        assert_eq!(
            advice.metadata.authorization_servers,
            ["https://auth.example.com"]
        );
        assert_eq!(
            advice.metadata.scopes_supported.as_deref().unwrap(),
            ["notes:read", "notes:write"]
        );
        assert_eq!(advice.metadata.resource_name.as_deref(), Some("Notes"));
        assert_eq!(
            advice.www_authenticate,
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read\""
        );
    }

    #[test]
    fn an_unconfigured_resource_is_refused_unless_in_open_mode() {
        let configured = config(&[("https://mcp.example.com/mcp", &["a"], &[])]);
        let err = advise(configured.audiences(), "https://other.example.com/mcp").unwrap_err();
        assert!(
            err.to_string().contains("https://mcp.example.com/mcp"),
            "{err}"
        );
        let open = config(&[]);
        let advice = advise(open.audiences(), "https://other.example.com/mcp").unwrap();
        assert!(advice.metadata.scopes_supported.is_none());
        assert!(!advice.www_authenticate.contains("scope="));
        assert!(advise(open.audiences(), "http://mcp.example.com/mcp").is_err());
    }
}
