//! What the example server needs to know: where it is reached, and which issuer it trusts.

use crate::upstream::UpstreamSettings;
use anyhow::{Context, bail};
use std::time::Duration;
use url::Url;

/// The scope the tool needs unless told otherwise.
pub const DEFAULT_SCOPE: &str = "mcp:tools";

/// Validated settings; built once at start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The MCP endpoint's public URL, e.g. `http://127.0.0.1:3000/mcp`.
    pub resource: Url,
    /// The same URL as written (and as configured in mcp-authd's `[[resources]]`): access
    /// tokens must carry it as `aud`, byte for byte.
    resource_id: String,
    /// mcp-authd's issuer, exactly as it is configured there.
    pub issuer: String,
    /// The scope a token needs to use the MCP endpoint.
    pub required_scope: String,
    /// Every scope to advertise in the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// What people see as this server's name.
    pub resource_name: String,
    /// Allowed clock difference with mcp-authd when checking `exp` and `nbf`.
    pub leeway: Duration,
    /// Where to fetch the JWKS; discovered from the issuer's metadata when absent.
    pub jwks_uri: Option<Url>,
    /// When set, the `upstream_profile` tool calls the person's identity provider with the
    /// upstream token mcp-authd hands this server.
    pub upstream: Option<UpstreamSettings>,
}

impl Settings {
    /// Settings for a resource URL and issuer, with the default scope and a 30 s leeway.
    pub fn new(resource: &str, issuer: &str) -> anyhow::Result<Self> {
        let resource_id = resource.to_owned();
        let resource = Url::parse(resource).with_context(|| format!("resource {resource:?}"))?;
        if resource.fragment().is_some() || !matches!(resource.scheme(), "https" | "http") {
            bail!("the resource must be an http(s) URL without a fragment: {resource}");
        }
        let parsed = Url::parse(issuer).with_context(|| format!("issuer {issuer:?}"))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!("the issuer must have no query or fragment: {issuer}");
        }
        Ok(Self {
            resource,
            resource_id,
            issuer: issuer.to_owned(),
            required_scope: DEFAULT_SCOPE.to_owned(),
            scopes_supported: vec![DEFAULT_SCOPE.to_owned()],
            resource_name: "mcp-authd example MCP server".to_owned(),
            leeway: Duration::from_secs(30),
            jwks_uri: None,
            upstream: None,
        })
    }

    /// The path the MCP endpoint is served at (`/` when the resource has none).
    pub fn mcp_path(&self) -> &str {
        self.resource.path()
    }

    /// The resource identifier as tokens carry it in `aud`.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_with_a_fragment_is_refused() {
        assert!(
            Settings::new("https://mcp.example.com/mcp#x", "https://auth.example.com").is_err()
        );
        assert!(Settings::new("ftp://mcp.example.com/mcp", "https://auth.example.com").is_err());
    }

    #[test]
    fn the_resource_path_is_the_mcp_path() {
        let s = Settings::new("https://mcp.example.com/mcp", "https://auth.example.com").unwrap();
        assert_eq!(s.mcp_path(), "/mcp");
        assert_eq!(s.resource_id(), "https://mcp.example.com/mcp");
    }
}
