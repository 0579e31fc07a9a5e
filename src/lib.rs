//! mcp-authd: an OAuth 2.1 authorization server for MCP servers, as a library that the
//! binary and the tests share.

pub mod audit;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod grants;
pub mod http;
pub mod introspection;
pub mod maintenance;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod password;
pub mod revocation;
pub mod secret;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod tokens;
