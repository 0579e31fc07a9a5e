//! The example server's gate on its own: metadata, the three challenges, key rotation, and
//! `mcp-authd doctor` against the pair.

use crate::harness::Pair;
use mcp_authd::oauth::client::GrantType;
use mcp_authd::tokens::id_token::IdTokenClaims;
use mcp_authd::tokens::opaque;
use mcp_authd::tokens::rotation::RotationKind;
use serde_json::Value;
use std::time::Duration;

/// A confidential `client_credentials` client allowed `scope`; returns (id, secret).
async fn machine_client(pair: &Pair, scope: &str) -> (String, String) {
    let (id, secret) = (opaque::new_id(), opaque::new_secret());
    pair.confidential_client(&id, &secret, "Nightly job", |client| {
        client.settings.grant_types = vec![GrantType::ClientCredentials];
        client.settings.scope = Some(scope.to_owned());
    })
    .await;
    (id, secret)
}

/// An access token for the example server with `scope`, by client credentials.
async fn token_with_scope(pair: &Pair, scope: &str) -> String {
    let (id, secret) = machine_client(pair, scope).await;
    let response = reqwest::Client::new()
        .post(pair.authd("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn protected_resource_metadata_names_the_issuer_at_both_well_known_urls() {
    let pair = Pair::start(|_| {}).await;
    let base = pair.mcp_url.trim_end_matches("/mcp").to_owned();
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc: Value = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["resource"], pair.mcp_url, "{path}");
        assert_eq!(doc["authorization_servers"][0], pair.issuer, "{path}");
        assert_eq!(doc["bearer_methods_supported"][0], "header");
    }
}

#[tokio::test]
async fn each_failure_gets_its_own_challenge() {
    let pair = Pair::start(|_| {}).await;
    let metadata = format!(
        "resource_metadata=\"{}\"",
        pair.mcp_url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    );

    let (status, challenge) = pair.call_mcp_with(None).await;
    let challenge = challenge.unwrap();
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(&metadata),
        "{challenge}"
    );
    assert!(
        !challenge.contains("error="),
        "no error without a token: {challenge}"
    );

    let (status, challenge) = pair.call_mcp_with(Some("not.a.jwt")).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));

    let admin_only = token_with_scope(&pair, "mcp:admin").await;
    let (status, challenge) = pair.call_mcp_with(Some(&admin_only)).await;
    let challenge = challenge.unwrap();
    assert_eq!(status, 403);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"mcp:tools\""),
        "names the needed scope: {challenge}"
    );
    assert!(challenge.contains(&metadata), "{challenge}");

    let tools = token_with_scope(&pair, "mcp:tools").await;
    let (status, _) = pair.call_mcp_with(Some(&tools)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    // mcp-authd protects a second server; its tokens must not open this one.
    let pair = Pair::start(|config| {
        config
            .resources
            .push(mcp_authd::oauth::audiences::ResourceConfig {
                uri: "https://other.example.com/mcp".into(),
                name: "Other".into(),
                scopes: vec!["mcp:tools".into()],
                default_scopes: vec!["mcp:tools".into()],
                scope_descriptions: Default::default(),
            });
        config.default_resource = Some("https://other.example.com/mcp".into());
    })
    .await;
    let elsewhere = token_with_scope(&pair, "mcp:tools").await;
    let (status, challenge) = pair.call_mcp_with(Some(&elsewhere)).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("another resource"));
}

#[tokio::test]
async fn an_id_token_never_opens_the_server_even_one_naming_it_as_audience() {
    // The worst case: an ID token signed by the same key, whose `aud` is this server's URL
    // (a client whose id is that URL), with the claims an access token has. Its `typ` is
    // JWT, not at+jwt, so the server refuses it.
    let pair = Pair::start(|_| {}).await;
    let now = pair.state.clock.now();
    let claims = IdTokenClaims {
        iss: pair.issuer.clone(),
        sub: "someone".into(),
        aud: pair.mcp_url.clone(),
        exp: now + 300,
        iat: now,
        auth_time: now,
        ..IdTokenClaims::default()
    };
    let id_token = pair.state.keys.sign_id_token(claims, "access").unwrap();
    let (status, challenge) = pair.call_mcp_with(Some(&id_token)).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn a_new_signing_key_is_fetched_when_a_token_names_it() {
    // Tokens outlive the wait below.
    let pair = Pair::start(|config| {
        config.tokens.access_token_ttl = mcp_authd::config::Seconds(60);
    })
    .await;
    let before = token_with_scope(&pair, "mcp:tools").await;
    assert_eq!(pair.call_mcp_with(Some(&before)).await.0, 200);

    pair.state
        .keys
        .rotate(RotationKind::Immediate)
        .await
        .unwrap();
    let after = token_with_scope(&pair, "mcp:tools").await;
    // Unknown key ids refetch at most every few seconds.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let (status, challenge) = pair.call_mcp_with(Some(&after)).await;
    assert_eq!(status, 200, "the new key was fetched: {challenge:?}");
    assert_eq!(
        pair.call_mcp_with(Some(&before)).await.0,
        401,
        "the withdrawn key no longer verifies"
    );
}

#[tokio::test]
async fn doctor_passes_against_the_pair() {
    let pair = Pair::start(|_| {}).await;
    let report = mcp_authd::cli::doctor::diagnose(
        &pair.issuer,
        Some(&pair.mcp_url),
        &[],
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let failures: Vec<_> = report.failures().collect();
    assert!(failures.is_empty(), "{failures:#?}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.check).collect();
    for name in [
        "MCP challenge",
        "resource metadata",
        "resource issuer",
        "resource",
    ] {
        assert!(names.contains(&name), "{name} checked: {names:?}");
    }
}
