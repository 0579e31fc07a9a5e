//! The MCP server: `whoami`, which reports what the access token says (a tool reading the
//! verified claims the guard left in the request), and, when configured, `upstream_profile`,
//! which calls the person's identity provider for them (token exchange).

use crate::upstream::{Upstream, UpstreamError};
use crate::verifier::AccessClaims;
use axum::http::header;
use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use std::sync::Arc;

/// The example server's MCP handler.
#[derive(Clone, Debug)]
pub struct ExampleServer {
    /// The tools this instance offers (`upstream_profile` only when configured).
    tool_router: ToolRouter<Self>,
    upstream: Option<Arc<Upstream>>,
}

impl Default for ExampleServer {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ExampleServer {
    /// A handler with its tools registered; `upstream_profile` only with `upstream`.
    pub fn new(upstream: Option<Arc<Upstream>>) -> Self {
        let mut tool_router = Self::tool_router();
        if upstream.is_none() {
            tool_router.remove_route("upstream_profile");
        }
        Self {
            tool_router,
            upstream,
        }
    }
}

/// The request's parts, which the transport hands each tool call.
fn parts(context: &RequestContext<RoleServer>) -> Result<&Parts, ErrorData> {
    context
        .extensions
        .get::<Parts>()
        .ok_or_else(|| ErrorData::internal_error("no HTTP request", None))
}

#[tool_router]
impl ExampleServer {
    /// Reports the user, the application and the scopes of the caller's access token.
    #[tool(
        description = "Tells who the access token speaks for: the user, the application (client_id) and the granted scopes."
    )]
    async fn whoami(&self, context: RequestContext<RoleServer>) -> Result<String, ErrorData> {
        let claims = parts(&context)?
            .extensions
            .get::<AccessClaims>()
            .ok_or_else(|| ErrorData::internal_error("no verified access token", None))?;
        Ok(serde_json::json!({
            "user": claims.sub,
            "client_id": claims.client_id,
            "scopes": claims.scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "issuer": claims.iss,
        })
        .to_string())
    }

    /// Reads the person's profile at their identity provider: the guard already verified the
    /// bearer token; mcp-authd exchanges it for the person's upstream access token.
    #[tool(
        description = "Reads your profile at your identity provider (for example GitHub), with the access mcp-authd keeps for this server."
    )]
    async fn upstream_profile(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let upstream = self
            .upstream
            .as_ref()
            .ok_or_else(|| ErrorData::internal_error("no identity provider configured", None))?;
        let token = parts(&context)?
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ErrorData::internal_error("no bearer token", None))?;
        match upstream.profile(token).await {
            Ok(profile) => Ok(profile.to_string()),
            Err(error @ UpstreamError::SignInAgain(_)) => {
                Err(ErrorData::invalid_request(error.to_string(), None))
            }
            Err(error) => {
                tracing::warn!(%error, "the upstream profile call failed");
                Err(ErrorData::internal_error(error.to_string(), None))
            }
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ExampleServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("An example MCP server protected by mcp-authd.")
    }
}
