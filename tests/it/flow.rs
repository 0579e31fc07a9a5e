//! Helpers that walk the browser side of the authorization flow over real HTTP.

use crate::helpers::TestApp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::store::NewClient;
use mcp_authd::tokens::opaque;
use sha2::{Digest, Sha256};

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = opaque::new_secret();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT: &str = "http://127.0.0.1:9999/callback";

/// Creates a person with [`PASSWORD`].
pub async fn create_user(app: &TestApp, username: &str) -> String {
    let hash = mcp_authd::support::password::hash_blocking(PASSWORD).unwrap();
    app.state
        .store
        .create_user(username, &hash, app.state.clock.now())
        .await
        .unwrap()
        .id
}

/// Creates a client; returns its id and, for confidential ones, its secret.
pub async fn create_client(
    app: &TestApp,
    auth_method: AuthMethod,
    redirect_uris: &[&str],
    grants: &[GrantType],
    scope: Option<&str>,
) -> (String, Option<String>) {
    let secret = auth_method.uses_secret().then(opaque::new_secret);
    let id = opaque::new_id();
    let new = NewClient {
        id: id.clone(),
        settings: ClientSettings {
            name: "Test Client".into(),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: grants.to_vec(),
            scope: scope.map(str::to_owned),
            auth_method,
        },
        source: ClientSource::Cli,
        secret_hash: secret.as_deref().map(opaque::hash),
        resource_server: false,
        resources: Vec::new(),
        keys: None,
        metadata: serde_json::json!({}),
        registration_token_hash: None,
    };
    app.state
        .store
        .create_client(new, app.state.clock.now())
        .await
        .unwrap();
    (id, secret)
}

/// A public code client with [`REDIRECT`].
pub async fn public_client(app: &TestApp) -> String {
    create_client(
        app,
        AuthMethod::None,
        &[REDIRECT],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await
    .0
}

/// A confidential `client_credentials` client authenticating with `auth_method`: its id
/// and secret.
pub async fn machine_client(app: &TestApp, auth_method: AuthMethod) -> (String, String) {
    let (id, secret) =
        create_client(app, auth_method, &[], &[GrantType::ClientCredentials], None).await;
    (id, secret.expect("a confidential client has a secret"))
}

/// The `/authorize` URL for a client with the usual parameters plus `extra`.
pub fn authorize_url(
    app: &TestApp,
    client_id: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "st4te");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The query parameters of a redirect `Location`.
pub fn location_params(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Posts the login form found in `login_html`.
pub async fn submit_login(
    app: &TestApp,
    login_html: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let mut form = vec![
        (
            "csrf",
            hidden(login_html, "csrf").expect("csrf on the login page"),
        ),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    if let Some(request) = hidden(login_html, "request") {
        form.push(("request", request));
    }
    app.http
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Posts the consent form found in `consent_html` with `decision`.
pub async fn submit_consent(
    app: &TestApp,
    consent_html: &str,
    decision: &str,
) -> reqwest::Response {
    submit_consent_in(app, &app.http, consent_html, decision).await
}

/// [`submit_consent`] from the browser `http`.
pub async fn submit_consent_in(
    app: &TestApp,
    http: &reqwest::Client,
    consent_html: &str,
    decision: &str,
) -> reqwest::Response {
    let form = [
        (
            "csrf",
            hidden(consent_html, "csrf").expect("csrf on the consent page"),
        ),
        (
            "request",
            hidden(consent_html, "request").expect("request handle"),
        ),
        ("decision", decision.to_owned()),
    ];
    http.post(app.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Follows a 303 from our own server and returns the page.
pub async fn follow(app: &TestApp, response: &reqwest::Response) -> reqwest::Response {
    assert_eq!(response.status(), 303, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap();
    app.http.get(location).send().await.unwrap()
}

/// Walks sign-in and approval for `username`, returning the redirect's parameters.
pub async fn authorize(
    app: &TestApp,
    client_id: &str,
    pkce: &Pkce,
    username: &str,
    extra: &[(&str, &str)],
) -> std::collections::HashMap<String, String> {
    let page = app
        .http
        .get(authorize_url(app, client_id, pkce, extra))
        .send()
        .await
        .unwrap();
    let (status, is_redirect) = (page.status(), page.status() == 303);
    if is_redirect {
        return location_params(&page);
    }
    assert_eq!(status, 200);
    let html = page.text().await.unwrap();
    let html = if html.contains("name=\"password\"") {
        let logged_in = submit_login(app, &html, username, PASSWORD).await;
        let next = follow(app, &logged_in).await;
        if next.status() == 303 {
            return location_params(&next);
        }
        next.text().await.unwrap()
    } else {
        html
    };
    let approved = submit_consent(app, &html, "approve").await;
    assert_eq!(approved.status(), 303);
    location_params(&approved)
}

/// The token response for `username` through public `client_id`: the whole browser flow
/// (`extra` added to the authorization request), then the code exchange, which must succeed.
pub async fn tokens_for(
    app: &TestApp,
    client_id: &str,
    username: &str,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let pkce = Pkce::new();
    let params = authorize(app, client_id, &pkce, username, extra).await;
    redeem(app, client_id, &pkce, &params["code"]).await
}

/// The token response for `code`, issued to public `client_id` for [`REDIRECT`]; it must succeed.
pub async fn redeem(app: &TestApp, client_id: &str, pkce: &Pkce, code: &str) -> serde_json::Value {
    let (status, body) = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// In the browser `http`, after a sign-in that answered `signed_in` (a 303 to the consent
/// page): approves, and redeems the code. Returns the consent page and the token response.
pub async fn approve_and_redeem(
    app: &TestApp,
    http: &reqwest::Client,
    signed_in: reqwest::Response,
    client_id: &str,
    pkce: &Pkce,
) -> (String, serde_json::Value) {
    assert_eq!(
        signed_in.status(),
        303,
        "a sign-in ends in a redirect to consent"
    );
    let location = signed_in.headers()["location"].to_str().unwrap();
    let consent_url = url::Url::parse(&app.base_url)
        .unwrap()
        .join(location)
        .unwrap();
    let consent = http.get(consent_url).send().await.unwrap();
    let consent_html = consent.text().await.unwrap();
    let approved = submit_consent_in(app, http, &consent_html, "approve").await;
    assert_eq!(approved.status(), 303, "{consent_html}");
    let params = location_params(&approved);
    let tokens = redeem(app, client_id, pkce, &params["code"]).await;
    (consent_html, tokens)
}
