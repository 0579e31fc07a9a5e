//! The walk with rmcp's own MCP client and OAuth support: by dynamic registration, and by a
//! client ID metadata document served over loopback TLS.

use crate::browser::sign_in_and_approve;
use crate::doc_server::DocServer;
use crate::harness::{ACCESS_TOKEN_TTL, Pair, REDIRECT_URI};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationManager, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// How the client identifies itself to mcp-authd.
pub enum Identity {
    /// RFC 7591 dynamic registration.
    Registration,
    /// The URL of its client ID metadata document.
    MetadataDocument(String),
}

pub fn transport_config(pair: &Pair) -> StreamableHttpClientTransportConfig {
    StreamableHttpClientTransportConfig::with_uri(pair.mcp_url.clone())
}

/// The text a `whoami` call answered, as JSON.
pub fn whoami_of(result: &rmcp::model::CallToolResult) -> Value {
    let result = serde_json::to_value(result).unwrap();
    assert_ne!(result["isError"], true, "whoami failed: {result}");
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap()
}

/// The 401 challenge an unauthenticated rmcp connection gets, pointing at the metadata.
pub async fn challenge(pair: &Pair) -> String {
    let anonymous = StreamableHttpClientTransport::with_client(
        reqwest013::Client::new(),
        transport_config(pair),
    );
    let refused = ().serve(anonymous).await.expect_err("the MCP server wants a token");
    let challenge = refused
        .auth_challenge()
        .expect("a 401 challenge")
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            pair.mcp_url
                .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        )),
        "{challenge}"
    );
    challenge
}

/// rmcp's OAuth client from the 401 `challenge` to tokens: protected-resource metadata,
/// mcp-authd's metadata, registration (or the metadata document's URL as client_id), the
/// person's sign-in and approval, the code exchange. Returns the manager and the client_id.
pub async fn authorize(
    pair: &Pair,
    identity: &Identity,
    challenge: String,
) -> (AuthorizationManager, String) {
    let mut oauth = OAuthState::new(pair.mcp_url.as_str(), None).await.unwrap();
    let mut request = AuthorizationRequest::new(REDIRECT_URI)
        .with_client_name("rmcp end-to-end client")
        .with_challenge(challenge);
    if let Identity::MetadataDocument(url) = identity {
        request = request.with_client_metadata_url(url.as_str());
    }
    oauth.start_authorization(request).await.unwrap();
    let authorization_url = url::Url::parse(&oauth.get_authorization_url().await.unwrap()).unwrap();
    assert!(
        authorization_url
            .as_str()
            .starts_with(&pair.authd("/authorize?")),
        "{authorization_url}"
    );
    let query: std::collections::HashMap<_, _> =
        authorization_url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["resource"], pair.mcp_url,
        "RFC 8707 resource from the metadata"
    );
    let client_id = query["client_id"].clone();
    match identity {
        Identity::Registration => {
            let stored = pair.state.store.find_client(&client_id).await.unwrap();
            assert!(stored.is_some(), "the client registered itself");
        }
        Identity::MetadataDocument(url) => assert_eq!(&client_id, url),
    }

    // The person signs in and approves; the client exchanges the code.
    let callback = sign_in_and_approve(&pair.issuer, authorization_url.as_str()).await;
    assert!(callback.as_str().starts_with(REDIRECT_URI), "{callback}");
    oauth.handle_callback_url(callback.as_str()).await.unwrap();
    (oauth.into_authorization_manager().unwrap(), client_id)
}

async fn walk(pair: &Pair, identity: Identity) {
    // 1. An unauthenticated connection attempt gets the 401 challenge.
    let challenge = challenge(pair).await;

    // 2-3. Discovery, registration, sign-in and approval, code exchange.
    let (manager, client_id) = authorize(pair, &identity, challenge).await;
    let first = manager.get_credentials().await.unwrap().1.unwrap();
    let tokens = serde_json::to_value(first).unwrap();
    let first_access = tokens["access_token"].as_str().unwrap().to_owned();
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // 4. Connect with the token, list the tools, call the one tool.
    let authorized = AuthClient::new(reqwest013::Client::new(), manager);
    let manager = authorized.auth_manager.clone();
    let client = ()
        .serve(StreamableHttpClientTransport::with_client(
            authorized,
            transport_config(pair),
        ))
        .await
        .unwrap();
    let tools = client.peer().list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["whoami"]);
    let me = whoami_of(
        &client
            .peer()
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .unwrap(),
    );
    assert_eq!(me["client_id"], client_id);
    assert!(
        me["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("mcp:tools")),
        "the token holds the scope the challenge named: {me}"
    );
    assert_eq!(me["issuer"], pair.issuer);

    // 5. The access token expires: the server refuses it, and the client refreshes by itself.
    tokio::time::sleep(Duration::from_secs(ACCESS_TOKEN_TTL + 1)).await;
    let (status, challenge) = pair.call_mcp_with(Some(&first_access)).await;
    assert_eq!(status, 401);
    assert!(
        challenge.unwrap().contains("error=\"invalid_token\""),
        "an expired token gets invalid_token"
    );
    let again = whoami_of(
        &client
            .peer()
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .expect("the tool works after the client refreshed its token"),
    );
    assert_eq!(again["user"], me["user"]);
    let (_, tokens) = manager.lock().await.get_credentials().await.unwrap();
    let tokens = serde_json::to_value(tokens.unwrap()).unwrap();
    let second_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(tokens["access_token"], first_access, "a new access token");
    assert_ne!(second_refresh, first_refresh, "the refresh token rotated");

    // 6. The spent refresh token is refused, and its reuse ends the whole family.
    let (status, body) = pair.refresh(&client_id, &first_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = pair.refresh(&client_id, &second_refresh).await;
    assert_eq!(
        status, 400,
        "replaying a spent token revokes its successors"
    );

    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_walks_the_whole_flow_with_dynamic_registration() {
    let pair = Pair::start(|_| {}).await;
    walk(&pair, Identity::Registration).await;
}

#[tokio::test]
async fn rmcp_client_walks_the_whole_flow_with_a_client_id_metadata_document() {
    let docs = DocServer::start().await;
    let client_id = docs.url("/oauth/rmcp-client.json");
    docs.serve(
        "/oauth/rmcp-client.json",
        json!({
            "client_id": client_id,
            "client_name": "rmcp end-to-end client (metadata document)",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        }),
    );
    let pair = Pair::start(|config| {
        config.cimd.extra_ca_file = Some(docs.ca_pem.clone());
        config.cimd.allow_private_urls = vec![client_id.clone()];
    })
    .await;
    walk(&pair, Identity::MetadataDocument(client_id.clone())).await;
    assert!(
        docs.hits("/oauth/rmcp-client.json") >= 1,
        "mcp-authd fetched the document"
    );
}
