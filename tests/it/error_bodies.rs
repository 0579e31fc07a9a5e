//! Snapshots of the RFC 6749 / 7591 / 7662 / 7009 / 6750 error answers, so a change to any
//! status, code, description or challenge shows up in review instead of in a client.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use serde_json::{Value, json};

async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.resources = vec![ResourceConfig {
            uri: "https://notes.example/mcp".into(),
            name: "Notes".into(),
            scopes: vec!["notes:read".into(), "notes:write".into()],
            default_scopes: vec!["notes:read".into()],
            scope_descriptions: Default::default(),
        }];
    })
    .await
}

/// What a client sees of an error answer: status, the headers that matter for errors, and
/// the JSON body, with this run's loopback address (the issuer) replaced so it is stable.
async fn seen(app: &TestApp, response: reqwest::Response) -> Value {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| Value::from(v.to_str().unwrap()))
            .unwrap_or(Value::Null)
    };
    let (content_type, cache_control, challenge) = (
        header("content-type"),
        header("cache-control"),
        header("www-authenticate"),
    );
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    redact(
        json!({
            "status": status,
            "content_type": content_type,
            "cache_control": cache_control,
            "www_authenticate": challenge,
            "body": body,
        }),
        &app.base_url,
    )
}

/// Replaces the per-run issuer (`http://127.0.0.1:PORT`) in every string.
fn redact(value: Value, issuer: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(issuer, "[issuer]")),
        Value::Array(items) => items.into_iter().map(|v| redact(v, issuer)).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, redact(v, issuer)))
            .collect(),
        other => other,
    }
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Value {
    let response = app
        .http
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    seen(app, response).await
}

async fn register(app: &TestApp, metadata: &Value) -> Value {
    let response = app
        .http
        .post(app.url("/register"))
        .json(metadata)
        .send()
        .await
        .unwrap();
    seen(app, response).await
}

#[tokio::test]
async fn token_with_an_unknown_grant_type_is_unsupported_grant_type() {
    let app = app().await;
    let client = public_client(&app).await;
    let answer = post_form(
        &app,
        "/token",
        &[("grant_type", "password"), ("client_id", &client)],
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn token_without_a_code_is_invalid_request() {
    let app = app().await;
    let client = public_client(&app).await;
    let pkce = Pkce::new();
    let answer = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ],
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn token_without_a_grant_type_is_invalid_request() {
    let app = app().await;
    let client = public_client(&app).await;
    let answer = post_form(&app, "/token", &[("client_id", &client)]).await;
    insta::assert_json_snapshot!(answer);
}

/// Basic authentication failed, so the challenge is `Basic` (RFC 6749 5.2).
#[tokio::test]
async fn token_with_a_wrong_basic_secret_is_invalid_client_with_a_basic_challenge() {
    let app = app().await;
    let (id, _) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(&id, Some("wrong secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    insta::assert_json_snapshot!(seen(&app, response).await);
}

#[tokio::test]
async fn token_with_a_wrong_post_secret_is_invalid_client() {
    let app = app().await;
    let (id, _) = create_client(
        &app,
        AuthMethod::ClientSecretPost,
        &[],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    let answer = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong secret"),
        ],
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn token_with_an_unknown_code_is_invalid_grant() {
    let app = app().await;
    let client = public_client(&app).await;
    let pkce = Pkce::new();
    let answer = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "no-such-code"),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ],
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn registering_a_redirect_uri_with_a_fragment_is_invalid_redirect_uri() {
    let app = app().await;
    let answer = register(
        &app,
        &json!({"redirect_uris": ["https://app.example.com/cb#fragment"]}),
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn registering_an_unsupported_grant_type_is_invalid_client_metadata() {
    let app = app().await;
    let answer = register(
        &app,
        &json!({"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["implicit"]}),
    )
    .await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn introspection_without_client_authentication_is_invalid_client() {
    let app = app().await;
    let answer = post_form(&app, "/introspect", &[("token", "some-token")]).await;
    insta::assert_json_snapshot!(answer);
}

#[tokio::test]
async fn revocation_without_client_authentication_is_invalid_client() {
    let app = app().await;
    let answer = post_form(&app, "/revoke", &[("token", "some-token")]).await;
    insta::assert_json_snapshot!(answer);
}

/// RFC 7592 reads are bearer-protected (the registration access token): without one the
/// answer is RFC 6750's 401 with a `Bearer` challenge.
#[tokio::test]
async fn reading_a_registration_without_a_bearer_token_is_invalid_token_with_a_challenge() {
    let app = app().await;
    let response = app
        .http
        .get(app.url("/register/no-such-client"))
        .send()
        .await
        .unwrap();
    insta::assert_json_snapshot!(seen(&app, response).await);
}

#[tokio::test]
async fn userinfo_without_a_bearer_token_is_invalid_token_with_a_challenge() {
    let app = app().await;
    let response = app.http.get(app.url("/userinfo")).send().await.unwrap();
    insta::assert_json_snapshot!(seen(&app, response).await);
}

#[tokio::test]
async fn userinfo_with_a_forged_token_is_invalid_token_with_a_challenge() {
    let app = app().await;
    let response = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    insta::assert_json_snapshot!(seen(&app, response).await);
}
