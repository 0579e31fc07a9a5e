//! OpenID Connect (Core 1.0 and Discovery 1.0, code flow): the OpenID document, ID tokens
//! on the code exchange and on refresh, userinfo, and the `prompt`, `max_age`,
//! `login_hint` and `id_token_hint` parameters, over real HTTP on both stores.

use crate::flow::{
    PASSWORD, Pkce, REDIRECT, authorize, authorize_url, create_client, create_user, follow, hidden,
    location_params, public_client, submit_consent, submit_login, tokens_for,
};
use crate::helpers::TestApp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use mcp_authd::support::clock::Clock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const NOTES: &str = "https://notes.example/mcp";
const FILES: &str = "https://files.example/mcp";

fn resources(config: &mut mcp_authd::config::Config) {
    let resource = |uri: &str, scope: &str| ResourceConfig {
        uri: uri.into(),
        name: uri.into(),
        scopes: vec![scope.into()],
        default_scopes: vec![scope.into()],
        scope_descriptions: Default::default(),
    };
    config.resources = vec![resource(NOTES, "notes:read"), resource(FILES, "files:read")];
    config.default_resource = Some(NOTES.into());
}

async fn app() -> TestApp {
    TestApp::spawn_with(resources).await
}

/// The claims of a JWT, verified against the server's JWKS as a relying party would
/// (signature, `iss`, `aud` = `client_id`), with its header.
async fn verified_id_token(app: &TestApp, token: &str, client_id: &str) -> (Value, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let (_, jwks) = app.get_json("/jwks.json").await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the ID token's key is published");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&app.base_url]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the ID token verifies")
        .claims;
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    (header_json, claims)
}

/// The unverified payload of a JWT.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

async fn userinfo(app: &TestApp, token: &str, post: bool) -> (u16, Value, Option<String>) {
    let request = if post {
        app.http.post(app.url("/userinfo"))
    } else {
        app.http.get(app.url("/userinfo"))
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        challenge,
    )
}

/// Where `/authorize` at `url` sends the browser at once: the redirect's parameters.
async fn answer_at_once(app: &TestApp, url: String) -> HashMap<String, String> {
    location_params(&app.http.get(url).send().await.unwrap())
}

/// The page `/authorize` at `url` shows.
async fn page_at(app: &TestApp, url: String) -> String {
    let page = app.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "a page, not a redirect");
    page.text().await.unwrap()
}

/// Signs `username` in on the page `url` shows; returns the consent page that follows.
async fn consent_page_after_sign_in(app: &TestApp, url: String, username: &str) -> String {
    let html = page_at(app, url).await;
    let signed_in = submit_login(app, &html, username, PASSWORD).await;
    follow(app, &signed_in).await.text().await.unwrap()
}

/// A confidential operator client (remembered consent applies to it), with its secret.
async fn confidential_client(app: &TestApp) -> (String, String) {
    let (id, secret) = create_client(
        app,
        AuthMethod::ClientSecretPost,
        &[REDIRECT],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await;
    (id, secret.unwrap())
}

async fn redeem(app: &TestApp, client: &(String, String), code: &str, pkce: &Pkce) -> Value {
    let (status, body) = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client.0),
            ("client_secret", &client.1),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_openid_document_is_the_oauth_document_under_its_own_name() {
    let app = app().await;
    let (status, openid) = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    let (_, oauth) = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(openid, oauth, "one set of values");
    assert_eq!(openid["issuer"], app.base_url);
    assert_eq!(openid["userinfo_endpoint"], app.url("/userinfo"));
    assert_eq!(openid["jwks_uri"], app.url("/jwks.json"));
    assert_eq!(
        openid["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        openid["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        openid["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        openid["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let scopes = openid["scopes_supported"].as_array().unwrap();
    for scope in [
        "notes:read",
        "files:read",
        "openid",
        "profile",
        "email",
        "offline_access",
    ] {
        assert!(scopes.contains(&scope.into()), "{scope} in {scopes:?}");
    }
    let claims = openid["claims_supported"].as_array().unwrap();
    for claim in [
        "sub",
        "auth_time",
        "nonce",
        "name",
        "preferred_username",
        "email",
    ] {
        assert!(claims.contains(&claim.into()), "{claim}");
    }
    assert_eq!(
        openid["request_uri_parameter_supported"], false,
        "its default is true"
    );
    assert_eq!(openid["request_parameter_supported"], false);
    assert!(openid["grant_types_supported"].is_array());
    assert!(openid["token_endpoint_auth_methods_supported"].is_array());
}

#[tokio::test]
async fn the_openid_document_is_served_for_an_issuer_with_a_path() {
    let app = TestApp::spawn_with(|c| {
        c.issuer = format!("{}/tenant", c.issuer);
    })
    .await;
    for path in [
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
    ] {
        let (status, document) = app.get_json(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(document["issuer"], app.url("/tenant"), "{path}");
        assert_eq!(document["userinfo_endpoint"], app.url("/tenant/userinfo"));
    }
}

#[tokio::test]
async fn a_code_flow_with_openid_returns_an_id_token_with_every_claim_rule() {
    let app = app().await;
    let alice = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let body = tokens_for(
        &app,
        &client,
        "alice",
        &[
            ("scope", "openid profile notes:read"),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    )
    .await;
    let id_token = body["id_token"].as_str().expect("an id_token");
    let access_token = body["access_token"].as_str().unwrap();
    let (header, claims) = verified_id_token(&app, id_token, &client).await;
    assert_eq!(
        header["typ"], "JWT",
        "not at+jwt: neither passes for the other"
    );
    assert_eq!(claims["iss"], app.base_url);
    assert_eq!(claims["sub"], alice);
    assert_eq!(
        claims["sub"],
        payload(access_token)["sub"],
        "the access token's sub"
    );
    assert_eq!(claims["aud"], client);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["at_hash"], at_hash(access_token));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat);
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);
    assert_eq!(claims["name"], "alice", "profile: a local person's name");
    assert_eq!(claims["preferred_username"], "alice");
    assert!(
        claims.get("email").is_none(),
        "no address is known, none is made up"
    );
    assert!(claims.get("azp").is_none(), "one audience needs no azp");

    // Without profile, no name; without a nonce, none echoed.
    let body = tokens_for(&app, &client, "alice", &[("scope", "openid notes:read")]).await;
    let (_, claims) = verified_id_token(&app, body["id_token"].as_str().unwrap(), &client).await;
    assert!(
        claims.get("name").is_none() && claims.get("nonce").is_none(),
        "{claims}"
    );

    // Without openid there is no ID token, whatever else is asked.
    let body = tokens_for(&app, &client, "alice", &[("scope", "profile email")]).await;
    assert!(body.get("id_token").is_none(), "{body}");
}

#[tokio::test]
async fn a_refresh_with_openid_returns_a_fresh_id_token_with_the_original_sign_in() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let body = tokens_for(
        &app,
        &client,
        "alice",
        &[("scope", "openid profile"), ("nonce", "first")],
    )
    .await;
    let (_, first) = verified_id_token(&app, body["id_token"].as_str().unwrap(), &client).await;
    let refresh = |token: String, scope: Option<&'static str>| {
        let (app, client) = (&app, &client);
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
                ("client_id", client.as_str()),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope));
            }
            app.post_token(&form).await
        }
    };
    let (status, refreshed) = refresh(body["refresh_token"].as_str().unwrap().into(), None).await;
    assert_eq!(status, 200, "{refreshed}");
    let id_token = refreshed["id_token"].as_str().expect("a fresh ID token");
    let (_, claims) = verified_id_token(&app, id_token, &client).await;
    assert_eq!(claims["sub"], first["sub"]);
    assert_eq!(claims["aud"], first["aud"]);
    assert_eq!(
        claims["auth_time"], first["auth_time"],
        "the original sign-in"
    );
    assert!(
        claims.get("nonce").is_none(),
        "Core 12.2: no nonce on refresh"
    );
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(
        claims["at_hash"],
        at_hash(refreshed["access_token"].as_str().unwrap())
    );

    // Narrowed to the MCP server's scope only, the refresh carries no ID token.
    let (status, narrowed) = refresh(
        refreshed["refresh_token"].as_str().unwrap().into(),
        Some("notes:read"),
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert!(narrowed.get("id_token").is_none(), "{narrowed}");
}

#[tokio::test]
async fn userinfo_serves_what_the_scopes_allow_for_any_audience_with_openid() {
    let app = app().await;
    let alice = create_user(&app, "alice").await;
    let client = public_client(&app).await;
    // A token for the other MCP server: accepted, since its scope has openid.
    let files = tokens_for(
        &app,
        &client,
        "alice",
        &[("scope", "openid profile files:read"), ("resource", FILES)],
    )
    .await;
    let access = files["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["aud"], FILES);
    for post in [false, true] {
        let (status, info, _) = userinfo(&app, access, post).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], alice);
        assert_eq!(info["preferred_username"], "alice");
        assert_eq!(info["name"], "alice");
    }
    // openid alone: sub only.
    let bare = tokens_for(&app, &client, "alice", &[("scope", "openid")]).await;
    let (status, info, _) = userinfo(&app, bare["access_token"].as_str().unwrap(), false).await;
    assert_eq!(status, 200);
    assert_eq!(info, serde_json::json!({"sub": alice}));

    // A token for another audience without openid: refused for want of the scope.
    let plain = tokens_for(&app, &client, "alice", &[("resource", FILES)]).await;
    let (status, body, challenge) =
        userinfo(&app, plain["access_token"].as_str().unwrap(), false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert!(challenge.unwrap().contains("scope=\"openid\""));

    // An ID token, garbage, or nothing: invalid_token with the RFC 6750 challenge.
    let id_token = files["id_token"].as_str().unwrap();
    for token in [id_token, "not-a-token"] {
        let (status, body, challenge) = userinfo(&app, token, false).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    }
    let response = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));

    // A revoked token stops answering.
    let revoked = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", access), ("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _, _) = userinfo(&app, access, false).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_id_token_is_never_accepted_as_an_access_token_at_introspection() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = confidential_client(&app).await;
    let pkce = Pkce::new();
    let params = authorize(&app, &client.0, &pkce, "alice", &[("scope", "openid")]).await;
    let body = redeem(&app, &client, &params["code"], &pkce).await;
    let introspect = |token: String| {
        let (app, client) = (&app, &client);
        async move {
            let response = app
                .http
                .post(app.url("/introspect"))
                .form(&[
                    ("token", token.as_str()),
                    ("client_id", client.0.as_str()),
                    ("client_secret", client.1.as_str()),
                ])
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    let id_token = body["id_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(id_token).await["active"], false);
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(access).await["active"],
        true,
        "the access token is"
    );
}

#[tokio::test]
async fn prompt_none_answers_at_once_with_and_without_a_grant() {
    let app = app().await;
    let alice = create_user(&app, "alice").await;
    let client = confidential_client(&app).await;
    let silent = |pkce: &Pkce, extra: &[(&str, &str)]| {
        let mut params = vec![("prompt", "none"), ("scope", "openid")];
        params.extend_from_slice(extra);
        authorize_url(&app, &client.0, pkce, &params)
    };
    // Nobody signed in: login_required, by redirect (the operator's client).
    let pkce = Pkce::new();
    let answer = answer_at_once(&app, silent(&pkce, &[])).await;
    assert_eq!(answer["error"], "login_required");

    // Signed in, nothing granted yet: consent_required.
    let pkce = Pkce::new();
    let url = authorize_url(&app, &client.0, &pkce, &[("scope", "openid")]);
    let consent = consent_page_after_sign_in(&app, url, "alice").await;
    let answer = answer_at_once(&app, silent(&Pkce::new(), &[])).await;
    assert_eq!(answer["error"], "consent_required");

    // Granted: a code at once, whose ID token names the person.
    let approved = submit_consent(&app, &consent, "approve").await;
    assert_eq!(approved.status(), 303);
    let first = redeem(&app, &client, &location_params(&approved)["code"], &pkce).await;
    let pkce = Pkce::new();
    let params = answer_at_once(&app, silent(&pkce, &[("nonce", "quiet")])).await;
    let body = redeem(&app, &client, &params["code"], &pkce).await;
    let (_, claims) = verified_id_token(&app, body["id_token"].as_str().unwrap(), &client.0).await;
    assert_eq!(
        (claims["sub"].as_str(), claims["nonce"].as_str()),
        (Some(alice.as_str()), Some("quiet"))
    );

    // id_token_hint: the signed-in person's own ID token is answered silently; another
    // person's is login_required; anything else is invalid_request.
    let own = first["id_token"].as_str().unwrap();
    let answer = answer_at_once(&app, silent(&Pkce::new(), &[("id_token_hint", own)])).await;
    assert!(answer.contains_key("code"));
    create_user(&app, "bob").await;
    // The same browser signs in as bob.
    let bob_token = {
        let pkce = Pkce::new();
        let url = authorize_url(
            &app,
            &client.0,
            &pkce,
            &[("scope", "openid"), ("prompt", "login")],
        );
        let consent = consent_page_after_sign_in(&app, url, "bob").await;
        let approved = submit_consent(&app, &consent, "approve").await;
        redeem(&app, &client, &location_params(&approved)["code"], &pkce).await
    };
    assert_ne!(
        payload(bob_token["id_token"].as_str().unwrap())["sub"],
        alice
    );
    let answer = answer_at_once(&app, silent(&Pkce::new(), &[("id_token_hint", own)])).await;
    assert_eq!(
        answer["error"], "login_required",
        "alice's hint while bob is signed in"
    );
    let forged = format!("{}x", bob_token["id_token"].as_str().unwrap());
    let access_as_hint = bob_token["access_token"].as_str().unwrap();
    for hint in [forged.as_str(), access_as_hint] {
        let answer = answer_at_once(&app, silent(&Pkce::new(), &[("id_token_hint", hint)])).await;
        assert_eq!(answer["error"], "invalid_request");
    }
}

#[tokio::test]
async fn max_age_forces_a_fresh_sign_in_and_auth_time_says_when() {
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::spawn_with_clock(clock.clone(), resources).await;
    create_user(&app, "alice").await;
    let client = confidential_client(&app).await;
    let pkce = Pkce::new();
    let params = authorize(&app, &client.0, &pkce, "alice", &[("scope", "openid")]).await;
    let first = redeem(&app, &client, &params["code"], &pkce).await;
    let signed_in_at = payload(first["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    clock.advance(600);

    // A sign-in ten minutes old is fine for max_age=3600: a code at once (consent is
    // remembered for this confidential client).
    let pkce = Pkce::new();
    let url = authorize_url(
        &app,
        &client.0,
        &pkce,
        &[("scope", "openid"), ("max_age", "3600")],
    );
    let answer = answer_at_once(&app, url).await;
    let body = redeem(&app, &client, &answer["code"], &pkce).await;
    assert_eq!(
        payload(body["id_token"].as_str().unwrap())["auth_time"],
        signed_in_at
    );

    // Too old for max_age=60: the sign-in page, and afterwards the new auth_time.
    let pkce = Pkce::new();
    let url = authorize_url(
        &app,
        &client.0,
        &pkce,
        &[("scope", "openid"), ("max_age", "60")],
    );
    let html = page_at(&app, url).await;
    assert!(html.contains("name=\"password\""), "the sign-in page");
    let again = submit_login(&app, &html, "alice", PASSWORD).await;
    let next = follow(&app, &again).await;
    let params = if next.status() == 303 {
        location_params(&next)
    } else {
        let consent = next.text().await.unwrap();
        location_params(&submit_consent(&app, &consent, "approve").await)
    };
    let body = redeem(&app, &client, &params["code"], &pkce).await;
    assert_eq!(
        payload(body["id_token"].as_str().unwrap())["auth_time"],
        signed_in_at + 600
    );

    // prompt=none cannot sign anyone in: login_required when the sign-in is too old.
    clock.advance(120);
    let url = authorize_url(
        &app,
        &client.0,
        &Pkce::new(),
        &[("scope", "openid"), ("max_age", "60"), ("prompt", "none")],
    );
    let answer = answer_at_once(&app, url).await;
    assert_eq!(answer["error"], "login_required");

    // A max_age that is not a whole number of seconds is invalid_request.
    for odd in ["soon", "-1", "1.5", "99999999999999999999"] {
        let url = authorize_url(&app, &client.0, &Pkce::new(), &[("max_age", odd)]);
        let answer = answer_at_once(&app, url).await;
        assert_eq!(answer["error"], "invalid_request", "{odd}");
    }
}

#[tokio::test]
async fn login_hint_fills_in_the_username_and_select_account_signs_in_again() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = confidential_client(&app).await;
    let url = authorize_url(&app, &client.0, &Pkce::new(), &[("login_hint", "alice")]);
    let html = page_at(&app, url).await;
    assert!(
        html.contains("name=\"username\"") && html.contains("value=\"alice\""),
        "the username is filled in"
    );
    let pkce = Pkce::new();
    authorize(&app, &client.0, &pkce, "alice", &[]).await;
    let url = authorize_url(
        &app,
        &client.0,
        &Pkce::new(),
        &[("prompt", "select_account")],
    );
    assert!(page_at(&app, url).await.contains("name=\"password\""));
}

#[tokio::test]
async fn consent_names_identity_scopes_in_words_apart_from_the_mcp_servers_permissions() {
    let app = app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let url = authorize_url(
        &app,
        &client,
        &Pkce::new(),
        &[("scope", "openid profile email offline_access notes:read")],
    );
    let consent = consent_page_after_sign_in(&app, url, "alice").await;
    assert!(hidden(&consent, "request").is_some(), "the consent page");
    let (permissions, identity) = consent
        .split_once("It will learn about you")
        .expect("an identity section");
    assert!(permissions.contains("notes:read"));
    assert!(
        !permissions.contains("<code>openid</code>"),
        "not a permission"
    );
    assert!(identity.contains("Your email address"));
    assert!(identity.contains("Your name and username"));
    assert!(identity.contains("Confirm who you are"));
    assert!(
        !consent.contains("offline_access"),
        "offline_access grants nothing to list"
    );
}

#[tokio::test]
async fn a_persons_name_and_email_reach_the_id_token_and_userinfo_with_their_scopes() {
    let app = app().await;
    create_user(&app, "alice").await;
    let set = app
        .cli(
            &[
                "users",
                "update",
                "alice",
                "--name",
                "Alice Liddell",
                "--email",
                "alice@example.com",
                "--email-verified",
            ],
            "",
        )
        .await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    let client = public_client(&app).await;
    let body = tokens_for(&app, &client, "alice", &[("scope", "openid profile email")]).await;
    let (_, claims) = verified_id_token(&app, body["id_token"].as_str().unwrap(), &client).await;
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    let (status, info, _) = userinfo(&app, body["access_token"].as_str().unwrap(), false).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&info["name"], &info["email"], &info["email_verified"]),
        (&claims["name"], &claims["email"], &claims["email_verified"])
    );
    // email alone: the address without the name.
    let body = tokens_for(&app, &client, "alice", &[("scope", "openid email")]).await;
    let (_, claims) = verified_id_token(&app, body["id_token"].as_str().unwrap(), &client).await;
    assert!(claims.get("name").is_none());
    assert_eq!(claims["email"], "alice@example.com");
}

#[tokio::test]
async fn request_objects_are_refused_rather_than_ignored() {
    let app = app().await;
    let client = confidential_client(&app).await;
    for (parameter, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let url = authorize_url(&app, &client.0, &Pkce::new(), &[(parameter, "eyJ.e30.")]);
        let answer = answer_at_once(&app, url).await;
        assert_eq!(answer["error"], error, "{parameter}");
    }
}
