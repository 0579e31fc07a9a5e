//! Token introspection (RFC 7662) and revocation (RFC 7009): who may see and revoke which
//! token, the cascades, every way a token stops being active, the bounded staleness of the
//! in-memory revocation list across instances, and the `tokens` CLI.

use crate::flow::*;
use crate::helpers::{CliRun, TestApp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authd::app::introspect::revoked::{MAX_STALENESS, RevokedTokens};
use mcp_authd::app::introspect::{self, Caller};
use mcp_authd::config::Config;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use mcp_authd::store::ClientUpdate;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::access_token::AccessTokenClaims;
use mcp_authd::tokens::rotation::RotationKind;
use mcp_authd::tokens::signing_key::KeyMaterial;
use mcp_authd::tokens::signing_key::SigningAlgorithm;
use serde_json::{Value, json};
use std::time::Duration;

const NOTES: &str = "https://notes.example/mcp";
const T0: i64 = 1_800_000_000;
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn notes(config: &mut Config) {
    config.resources = vec![ResourceConfig {
        uri: NOTES.into(),
        name: "Notes".into(),
        scopes: vec!["notes:read".into(), "notes:write".into()],
        default_scopes: vec!["notes:read".into()],
        scope_descriptions: Default::default(),
    }];
}

async fn app() -> TestApp {
    TestApp::spawn_with(notes).await
}

/// How a caller authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// No credentials at all.
    Anonymous,
    /// A public client's `client_id` alone.
    Public(&'a str),
    /// `client_secret_basic`.
    Basic(&'a str, &'a str),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
}

async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    auth: Auth<'_>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut request = app.http.post(app.url(path));
    match auth {
        Auth::Anonymous => {}
        Auth::Public(id) => form.push(("client_id", id)),
        Auth::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
        Auth::Post(id, secret) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
    }
    let response = request.form(&form).send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

/// `POST /introspect`, expecting 200; returns the answer.
async fn introspect(app: &TestApp, token: &str, auth: Auth<'_>) -> Value {
    let (status, body, headers) = post(app, "/introspect", &[("token", token)], auth).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&body).unwrap()
}

/// `POST /revoke`, expecting 200 with an empty body.
async fn revoke(app: &TestApp, token: &str, auth: Auth<'_>) {
    let (status, body, _) = post(app, "/revoke", &[("token", token)], auth).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "");
}

fn inactive() -> Value {
    json!({"active": false})
}

/// Posts to /token.
async fn token_request(app: &TestApp, form: &[(&str, &str)], auth: Auth<'_>) -> (u16, Value) {
    let (status, body, _) = post(app, "/token", form, auth).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// An access token and a refresh token for `user` through `client` (public), by the full
/// browser flow. The HTTP client keeps the person signed in, so later calls skip the login.
async fn tokens_for(app: &TestApp, client: &str, user: &str) -> (String, String) {
    let body = crate::flow::tokens_for(app, client, user, &[("scope", "notes:read")]).await;
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Rotates a refresh token: the new access and refresh tokens.
async fn refreshed(app: &TestApp, client: &str, refresh_token: &str) -> (String, String) {
    let (status, body) = token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        Auth::Public(client),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A confidential client that may introspect every token (`clients create --resource-server`).
async fn resource_server(app: &TestApp) -> (String, String) {
    let (id, secret) = create_client(
        app,
        AuthMethod::ClientSecretBasic,
        &[],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    flag_resource_server(app, &id).await;
    (id, secret.unwrap())
}

/// What a resource server hears about `token` (a new `--resource-server` client asks).
async fn heard(app: &TestApp, token: &str) -> Value {
    let (rs, secret) = resource_server(app).await;
    introspect(app, token, Auth::Basic(&rs, &secret)).await
}

async fn flag_resource_server(app: &TestApp, id: &str) {
    app.state
        .store
        .update_client(
            id,
            ClientUpdate {
                resource_server: Some(true),
                ..Default::default()
            },
            app.state.clock.now(),
        )
        .await
        .unwrap();
}

/// A confidential client_credentials client (client_secret_post) and a token it obtained.
async fn client_credentials_token(app: &TestApp) -> (String, String, String) {
    let (id, secret) = machine_client(app, AuthMethod::ClientSecretPost).await;
    let (status, body) = token_request(
        app,
        &[("grant_type", "client_credentials")],
        Auth::Post(&id, &secret),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    (id, secret, token)
}

/// Signs the test browser out, so the next flow signs in as someone else.
async fn sign_out(app: &TestApp) {
    let html = app
        .http
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let out = app
        .http
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
}

/// Waits (briefly) until `app` answers revocation checks from memory, as it does while its
/// background refresh keeps up.
async fn until_fresh(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !app.state.revoked.is_fresh() {
        assert!(tokio::time::Instant::now() < deadline, "never fresh");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks until the answer is inactive, failing if that takes longer than the documented
/// staleness bound (plus slack for a loaded machine); returns how long it took.
async fn becomes_inactive(app: &TestApp, token: &str, auth: Auth<'_>) -> Duration {
    let started = tokio::time::Instant::now();
    let deadline = MAX_STALENESS + Duration::from_secs(2);
    loop {
        if introspect(app, token, auth).await == inactive() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "still active after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_active_access_token_introspects_with_every_rfc_7662_member() {
    let app = app().await;
    let alice = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, _) = tokens_for(&app, &client, "alice").await;
    let answer = heard(&app, &access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["scope"], "notes:read");
    assert_eq!(answer["client_id"], client.as_str());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["sub"], alice.as_str());
    assert_eq!(answer["aud"], NOTES);
    assert_eq!(answer["iss"], app.base_url.as_str());
    let (iat, exp) = (
        answer["iat"].as_i64().unwrap(),
        answer["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3_600);
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["jti"], claims["jti"]);
    assert_eq!(answer["iat"], claims["iat"]);

    // token_type_hint is a hint only: a wrong or unknown one changes nothing.
    let (rs, rs_secret) = resource_server(&app).await;
    for hint in ["refresh_token", "access_token", "something_else"] {
        let (status, body, _) = post(
            &app,
            "/introspect",
            &[("token", &access), ("token_type_hint", hint)],
            Auth::Basic(&rs, &rs_secret),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), answer);
    }
}

#[tokio::test]
async fn an_active_refresh_token_introspects_as_a_refresh_token_without_an_audience() {
    let app = app().await;
    let alice = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (_, refresh) = tokens_for(&app, &client, "alice").await;
    let answer = heard(&app, &refresh).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["token_type"], "refresh_token");
    assert_eq!(answer["scope"], "notes:read");
    assert_eq!(answer["client_id"], client.as_str());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["sub"], alice.as_str());
    assert_eq!(answer["iss"], app.base_url.as_str());
    let (iat, exp) = (
        answer["iat"].as_i64().unwrap(),
        answer["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 30 * 86_400, "the idle lifetime");
    assert!(answer.get("aud").is_none() && answer.get("jti").is_none());
    let (rs, rs_secret) = resource_server(&app).await;
    let hinted = post(
        &app,
        "/introspect",
        &[("token", &refresh), ("token_type_hint", "access_token")],
        Auth::Basic(&rs, &rs_secret),
    )
    .await;
    assert_eq!(serde_json::from_str::<Value>(&hinted.1).unwrap(), answer);
}

#[tokio::test]
async fn another_client_learns_only_inactive_and_a_resource_server_sees_every_token() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;

    let (confidential, confidential_secret) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    let confidential_secret = confidential_secret.unwrap();
    let (rs, rs_secret) = resource_server(&app).await;

    for token in [&access, &refresh] {
        let unrelated = introspect(
            &app,
            token,
            Auth::Basic(&confidential, &confidential_secret),
        )
        .await;
        assert_eq!(unrelated, inactive());
        let seen = introspect(&app, token, Auth::Basic(&rs, &rs_secret)).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["client_id"], client.as_str());
        assert_eq!(seen["username"], "alice");
    }
}

#[tokio::test]
async fn public_clients_cannot_introspect_even_their_own_tokens_or_as_a_resource_server() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    // A public client flagged as a resource server gets nothing either: anyone can send its id.
    let public_rs = public_client(&app).await;
    flag_resource_server(&app, &public_rs).await;
    for token in [&access, &refresh] {
        for caller in [&client, &public_rs] {
            let (status, body, headers) = post(
                &app,
                "/introspect",
                &[("token", token)],
                Auth::Public(caller),
            )
            .await;
            assert_eq!(status, 401, "{body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], "invalid_client");
            assert!(headers.contains_key("www-authenticate"));
        }
    }
    // RFC 7009 still lets a public client revoke its own token.
    revoke(&app, &access, Auth::Public(&client)).await;
    assert_eq!(heard(&app, &access).await, inactive());
}

#[tokio::test]
async fn a_client_credentials_token_introspects_with_the_client_as_subject_and_no_username() {
    let app = app().await;
    let (id, secret, token) = client_credentials_token(&app).await;
    let answer = introspect(&app, &token, Auth::Post(&id, &secret)).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], id.as_str());
    assert_eq!(answer["client_id"], id.as_str());
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer.get("username").is_none());
}

#[tokio::test]
async fn unauthenticated_calls_are_401_invalid_client_and_a_missing_token_is_invalid_request() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, _) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    for path in ["/introspect", "/revoke"] {
        for auth in [
            Auth::Anonymous,
            Auth::Public("no-such-client"),
            Auth::Basic(&rs, "wrong secret"),
            Auth::Post(&rs, &rs_secret), // registered for client_secret_basic
            Auth::Basic(&client, "a public client has no secret"),
        ] {
            let (status, body, headers) = post(&app, path, &[("token", &access)], auth).await;
            assert_eq!(status, 401, "{path}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], "invalid_client", "{path}");
            assert!(headers.contains_key("www-authenticate"));
            assert_eq!(headers["cache-control"], "no-store");
        }
        let (status, body, _) = post(&app, path, &[], Auth::Basic(&rs, &rs_secret)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"],
            "invalid_request"
        );
    }
    // Nothing was revoked by the refused calls.
    assert_eq!(heard(&app, &access).await["active"], true);
}

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive_at_once_and_spares_the_refresh_token() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    until_fresh(&app).await;
    revoke(&app, &access, Auth::Public(&client)).await;
    assert_eq!(
        introspect(&app, &access, Auth::Basic(&rs, &rs_secret)).await,
        inactive()
    );
    // Revoking again is fine.
    revoke(&app, &access, Auth::Public(&client)).await;
    assert_eq!(heard(&app, &refresh).await["active"], true);
    let (new_access, _) = refreshed(&app, &client, &refresh).await;
    assert_eq!(heard(&app, &new_access).await["active"], true);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_every_access_token_issued_from_it() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (first_access, first_refresh) = tokens_for(&app, &client, "alice").await;
    let (second_access, second_refresh) = refreshed(&app, &client, &first_refresh).await;
    // Another family of the same person and client is untouched.
    let (other_access, other_refresh) = tokens_for(&app, &client, "alice").await;
    assert_eq!(
        heard(&app, &first_refresh).await,
        inactive(),
        "a rotated-out refresh token is inactive"
    );

    revoke(&app, &second_refresh, Auth::Public(&client)).await;
    for token in [&first_access, &second_access, &second_refresh] {
        assert_eq!(heard(&app, token).await, inactive());
    }
    let (status, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_refresh),
        ],
        Auth::Public(&client),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    for token in [&other_access, &other_refresh] {
        assert_eq!(heard(&app, token).await["active"], true);
    }
}

#[tokio::test]
async fn revoking_another_clients_token_or_an_unknown_one_is_200_and_changes_nothing() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let stranger = public_client(&app).await;
    let (rs, rs_secret) = resource_server(&app).await;
    for token in [&access, &refresh] {
        revoke(&app, token, Auth::Public(&stranger)).await;
        // Not even a resource server may revoke what was not issued to it.
        revoke(&app, token, Auth::Basic(&rs, &rs_secret)).await;
    }
    revoke(&app, "not-a-token", Auth::Public(&stranger)).await;
    revoke(&app, "a.b.c", Auth::Public(&client)).await;
    for token in [&access, &refresh] {
        assert_eq!(heard(&app, token).await["active"], true);
    }
    refreshed(&app, &client, &refresh).await;
}

#[tokio::test]
async fn a_grant_revoked_on_the_account_page_makes_its_access_and_refresh_tokens_inactive() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let (rotated_access, rotated_refresh) = refreshed(&app, &client, &refresh).await;
    let html = app
        .http
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let revoked = app
        .http
        .post(app.url("/account/revoke"))
        .form(&[
            ("csrf", hidden(&html, "csrf").unwrap()),
            ("grant_id", hidden(&html, "grant_id").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    for token in [&access, &rotated_access, &rotated_refresh] {
        assert_eq!(
            heard(&app, token).await,
            inactive(),
            "inactive at once on the instance that revoked"
        );
    }
}

#[tokio::test]
async fn a_disabled_persons_tokens_are_inactive_while_disabled() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    let rs_auth = Auth::Basic(&rs, &rs_secret);
    assert_eq!(introspect(&app, &access, rs_auth).await["active"], true);
    // As `users disable` does, from another process: seen within the staleness bound.
    let now = app.state.clock.now();
    app.state
        .store
        .set_user_disabled("alice", true, now)
        .await
        .unwrap();
    becomes_inactive(&app, &access, rs_auth).await;
    assert_eq!(introspect(&app, &refresh, rs_auth).await, inactive());
    app.state
        .store
        .set_user_disabled("alice", false, now)
        .await
        .unwrap();
    tokio::time::sleep(MAX_STALENESS).await;
    assert_eq!(
        introspect(&app, &access, rs_auth).await["active"],
        true,
        "disabling suspends; `tokens revoke --user` ends tokens for good"
    );
}

#[tokio::test]
async fn a_deleted_person_or_client_leaves_only_inactive_tokens() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (alice_access, _) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    let rs_auth = Auth::Basic(&rs, &rs_secret);
    assert_eq!(
        introspect(&app, &alice_access, rs_auth).await["active"],
        true
    );
    let now = app.state.clock.now();
    app.state.store.delete_user("alice", now).await.unwrap();
    becomes_inactive(&app, &alice_access, rs_auth).await;

    // A client's deletion: the tokens of its people and those it got for itself. (Alice's
    // session went with her, so the next flow signs in as Carol.)
    let second = public_client(&app).await;
    create_user(&app, "carol").await;
    let (carol_access, carol_refresh) = tokens_for(&app, &second, "carol").await;
    let (cc_client, _, cc_token) = client_credentials_token(&app).await;
    for token in [&carol_access, &carol_refresh, &cc_token] {
        assert_eq!(introspect(&app, token, rs_auth).await["active"], true);
    }
    app.state.store.delete_client(&second, now).await.unwrap();
    app.state
        .store
        .delete_client(&cc_client, now)
        .await
        .unwrap();
    for token in [&carol_access, &carol_refresh, &cc_token] {
        becomes_inactive(&app, token, rs_auth).await;
    }
}

#[tokio::test]
async fn a_token_signed_by_a_withdrawn_key_is_inactive() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (old_access, refresh) = tokens_for(&app, &client, "alice").await;
    // `keys rotate --now`: every earlier key leaves the JWKS.
    app.state
        .keys
        .rotate(RotationKind::Immediate)
        .await
        .unwrap();
    assert_eq!(heard(&app, &old_access).await, inactive());
    let (new_access, _) = refreshed(&app, &client, &refresh).await;
    assert_eq!(heard(&app, &new_access).await["active"], true);
}

#[tokio::test]
async fn forged_tokens_are_inactive() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, _) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    let rs_auth = Auth::Basic(&rs, &rs_secret);
    let parts: Vec<&str> = access.split('.').collect();
    let header = jsonwebtoken::decode_header(&access).unwrap();
    let kid = header.kid.unwrap();
    let claims: AccessTokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());

    let mut forged = Vec::new();
    // alg none, with and without the original signature.
    let none = b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
    forged.push(format!("{none}.{}.", parts[1]));
    forged.push(format!("{none}.{}.{}", parts[1], parts[2]));
    // HS256 keyed with the public key, in each form an attacker might try.
    let (_, jwks) = app.get_json("/jwks.json").await;
    let jwk = jwks["keys"][0].clone();
    let x = jwk["x"].as_str().unwrap().to_owned();
    for secret in [
        jwk.to_string().into_bytes(),
        x.clone().into_bytes(),
        URL_SAFE_NO_PAD.decode(&x).unwrap(),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        forged.push(
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap(),
        );
    }
    // A well-formed token from a key never published (an unknown kid), and one naming our kid.
    let stranger = KeyMaterial::generate(SigningAlgorithm::ES256).unwrap();
    forged.push(
        stranger
            .material
            .sign(&serde_json::to_vec(&claims).unwrap())
            .unwrap(),
    );
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.clone());
    forged.push(
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&stranger.pkcs8)).unwrap(),
    );
    // Our signature over changed claims.
    let mut widened = claims.clone();
    widened.scope = "notes:read notes:write".into();
    forged.push(format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&widened).unwrap()),
        parts[2]
    ));
    for token in &forged {
        assert_eq!(
            introspect(&app, token, rs_auth).await,
            inactive(),
            "{token}"
        );
    }
    for garbage in ["x", "a.b.c", "...", &"A".repeat(43)] {
        assert_eq!(introspect(&app, garbage, rs_auth).await, inactive());
    }
    assert_eq!(introspect(&app, &access, rs_auth).await["active"], true);
}

#[tokio::test]
async fn expired_tokens_are_inactive_and_their_revocations_are_swept() {
    let clock = Clock::fixed(T0);
    let app = TestApp::spawn_with_clock(clock.clone(), notes).await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let (revoked_access, _) = tokens_for(&app, &client, "alice").await;
    revoke(&app, &revoked_access, Auth::Public(&client)).await;

    clock.advance(3_599);
    assert_eq!(heard(&app, &access).await["active"], true);
    assert_eq!(
        mcp_authd::app::sweeps::sweep_revoked_access_tokens(&app.state)
            .await
            .unwrap(),
        0,
        "kept while the token could still verify"
    );
    clock.advance(1);
    assert_eq!(heard(&app, &access).await, inactive());
    assert_eq!(
        mcp_authd::app::sweeps::sweep_revoked_access_tokens(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(heard(&app, &revoked_access).await, inactive());

    assert_eq!(heard(&app, &refresh).await["active"], true);
    clock.advance(30 * 86_400);
    assert_eq!(
        heard(&app, &refresh).await,
        inactive(),
        "past its idle lifetime"
    );
}

#[tokio::test]
async fn a_revocation_on_one_instance_is_seen_by_another_within_the_staleness_bound() {
    // Instances behind one load balancer share the issuer and the key-encryption key.
    let shared = |c: &mut Config| {
        notes(c);
        c.keys.encryption_key = Some(Secret::new(ENCRYPTION_KEY));
    };
    let a = TestApp::spawn_with(shared).await;
    let issuer = a.base_url.clone();
    let b = TestApp::spawn_beside(&a, Clock::system(), |c| {
        shared(c);
        c.issuer = issuer;
    })
    .await;
    create_user(&a, "alice").await;
    let client = public_client(&a).await;
    let (access, refresh) = tokens_for(&a, &client, "alice").await;
    let (second_access, _) = tokens_for(&a, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&a).await;
    let rs_auth = Auth::Basic(&rs, &rs_secret);
    assert_eq!(introspect(&b, &access, rs_auth).await["active"], true);
    until_fresh(&b).await;

    revoke(&a, &access, Auth::Public(&client)).await;
    assert_eq!(introspect(&a, &access, rs_auth).await, inactive());
    becomes_inactive(&b, &access, rs_auth).await;

    // A whole family, revoked on b this time, seen by a.
    revoke(&b, &refresh, Auth::Public(&client)).await;
    assert_eq!(introspect(&b, &refresh, rs_auth).await, inactive());
    assert_eq!(introspect(&a, &refresh, rs_auth).await, inactive());
    assert_eq!(
        introspect(&b, &second_access, rs_auth).await["active"],
        true
    );
}

#[tokio::test]
async fn the_revocation_list_answers_from_memory_while_fresh_and_asks_the_database_otherwise() {
    let app = app().await;
    let store = &app.state.store;
    let now = app.state.clock.now();
    store
        .revoke_access_token("one", now + 600, now)
        .await
        .unwrap();
    let list = RevokedTokens::new(store.clone(), app.state.clock.clone(), 3);
    assert!(!list.is_fresh(), "nothing read yet");
    assert!(list.is_revoked("one").await.unwrap(), "from the database");
    list.refresh().await.unwrap();
    assert!(list.is_fresh());
    assert!(list.is_revoked("one").await.unwrap());
    assert!(!list.is_revoked("two").await.unwrap());

    // Another instance's revocation is not in memory yet: "fresh" means at most
    // MAX_STALENESS behind. The next read brings it.
    store
        .revoke_access_token("two", now + 600, now)
        .await
        .unwrap();
    list.refresh().await.unwrap();
    assert!(list.is_revoked("two").await.unwrap());

    // This instance's own revocations: noted at once, or the list stops trusting itself.
    list.note_revoked("three", now + 600);
    assert!(list.is_revoked("three").await.unwrap());
    list.invalidate();
    assert!(!list.is_fresh());
    list.refresh().await.unwrap();
    assert!(list.is_fresh());

    // Over capacity (3): ids not held are looked up in the database.
    store
        .revoke_access_token("four", now + 600, now)
        .await
        .unwrap();
    store
        .revoke_access_token("five", now + 600, now)
        .await
        .unwrap();
    list.refresh().await.unwrap();
    assert!(
        !list.is_fresh(),
        "an overflowing list is never trusted for absence"
    );
    for jti in ["one", "two", "four", "five"] {
        assert!(list.is_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(!list.is_revoked("six").await.unwrap());

    // And the in-process function the benchmark measures agrees with the endpoint.
    let (id, secret, token) = client_credentials_token(&app).await;
    let client = store.find_client(&id).await.unwrap().unwrap();
    let answer = introspect::introspect(&app.state, Caller::Client(&client), &token)
        .await
        .unwrap();
    assert!(answer.active);
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        introspect(&app, &token, Auth::Post(&id, &secret)).await
    );
}

#[tokio::test]
async fn introspect_and_revoke_answer_browsers_with_cors() {
    let app = app().await;
    for path in ["/introspect", "/revoke"] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://inspector.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 200, "{path}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        assert!(
            preflight
                .headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        let response = app
            .http
            .post(app.url(path))
            .header("origin", "https://inspector.example")
            .form(&[("token", "x"), ("client_id", "nobody")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
}

#[tokio::test]
async fn tokens_introspect_prints_what_a_resource_server_would_hear() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let (rs, rs_secret) = resource_server(&app).await;
    for token in [&access, &refresh] {
        let CliRun {
            code,
            stdout,
            stderr,
        } = app
            .cli(&["tokens", "introspect", token, "--json"], "")
            .await;
        assert_eq!(code, 0, "{stderr}");
        let printed: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(printed["active"], true, "{printed}");
        assert_eq!(
            printed,
            introspect(&app, token, Auth::Basic(&rs, &rs_secret)).await
        );
    }
    let CliRun {
        code,
        stdout,
        stderr,
    } = app
        .cli(&["tokens", "introspect", "-"], &format!("{access}\n"))
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("active      true\n"), "{stdout}");
    assert!(stdout.contains("username    alice\n"), "{stdout}");
    assert!(stdout.contains("token_type  Bearer\n"), "{stdout}");

    let CliRun { code, stdout, .. } = app
        .cli(&["tokens", "introspect", "nonsense", "--json"], "")
        .await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), inactive());
    let CliRun { code, stdout, .. } = app.cli(&["tokens", "introspect", "nonsense"], "").await;
    assert_eq!((code, stdout.as_str()), (0, "active      false\n"));
}

#[tokio::test]
async fn tokens_revoke_ends_every_token_of_a_person_or_a_client() {
    let app = app().await;
    create_user(&app, "alice").await;
    create_user(&app, "bob").await;
    let client = public_client(&app).await;
    let (alice_access, alice_refresh) = tokens_for(&app, &client, "alice").await;
    let (second_access, alice_successor) = refreshed(&app, &client, &alice_refresh).await;
    sign_out(&app).await;
    let (bob_access, bob_refresh) = tokens_for(&app, &client, "bob").await;
    let (cc_client, _, cc_token) = client_credentials_token(&app).await;
    let (rs, rs_secret) = resource_server(&app).await;
    let rs_auth = Auth::Basic(&rs, &rs_secret);

    let CliRun {
        code,
        stdout,
        stderr,
    } = app
        .cli(&["tokens", "revoke", "--user", "alice", "--json"], "")
        .await;
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["user"], "alice");
    assert_eq!(report["refresh_families"], 1);
    assert_eq!(report["access_tokens"], 2);
    for token in [&alice_access, &second_access] {
        becomes_inactive(&app, token, rs_auth).await;
    }
    for token in [&bob_access, &bob_refresh, &cc_token] {
        assert_eq!(introspect(&app, token, rs_auth).await["active"], true);
    }
    // Unlike disabling, this is for good: the refresh token is refused.
    let (status, _) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &alice_successor),
        ],
        Auth::Public(&client),
    )
    .await;
    assert_eq!(status, 400);

    let CliRun {
        code,
        stdout,
        stderr,
    } = app
        .cli(&["tokens", "revoke", "--client", &cc_client], "")
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("revoked 0 refresh token families and 0 access token(s) of client"),
        "{stdout}"
    );
    becomes_inactive(&app, &cc_token, rs_auth).await;
    let CliRun {
        code,
        stdout,
        stderr,
    } = app
        .cli(&["tokens", "revoke", "--client", &client, "--json"], "")
        .await;
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["client"], client.as_str());
    assert_eq!(report["refresh_families"], 1);
    for token in [&bob_access, &bob_refresh] {
        becomes_inactive(&app, token, rs_auth).await;
    }

    for (args, message) in [
        (vec!["tokens", "revoke"], "--user"),
        (
            vec!["tokens", "revoke", "--user", "alice", "--client", "x"],
            "cannot be used with",
        ),
        (
            vec!["tokens", "revoke", "--user", "nobody"],
            "no user named",
        ),
        (
            vec!["tokens", "revoke", "--client", "nothing"],
            "no client with id",
        ),
    ] {
        let CliRun { code, stderr, .. } = app.cli(&args, "").await;
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
