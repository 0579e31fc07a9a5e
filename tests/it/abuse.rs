//! Issue "Nothing anonymous can mint a token, fill the disk, or lock real clients out":
//! what an attacker and a large MCP client actually send, on either store.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use mcp_authd::oauth::registration::RegistrationMode;
use mcp_authd::store::ClientUpdate;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fixed start for tests that move the clock.
const NOW: i64 = 1_800_000_000;

async fn register(app: &TestApp, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.post(app.url("/register")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A `/token` request from `address` (forwarded by the trusted loopback proxy).
async fn token_from(
    app: &TestApp,
    address: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/token"))
        .header("x-forwarded-for", address)
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn machine_registration() -> Value {
    json!({"client_name": "bot", "grant_types": ["client_credentials"],
           "token_endpoint_auth_method": "client_secret_basic"})
}

#[tokio::test]
async fn open_registration_never_yields_a_client_credentials_client() {
    let app = TestApp::spawn().await;
    let (status, body) = register(&app, &machine_registration(), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata");

    let (status, created) = register(
        &app,
        &json!({"client_name": "app", "redirect_uris": [REDIRECT]}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let update = app
        .http
        .put(format!(
            "{}/register/{}",
            app.base_url,
            created["client_id"].as_str().unwrap()
        ))
        .bearer_auth(created["registration_access_token"].as_str().unwrap())
        .json(&json!({"client_name": "app", "redirect_uris": [REDIRECT],
                      "grant_types": ["authorization_code", "client_credentials"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 400, "RFC 7592 PUT is refused the same way");
    let body: Value = update.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn token_mode_registers_machine_clients_only_when_allowed() {
    let configure = |allow: bool| {
        move |c: &mut mcp_authd::config::Config| {
            c.registration.mode = RegistrationMode::Token;
            c.registration.initial_access_token = Some(Secret::new("operator-token"));
            c.registration.allow_client_credentials = allow;
        }
    };
    let refused = TestApp::spawn_with(configure(false)).await;
    let (status, _) = register(&refused, &machine_registration(), Some("operator-token")).await;
    assert_eq!(status, 400, "the initial access token alone is not enough");
    let allowed = TestApp::spawn_with(configure(true)).await;
    let (status, body) = register(&allowed, &machine_registration(), Some("operator-token")).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn client_credentials_needs_a_configured_or_bound_resource() {
    let app = TestApp::spawn().await; // open-resource mode
    let (id, secret) = machine_client(&app, AuthMethod::ClientSecretBasic).await;
    let cc = [("grant_type", "client_credentials")];
    let (status, body) = token_from(&app, "127.0.0.1", &cc, Some((&id, &secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let any = [
        ("grant_type", "client_credentials"),
        ("resource", "https://victim.example/mcp"),
    ];
    let (status, body) = token_from(&app, "127.0.0.1", &any, Some((&id, &secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "open-resource mode hands machine clients no arbitrary audience"
    );

    let bound = "https://tools.example/mcp";
    app.state
        .store
        .update_client(
            &id,
            ClientUpdate {
                resources: Some(vec![bound.to_owned()]),
                ..Default::default()
            },
            app.state.clock.now(),
        )
        .await
        .unwrap();
    let (status, body) = token_from(&app, "127.0.0.1", &cc, Some((&id, &secret))).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], bound);
    let (status, _) = token_from(&app, "127.0.0.1", &any, Some((&id, &secret))).await;
    assert_eq!(status, 400, "still no other audience");
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_flood_of_random_client_ids_stops_neither_another_address_nor_the_real_client() {
    let app = TestApp::spawn_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
        c.tokens.max_failures = 3;
    })
    .await;
    let (id, secret) = machine_client(&app, AuthMethod::ClientSecretBasic).await;
    app.state
        .store
        .update_client(
            &id,
            ClientUpdate {
                resources: Some(vec!["https://tools.example/mcp".into()]),
                ..Default::default()
            },
            app.state.clock.now(),
        )
        .await
        .unwrap();
    let cc = [("grant_type", "client_credentials")];
    let attacker = "203.0.113.7";
    for i in 0..300 {
        let random = format!("random-client-{i}");
        let (status, _) = token_from(&app, attacker, &cc, Some((&random, "guess"))).await;
        assert!(status == 401 || status == 429, "{status}");
    }
    assert!(
        app.state.token_limiter.tracked_keys() <= 64,
        "one network holds a bounded number of keys"
    );
    let (status, body) = token_from(&app, "198.51.100.2", &cc, Some((&id, &secret))).await;
    assert_eq!(status, 200, "another address is not stopped: {body}");
    let (status, body) = token_from(&app, attacker, &cc, Some((&id, &secret))).await;
    assert_eq!(
        status, 200,
        "nor the flooding address's real client: {body}"
    );

    // The real client's own failures still count for it, from that address only.
    for _ in 0..3 {
        token_from(&app, attacker, &cc, Some((&id, "wrong"))).await;
    }
    let (status, _) = token_from(&app, attacker, &cc, Some((&id, &secret))).await;
    assert_eq!(status, 429);
    let (status, _) = token_from(&app, "198.51.100.2", &cc, Some((&id, &secret))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn invalid_grant_and_malformed_requests_never_count_against_a_client() {
    let app = TestApp::spawn_with(|c| c.tokens.max_failures = 2).await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    for _ in 0..20 {
        let expired = [
            ("grant_type", "refresh_token"),
            ("refresh_token", "expired-or-unknown"),
            ("client_id", client.as_str()),
        ];
        let (status, body) = token_from(&app, "127.0.0.1", &expired, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let malformed = [("grant_type", "authorization_code"), ("client_id", &client)];
        let (status, _) = token_from(&app, "127.0.0.1", &malformed, None).await;
        assert_eq!(status, 400);
    }
    let pkce = Pkce::new();
    let code = authorize(&app, &client, &pkce, "alice", &[]).await["code"].clone();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
    ];
    let (status, body) = token_from(&app, "127.0.0.1", &exchange, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn parallel_password_guesses_all_count() {
    let app = TestApp::spawn_with(|c| c.login.max_failures = 3).await;
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
    let guesses = (0..12).map(|i| {
        let (app, html) = (&app, &html);
        async move {
            submit_login(app, html, "alice", &format!("guess {i}"))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 3,
        "only 3 guesses reach the password check: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
}

/// Runs futures concurrently on this task (no extra dependency for a join).
async fn futures_join_all<F: std::future::Future<Output = u16>>(
    futures: impl Iterator<Item = F>,
) -> Vec<u16> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut results = vec![0; set.len()];
    let mut pending: Vec<usize> = (0..set.len()).collect();
    std::future::poll_fn(|cx| {
        pending.retain(|&i| match set[i].as_mut().poll(cx) {
            std::task::Poll::Ready(status) => {
                results[i] = status;
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results
}

#[tokio::test]
async fn errors_for_self_registered_clients_are_shown_not_redirected_before_sign_in() {
    let app = TestApp::spawn().await;
    let (status, created) = register(
        &app,
        &json!({"client_name": "app", "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "none"}),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let dynamic = created["client_id"].as_str().unwrap().to_owned();
    let (operator, _) = create_client(
        &app,
        AuthMethod::None,
        &["https://app.example/cb"],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await;
    let bad_requests: [&[(&str, &str)]; 3] = [
        &[("response_type", "token"), ("code_challenge", "x")],
        &[("response_type", "code")],
        &[("response_type", "code"), ("prompt", "none")],
    ];
    for extra in bad_requests {
        let url = |client: &str| {
            let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
            url.query_pairs_mut()
                .append_pair("client_id", client)
                .append_pair("redirect_uri", "https://app.example/cb")
                .append_pair("state", "s");
            for (k, v) in extra {
                url.query_pairs_mut().append_pair(k, v);
            }
            if !extra.iter().any(|(k, _)| *k == "code_challenge")
                && extra.iter().any(|(k, _)| *k == "prompt")
            {
                url.query_pairs_mut()
                    .append_pair("code_challenge", &Pkce::new().challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            url.to_string()
        };
        let shown = app.http.get(url(&dynamic)).send().await.unwrap();
        assert_eq!(shown.status(), 400, "{extra:?}");
        assert!(shown.headers().get("location").is_none(), "{extra:?}");
        let page = shown.text().await.unwrap();
        assert!(page.contains("Return to app.example"), "{page}");
        assert!(
            page.contains("href=\"https://app.example/cb?error="),
            "{page}"
        );
        let redirected = app.http.get(url(&operator)).send().await.unwrap();
        assert_eq!(
            redirected.status(),
            303,
            "operator clients keep the redirect"
        );
    }
}

#[tokio::test]
async fn a_public_loopback_client_is_asked_for_consent_every_time() {
    let app = TestApp::spawn().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    assert!(
        authorize(&app, &client, &Pkce::new(), "alice", &[])
            .await
            .contains_key("code")
    );
    let again = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        200,
        "another program could claim this client"
    );
    assert!(again.text().await.unwrap().contains("value=\"approve\""));
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
    assert_eq!(location_params(&silent)["error"], "consent_required");
}

#[tokio::test]
async fn prompt_login_needs_a_sign_in_newer_than_the_request() {
    let app = TestApp::spawn_with_clock(Clock::fixed(NOW), |_| {}).await;
    create_user(&app, "alice").await;
    let (client, _) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[REDIRECT],
        &[GrantType::AuthorizationCode, GrantType::RefreshToken],
        None,
    )
    .await;
    authorize(&app, &client, &Pkce::new(), "alice", &[]).await;
    // The session is from before the next request; advance the clock past it.
    app.state.clock.advance(5);
    let page = app
        .http
        .get(authorize_url(
            &app,
            &client,
            &Pkce::new(),
            &[("prompt", "login consent")],
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"password\""));
    let handle = hidden(&page, "request").unwrap();
    let skipped = app
        .http
        .get(app.url(&format!("/consent?request={handle}")))
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status(), 200);
    let skipped = skipped.text().await.unwrap();
    assert!(
        skipped.contains("name=\"password\""),
        "going straight to consent with the old session asks for the password"
    );
    let signed_in = submit_login(&app, &page, "alice", PASSWORD).await;
    let consent = follow(&app, &signed_in).await.text().await.unwrap();
    assert!(
        consent.contains("value=\"approve\""),
        "prompt=login consent shows the consent page after the sign-in"
    );
}

#[tokio::test]
async fn a_sign_in_form_for_another_browsers_request_signs_nobody_in() {
    let app = TestApp::spawn().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let victim_page = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attacker = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let own = attacker
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&own, "csrf").expect("the sign-in page has a CSRF token");
    let forged = attacker
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
            ("request", &hidden(&victim_page, "request").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(
        forged
            .headers()
            .get("set-cookie")
            .is_none_or(|c| { !c.to_str().unwrap().contains("session") })
    );
    let no_csrf = attacker
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_csrf.status(),
        403,
        "a form without the browser's CSRF token"
    );
}

#[tokio::test]
async fn changing_redirect_uris_drops_remembered_consent() {
    let app = TestApp::spawn_with_clock(Clock::fixed(NOW), |_| {}).await;
    create_user(&app, "alice").await;
    let (status, created) = register(
        &app,
        &json!({"client_name": "app", "redirect_uris": [REDIRECT]}),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let client = created["client_id"].as_str().unwrap().to_owned();
    authorize(&app, &client, &Pkce::new(), "alice", &[]).await;
    let remembered = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        remembered.status(),
        303,
        "a confidential client's consent is remembered"
    );
    app.state.clock.advance(1);
    let put = app
        .http
        .put(format!("{}/register/{client}", app.base_url))
        .bearer_auth(created["registration_access_token"].as_str().unwrap())
        .json(&json!({"client_name": "app",
                      "redirect_uris": [REDIRECT, "https://elsewhere.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let asked = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200, "consent is asked again");
    assert!(asked.text().await.unwrap().contains("value=\"approve\""));
}

#[tokio::test]
async fn registration_refuses_what_phishes() {
    let app = TestApp::spawn().await;
    let base = |extra: Value| {
        let mut body = json!({"client_name": "app", "redirect_uris": ["https://app.example/cb"],
                              "token_endpoint_auth_method": "none"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"redirect_uris": ["https:evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example\\@evil.example/"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"logo_uri": "http://app.example/logo.png"}),
            "invalid_client_metadata",
        ),
        (
            json!({"policy_uri": "http://app.example/policy"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "Goo\u{202e}elg"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "Claude\u{200b}"}),
            "invalid_client_metadata",
        ),
    ];
    for (extra, code) in cases {
        let (status, body) = register(&app, &base(extra.clone()), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{extra}"
        );
    }
    let duplicate = r#"{"client_name": "app", "redirect_uris": ["https://app.example/cb"],
                        "redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "none"}"#;
    let deep = format!(
        r#"{{"client_name": "app", "redirect_uris": ["https://app.example/cb"], "x": {}{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    for raw in [duplicate.to_owned(), deep] {
        let response = app
            .http
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata");
    }
    assert!(
        app.state.store.list_clients().await.unwrap().is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn credentials_in_the_url_or_two_authorization_headers_are_invalid_requests() {
    let app = TestApp::spawn().await;
    let (id, secret) = machine_client(&app, AuthMethod::ClientSecretPost).await;
    for path in ["/token", "/introspect", "/revoke"] {
        let response = app
            .http
            .post(format!("{}{path}?client_secret={secret}", app.base_url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("token", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
    let response = app
        .http
        .post(app.url("/token"))
        .header("authorization", "Basic YTpi")
        .header("authorization", "Basic Yzpk")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn failed_client_authentication_answers_identically_whatever_the_reason() {
    let app = TestApp::spawn().await;
    let (basic, secret) = create_client(
        &app,
        AuthMethod::ClientSecretBasic,
        &[],
        &[GrantType::ClientCredentials],
        None,
    )
    .await;
    let secret = secret.unwrap();
    let cc = ("grant_type", "client_credentials");
    let answers = [
        token_from(
            &app,
            "127.0.0.1",
            &[cc, ("client_id", &basic), ("client_secret", &secret)],
            None,
        )
        .await,
        token_from(&app, "127.0.0.1", &[cc, ("client_id", &basic)], None).await,
        token_from(
            &app,
            "127.0.0.1",
            &[cc, ("client_id", "unknown"), ("client_secret", "x")],
            None,
        )
        .await,
        token_from(
            &app,
            "127.0.0.1",
            &[cc, ("client_id", &basic), ("client_secret", "wrong")],
            None,
        )
        .await,
    ];
    for answer in &answers {
        assert_eq!(
            answer, &answers[0],
            "method mismatch, unknown client and wrong secret alike"
        );
    }
    assert_eq!(answers[0].0, 401);
}

#[tokio::test]
async fn an_oversized_body_is_413_with_rfc_6749_json() {
    let app = TestApp::spawn_with(|c| c.http.max_body_bytes = 1_024).await;
    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=".to_owned() + &"x".repeat(4_096))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_but_an_idle_kept_alive_connection_is_not() {
    let app = TestApp::spawn_with(|c| {
        c.http.header_read_timeout = mcp_authd::config::Seconds(1);
    })
    .await;
    let address = app.base_url.trim_start_matches("http://").to_owned();

    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), slow.read(&mut buf))
        .await
        .expect("the server closes a connection whose head never ends");
    assert!(matches!(read, Ok(0) | Err(_)), "closed, no answer");

    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "idle longer than the head deadline, the connection still serves"
    );
}
