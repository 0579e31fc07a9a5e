//! The MCP servers this authorization server issues tokens for, as the operator configures
//! them (`[[resources]]`, `default_resource`), and which URIs can name one.

use super::redirect_uri::is_loopback_host;
use serde::Deserialize;
use url::Url;

/// `[[resources]]`: one MCP server protected by this authorization server.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The resource identifier (RFC 8707), usually the MCP server's URL.
    pub uri: String,
    /// What people see on the consent page.
    pub name: String,
    /// Every scope this resource understands.
    #[serde(default, deserialize_with = "crate::support::lenient::list")]
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none.
    #[serde(default, deserialize_with = "crate::support::lenient::list")]
    pub default_scopes: Vec<String>,
    /// What each scope lets an application do, in words for the consent page.
    #[serde(default)]
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
}

/// The MCP servers tokens may be for, as configured: what the audience and scope rules
/// (`oauth::resource`) read, and nothing else.
#[derive(Clone, Copy, Debug)]
pub struct Audiences<'a> {
    /// This server's issuer: the audience of open-resource tokens that name no resource.
    pub issuer: &'a str,
    /// `[[resources]]`; none means open-resource mode.
    pub resources: &'a [ResourceConfig],
    /// `default_resource`.
    pub default_resource: Option<&'a str>,
}

impl Audiences<'_> {
    /// True when no resources are configured, so any absolute https or loopback URI is accepted.
    pub fn open_resource_mode(&self) -> bool {
        self.resources.is_empty()
    }
}

/// Whether `uri` can name a protected resource: absolute https, or http on loopback.
pub fn is_acceptable_resource_uri(uri: &str) -> bool {
    match Url::parse(uri) {
        Ok(url) if url.fragment().is_none() => match url.scheme() {
            "https" => url.host().is_some(),
            "http" => url.host().as_ref().is_some_and(is_loopback_host),
            _ => false,
        },
        _ => false,
    }
}
