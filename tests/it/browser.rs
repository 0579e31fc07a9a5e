//! A real browser (headless Chromium through chromedriver) signs in, approves, follows the
//! redirect, and revokes the grant on `/account`. With `TEST_SCREENSHOTS=1` it saves
//! the pages under `docs/screenshots/` for the README.

use crate::federation::federated;
use crate::flow::*;
use crate::helpers::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver and a Chromium session, ended when dropped.
struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` when they are not installed
    /// (then `TEST_REQUIRE_BROWSER=1`, set by `.ci/run`, turns the skip into a failure).
    async fn start() -> Option<Self> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var_os("TEST_REQUIRE_BROWSER").is_none(),
                "TEST_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            eprintln!("skipping the browser test: install Debian's chromium and chromium-driver");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        // Several TLS backends are linked into the tests; fantoccini's needs one chosen.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("tls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error:?}");
    }

    async fn fill(&self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("input[name='{name}']")))
            .await
            .unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits (up to 15 s) until the page has an element matching `css`.
    async fn wait_for_element(&self, css: &str) {
        for _ in 0..150 {
            if self.client.find(Locator::Css(css)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self.client.current_url().await.unwrap();
        panic!("{url} never showed {css}");
    }

    /// Waits (up to 15 s) until the page shows `expected`: a click returns before the
    /// navigation it starts has finished.
    async fn wait_for_text(&self, expected: &str) -> String {
        let mut text = String::new();
        for _ in 0..150 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await {
                text = body.text().await.unwrap_or_default();
                if text.contains(expected) {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {expected:?}; it shows: {text}");
    }

    /// Saves a screenshot at `width`×`height` when screenshots were asked for.
    async fn screenshot(&self, name: &str, width: u32, height: u32) {
        if std::env::var_os("TEST_SCREENSHOTS").is_none() {
            return;
        }
        self.client.set_window_size(width, height).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

/// A loopback page standing in for the application's redirect target.
async fn callback_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async { axum::response::Html("<h1>Example app: signed in</h1>") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// An application on a loopback port and its authorization request: a public client
/// registered for any loopback port (RFC 8252), its redirect page serving, and the
/// `/authorize` URL (with `extra`) the browser starts from.
async fn start_at_an_app(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let port = callback_server().await;
    let (client_id, _) = create_client(
        app,
        AuthMethod::None,
        &["http://127.0.0.1/callback"],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    authorize_url(app, &client_id, &Pkce::new(), extra)
        .replace(&urlencode(REDIRECT), &urlencode(&redirect))
}

/// The browser ends at the application's page with a code, the state and mcp-authd's `iss`.
async fn lands_at_the_app_with_a_code(browser: &Browser, app: &TestApp) {
    browser.wait_for_text("Example app: signed in").await;
    let landed = browser.client.current_url().await.unwrap();
    assert_eq!(landed.path(), "/callback");
    let params: BTreeMap<String, String> = landed.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], app.base_url);
    assert_eq!(params["code"].len(), 43);
}

#[tokio::test]
async fn a_person_signs_in_approves_and_revokes_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(|c| {
        c.resources = vec![ResourceConfig {
            uri: "https://notes.example.com/mcp".into(),
            name: "Team Notes".into(),
            scopes: vec!["notes:read".into(), "notes:write".into()],
            default_scopes: vec!["notes:read".into()],
            scope_descriptions: BTreeMap::from([
                ("notes:read".into(), "Read your notes and notebooks".into()),
                (
                    "notes:write".into(),
                    "Create, edit and delete your notes".into(),
                ),
            ]),
        }];
    })
    .await;
    create_user(&app, "alice").await;
    let url = start_at_an_app(&app, &[("scope", "notes:read notes:write")]).await;

    browser.client.set_window_size(1100, 900).await.unwrap();
    browser.client.goto(&url).await.unwrap();
    browser.wait_for_text("Sign in").await;
    browser.screenshot("login", 1100, 900).await;
    browser.fill("username", "alice").await;
    browser.fill("password", PASSWORD).await;
    browser.click("button[type='submit']").await;

    let consent = browser
        .wait_for_text("Allow Test Client to access Team Notes?")
        .await;
    assert!(
        consent.contains("Read your notes and notebooks")
            && consent.contains("https://notes.example.com/mcp")
    );
    browser.screenshot("consent", 1100, 1000).await;
    browser.screenshot("consent-phone", 390, 1100).await;
    browser.client.set_window_size(1100, 900).await.unwrap();
    browser.click("button[value='approve']").await;

    lands_at_the_app_with_a_code(&browser, &app).await;

    browser.client.goto(&app.url("/account")).await.unwrap();
    let account = browser.wait_for_text("Connected applications").await;
    assert!(
        account.contains("Test Client") && account.contains("Team Notes"),
        "{account}"
    );
    browser.screenshot("account", 1100, 700).await;
    browser.click("input[name='grant_id'] ~ button").await;
    browser
        .wait_for_text("No application has access to your account.")
        .await;
    assert!(
        app.state
            .store
            .list_grants(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    browser
        .client
        .goto(&app.url("/authorize?client_id=unknown-app&response_type=code"))
        .await
        .unwrap();
    browser.wait_for_text("Unknown application").await;
    browser.screenshot("error", 1100, 600).await;
    browser.close().await;
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn a_person_signs_in_at_their_provider_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let app = &fed.app;
    let url = start_at_an_app(app, &[]).await;
    browser.client.goto(&url).await.unwrap();
    browser.wait_for_text("Sign in with Acme SSO").await;
    browser.click("a.provider[data-provider='corp']").await;

    // The provider's own sign-in and consent pages.
    browser.wait_for_element("input[name='login']").await;
    browser.fill("login", "dana@acme.example").await;
    browser.fill("password", "any password").await;
    browser.click("button[type='submit']").await;
    browser
        .wait_for_element("input[name='prompt'][value='consent']")
        .await;
    browser.click("button[type='submit']").await;

    // Back at mcp-authd: its consent page names the account, then the app gets its code.
    let consent = browser.wait_for_text("Allow Test Client to access").await;
    assert!(consent.contains("Acme SSO"), "{consent}");
    browser.click("button[value='approve']").await;
    lands_at_the_app_with_a_code(&browser, app).await;
    let person = app
        .state
        .store
        .find_federated_user("corp", "dana@acme.example")
        .await
        .unwrap();
    assert!(person.is_some(), "the sign-in linked the person");
    browser.close().await;
}
