//! Signing in with `kind = "github"` against a small stand-in for GitHub's three endpoints
//! (GitHub itself cannot be reached here): authorize, token, and the user and emails APIs.

use crate::federation::{jwt_payload, provider_config, provider_link_in};
use crate::flow::{Pkce, approve_and_redeem, authorize_url, public_client};
use crate::helpers::TestApp;
use crate::upstream::browser;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mcp_authd::config::ProviderKind;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

const SECRET: &str = "github-secret-0123456789abcdef";
const TOKEN: &str = "gho_standin0123456789";

#[derive(Clone, Default)]
struct Standin {
    /// code → code_challenge
    codes: Arc<Mutex<HashMap<String, String>>>,
}

async fn authorize(State(s): State<Standin>, Query(q): Query<HashMap<String, String>>) -> Response {
    let code = format!("code-{}", s.codes.lock().unwrap().len());
    s.codes
        .lock()
        .unwrap()
        .insert(code.clone(), q["code_challenge"].clone());
    Redirect::to(&format!(
        "{}?code={code}&state={}",
        q["redirect_uri"],
        url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    ))
    .into_response()
}

async fn token(State(s): State<Standin>, Form(f): Form<HashMap<String, String>>) -> Json<Value> {
    let challenge = s.codes.lock().unwrap().remove(&f["code"]);
    let pkce_ok =
        challenge.is_some_and(|c| c == mcp_authd::oauth::pkce::challenge_s256(&f["code_verifier"]));
    if f.get("client_secret").map(String::as_str) != Some(SECRET) || !pkce_ok {
        // GitHub answers errors with 200.
        return Json(json!({"error": "bad_verification_code"}));
    }
    Json(json!({"access_token": TOKEN, "token_type": "bearer", "scope": "read:user,user:email"}))
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str())
}

async fn user(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"id": 583231, "login": "octocat", "name": "The Octocat"})).into_response()
}

async fn emails(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!([
        {"email": "octo@old.example", "primary": false, "verified": true},
        {"email": "octocat@github.example", "primary": true, "verified": true}
    ]))
    .into_response()
}

async fn start_standin() -> String {
    let app = Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(token))
        .route("/api/v3/user", get(user))
        .route("/api/v3/user/emails", get(emails))
        .with_state(Standin::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

#[tokio::test]
async fn a_person_signs_in_with_github_by_numeric_id_and_verified_primary_email() {
    let github = start_standin().await;
    let app = TestApp::spawn_with(|config| {
        let mut provider = provider_config("");
        provider.id = "github".into();
        provider.name = "GitHub".into();
        provider.kind = ProviderKind::Github;
        provider.scopes = Vec::new();
        provider.client_secret = Some(mcp_authd::support::secret::Secret::new(SECRET));
        provider.authorize_url = Some(format!("{github}/login/oauth/authorize"));
        provider.token_url = Some(format!("{github}/login/oauth/access_token"));
        provider.api_url = Some(format!("{github}/api/v3"));
        provider.allowed_email_domains = vec!["github.example".into()];
        config.identity_providers = vec![provider];
    })
    .await;
    let client_id = public_client(&app).await;
    let http = browser();
    let pkce = Pkce::new();
    let html = http
        .get(authorize_url(&app, &client_id, &pkce, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = provider_link_in(&html, "github");
    let out = http.get(&link).send().await.unwrap();
    assert_eq!(out.status(), 303);
    let at_github = out.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        at_github.starts_with(&format!("{github}/login/oauth/authorize?")),
        "{at_github}"
    );
    assert!(
        at_github.contains("scope=read%3Auser+user%3Aemail"),
        "{at_github}"
    );
    assert!(!at_github.contains("nonce="), "no OpenID Connect at GitHub");
    let back = http.get(&at_github).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let signed_in = http.get(&callback).send().await.unwrap();
    let (consent, tokens) = approve_and_redeem(&app, &http, signed_in, &client_id, &pkce).await;
    assert!(
        consent.contains("with <strong>GitHub</strong>"),
        "{consent}"
    );
    let person = app
        .state
        .store
        .find_federated_user("github", "583231")
        .await
        .unwrap()
        .expect("linked by the numeric id");
    assert_eq!(person.username, "github:octocat@github.example");
    assert_eq!(person.email.as_deref(), Some("octocat@github.example"));
    assert_eq!(person.display_name.as_deref(), Some("The Octocat"));
    assert_eq!(
        jwt_payload(tokens["access_token"].as_str().unwrap())["sub"],
        person.id.as_str()
    );

    // A replayed callback (the stand-in's code is single use too) signs nobody in.
    let replayed = http.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), 403);
}
