//! Signing in at an upstream identity provider: a real OpenID Connect provider
//! (node-oidc-provider, `tests/upstream`) with its own sign-in and consent pages, on both
//! stores. Skipped when the provider is not installed (`scripts/install-upstream.sh`), unless
//! `TEST_REQUIRE_UPSTREAM` is set, as `.ci/run` does.

use crate::flow::{
    PASSWORD, Pkce, approve_and_redeem, authorize_url, create_user, hidden, public_client,
};
use crate::helpers::{TestApp, binary, run_cli};
use crate::upstream::{Upstream, UpstreamClient, browser, refuse_upstream, sign_in_upstream};
use base64::Engine;
use mcp_authd::config::{Config, IdentityProviderConfig, ProviderKind};
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use serde_json::Value;
use tokio::net::TcpListener;

const CLIENT_ID: &str = "mcp-authd";
const CLIENT_SECRET: &str = "upstream-secret-0123456789abcdef0123456789abcdef";

/// mcp-authd with the provider `corp` ("Acme SSO") configured, and the provider itself.
pub struct Federated {
    pub app: TestApp,
    pub upstream: Upstream,
}

/// Starts the provider with mcp-authd's callback registered, then mcp-authd pointing at it;
/// `adjust` may change the provider entry and the rest of the configuration.
pub async fn federated(
    adjust: impl FnOnce(&mut IdentityProviderConfig, &mut Config),
) -> Option<Federated> {
    federated_at(Clock::system(), adjust).await
}

/// [`federated`] with mcp-authd on `clock`.
pub async fn federated_at(
    clock: Clock,
    adjust: impl FnOnce(&mut IdentityProviderConfig, &mut Config),
) -> Option<Federated> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let upstream = Upstream::start(&[UpstreamClient {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uri: format!("{issuer}/login/corp/callback"),
    }])
    .await?;
    let mut provider = provider_config(&upstream.issuer);
    let app = TestApp::spawn_on_with_clock(listener, clock, |config| {
        adjust(&mut provider, config);
        config.identity_providers = vec![provider];
    })
    .await;
    Some(Federated { app, upstream })
}

pub fn provider_config(issuer: &str) -> IdentityProviderConfig {
    IdentityProviderConfig {
        id: "corp".into(),
        name: "Acme SSO".into(),
        kind: ProviderKind::Oidc,
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        client_secret_file: None,
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        allowed_email_domains: Vec::new(),
        auto_create: true,
        store_upstream_tokens: false,
        authorize_url: None,
        token_url: None,
        api_url: None,
    }
}

/// The provider link on the sign-in page `/authorize` shows `http` for `client_id`.
async fn provider_link(app: &TestApp, http: &reqwest::Client, client_id: &str) -> String {
    provider_link_for(app, http, client_id, &Pkce::new()).await
}

pub async fn provider_link_for(
    app: &TestApp,
    http: &reqwest::Client,
    client_id: &str,
    pkce: &Pkce,
) -> String {
    let page = http
        .get(authorize_url(app, client_id, pkce, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    provider_link_in(&page.text().await.unwrap(), "corp")
}

/// The link for the provider `id` on a sign-in page.
pub fn provider_link_in(html: &str, id: &str) -> String {
    let marker = format!(r#"<a class="provider" data-provider="{id}" href=""#);
    let start = html.find(&marker).expect("a link for the provider") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

/// Signs in at the provider as `login` from the sign-in page in `http`, and back at
/// mcp-authd's callback: its answer.
async fn through_provider(
    fed: &Federated,
    http: &reqwest::Client,
    client_id: &str,
    login: &str,
) -> reqwest::Response {
    let link = provider_link(&fed.app, http, client_id).await;
    let callback = sign_in_upstream(http, &fed.upstream, &link, login).await;
    assert!(
        callback.starts_with(&fed.app.url("/login/corp/callback")),
        "{callback}"
    );
    http.get(callback).send().await.unwrap()
}

/// The token response for `login` at the provider through public `client_id`, in a fresh
/// browser: provider link, the provider's pages, callback, consent, code exchange.
pub async fn tokens_through_provider(
    fed: &Federated,
    client_id: &str,
    login: &str,
    extra: &[(&str, &str)],
) -> Value {
    let app = &fed.app;
    let http = browser();
    let pkce = Pkce::new();
    let page = http
        .get(authorize_url(app, client_id, &pkce, extra))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let link = provider_link_in(&html, "corp");
    let callback = sign_in_upstream(&http, &fed.upstream, &link, login).await;
    let signed_in = http.get(callback).send().await.unwrap();
    approve_and_redeem(app, &http, signed_in, client_id, &pkce)
        .await
        .1
}

pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_person_signs_in_at_their_provider_consents_and_gets_a_token_with_their_own_sub() {
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    let pkce = Pkce::new();
    let link = provider_link_for(app, &app.http, &client_id, &pkce).await;
    assert!(link.starts_with(&app.url("/login/corp?request=")), "{link}");

    // The provider's own pages, then its answer at mcp-authd's callback (RFC 9207 iss on it).
    let callback = sign_in_upstream(&app.http, &fed.upstream, &link, "alice@acme.example").await;
    assert!(callback.contains(&format!(
        "iss={}",
        url::form_urlencoded::byte_serialize(fed.upstream.issuer.as_bytes()).collect::<String>()
    )));
    let signed_in = app.http.get(&callback).send().await.unwrap();
    let (consent_html, tokens) =
        approve_and_redeem(app, &app.http, signed_in, &client_id, &pkce).await;
    assert!(
        consent_html.contains("with <strong>Acme SSO</strong>"),
        "the consent page says which account: {consent_html}"
    );

    // The person is linked, named after their verified email, with what the provider said.
    let person = app
        .state
        .store
        .find_federated_user("corp", "alice@acme.example")
        .await
        .unwrap()
        .expect("the first sign-in created the person");
    assert_eq!(person.username, "corp:alice@acme.example");
    assert_eq!(person.email.as_deref(), Some("alice@acme.example"));
    assert!(person.email_verified);
    let claims = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        claims["sub"],
        person.id.as_str(),
        "mcp-authd's id, not upstream's"
    );
    assert_ne!(claims["sub"], "alice@acme.example");

    // Signing in again, from another browser, reaches the same person.
    let again = through_provider(&fed, &browser(), &client_id, "alice@acme.example").await;
    assert_eq!(again.status(), 303);
    let users = app.state.store.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "linked, not duplicated");
}

#[tokio::test]
async fn a_wrong_state_a_replayed_callback_or_another_browser_signs_nobody_in() {
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    let link = provider_link(app, &app.http, &client_id).await;
    let callback = sign_in_upstream(&app.http, &fed.upstream, &link, "bob@acme.example").await;

    // The same answer in another browser (login CSRF): its cookie is not the one it was for.
    let foreign = browser().get(&callback).send().await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign.text().await.unwrap().contains("Acme SSO"));

    // A made-up state.
    let forged = callback.replace("state=", "state=x");
    let answer = app.http.get(&forged).send().await.unwrap();
    assert_eq!(answer.status(), 403);

    // The real one works once; replayed, it is refused.
    let first = app.http.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let replayed = app.http.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), 403);
    let page = replayed.text().await.unwrap();
    assert!(page.contains("already used"), "{page}");
    assert_eq!(app.state.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_provider_error_is_a_page_that_names_the_provider() {
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    let link = provider_link(app, &app.http, &client_id).await;
    let callback = refuse_upstream(&app.http, &fed.upstream, &link, "carol@acme.example").await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let page = app.http.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Acme SSO did not sign you in: access_denied"),
        "{html}"
    );
    assert!(app.state.store.list_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn only_verified_addresses_in_the_allowed_domains_get_in() {
    let Some(fed) = federated(|provider, _| {
        provider.allowed_email_domains = vec!["acme.example".into()];
    })
    .await
    else {
        return;
    };
    let client_id = public_client(&fed.app).await;
    for outsider in ["mallory@elsewhere.example", "unverified@acme.example"] {
        let answer = through_provider(&fed, &browser(), &client_id, outsider).await;
        assert_eq!(answer.status(), 403, "{outsider}");
        let html = answer.text().await.unwrap();
        assert!(html.contains("(acme.example)"), "{html}");
    }
    assert!(fed.app.state.store.list_users().await.unwrap().is_empty());
    let insider = through_provider(&fed, &browser(), &client_id, "dana@acme.example").await;
    assert_eq!(insider.status(), 303);
}

#[tokio::test]
async fn a_disabled_person_cannot_sign_in_through_their_provider() {
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let client_id = public_client(&fed.app).await;
    let first = through_provider(&fed, &browser(), &client_id, "erin@acme.example").await;
    assert_eq!(first.status(), 303);
    let now = fed.app.state.clock.now();
    fed.app
        .state
        .store
        .set_user_disabled("corp:erin@acme.example", true, now)
        .await
        .unwrap();
    let refused = through_provider(&fed, &browser(), &client_id, "erin@acme.example").await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("disabled"));
}

#[tokio::test]
async fn without_auto_create_an_operator_links_the_person_first() {
    let Some(fed) = federated(|provider, _| provider.auto_create = false).await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    create_user(app, "frank").await;
    let refused = through_provider(&fed, &browser(), &client_id, "frank@acme.example").await;
    assert_eq!(refused.status(), 403);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("users link USERNAME --provider corp --subject frank@acme.example"),
        "the page says what the operator runs: {html}"
    );
    assert_eq!(app.state.store.list_users().await.unwrap().len(), 1);

    // The operator's CLI, with the provider configured by environment alone.
    let mut command = binary();
    command
        .env("MCP_AUTHD_ISSUER", &app.base_url)
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__NAME", "Acme SSO")
        .env(
            "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__ISSUER",
            &fed.upstream.issuer,
        )
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_ID", CLIENT_ID)
        .env(
            "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_SECRET",
            CLIENT_SECRET,
        );
    let data_dir = app.db.dir.path().display().to_string();
    let args = [
        "users",
        "link",
        "frank",
        "--provider",
        "corp",
        "--subject",
        "frank@acme.example",
        "--data-dir",
        &data_dir,
    ];
    let linked = run_cli(command, app.db.dir.path(), Some(&app.db.url), &args, "").await;
    assert_eq!(linked.code, 0, "{}", linked.stderr);
    let unknown = app
        .cli(
            &[
                "users",
                "link",
                "frank",
                "--provider",
                "nope",
                "--subject",
                "x",
            ],
            "",
        )
        .await;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("no identity provider \"nope\""),
        "{}",
        unknown.stderr
    );

    let signed_in = through_provider(&fed, &browser(), &client_id, "frank@acme.example").await;
    assert_eq!(signed_in.status(), 303);
    let listed = app.cli(&["users", "list", "--json"], "").await.json();
    assert_eq!(listed[0]["username"], "frank");
    assert_eq!(listed[0]["identities"][0]["provider"], "corp");
    assert_eq!(listed[0]["identities"][0]["subject"], "frank@acme.example");
}

#[tokio::test]
async fn with_one_provider_and_no_password_authorize_goes_straight_to_it() {
    let Some(fed) = federated(|_, config| config.login.password = false).await else {
        return;
    };
    let app = &fed.app;
    let client_id = public_client(app).await;
    let answer = app
        .http
        .get(authorize_url(app, &client_id, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&app.url("/login/corp?request=")),
        "{location}"
    );
    // And the password form is refused even when posted by hand.
    let account = app.http.get(app.url("/account")).send().await.unwrap();
    let html = account.text().await.unwrap();
    assert!(!html.contains(r#"name="password""#), "{html}");
    let posted = app
        .http
        .post(app.url("/login"))
        .form(&[
            ("csrf", hidden(&html, "csrf").unwrap_or_default()),
            ("username", "x".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 403);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_page_and_the_server_keeps_serving() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_on(listener, |config| {
        config.identity_providers = vec![provider_config(&nowhere)];
    })
    .await;
    let client_id = public_client(&app).await;
    let link = provider_link(&app, &app.http, &client_id).await;
    let answer = app.http.get(&link).send().await.unwrap();
    assert_eq!(answer.status(), 503);
    let html = answer.text().await.unwrap();
    assert!(html.contains("Acme SSO is unavailable"), "{html}");
    let (status, _) = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn on_a_first_run_the_sign_in_page_says_how_to_let_someone_in() {
    let app = TestApp::spawn().await;
    let client_id = public_client(&app).await;
    let page = |app: &TestApp| {
        let url = authorize_url(app, &client_id, &Pkce::new(), &[]);
        let http = browser();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = page(&app).await;
    assert!(first.contains("Nobody can sign in yet"), "{first}");
    assert!(first.contains("mcp-authd users create NAME"));
    create_user(&app, "alice").await;
    let later = page(&app).await;
    assert!(!later.contains("Nobody can sign in yet"), "{later}");
}

#[tokio::test]
async fn doctor_checks_each_provider_and_says_what_to_register_there() {
    let Some(fed) = federated(|_, _| {}).await else {
        return;
    };
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut command = binary();
    command
        .args(["doctor", "--issuer", &fed.app.base_url])
        .current_dir(fed.app.db.dir.path())
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__NAME", "Acme SSO")
        .env(
            "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__ISSUER",
            &fed.upstream.issuer,
        )
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_ID", CLIENT_ID)
        .env(
            "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_SECRET",
            CLIENT_SECRET,
        )
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__GONE__NAME", "Gone")
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__GONE__ISSUER", &nowhere)
        .env("MCP_AUTHD_IDENTITY_PROVIDERS__GONE__CLIENT_ID", CLIENT_ID)
        .env(
            "MCP_AUTHD_IDENTITY_PROVIDERS__GONE__CLIENT_SECRET",
            CLIENT_SECRET,
        );
    let out = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let register = format!(
        "ok    identity provider: corp (Acme SSO): discovery is fine; register a confidential \
         web client \"mcp-authd\" there with the redirect URI {}/login/corp/callback",
        fed.app.base_url
    );
    assert!(stdout.contains(&register), "{stdout}");
    assert!(
        stdout.contains("FAIL  identity provider: gone: "),
        "{stdout}"
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "an unreachable provider fails the doctor"
    );
}
