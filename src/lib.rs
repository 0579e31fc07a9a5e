//! mcp-authd: an OAuth 2.1 authorization server for MCP servers, as a library that the
//! binary and the tests share.
//!
//! The layers, top to bottom (`docs/ARCHITECTURE.md`): `cli` and `server` start things;
//! `http` translates requests and answers; `app` runs the flows; `oauth` and `tokens` are the
//! pure protocol rules and token formats, `store` the database; `config` and `support` are
//! shared by all.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod oauth;
pub mod server;
pub mod store;
pub mod support;
#[cfg(test)]
mod testing;
pub mod tokens;
