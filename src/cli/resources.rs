//! `mcp-authd resources list | metadata URI`: the MCP servers this server issues tokens for,
//! and what each must serve so that MCP clients find this server.

use super::Output;
use super::output::table;
use crate::config::Config;
use crate::oauth::protected_resource::advise;
use serde::Serialize;

/// Subcommands of `resources`.
#[derive(Debug, clap::Subcommand)]
pub enum ResourcesCommand {
    /// List the configured MCP servers and their scopes.
    List,
    /// Print the RFC 9728 metadata and the WWW-Authenticate header an MCP server should serve.
    Metadata {
        /// The MCP server's resource URI, e.g. https://mcp.example.com/mcp.
        uri: String,
    },
}

#[derive(Serialize)]
struct Listing<'a> {
    open_resource_mode: bool,
    default_resource: Option<&'a str>,
    resources: &'a [crate::oauth::audiences::ResourceConfig],
}

/// Runs one `resources` subcommand.
pub fn run(config: &Config, out: Output, command: ResourcesCommand) -> anyhow::Result<()> {
    let command_uri = match command {
        ResourcesCommand::List => None,
        ResourcesCommand::Metadata { uri } => Some(uri),
    };
    if let Some(uri) = command_uri {
        return metadata(config, out, &uri);
    }
    let default = config
        .default_resource
        .as_deref()
        .or(match config.resources.as_slice() {
            [only] => Some(only.uri.as_str()),
            _ => None,
        });
    let listing = Listing {
        open_resource_mode: config.open_resource_mode(),
        default_resource: default,
        resources: &config.resources,
    };
    out.data(&listing, || {
        if config.open_resource_mode() {
            return "open-resource mode: no [[resources]] are configured, so any absolute https (or loopback http) \
                    resource is accepted with any scope; without a resource parameter the token's audience is the issuer\n"
                .to_owned();
        }
        let rows: Vec<Vec<String>> = config
            .resources
            .iter()
            .map(|r| {
                let marker = if Some(r.uri.as_str()) == default { " (default)" } else { "" };
                vec![format!("{}{marker}", r.uri), r.name.clone(), r.scopes.join(" "), r.default_scopes.join(" ")]
            })
            .collect();
        table(&["RESOURCE", "NAME", "SCOPES", "DEFAULT SCOPES"], &rows)
    })
}

/// `resources metadata URI`: the document and the challenge, ready to copy.
fn metadata(config: &Config, out: Output, uri: &str) -> anyhow::Result<()> {
    let advice = advise(config.audiences(), uri)?;
    if config.open_resource_mode() {
        out.note(
            "note: open-resource mode (no [[resources]] configured): clients must send this URI as \
             the resource parameter, or their tokens' audience is the issuer instead",
        );
    }
    out.data(&advice, || {
        let document = serde_json::to_string_pretty(&advice.metadata).unwrap_or_default();
        format!(
            "Serve this JSON at {url}:\n\n{document}\n\n\
             Answer a request without a valid access token with 401 and:\n\n\
             WWW-Authenticate: {challenge}\n\n\
             Answer a token without a needed scope with 403 and (SCOPE = the scopes needed):\n\n\
             WWW-Authenticate: {insufficient}\n\n\
             Accept only JWTs with typ at+jwt, iss {issuer:?}, aud {resource:?}, an unexpired exp \
             and the scope, signed by a key from {issuer}/jwks.json.\n",
            url = advice.metadata_url,
            challenge = advice.www_authenticate,
            insufficient = advice.www_authenticate_insufficient_scope,
            issuer = config.issuer,
            resource = advice.metadata.resource,
        )
    })
}
