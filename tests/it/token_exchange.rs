//! RFC 8693 token exchange at `/token`: an MCP server trades the access token a person's MCP
//! client sent it for the person's access token at their upstream provider
//! (`store_upstream_tokens = true`), against the real OpenID provider, on both stores.

use crate::federation::{Federated, federated_at, jwt_payload, tokens_through_provider};
use crate::flow::public_client;
use crate::helpers::TestApp;
use mcp_authd::store::GrantFilter;
use mcp_authd::support::clock::Clock;
use serde_json::Value;

const FILES: &str = "https://files.acme.example/mcp";
const CALENDAR: &str = "https://calendar.acme.example/mcp";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Federation with the provider's tokens kept (and offline_access asked, so there is an
/// upstream refresh token), mcp-authd on a clock the test moves.
async fn keeping_upstream_tokens() -> Option<Federated> {
    let clock = Clock::fixed(Clock::system().now());
    federated_at(clock, |provider, _| {
        provider.store_upstream_tokens = true;
        provider.scopes = ["openid", "email", "profile", "offline_access"]
            .map(str::to_owned)
            .to_vec();
    })
    .await
}

/// An MCP server's client, created the way an operator does: `clients create
/// --resource-server --resource URI`. Its id and secret.
async fn mcp_server_client(
    app: &TestApp,
    resources: &[&str],
    resource_server: bool,
) -> (String, String) {
    let mut args = vec![
        "clients",
        "create",
        "--name",
        "Files MCP server",
        "--grant-type",
        "client_credentials",
        "--json",
    ];
    if resource_server {
        args.push("--resource-server");
    }
    for resource in resources {
        args.extend(["--resource", resource]);
    }
    let created = app.cli(&args, "").await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let json = created.json();
    (
        json["client_id"].as_str().unwrap().to_owned(),
        json["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// `POST /token` with a token exchange, as `client` (Basic authentication).
async fn exchange(
    app: &TestApp,
    client: &(String, String),
    subject_token: &str,
    audience: &str,
) -> (u16, Value) {
    let answer = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", audience),
        ])
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// What the provider's own userinfo endpoint says about an upstream access token.
async fn upstream_userinfo(fed: &Federated, token: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(format!("{}/me", fed.upstream.issuer))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "the provider accepts the upstream token"
    );
    answer.json().await.unwrap()
}

#[tokio::test]
async fn an_mcp_server_gets_the_persons_upstream_token_refreshed_when_it_expires() {
    let Some(fed) = keeping_upstream_tokens().await else {
        return;
    };
    let app = &fed.app;
    let (status, metadata) = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(status, 200);
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(TOKEN_EXCHANGE)),
        "{metadata}"
    );
    let client_id = public_client(app).await;
    let tokens = tokens_through_provider(
        &fed,
        &client_id,
        "alice@acme.example",
        &[("resource", FILES)],
    )
    .await;
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(access_token)["aud"], FILES);
    let files = mcp_server_client(app, &[FILES], true).await;

    let (status, exchanged) = exchange(app, &files, access_token, "corp").await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(exchanged["token_type"], "Bearer");
    assert!(exchanged.get("refresh_token").is_none());
    let upstream_token = exchanged["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        upstream_userinfo(&fed, &upstream_token).await["sub"],
        "alice@acme.example"
    );

    // Stored sealed: the database holds neither token in the clear.
    let person = app
        .state
        .store
        .find_federated_user("corp", "alice@acme.example")
        .await
        .unwrap()
        .unwrap();
    let row = app
        .state
        .store
        .find_upstream_tokens(&person.id, "corp")
        .await
        .unwrap()
        .expect("kept at sign-in");
    assert!(row.access_token.starts_with("v1:"));
    assert!(!row.access_token.contains(&upstream_token));
    assert!(row.refresh_token.is_some(), "offline_access brought one");

    // An hour later the upstream token has expired: the exchange refreshes it at the
    // provider (the MCP client first refreshes its own token).
    app.state.clock.advance(3_700);
    let (status, refreshed) = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let later = refreshed["access_token"].as_str().unwrap();
    let (status, renewed) = exchange(app, &files, later, "corp").await;
    assert_eq!(status, 200, "{renewed}");
    let renewed_token = renewed["access_token"].as_str().unwrap();
    assert_ne!(renewed_token, upstream_token, "a fresh upstream token");
    assert_eq!(
        upstream_userinfo(&fed, renewed_token).await["sub"],
        "alice@acme.example"
    );
    let after = app
        .state
        .store
        .find_upstream_tokens(&person.id, "corp")
        .await
        .unwrap()
        .unwrap();
    assert!(after.updated_at > row.updated_at);
}

#[tokio::test]
async fn other_clients_other_audiences_and_revoked_grants_get_nothing() {
    let Some(fed) = keeping_upstream_tokens().await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    let tokens =
        tokens_through_provider(&fed, &client_id, "bob@acme.example", &[("resource", FILES)]).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let files = mcp_server_client(app, &[FILES], true).await;

    // A confidential client that is not a resource server.
    let plain = mcp_server_client(app, &[FILES], false).await;
    let (status, body) = exchange(app, &plain, access_token, "corp").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // A wrong secret, or no authentication at all.
    let forged = (files.0.clone(), "wrong".to_owned());
    let (status, body) = exchange(app, &forged, access_token, "corp").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Another MCP server's resource-server client: the token is not for it.
    let calendar = mcp_server_client(app, &[CALENDAR], true).await;
    let (status, body) = exchange(app, &calendar, access_token, "corp").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // A token of another audience, presented to the files server.
    let other = tokens_through_provider(
        &fed,
        &client_id,
        "bob@acme.example",
        &[("resource", CALENDAR)],
    )
    .await;
    let (status, body) =
        exchange(app, &files, other["access_token"].as_str().unwrap(), "corp").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A machine token (no person), a forged token, a refresh token; an unknown provider.
    let machine_token = app
        .http
        .post(app.url("/token"))
        .basic_auth(&files.0, Some(&files.1))
        .form(&[("grant_type", "client_credentials"), ("resource", FILES)])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    for subject in [
        machine_token["access_token"].as_str().unwrap(),
        "eyJhbGciOiJub25lIn0.e30.",
        tokens["refresh_token"].as_str().unwrap(),
    ] {
        let (status, body) = exchange(app, &files, subject, "corp").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    let (status, body) = exchange(app, &files, access_token, "elsewhere").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );

    // The right server gets it; once the person revokes the grant, nothing is left.
    let (status, _) = exchange(app, &files, access_token, "corp").await;
    assert_eq!(status, 200);
    let person = app
        .state
        .store
        .find_federated_user("corp", "bob@acme.example")
        .await
        .unwrap()
        .unwrap();
    let grants = app
        .state
        .store
        .list_grants(&GrantFilter {
            user_id: Some(person.id.clone()),
            client_id: None,
        })
        .await
        .unwrap();
    let files_grant: Vec<String> = grants
        .iter()
        .filter(|g| g.grant.resource == FILES)
        .map(|g| g.grant.id.clone())
        .collect();
    let now = app.state.clock.now();
    let revoked = app.state.store.revoke_grants(&files_grant, now).await;
    assert_eq!(revoked.unwrap(), 1);
    app.state.revoked.invalidate();
    assert!(
        app.state
            .store
            .find_upstream_tokens(&person.id, "corp")
            .await
            .unwrap()
            .is_none(),
        "revoking the grant deleted the upstream tokens"
    );
    let (status, body) = exchange(app, &files, access_token, "corp").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}
