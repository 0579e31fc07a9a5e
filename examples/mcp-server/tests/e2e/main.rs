//! End-to-end walks: real MCP clients against mcp-authd and the example MCP server, both on
//! loopback sockets, with the login and consent pages driven over HTTP as a person would.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod browser;
mod doc_server;
mod guard;
mod harness;
mod oidc_clients;
mod rust_client;
mod ts_client;
mod upstream;
