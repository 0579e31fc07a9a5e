//! `mcp-authd resources list`: the MCP servers this server issues tokens for.

use super::Output;
use super::output::table;
use crate::config::Config;
use serde::Serialize;

/// Subcommands of `resources`.
#[derive(Debug, clap::Subcommand)]
pub enum ResourcesCommand {
    /// List the configured MCP servers and their scopes.
    List,
}

#[derive(Serialize)]
struct Listing<'a> {
    open_resource_mode: bool,
    default_resource: Option<&'a str>,
    resources: &'a [crate::config::ResourceConfig],
}

/// Runs one `resources` subcommand.
pub fn run(config: &Config, out: Output, command: ResourcesCommand) -> anyhow::Result<()> {
    let ResourcesCommand::List = command;
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
