//! The example server's `upstream_profile` tool: rmcp's MCP client signs the person in, the
//! tool trades the person's access token for their upstream token (RFC 8693 token exchange
//! at mcp-authd, as the server's resource-server client) and calls the provider's API with it.
//! The provider's API is a stand-in on loopback; the federated sign-in that keeps the
//! upstream tokens is walked against a real OpenID provider in mcp-authd's own tests
//! (tests/it/token_exchange.rs), so here they are kept the way that sign-in keeps them.

use crate::harness::{Pair, USERNAME};
use crate::rust_client::{Identity, authorize, challenge, transport_config, whoami_of};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_authd::app::federation::upstream::IssuedTokens;
use mcp_authd::app::federation::upstream_tokens;
use mcp_authd::config::{IdentityProviderConfig, ProviderKind};
use mcp_authd::oauth::client::AuthMethod;
use mcp_authd::support::secret::Secret;
use mcp_authd_example_server::upstream::UpstreamSettings;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::AuthClient;

const UPSTREAM_TOKEN: &str = "gho_alice-at-the-provider";
const SERVER_CLIENT: &str = "example-mcp-server";
const SERVER_SECRET: &str = "example-mcp-server-secret-0123456789abcdef";

/// The provider's user API: the profile, for its own token only.
async fn user(headers: HeaderMap) -> Response {
    let expected = format!("Bearer {UPSTREAM_TOKEN}");
    if headers
        .get("authorization")
        .is_none_or(|v| v != expected.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(serde_json::json!({"login": "alice-gh", "id": 42})).into_response()
}

async fn start_provider_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/user", axum::routing::get(user));
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

fn github(origin: &str) -> IdentityProviderConfig {
    IdentityProviderConfig {
        id: "github".into(),
        name: "GitHub".into(),
        kind: ProviderKind::Github,
        issuer: String::new(),
        client_id: "mcp-authd".into(),
        client_secret: Some(Secret::new("github-secret")),
        client_secret_file: None,
        scopes: Vec::new(),
        allowed_email_domains: Vec::new(),
        auto_create: true,
        store_upstream_tokens: true,
        authorize_url: Some(format!("{origin}/login/oauth/authorize")),
        token_url: Some(format!("{origin}/login/oauth/access_token")),
        api_url: Some(origin.to_owned()),
    }
}

/// The text of the tool's answer, or the error's message.
async fn upstream_profile(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
) -> Result<serde_json::Value, String> {
    client
        .peer()
        .call_tool(CallToolRequestParams::new("upstream_profile"))
        .await
        .map(|result| whoami_of(&result))
        .map_err(|error| error.to_string())
}

#[tokio::test]
async fn the_example_server_calls_the_persons_provider_with_the_exchanged_upstream_token() {
    let api = start_provider_api().await;
    let pair = Pair::start_with(
        |config| config.identity_providers = vec![github(&api)],
        |settings| {
            settings.upstream = Some(UpstreamSettings {
                provider: "github".into(),
                client_id: SERVER_CLIENT.into(),
                client_secret: SERVER_SECRET.into(),
                profile_url: format!("{api}/user").parse().unwrap(),
            });
        },
    )
    .await;
    // mcp-authd clients create --resource-server --resource <the MCP URL>
    let resource = pair.mcp_url.clone();
    pair.confidential_client(
        SERVER_CLIENT,
        SERVER_SECRET,
        "Example MCP server",
        |client| {
            client.settings.auth_method = AuthMethod::ClientSecretBasic;
            client.resource_server = true;
            client.resources = vec![resource];
        },
    )
    .await;

    let challenge = challenge(&pair).await;
    let (manager, _) = authorize(&pair, &Identity::Registration, challenge).await;
    let client = ()
        .serve(StreamableHttpClientTransport::with_client(
            AuthClient::new(reqwest013::Client::new(), manager),
            transport_config(&pair),
        ))
        .await
        .unwrap();
    let tools = client.peer().list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["upstream_profile", "whoami"]);

    // Nothing kept for the person yet (they signed in with a password): sign in again.
    let refused = upstream_profile(&client).await.unwrap_err();
    assert!(
        refused.contains("sign in with the identity provider again"),
        "{refused}"
    );

    // What a sign-in with the provider keeps (store_upstream_tokens = true).
    let person = pair
        .state
        .store
        .find_user_by_username(USERNAME)
        .await
        .unwrap()
        .unwrap();
    let now = pair.state.clock.now();
    let issued = IssuedTokens {
        access_token: UPSTREAM_TOKEN.into(),
        refresh_token: None,
        token_type: "bearer".into(),
        scope: Some("read:user".into()),
        expires_in: None,
    };
    upstream_tokens::keep(&pair.state, "github", &person.id, &issued, now)
        .await
        .unwrap();
    let profile = upstream_profile(&client).await.unwrap();
    assert_eq!(profile["login"], "alice-gh", "{profile}");

    // The person revokes the application: the upstream tokens go with the grant.
    let grants = pair
        .state
        .store
        .list_grants(&Default::default())
        .await
        .unwrap();
    let ids: Vec<String> = grants.into_iter().map(|listing| listing.grant.id).collect();
    pair.state.store.revoke_grants(&ids, now).await.unwrap();
    let refused = upstream_profile(&client).await.unwrap_err();
    assert!(
        refused.contains("sign in with the identity provider again"),
        "{refused}"
    );
    client.cancel().await.unwrap();
}
