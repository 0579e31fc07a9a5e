//! The router: public protected-resource metadata, and the MCP endpoint behind the guard.

use crate::guard::{Guard, require_token};
use crate::metadata;
use crate::settings::Settings;
use crate::tools::ExampleServer;
use crate::upstream::Upstream;
use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{Any, CorsLayer};

/// Browser-based MCP clients call both the metadata and the endpoint from another origin;
/// no credentials ride along, and the challenge and session headers must be readable.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
}

/// Builds the router. Cancelling `shutdown` ends the open MCP sessions and their streams.
pub fn router(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<Router> {
    let guard = Arc::new(Guard::new(settings)?);
    let upstream = settings
        .upstream
        .clone()
        .map(|upstream| Upstream::new(&settings.issuer, upstream).map(Arc::new))
        .transpose()?;
    let document = metadata::document(settings);
    let mut router = Router::new();
    for path in metadata::paths(settings) {
        let document = document.clone();
        router = router.route(&path, get(move || async move { axum::Json(document) }));
    }

    // rmcp refuses Host headers it does not know (DNS rebinding): allow the public one.
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = settings.resource.host_str() {
        hosts.push(host.to_owned());
        if let Some(port) = settings.resource.port() {
            hosts.push(format!("{host}:{port}"));
        }
    }
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_cancellation_token(shutdown);
    let mcp = StreamableHttpService::new(
        move || Ok(ExampleServer::new(upstream.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let protected = Router::new()
        .route_service(settings.mcp_path(), mcp)
        .layer(axum::middleware::from_fn_with_state(guard, require_token));
    Ok(router.merge(protected).layer(cors()))
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let app = router(&settings, token.clone())?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            token.cancel();
        })
        .await
        .context("serving")
}
