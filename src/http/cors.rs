//! CORS for the endpoints browser-based MCP clients call directly (DESIGN 2.3): any origin,
//! never credentials. Never applied to `/authorize`, which is a top-level navigation.

use axum::http::{HeaderName, Method, header};
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The one CORS policy for metadata, JWKS, `/token`, `/register`, `/revoke` and `/introspect`:
/// `Access-Control-Allow-Origin: *` without credentials, so no cookie ever rides along, and
/// preflights answered for the headers MCP clients send.
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE)
}
