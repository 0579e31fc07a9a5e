//! The OpenID Connect walks with relying-party libraries people use: panva's `openid-client`
//! (`examples/ts-client/oidc.mjs`, Node.js) and authlib (`examples/py-client/oidc_rp.py`,
//! Python, as Open WebUI uses it). Each discovers mcp-authd from its OpenID document,
//! validates the ID token itself, reads userinfo and refreshes; these tests then check what
//! the libraries accepted against what mcp-authd holds.
//!
//! Needs Node.js with `npm ci` in `examples/ts-client`, and a Python with
//! `examples/py-client/requirements.txt` installed (`E2E_PYTHON`); `scripts/e2e.sh` provides
//! both and runs these tests (they are ignored in a plain `cargo test`).

use crate::harness::{PASSWORD, Pair, REDIRECT_URI, USERNAME, run_report};
use crate::ts_client::run_node;
use base64::Engine;
use mcp_authd::config::Seconds;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::store::{NewClient, Profile};
use mcp_authd::tokens::opaque;
use serde_json::{Value, json};
use std::path::Path;

const NAME: &str = "Alice Liddell";
const EMAIL: &str = "alice@example.test";

/// Registers a confidential code-flow client that authenticates with `auth_method`, and gives
/// the person a name and a verified email; returns the client's (id, secret).
async fn relying_party(pair: &Pair, auth_method: AuthMethod) -> (String, String) {
    let (id, secret) = (opaque::new_id(), opaque::new_secret());
    let now = pair.state.clock.now();
    let client = NewClient {
        id: id.clone(),
        settings: ClientSettings {
            name: "OpenID relying party".into(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scope: None,
            auth_method,
        },
        source: ClientSource::Cli,
        secret_hash: Some(opaque::hash(&secret)),
        resource_server: false,
        resources: Vec::new(),
        keys: None,
        metadata: json!({}),
        registration_token_hash: None,
    };
    pair.state.store.create_client(client, now).await.unwrap();
    let profile = Profile {
        display_name: Some(NAME.into()),
        email: Some(EMAIL.into()),
        email_verified: true,
    };
    pair.state
        .store
        .set_user_profile(USERNAME, &profile, now)
        .await
        .unwrap();
    (id, secret)
}

/// What every relying party needs to know.
fn walk_env(pair: &Pair, client_id: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("E2E_ISSUER", pair.issuer.clone()),
        ("E2E_MCP_URL", pair.mcp_url.clone()),
        ("E2E_CLIENT_ID", client_id.to_owned()),
        ("E2E_CLIENT_SECRET", secret.to_owned()),
        ("E2E_USERNAME", USERNAME.to_owned()),
        ("E2E_PASSWORD", PASSWORD.to_owned()),
        ("E2E_REDIRECT_URI", REDIRECT_URI.to_owned()),
    ]
}

/// A JWT's payload, unverified (the libraries verified it; this reads what they accepted).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The claims every walk must end with: one person across the ID token, the access token,
/// userinfo and the refreshed ID token; the client's nonce; the person's name and email.
async fn assert_one_person_seen_by(pair: &Pair, client_id: &str, report: &Value) {
    let claims = &report["claims"];
    assert_eq!(claims["iss"], pair.issuer, "{report}");
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["nonce"], report["nonce"]);
    assert!(claims["at_hash"].is_string());
    assert!(claims["auth_time"].is_i64());
    assert_eq!(claims["preferred_username"], USERNAME);
    assert_eq!(claims["name"], NAME);
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], true);

    let access = payload(report["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], claims["sub"], "the access token's person");
    assert_eq!(
        access["aud"], pair.mcp_url,
        "the access token is for the MCP server"
    );
    assert_eq!(report["userinfo"]["sub"], claims["sub"]);
    assert_eq!(report["userinfo"]["email"], EMAIL);
    assert_eq!(report["userinfo"]["name"], NAME);

    let refreshed = &report["refreshed_claims"];
    assert_eq!(
        refreshed["sub"], claims["sub"],
        "a refresh keeps the person"
    );
    assert_eq!(
        refreshed["auth_time"], claims["auth_time"],
        "and when they signed in"
    );
    assert!(refreshed.get("nonce").is_none(), "no nonce on a refresh");
    assert_ne!(report["refreshed_id_token"], report["id_token"]);

    // The ID token the libraries accepted never opens the MCP server; the access token does.
    let (status, _) = pair.call_mcp_with(report["id_token"].as_str()).await;
    assert_eq!(status, 401, "an ID token is not an access token");
    let (status, _) = pair.call_mcp_with(report["access_token"].as_str()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
#[ignore = "needs Node.js and openid-client: run scripts/e2e.sh"]
async fn openid_client_discovers_validates_the_id_token_reads_userinfo_and_refreshes() {
    let pair = Pair::start(|_| {}).await;
    let (client_id, secret) = relying_party(&pair, AuthMethod::ClientSecretBasic).await;
    let report = run_node("oidc.mjs", &walk_env(&pair, &client_id, &secret)).await;

    assert_eq!(report["discovered_issuer"], pair.issuer);
    assert!(
        report["consent_mentions_email"].as_bool().unwrap(),
        "the consent page says the client learns the email address"
    );
    let scope = report["scope"].as_str().unwrap();
    assert!(
        scope.contains("openid") && scope.contains("mcp:tools"),
        "{scope}"
    );
    assert_one_person_seen_by(&pair, &client_id, &report).await;
}

#[tokio::test]
#[ignore = "needs Python and authlib: run scripts/e2e.sh"]
async fn authlib_discovers_validates_the_id_token_reads_userinfo_and_refreshes() {
    // Tokens that outlive authlib's 60 s expiry leeway, or its userinfo call would refresh
    // by itself and spend the refresh token the walk presents next.
    let pair = Pair::start(|config| config.tokens.access_token_ttl = Seconds(300)).await;
    let (client_id, secret) = relying_party(&pair, AuthMethod::ClientSecretPost).await;
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../py-client");
    let mut env = walk_env(&pair, &client_id, &secret);
    // authlib refuses http token endpoints unless told; the issuer is http on loopback.
    env.push(("AUTHLIB_INSECURE_TRANSPORT", "1".to_owned()));
    let report = run_report(&python, &dir, "oidc_rp.py", &env).await;

    assert_eq!(report["iss_in_callback"], pair.issuer, "RFC 9207");
    assert_one_person_seen_by(&pair, &client_id, &report).await;
}
