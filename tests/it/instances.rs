//! Several instances on one database behave as one server: a browser and a client may be
//! served by any instance at every step (DESIGN.md 7 "One server, many instances").

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::config::Config;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::AuthMethod;
use mcp_authd::store::ClientUpdate;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;

const NOTES: &str = "https://notes.example/mcp";
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// What every instance of one deployment shares: the key-encryption key and the resources.
fn deployment(config: &mut Config) {
    config.keys.encryption_key = Some(Secret::new(ENCRYPTION_KEY));
    config.resources = vec![ResourceConfig {
        uri: NOTES.into(),
        name: "Notes".into(),
        scopes: vec!["notes:read".into()],
        default_scopes: vec!["notes:read".into()],
        scope_descriptions: Default::default(),
    }];
}

/// Instance `a` and a second instance `b` on its database, both answering for `a`'s issuer.
pub async fn two_instances() -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(deployment).await;
    let issuer = a.base_url.clone();
    let b = TestApp::spawn_beside(&a, Clock::system(), move |c| {
        deployment(c);
        c.issuer = issuer;
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn a_whole_authorization_may_hop_between_instances_at_every_step() {
    let (a, b) = two_instances().await;
    create_user(&a, "alice").await;
    let client = public_client(&a).await;
    // One browser (one cookie jar) talks to both instances, as behind a load balancer
    // without sticky sessions.
    let browser = &a.http;
    let pkce = Pkce::new();

    // authorize at A
    let page = browser
        .get(authorize_url(
            &a,
            &client,
            &pkce,
            &[("scope", "notes:read")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let login_html = page.text().await.unwrap();

    // login at B: B accepts the CSRF token and the pending request A made for this browser
    let form = [
        ("csrf", hidden(&login_html, "csrf").unwrap()),
        ("request", hidden(&login_html, "request").unwrap()),
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let signed_in = browser
        .post(b.url("/login"))
        .header("origin", &a.base_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_in.status(),
        303,
        "{}",
        signed_in.text().await.unwrap()
    );
    let consent_url = signed_in.headers()["location"].to_str().unwrap().to_owned();

    // consent at A, with the session cookie B set
    let consent_html = browser
        .get(&consent_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        (
            "csrf",
            hidden(&consent_html, "csrf").expect("a consent page"),
        ),
        ("request", hidden(&consent_html, "request").unwrap()),
        ("decision", "approve".to_owned()),
    ];
    let approved = browser
        .post(a.url("/consent"))
        .header("origin", &a.base_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 303);
    let code = location_params(&approved)["code"].clone();

    // the code redeemed at B
    let (status, tokens) = b
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // refresh at A, then the idempotent re-presentation at B yields the same successor:
    // the successor HMAC is the same on both instances.
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", client.as_str()),
    ];
    let (status, at_a) = a.post_token(&refresh).await;
    assert_eq!(status, 200, "{at_a}");
    let (status, at_b) = b.post_token(&refresh).await;
    assert_eq!(status, 200, "{at_b}");
    assert_eq!(at_a["refresh_token"], at_b["refresh_token"]);
    let claims = a
        .state
        .keys
        .verify(at_b["access_token"].as_str().unwrap(), a.state.clock.now())
        .expect("B's token verifies at A");
    assert_eq!(claims.aud, NOTES);
}

/// A client_credentials request at `app` with `id` and `secret` in the form: the status.
async fn machine_token(app: &TestApp, id: &str, secret: &str) -> u16 {
    app.post_token(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ])
    .await
    .0
}

#[tokio::test]
async fn a_client_changed_on_one_instance_is_dropped_from_every_instances_memory() {
    let (a, b) = two_instances().await;
    let (id, secret) = machine_client(&a, AuthMethod::ClientSecretPost).await;
    a.state.clients.refresh().await.unwrap();
    assert_eq!(machine_token(&a, &id, &secret).await, 200);
    assert!(
        a.state.clients.get(&id).is_ok(),
        "a's lookups of this client now come from memory"
    );

    // b rotates the secret: a drops its copy at its next read of the change counter
    // (the background task does this every 250 ms; here it is called to be deterministic).
    let rotated = opaque::new_secret();
    let update = ClientUpdate {
        secret_hash: Some(Some(opaque::hash(&rotated))),
        ..ClientUpdate::default()
    };
    b.state
        .store
        .update_client(&id, update, b.state.clock.now())
        .await
        .unwrap();
    assert_eq!(machine_token(&b, &id, &secret).await, 401);
    a.state.clients.refresh().await.unwrap();
    assert!(a.state.clients.get(&id).is_err(), "dropped from a's memory");
    assert_eq!(machine_token(&a, &id, &secret).await, 401);
    assert_eq!(machine_token(&a, &id, &rotated).await, 200);

    // A change made on a itself is seen there at once, before any poll.
    a.state
        .store
        .delete_client(&id, a.state.clock.now())
        .await
        .unwrap();
    assert_eq!(machine_token(&a, &id, &rotated).await, 401);
}
