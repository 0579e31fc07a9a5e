//! The token endpoint (RFC 6749 3.2, 4.1.3, 4.4, 5, 6; RFC 7636; RFC 9068 tokens).

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use mcp_authd::store::NewAuthorizationCode;
use mcp_authd::tokens::opaque;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Barrier;

const NOTES: &str = "https://notes.example/mcp";

async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn app_with(adjust: impl FnOnce(&mut mcp_authd::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.resources = a_resources();
        adjust(c);
    })
    .await
}

/// Posts a form to /token, optionally with Basic credentials.
async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = app.http.post(app.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

/// A signed-in person's code for a public client, with its PKCE verifier.
async fn code_for(app: &TestApp, client: &str, user: &str, scope: &str) -> (String, Pkce) {
    let pkce = Pkce::new();
    let params = authorize(app, client, &pkce, user, &[("scope", scope)]).await;
    (params["code"].clone(), pkce)
}

async fn exchange(
    app: &TestApp,
    client: &str,
    code: &str,
    pkce: &Pkce,
) -> (u16, Value, reqwest::header::HeaderMap) {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", client),
        ],
        None,
    )
    .await
}

async fn refresh(app: &TestApp, client: &str, refresh_token: &str) -> (u16, Value) {
    let (status, body, _) = token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client),
        ],
        None,
    )
    .await;
    (status, body)
}

/// Whether the access token of a token response is recorded as revoked.
async fn access_token_revoked(app: &TestApp, response: &Value) -> bool {
    let jwt = response["access_token"].as_str().unwrap();
    let claims = app.state.keys.verify(jwt, app.state.clock.now()).unwrap();
    app.state
        .store
        .is_access_token_revoked(&claims.jti)
        .await
        .unwrap()
}

#[tokio::test]
async fn code_exchange_returns_an_rfc_9068_token_verifiable_with_the_jwks() {
    let app = app().await;
    let user_id = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read notes:write").await;
    let (status, body, headers) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "notes:read notes:write");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);

    let jwt = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.unwrap();
    let jwks: Value = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "the kid is published"
    );
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap()
            .clone(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[NOTES]);
    validation.set_issuer(&[&app.base_url]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["aud"], NOTES);
    assert_eq!(claims["client_id"], client.as_str());
    assert_eq!(claims["scope"], "notes:read notes:write");
    for claim in ["iat", "exp", "jti", "auth_time"] {
        assert!(claims.get(claim).is_some(), "{claim} missing");
    }
}

#[tokio::test]
async fn a_code_is_single_use_and_replay_revokes_its_tokens() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (status, first, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(status, 200);
    let (status, replay, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");

    let (status, refreshed) =
        refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the refresh family was revoked");
    assert_eq!(refreshed["error"], "invalid_grant");
    let claims = app
        .state
        .keys
        .verify(
            first["access_token"].as_str().unwrap(),
            app.state.clock.now(),
        )
        .unwrap();
    assert!(
        app.state
            .store
            .is_access_token_revoked(&claims.jti)
            .await
            .unwrap(),
        "the access token is revoked"
    );
}

#[tokio::test]
async fn a_code_is_bound_to_client_redirect_uri_and_verifier() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let other = public_client(&app).await;

    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (status, body, _) = exchange(&app, &other, &code, &pkce).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another client"
    );

    let wrong = Pkce::new();
    let (status, body, _) = exchange(&app, &client, &code, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );

    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", "http://127.0.0.1:9999/other"),
            ("client_id", &client),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "other redirect_uri"
    );

    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "verifier missing"
    );

    let (status, _, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(
        status, 200,
        "failed attempts by others do not burn the code"
    );
}

#[tokio::test]
async fn redirect_uri_may_be_omitted_at_the_token_endpoint_because_pkce_binds_the_code() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    // The authorization request named its redirect_uri (authorize_url always sends it).
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "OAuth 2.1 4.1.3: {body}");
}

#[tokio::test]
async fn a_resource_at_the_token_endpoint_must_be_the_grants_and_appear_once() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let with_resources = |resources: &'static [&'static str]| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client.as_str()),
        ];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        form
    };
    for (resources, why) in [
        (&["https://other.example/mcp"][..], "another resource"),
        (&[NOTES, "https://other.example/mcp"][..], "two resources"),
        (&[NOTES, NOTES][..], "the same resource twice"),
    ] {
        let (status, body, _) = token(&app, &with_resources(resources), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{why}: {body}"
        );
    }
    let (status, body, _) = token(&app, &with_resources(&[NOTES]), None).await;
    assert_eq!(status, 200, "the code's own resource: {body}");

    let refresh_token = body["refresh_token"].as_str().unwrap();
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client),
            ("resource", NOTES),
            ("resource", NOTES),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "two resources at refresh: {body}"
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = app().await;
    let user_id = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let pkce = Pkce::new();
    let now = app.state.clock.now();
    let code = opaque::new_secret();
    app.state
        .store
        .insert_code(
            &NewAuthorizationCode {
                code_hash: opaque::hash(&code),
                client_id: client.clone(),
                user_id,
                grant_id: None,
                redirect_uri: REDIRECT.into(),
                code_challenge: pkce.challenge.clone(),
                resource: NOTES.into(),
                scope: "notes:read".into(),
                auth_time: now - 120,
                nonce: None,
                expires_at: now - 60,
            },
            now - 120,
        )
        .await
        .unwrap();
    let (status, body, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_replay_inside_the_window_gets_the_same_successor() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read notes:write").await;
    let (_, first, _) = exchange(&app, &client, &code, &pkce).await;
    let original = first["refresh_token"].as_str().unwrap();

    let (status, second) = refresh(&app, &client, original).await;
    assert_eq!(status, 200, "{second}");
    let successor = second["refresh_token"].as_str().unwrap();
    assert_ne!(successor, original);
    assert_eq!(second["scope"], "notes:read notes:write");

    let (status, again) = refresh(&app, &client, original).await;
    assert_eq!(status, 200, "idempotent inside the window");
    assert_eq!(again["refresh_token"], successor, "the same successor");

    let (status, third) = refresh(&app, &client, successor).await;
    assert_eq!(status, 200);
    let (status, late) = refresh(&app, &client, original).await;
    assert_eq!(
        (status, late["error"].as_str()),
        (400, Some("invalid_grant")),
        "successor already used: reuse"
    );
    let (status, _) = refresh(&app, &client, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "reuse revoked the whole family");
}

#[tokio::test]
async fn strict_rotation_revokes_the_family_on_any_reuse() {
    let app = app_with(|c| c.tokens.refresh_reuse_window = mcp_authd::config::Seconds(0)).await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (_, first, _) = exchange(&app, &client, &code, &pkce).await;
    let original = first["refresh_token"].as_str().unwrap();
    let (_, second) = refresh(&app, &client, original).await;
    let (status, _) = refresh(&app, &client, original).await;
    assert_eq!(status, 400);
    let (status, _) = refresh(&app, &client, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "family revoked");
    assert!(access_token_revoked(&app, &second).await);
}

#[tokio::test]
async fn refresh_can_narrow_scope_but_not_widen_it_or_change_resource() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (_, first, _) = exchange(&app, &client, &code, &pkce).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &client),
            ("scope", "notes:write"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &client),
            ("resource", "https://other.example/mcp"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &client),
            ("resource", NOTES),
            ("scope", "notes:read"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let other = public_client(&app).await;
    let (status, body) = refresh(&app, &other, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "bound to its client"
    );
}

#[tokio::test]
async fn a_disabled_person_or_a_revoked_grant_ends_refresh() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
    let (_, first, _) = exchange(&app, &client, &code, &pkce).await;
    app.state
        .store
        .set_user_disabled("alice", true, 0)
        .await
        .unwrap();
    let (status, _) = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    app.state
        .store
        .set_user_disabled("alice", false, 0)
        .await
        .unwrap();
    let (status, second) = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    let grants = app
        .state
        .store
        .list_grants(&Default::default())
        .await
        .unwrap();
    app.state
        .store
        .revoke_grants(&[grants[0].grant.id.clone()], app.state.clock.now())
        .await
        .unwrap();
    let (status, _) = refresh(&app, &client, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "grant revoked");
    assert!(access_token_revoked(&app, &second).await);
}

#[tokio::test]
async fn client_credentials_for_confidential_clients() {
    let app = app().await;
    let (id, secret) = machine_client(&app, AuthMethod::ClientSecretBasic).await;
    let (status, body, headers) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "notes:write"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none());
    let claims = app
        .state
        .keys
        .verify(
            body["access_token"].as_str().unwrap(),
            app.state.clock.now(),
        )
        .unwrap();
    assert_eq!(claims.sub, id);
    assert_eq!(claims.aud, NOTES);
    assert_eq!(claims.scope, "notes:write");
    assert_eq!(claims.auth_time, None);

    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code_verifier", "y"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let public = public_client(&app).await;
    let (status, body, _) = token(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &public)],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://other.example/mcp"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
}

#[tokio::test]
async fn client_authentication_methods_are_enforced() {
    let app = app().await;
    let grants = [GrantType::ClientCredentials];
    let (basic_id, basic_secret) =
        create_client(&app, AuthMethod::ClientSecretBasic, &[], &grants, None).await;
    let (post_id, post_secret) =
        create_client(&app, AuthMethod::ClientSecretPost, &[], &grants, None).await;
    let (basic_secret, post_secret) = (basic_secret.unwrap(), post_secret.unwrap());
    let cc = ("grant_type", "client_credentials");

    assert_eq!(
        token(&app, &[cc], Some((&basic_id, &basic_secret))).await.0,
        200
    );
    assert_eq!(
        token(
            &app,
            &[cc, ("client_id", &basic_id)],
            Some((&basic_id, &basic_secret))
        )
        .await
        .0,
        200,
        "client_id in the body alongside Basic"
    );
    assert_eq!(
        token(
            &app,
            &[cc, ("client_id", &post_id), ("client_secret", &post_secret)],
            None
        )
        .await
        .0,
        200
    );

    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>, bool);
    let failures: Vec<Case<'_>> = vec![
        (vec![cc], Some((&basic_id, "wrong")), true),
        (vec![cc], Some(("unknown", "wrong")), true),
        (
            vec![
                cc,
                ("client_id", &basic_id),
                ("client_secret", &basic_secret),
            ],
            None,
            false,
        ),
        (vec![cc], Some((&post_id, &post_secret)), true),
        (vec![cc, ("client_id", &post_id)], None, false),
        (
            vec![cc, ("client_id", &post_id)],
            Some((&basic_id, &basic_secret)),
            true,
        ),
        (vec![cc], None, false),
    ];
    for (form, basic, challenged) in failures {
        let (status, body, headers) = token(&app, &form, basic).await;
        assert_eq!(status, 401, "{form:?} {basic:?}");
        assert_eq!(body["error"], "invalid_client");
        let challenge = headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert_eq!(
            challenge.starts_with("Basic"),
            challenged,
            "{form:?}: {challenge}"
        );
    }
    let (status, body, _) = token(
        &app,
        &[cc, ("client_secret", &basic_secret)],
        Some((&basic_id, &basic_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "two authentication methods at once (RFC 6749 5.2)"
    );
    let (_, unknown, _) = token(&app, &[cc], Some(("unknown", "wrong"))).await;
    let (_, wrong, _) = token(&app, &[cc], Some((&basic_id, "wrong"))).await;
    assert_eq!(
        unknown, wrong,
        "an unknown client and a wrong secret answer identically"
    );

    let public = public_client(&app).await;
    let (status, body, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &public),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a public client sending a secret"
    );
}

#[tokio::test]
async fn malformed_requests_get_rfc_json_errors() {
    let app = app().await;
    let client = public_client(&app).await;
    let url = app.url("/token");
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            app.http
                .post(&url)
                .json(&serde_json::json!({"grant_type": "client_credentials"})),
            "invalid_request",
        ),
        (
            app.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=refresh_token&grant_type=refresh_token"),
            "invalid_request",
        ),
        (
            app.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"grant_type=refresh_token&refresh_token=%FF%FE".to_vec()),
            "invalid_request",
        ),
        (
            app.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=refresh_token&pad={}",
                    "a".repeat(70_000)
                )),
            "invalid_request",
        ),
        (
            app.http
                .post(&url)
                .form(&[("grant_type", "password"), ("client_id", &client)]),
            "unsupported_grant_type",
        ),
        (
            app.http.post(&url).form(&[("client_id", &client)]),
            "invalid_request",
        ),
    ];
    for (request, expected) in cases {
        let response = request.send().await.unwrap();
        // An oversized body is 413 (with the same RFC 6749 JSON); everything else 400.
        assert!(
            matches!(response.status().as_u16(), 400 | 413),
            "{expected}"
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], expected);
        assert!(body["error_description"].is_string());
    }
    let redirect = app
        .http
        .post(app.url("/token/"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_ne!(
        redirect.status().as_u16() / 100,
        3,
        "POST endpoints never redirect"
    );
}

#[tokio::test]
async fn a_code_redeemed_at_the_same_moment_succeeds_once_and_revokes_what_the_winner_got() {
    let app = Arc::new(app().await);
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    for _ in 0..3 {
        let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
        let pkce = Arc::new(pkce);
        let barrier = Arc::new(Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (app, client, code, pkce, barrier) = (
                    app.clone(),
                    client.clone(),
                    code.clone(),
                    pkce.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    exchange(&app, &client, &code, &pkce).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (status, body, _) = task.await.unwrap();
            match status {
                200 => winners.push(body),
                400 => assert_eq!(body["error"], "invalid_grant"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1);
        // The losers were replays, as a sequential one is: the winner's tokens are revoked.
        let winner = &winners[0];
        let (status, _) = refresh(&app, &client, winner["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 400, "the winner's refresh token is revoked");
        assert!(
            access_token_revoked(&app, winner).await,
            "the winner's access token is revoked"
        );
    }
}

#[tokio::test]
async fn one_refresh_token_fired_concurrently_yields_one_successor() {
    let app = Arc::new(app().await);
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    for _ in 0..3 {
        let (code, pkce) = code_for(&app, &client, "alice", "notes:read").await;
        let (_, first, _) = exchange(&app, &client, &code, &pkce).await;
        let rt = first["refresh_token"].as_str().unwrap().to_owned();
        let barrier = Arc::new(Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (app, client, rt, barrier) =
                    (app.clone(), client.clone(), rt.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    refresh(&app, &client, &rt).await
                })
            })
            .collect();
        let mut successors = std::collections::HashSet::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert!(
                status == 200 || status == 400,
                "never a 500: {status} {body}"
            );
            if status == 200 {
                successors.insert(body["refresh_token"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(
            successors.len(),
            1,
            "every success carries the same successor"
        );
        let successor = successors.into_iter().next().unwrap();
        assert_eq!(
            refresh(&app, &client, &successor).await.0,
            200,
            "the one family is alive"
        );
    }
}

#[tokio::test]
async fn two_instances_on_one_database_behave_as_one_server() {
    let key = Some(mcp_authd::support::secret::Secret::new(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ));
    let (key_a, key_b) = (key.clone(), key);
    let a = app_with(move |c| c.keys.encryption_key = key_a).await;
    let issuer = a.base_url.clone();
    let b = TestApp::spawn_beside(&a, mcp_authd::support::clock::Clock::system(), move |c| {
        c.keys.encryption_key = key_b;
        c.issuer = issuer;
        c.resources = a_resources();
    })
    .await;
    create_user(&a, "alice").await;
    let client = public_client(&a).await;

    let (code, pkce) = code_for(&a, &client, "alice", "notes:read").await;
    let (status, body, _) = exchange(&b, &client, &code, &pkce).await;
    assert_eq!(
        status, 200,
        "a code from one instance redeems at the other: {body}"
    );
    let (status, _) = refresh(&a, &client, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "and its refresh token works at the first");

    for _ in 0..3 {
        let (code, pkce) = code_for(&a, &client, "alice", "notes:read").await;
        let (at_a, at_b) = tokio::join!(
            exchange(&a, &client, &code, &pkce),
            exchange(&b, &client, &code, &pkce)
        );
        let successes = [at_a.0, at_b.0].iter().filter(|s| **s == 200).count();
        assert_eq!(
            successes, 1,
            "raced at both instances, the code succeeds once: {} {}",
            at_a.1, at_b.1
        );
    }
}

fn a_resources() -> Vec<mcp_authd::oauth::audiences::ResourceConfig> {
    vec![mcp_authd::oauth::audiences::ResourceConfig {
        uri: NOTES.into(),
        name: "Notes".into(),
        scopes: vec!["notes:read".into(), "notes:write".into()],
        default_scopes: vec!["notes:read".into()],
        scope_descriptions: Default::default(),
    }]
}

#[tokio::test]
async fn token_and_jwks_answer_cors_preflights_for_browser_clients() {
    let app = app().await;
    for path in ["/token", "/jwks.json"] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
        assert!(
            preflight
                .headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }
    let jwks = app
        .http
        .get(app.url("/jwks.json"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(
        jwks.headers()
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    let page = app
        .http
        .get(app.url("/authorize"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers().get("access-control-allow-origin").is_none(),
        "never CORS on /authorize"
    );
}

#[tokio::test]
async fn identity_scopes_beside_the_resource_scope_are_accepted_and_kept_only_with_openid() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    // What mcp-remote, Cline and opencode send beside the MCP server's scope. With openid
    // the identity scopes ride in the token (for /userinfo); offline_access adds nothing.
    let (code, pkce) = code_for(
        &app,
        &client,
        "alice",
        "openid email profile offline_access notes:read",
    )
    .await;
    let (status, body, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "notes:read openid profile email");
    let (status, refreshed, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_id", &client),
            ("scope", "openid offline_access notes:read"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "notes:read openid");

    // Goose asks for identity scopes only: it gets the resource's default scopes too.
    let (code, pkce) = code_for(&app, &client, "alice", "openid profile email").await;
    let (status, body, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("notes:read openid profile email"))
    );

    // Without openid, profile, email and offline_access grant nothing and are left out.
    let (code, pkce) = code_for(&app, &client, "alice", "email offline_access notes:read").await;
    let (status, body, _) = exchange(&app, &client, &code, &pkce).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("notes:read")));
    assert!(body.get("id_token").is_none(), "{body}");
}
