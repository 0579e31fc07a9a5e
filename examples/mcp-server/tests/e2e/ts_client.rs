//! The walks with a client from another ecosystem: the MCP TypeScript SDK with its own OAuth
//! client provider (`examples/ts-client/walk.mjs`), and its `PrivateKeyJwtProvider` as a
//! machine client (`examples/ts-client/machine.mjs`), run under Node.js.
//!
//! Needs Node.js 18+ and `npm ci` in `examples/ts-client`; `scripts/e2e.sh` does both and
//! runs this test (it is ignored in a plain `cargo test`). `E2E_NODE` names the node binary.

use crate::harness::{ACCESS_TOKEN_TTL, PASSWORD, Pair, REDIRECT_URI, USERNAME, run_report};
use base64::Engine;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientKeys, ClientSettings, GrantType};
use mcp_authd::store::NewClient;
use mcp_authd::tokens::signing_key::KeyMaterial;
use mcp_authd::tokens::signing_key::SigningAlgorithm;
use serde_json::{Value, json};
use std::path::Path;

/// Runs `script` from `examples/ts-client` under Node.js with `env`; returns its JSON report.
pub async fn run_node(script: &str, env: &[(&str, String)]) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ts-client");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
        "run `npm ci` in {} (scripts/e2e.sh does)",
        dir.display()
    );
    let node = std::env::var("E2E_NODE").unwrap_or_else(|_| "node".to_owned());
    run_report(&node, &dir, script, env).await
}

#[tokio::test]
#[ignore = "needs Node.js and the TypeScript SDK: run scripts/e2e.sh"]
async fn typescript_sdk_walks_the_whole_flow_with_dynamic_registration() {
    let pair = Pair::start(|_| {}).await;
    let report = run_node(
        "walk.mjs",
        &[
            ("E2E_MCP_URL", pair.mcp_url.clone()),
            ("E2E_ISSUER", pair.issuer.clone()),
            ("E2E_USERNAME", USERNAME.to_owned()),
            ("E2E_PASSWORD", PASSWORD.to_owned()),
            ("E2E_REDIRECT_URI", REDIRECT_URI.to_owned()),
            ("E2E_ACCESS_TOKEN_TTL", ACCESS_TOKEN_TTL.to_string()),
        ],
    )
    .await;

    // Discovery led the SDK to mcp-authd, which it registered with; PKCE and RFC 8707.
    let client_id = report["client_id"].as_str().unwrap();
    let stored = pair.state.store.find_client(client_id).await.unwrap();
    assert!(stored.is_some(), "the SDK registered its client");
    assert_eq!(report["authorization"]["code_challenge_method"], "S256");
    assert_eq!(report["authorization"]["resource"], pair.mcp_url);
    assert_eq!(
        report["authorization"]["scope"], "mcp:tools",
        "the challenge's scope"
    );

    // It connected, listed and called the tool, and kept working across the expiry.
    assert_eq!(report["tools"], serde_json::json!(["whoami"]));
    assert_eq!(report["before"]["client_id"], client_id);
    assert_eq!(report["after"]["user"], report["before"]["user"]);
    let first_access = report["first_access_token"].as_str().unwrap();
    let first_refresh = report["first_refresh_token"].as_str().unwrap();
    let second_refresh = report["second_refresh_token"].as_str().unwrap();
    assert_ne!(
        report["second_access_token"], first_access,
        "a refreshed token"
    );
    assert_ne!(second_refresh, first_refresh, "the refresh token rotated");
    let (status, challenge) = pair.call_mcp_with(Some(first_access)).await;
    assert_eq!(status, 401, "the first access token has expired");
    assert!(challenge.unwrap().contains("invalid_token"));

    // The spent refresh token is refused, and its reuse ends the whole family.
    let (status, body) = pair.refresh(client_id, first_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = pair.refresh(client_id, second_refresh).await;
    assert_eq!(
        status, 400,
        "replaying a spent token revokes its successors"
    );
}

#[tokio::test]
#[ignore = "needs Node.js and the TypeScript SDK: run scripts/e2e.sh"]
async fn typescript_sdk_private_key_jwt_provider_gets_a_machine_token() {
    let pair = Pair::start(|_| {}).await;
    let key = KeyMaterial::generate(SigningAlgorithm::ES256).unwrap();
    let client_id = "nightly-report";
    let new = NewClient {
        id: client_id.to_owned(),
        settings: ClientSettings {
            name: "Nightly report".into(),
            redirect_uris: Vec::new(),
            grant_types: vec![GrantType::ClientCredentials],
            scope: None,
            auth_method: AuthMethod::PrivateKeyJwt,
        },
        source: ClientSource::Cli,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
        keys: Some(ClientKeys::Jwks(json!({"keys": [key.material.jwk()]}))),
        metadata: json!({}),
        registration_token_hash: None,
    };
    let now = pair.state.clock.now();
    pair.state.store.create_client(new, now).await.unwrap();
    let der = base64::engine::general_purpose::STANDARD.encode(&key.pkcs8);
    let lines: Vec<&str> = der
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );

    let report = run_node(
        "machine.mjs",
        &[
            ("E2E_MCP_URL", pair.mcp_url.clone()),
            ("E2E_ISSUER", pair.issuer.clone()),
            ("E2E_CLIENT_ID", client_id.to_owned()),
            ("E2E_PRIVATE_KEY_PEM", pem),
        ],
    )
    .await;
    // The token is the client's own, for the MCP server it discovered, with no person.
    assert_eq!(report["whoami"]["client_id"], client_id);
    assert_eq!(report["whoami"]["user"], client_id, "{report}");
    let (status, _) = pair.call_mcp_with(report["access_token"].as_str()).await;
    assert_eq!(status, 200, "the token works at the MCP server");
    let used = pair
        .state
        .store
        .find_client(client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(used.last_used_at.is_some());
}
