//! The MCP server: one tool, `whoami`, that reports what the access token says. It shows a
//! tool reading the verified claims the guard left in the request.

use crate::verifier::AccessClaims;
use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

/// The example server's MCP handler.
#[derive(Clone, Debug)]
pub struct ExampleServer {
    #[allow(dead_code, reason = "read by the code tool_handler generates")]
    tool_router: ToolRouter<Self>,
}

impl Default for ExampleServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ExampleServer {
    /// A handler with its tool registered.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl ExampleServer {
    /// Reports the user, the application and the scopes of the caller's access token.
    #[tool(
        description = "Tells who the access token speaks for: the user, the application (client_id) and the granted scopes."
    )]
    async fn whoami(&self, context: RequestContext<RoleServer>) -> Result<String, ErrorData> {
        let claims = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AccessClaims>())
            .ok_or_else(|| ErrorData::internal_error("no verified access token", None))?;
        Ok(serde_json::json!({
            "user": claims.sub,
            "client_id": claims.client_id,
            "scopes": claims.scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "issuer": claims.iss,
        })
        .to_string())
    }
}

#[tool_handler]
impl ServerHandler for ExampleServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("An example MCP server protected by mcp-authd.")
    }
}
