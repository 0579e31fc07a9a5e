//! An MCP server protected by mcp-authd: the reference for wiring an MCP server to it.
//!
//! The pieces an operator copies into a server of their own:
//! - [`metadata`]: RFC 9728 protected-resource metadata naming mcp-authd as the issuer;
//! - [`guard`]: the 401 and 403 challenges that point clients at that metadata;
//! - [`verifier`]: offline RFC 9068 access-token checks against a cached JWKS;
//! - [`tools`]: the MCP server itself, built with `rmcp`;
//! - [`upstream`]: RFC 8693 token exchange for the person's upstream token, and a call
//!   to their identity provider's API with it;
//! - [`app`]: the router that puts them together.

pub mod app;
pub mod guard;
pub mod metadata;
pub mod settings;
pub mod tools;
pub mod upstream;
pub mod verifier;

pub use app::{router, serve};
pub use settings::Settings;
