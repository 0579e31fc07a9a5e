//! The authorization endpoint (RFC 6749 4.1, RFC 9700 4.11, RFC 9207), sign-in, consent,
//! and the account page, each error path asserting page or redirect.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use mcp_authd::tokens::opaque;

fn resource(uri: &str, scopes: &[&str], defaults: &[&str]) -> ResourceConfig {
    ResourceConfig {
        uri: uri.into(),
        name: "Notes".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        default_scopes: defaults.iter().map(|s| (*s).to_owned()).collect(),
        scope_descriptions: Default::default(),
    }
}

async fn app_with_notes() -> TestApp {
    TestApp::spawn_with(|c| {
        c.resources = vec![resource(
            "https://notes.example/mcp",
            &["notes:read", "notes:write"],
            &["notes:read"],
        )]
    })
    .await
}

#[tokio::test]
async fn full_flow_redirects_with_code_state_and_iss() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let pkce = Pkce::new();

    let page = app
        .http
        .get(authorize_url(&app, &client, &pkce, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(page.headers()[name], value);
    }
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));

    let logged_in = submit_login(&app, &html, "alice", PASSWORD).await;
    assert_eq!(logged_in.status(), 303);
    let session_cookie = logged_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mcp_authd_session="))
        .unwrap();
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("Max-Age=43200"),
        "{session_cookie}"
    );
    let consent = follow(&app, &logged_in).await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(html.contains("Test Client"), "application name shown");
    assert!(
        html.contains("Notes") && html.contains("https://notes.example/mcp"),
        "MCP server by name and URL"
    );
    assert!(html.contains("notes:read"), "scopes shown");
    assert!(
        html.contains("runs on this computer"),
        "loopback-only warning"
    );
    assert!(
        html.contains("name=\"decision\" value=\"approve\"")
            && html.contains("name=\"decision\" value=\"deny\"")
    );

    let approved = submit_consent(&app, &html, "approve").await;
    assert_eq!(approved.status(), 303);
    let location = approved.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let params = location_params(&approved);
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], app.base_url);
    assert_eq!(params["code"].len(), 43);

    let stored = app
        .state
        .store
        .find_code(&opaque::hash(&params["code"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_id, client);
    assert_eq!(stored.resource, "https://notes.example/mcp");
    assert_eq!(
        stored.scope, "notes:read",
        "default scopes when none requested"
    );
    assert_eq!(stored.code_challenge, pkce.challenge);
    assert!(stored.grant_id.is_some());
}

#[tokio::test]
async fn deny_redirects_access_denied_with_state_and_iss() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let page = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = follow(&app, &submit_login(&app, &page, "alice", PASSWORD).await)
        .await
        .text()
        .await
        .unwrap();
    let denied = submit_consent(&app, &consent, "deny").await;
    assert_eq!(denied.status(), 303);
    let params = location_params(&denied);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], app.base_url);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn consent_is_remembered_and_prompt_values_are_honoured() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    // Confidential: its identity is proven at /token, so its consent may be remembered.
    let (client, _) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[REDIRECT],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await;
    let first = authorize(&app, &client, &Pkce::new(), "alice", &[]).await;
    assert!(first.contains_key("code"));

    let again = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303, "inside an existing grant: no page");
    assert!(location_params(&again).contains_key("code"));

    let wider = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("scope", "notes:read notes:write")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wider.status(),
        200,
        "more scopes than granted: consent again"
    );
    assert!(wider.text().await.unwrap().contains("notes:write"));

    let forced = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "consent")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 200);
    assert!(forced.text().await.unwrap().contains("value=\"approve\""));

    let login = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "login")],
        ))
        .send()
        .await
        .unwrap();
    assert!(
        login.text().await.unwrap().contains("name=\"password\""),
        "prompt=login asks for the password again"
    );

    let silent = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "none")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(silent.status(), 303);
    assert!(location_params(&silent).contains_key("code"));

    let silent_wider = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "none"), ("scope", "notes:write")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location_params(&silent_wider)["error"], "consent_required");

    let other_client = public_client(&app).await;
    let never_approved = app
        .http
        .get(authorize_url(&app, &other_client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        never_approved.status(),
        200,
        "a client never approved always gets the consent page"
    );
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = app_with_notes().await;
    let client = public_client(&app).await;
    let response = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "none")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let params = location_params(&response);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st4te");
}

#[tokio::test]
async fn untrusted_client_or_redirect_gets_a_page_never_a_redirect() {
    let app = app_with_notes().await;
    let client = public_client(&app).await;
    let (two_uris, _) = create_client(
        &app,
        AuthMethod::None,
        &[REDIRECT, "https://app.example/cb"],
        &[GrantType::AuthorizationCode],
        None,
    )
    .await;
    let pkce = Pkce::new();
    let base = |client: &str, redirect: Option<&str>| {
        let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(r) = redirect {
            url.query_pairs_mut().append_pair("redirect_uri", r);
        }
        url.to_string()
    };
    let cases = [
        app.url("/authorize?response_type=code"),
        base("unknown-client", Some(REDIRECT)),
        base(&client, Some("https://evil.example/callback")),
        base(&client, Some("http://localhost:9999/callback")),
        base(&two_uris, None),
        format!("{}&redirect_uri=x", base(&client, Some(REDIRECT))),
        format!("{}&client_id=again", base(&client, Some(REDIRECT))),
    ];
    for url in cases {
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert!(
            response.headers().get("location").is_none(),
            "{url} redirected"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let single = app.http.get(base(&client, None)).send().await.unwrap();
    assert_eq!(
        single.status(),
        200,
        "the only registered redirect URI is used when none is sent"
    );
}

#[tokio::test]
async fn loopback_redirects_match_any_port() {
    let app = app_with_notes().await;
    let (client, _) = create_client(
        &app,
        AuthMethod::None,
        &["http://127.0.0.1/callback"],
        &[GrantType::AuthorizationCode],
        None,
    )
    .await;
    let pkce = Pkce::new();
    let url =
        authorize_url(&app, &client, &pkce, &[]).replace("127.0.0.1%3A9999", "127.0.0.1%3A51234");
    assert!(url.contains("51234"));
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn errors_after_validation_are_redirected_with_state_and_iss() {
    let app = app_with_notes().await;
    let client = public_client(&app).await;
    let (no_code_grant, _) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[REDIRECT],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    let pkce = Pkce::new();
    let cases: Vec<(String, &str)> = vec![
        (
            authorize_url(&app, &client, &pkce, &[])
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authorize_url(&app, &client, &pkce, &[]).replace("response_type=code&", ""),
            "invalid_request",
        ),
        (
            authorize_url(&app, &client, &pkce, &[])
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            authorize_url(&app, &client, &pkce, &[]).replace("&code_challenge_method=S256", ""),
            "invalid_request",
        ),
        (
            authorize_url(&app, &client, &pkce, &[]).replace(&pkce.challenge, "short"),
            "invalid_request",
        ),
        (
            authorize_url(&app, &client, &pkce, &[("scope", "notes:delete")]),
            "invalid_scope",
        ),
        (
            authorize_url(
                &app,
                &client,
                &pkce,
                &[("resource", "https://other.example/mcp")],
            ),
            "invalid_target",
        ),
        (
            authorize_url(
                &app,
                &client,
                &pkce,
                &[
                    ("resource", "https://notes.example/mcp"),
                    ("resource", "https://notes.example/mcp"),
                ],
            ),
            "invalid_target",
        ),
        (
            authorize_url(
                &app,
                &client,
                &pkce,
                &[("scope", "notes:read"), ("scope", "notes:read")],
            ),
            "invalid_request",
        ),
        (
            authorize_url(&app, &client, &pkce, &[("prompt", "bogus")]),
            "invalid_request",
        ),
        (
            authorize_url(&app, &no_code_grant, &pkce, &[]),
            "unauthorized_client",
        ),
    ];
    for (url, expected) in cases {
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 303, "{url}");
        let params = location_params(&response);
        assert_eq!(params["error"], expected, "{url}");
        assert!(params.contains_key("error_description"));
        assert_eq!(params["state"], "st4te");
        assert_eq!(params["iss"], app.base_url);
    }
}

#[tokio::test]
async fn post_authorize_and_the_resource_parameter() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let pkce = Pkce::new();
    let form = [
        ("response_type", "code"),
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", "https://notes.example/mcp"),
    ];
    let page = app
        .http
        .post(app.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_look_the_same() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    create_user(&app, "bob").await;
    app.state
        .store
        .set_user_disabled("bob", true, 0)
        .await
        .unwrap();
    let client = public_client(&app).await;
    let html = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for (user, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("bob", PASSWORD),
    ] {
        let response = submit_login(&app, &html, user, password).await;
        assert_eq!(response.status(), 401, "{user}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Incorrect username or password."));
        bodies.push(body.replace(user, "USER"));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
}

#[tokio::test]
async fn forms_without_the_browsers_csrf_token_are_refused() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let html = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let forged = html.replace(&hidden(&html, "csrf").unwrap(), "forged");
    assert_eq!(
        submit_login(&app, &forged, "alice", PASSWORD)
            .await
            .status(),
        403
    );

    let other_browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let stolen = other_browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stolen.status(),
        403,
        "a token from another browser is refused"
    );

    let foreign = app
        .http
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403, "a foreign Origin is refused");
    let null_origin = app
        .http
        .post(app.url("/login"))
        .header("origin", "null")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(null_origin.status(), 303, "Origin: null is accepted");
}

#[tokio::test]
async fn a_consent_post_is_accepted_once() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let html = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = follow(&app, &submit_login(&app, &html, "alice", PASSWORD).await)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        submit_consent(&app, &consent, "approve").await.status(),
        303
    );
    let replay = submit_consent(&app, &consent, "approve").await;
    assert_eq!(replay.status(), 400, "replayed consent refused with a page");
    assert!(replay.headers().get("location").is_none());

    let swapped = consent.replace(&hidden(&consent, "request").unwrap(), &opaque::new_secret());
    assert_eq!(
        submit_consent(&app, &swapped, "approve").await.status(),
        400
    );
}

#[tokio::test]
async fn account_page_lists_and_revokes_grants() {
    let app = app_with_notes().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    authorize(&app, &client, &Pkce::new(), "alice", &[]).await;

    let page = app.http.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Test Client")
            && html.contains("Notes")
            && html.contains("https://notes.example/mcp")
            && html.contains("notes:read")
    );
    let csrf = hidden(&html, "csrf").unwrap();
    let grant_id = hidden(&html, "grant_id").unwrap();

    let revoked = app
        .http
        .post(app.url("/account/revoke"))
        .form(&[("csrf", csrf.as_str()), ("grant_id", grant_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert!(
        app.state
            .store
            .find_grant_by_id(&grant_id)
            .await
            .unwrap()
            .is_none()
    );
    let after = follow(&app, &revoked).await.text().await.unwrap();
    assert!(after.contains("No application has access"));

    let again = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        200,
        "after revocation consent is asked again"
    );

    let logout = app
        .http
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let signed_out = app
        .http
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signed_out.contains("name=\"password\""), "signed out");
}

#[tokio::test]
async fn open_resource_mode_without_resource_is_unrestricted() {
    let app = TestApp::spawn().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let html = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = follow(&app, &submit_login(&app, &html, "alice", PASSWORD).await)
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("not be limited to one MCP server"));
    let params = {
        let approved = submit_consent(&app, &consent, "approve").await;
        location_params(&approved)
    };
    let code = app
        .state
        .store
        .find_code(&opaque::hash(&params["code"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        code.resource, app.base_url,
        "the audience is the issuer itself"
    );
}

/// A server allowing 3 failures per username and 4 per address, alice, and the sign-in page
/// of an authorization request.
async fn sign_in_page_with_tight_limits() -> (TestApp, String) {
    let app = TestApp::spawn_with(|c| {
        c.login.max_failures = 3;
        c.login.max_failures_per_ip = 4;
    })
    .await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let html = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (app, html)
}

#[tokio::test]
async fn repeated_failures_are_refused_with_429_and_retry_after() {
    let (app, html) = sign_in_page_with_tight_limits().await;
    for _ in 0..3 {
        assert_eq!(
            submit_login(&app, &html, "alice", "wrong password")
                .await
                .status(),
            401
        );
    }
    let limited = submit_login(&app, &html, "alice", PASSWORD).await;
    assert_eq!(limited.status(), 429, "even the right password waits");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    assert!(limited.text().await.unwrap().contains("Too many"));
    let other_user = submit_login(&app, &html, "bob", PASSWORD).await;
    assert_eq!(
        other_user.status(),
        401,
        "another username from the address has the address's own, larger budget"
    );
    let address_spent = submit_login(&app, &html, "carol", PASSWORD).await;
    assert_eq!(
        address_spent.status(),
        429,
        "the client IP is limited past login.max_failures_per_ip"
    );
}

/// A person whose password was hashed with older argon2id parameters (round one's 19 MiB,
/// two passes) signs in as before, and the stored hash moves to today's parameters for the
/// same password.
#[tokio::test]
async fn a_sign_in_moves_a_hash_with_older_parameters_to_todays() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    use mcp_authd::support::password;
    let app = TestApp::spawn().await;
    let older = Params::new(19 * 1024, 2, 1, None).unwrap();
    let salt = SaltString::encode_b64(&[7; 16]).unwrap();
    let old_hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, older)
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let now = app.state.clock.now();
    app.state
        .store
        .create_user("olga", &old_hash, now)
        .await
        .unwrap();
    let client = public_client(&app).await;
    let params = authorize(&app, &client, &Pkce::new(), "olga", &[]).await;
    assert!(params.contains_key("code"), "signed in with the old hash");
    let stored = app.state.store.find_user_by_username("olga").await;
    let stored = stored.unwrap().unwrap().password_hash;
    assert_ne!(stored, old_hash);
    assert!(password::is_current(&stored));
    assert!(password::matches(PASSWORD, &stored));
}

/// A sign-in the browser abandons mid-check (closed tab, timeout) answered nothing, so it
/// is no failed attempt: abandoning more than the limits allow locks nobody out.
#[tokio::test]
async fn abandoned_sign_ins_do_not_count_toward_the_lockout() {
    let (app, html) = sign_in_page_with_tight_limits().await;
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("request", hidden(&html, "request").unwrap()),
        ("username", "alice".to_owned()),
        ("password", "wrong password".to_owned()),
    ];
    for _ in 0..8 {
        // The client gives up long before an argon2id check can finish.
        let abandoned = app
            .http
            .post(app.url("/login"))
            .form(&form)
            .timeout(std::time::Duration::from_millis(2))
            .send()
            .await;
        assert!(abandoned.is_err(), "the request was abandoned");
    }
    let signed_in = submit_login(&app, &html, "alice", PASSWORD).await;
    assert_eq!(
        signed_in.status(),
        303,
        "neither alice nor the address is locked out"
    );
}
