//! RFC 7591 dynamic registration and RFC 7592 management, with the payloads real MCP
//! clients send, the registration policy, and CORS.

use crate::helpers::TestApp;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::registration::RegistrationMode;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A JSON answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn register(app: &TestApp, body: &Value) -> Answer {
    answer(
        app.http
            .post(app.url("/register"))
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Asserts a JSON error answer with this status and code.
fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"], code, "{}", a.body);
    assert!(a.body["error_description"].is_string());
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

fn no_nulls(value: &Value) {
    for (key, v) in value.as_object().unwrap() {
        assert!(!v.is_null(), "{key} is echoed as null");
    }
}

async fn stored_clients(app: &TestApp) -> usize {
    app.state.store.list_clients().await.unwrap().len()
}

fn vs_code() -> Value {
    json!({
        "client_name": "Visual Studio Code",
        "redirect_uris": [
            "https://insiders.vscode.dev/redirect",
            "https://vscode.dev/redirect",
            "http://127.0.0.1/",
            "http://127.0.0.1:33418/"
        ],
        "grant_types": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native"
    })
}

fn mcp_inspector() -> Value {
    json!({
        "redirect_uris": [
            "http://localhost:6274/oauth/callback/debug",
            "http://localhost:6274/oauth/callback"
        ],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "client_uri": "https://github.com/modelcontextprotocol/inspector",
        "scope": ""
    })
}

fn cursor() -> Value {
    json!({
        "redirect_uris": [
            "cursor://anysphere.cursor-retrieval/oauth/user-MCP/callback",
            "https://cursor.com/oauth/callback",
            "http://localhost:7777/callback"
        ],
        "client_name": "Cursor",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    })
}

fn claude() -> Value {
    json!({
        "client_name": "Claude",
        "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post"
    })
}

#[tokio::test]
async fn vs_code_registers_and_its_device_code_grant_is_dropped() {
    let app = TestApp::spawn().await;
    let a = register(&app, &vs_code()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    no_nulls(&a.body);
    assert_eq!(
        a.body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(a.body["redirect_uris"], vs_code()["redirect_uris"]);
    assert_eq!(a.body["application_type"], "native");
    assert_eq!(a.body["token_endpoint_auth_method"], "none");
    assert_eq!(a.body["client_name"], "Visual Studio Code");
    assert!(a.body.get("client_secret").is_none(), "public client");
    assert!(a.body.get("client_secret_expires_at").is_none());
    assert_eq!(a.headers["cache-control"], "no-store");

    let id = a.body["client_id"].as_str().unwrap();
    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert_eq!(stored.source, ClientSource::Dynamic);
    assert_eq!(stored.settings.redirect_uris.len(), 4);
    assert!(stored.secret_hash.is_none());
}

#[tokio::test]
async fn mcp_inspector_registers_with_an_empty_scope() {
    let app = TestApp::spawn().await;
    let a = register(&app, &mcp_inspector()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    no_nulls(&a.body);
    assert_eq!(a.body["redirect_uris"], mcp_inspector()["redirect_uris"]);
    assert_eq!(
        a.body["client_uri"],
        "https://github.com/modelcontextprotocol/inspector"
    );
    assert!(
        a.body.get("scope").is_none(),
        "an empty scope sets no limit"
    );
    let id = a.body["client_id"].as_str().unwrap();
    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert_eq!(stored.settings.scope, None);
}

#[tokio::test]
async fn cursor_registers_when_its_scheme_is_allowed() {
    let app = TestApp::spawn_with(|c| {
        c.registration.allowed_redirect_schemes = vec!["cursor".into()];
    })
    .await;
    let a = register(&app, &cursor()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["redirect_uris"], cursor()["redirect_uris"]);
}

#[tokio::test]
async fn cursor_is_refused_with_invalid_redirect_uri_when_its_scheme_is_not_allowed() {
    let app = TestApp::spawn().await;
    let a = register(&app, &cursor()).await;
    assert_error(&a, 400, "invalid_redirect_uri");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("cursor://")
    );
    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn claude_registers_as_a_confidential_client_and_gets_a_secret_once() {
    let app = TestApp::spawn().await;
    let a = register(&app, &claude()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    no_nulls(&a.body);
    let secret = a.body["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits");
    assert_eq!(a.body["client_secret_expires_at"], 0);
    assert_eq!(a.body["token_endpoint_auth_method"], "client_secret_post");
    let id = a.body["client_id"].as_str().unwrap();
    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert_eq!(stored.secret_hash, Some(opaque::hash(secret)));
    let token = a.body["registration_access_token"].as_str().unwrap();
    assert_eq!(stored.registration_token_hash, Some(opaque::hash(token)));
    assert!(!stored.metadata.to_string().contains(secret));
}

#[tokio::test]
async fn registration_answers_the_complete_client_information() {
    let app = TestApp::spawn().await;
    let before = app.state.clock.now();
    let a = register(
        &app,
        &json!({
            "redirect_uris": ["https://app.example.com/cb"],
            "client_name": "Example",
            "scope": "mcp:read mcp:write",
            "contacts": ["ops@example.com"],
            "logo_uri": "https://app.example.com/logo.png",
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "software_version": "2.1",
            "software_statement": "eyJhbGciOi...",
            "jwks_uri": "https://app.example.com/jwks",
            "frobnicate": {"x": 1},
            "tos_uri": null
        }),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let body = &a.body;
    no_nulls(body);
    let id = body["client_id"].as_str().unwrap();
    assert!(body["client_id_issued_at"].as_i64().unwrap() >= before);
    assert_eq!(
        body["token_endpoint_auth_method"], "client_secret_basic",
        "RFC 7591 default"
    );
    assert!(body["client_secret"].is_string());
    assert_eq!(body["scope"], "mcp:read mcp:write");
    assert_eq!(body["contacts"], json!(["ops@example.com"]));
    assert_eq!(body["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(body["software_version"], "2.1");
    assert_eq!(body["logo_uri"], "https://app.example.com/logo.png");
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/register/{id}", app.base_url)
    );
    assert!(body["registration_access_token"].is_string());
    for ignored in ["frobnicate", "software_statement", "jwks_uri", "tos_uri"] {
        assert!(body.get(ignored).is_none(), "{ignored} echoed");
    }
}

#[tokio::test]
async fn bad_redirect_uris_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    for bad in [
        "https://app.example.com/cb#fragment",
        "https://user:pw@app.example.com/cb",
        "https://*.example.com/cb",
        "/relative/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "http://app.example.com/cb",
        "https://app.example.com/c b",
        "https://app.example.com/cb\r\nSet-Cookie: x",
    ] {
        let a = register(&app, &json!({"redirect_uris": [bad]})).await;
        assert_error(&a, 400, "invalid_redirect_uri");
    }
    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn limits_and_malformed_metadata_are_invalid_client_metadata() {
    let app = TestApp::spawn().await;
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("http://127.0.0.1:{}/cb", 3000 + i))
        .collect();
    let long_name = "x".repeat(201);
    for body in [
        json!({"redirect_uris": eleven}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "client_name": long_name}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["token"]}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["code", "id_token"]}),
        // private_key_jwt without jwks or jwks_uri.
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["implicit"]}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": "http://127.0.0.1/cb"}),
        json!({"grant_types": ["authorization_code"]}),
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "scope": "caf\u{e9}"}),
        json!(["not", "an", "object"]),
    ] {
        let a = register(&app, &body).await;
        assert_error(&a, 400, "invalid_client_metadata");
    }

    let padding = "p".repeat(17 * 1024);
    let big =
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "Big", "padding": padding});
    assert_error(&register(&app, &big).await, 400, "invalid_client_metadata");

    let malformed = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .await
        .unwrap();
    assert_error(&answer(malformed).await, 400, "invalid_client_metadata");

    let form = app
        .http
        .post(app.url("/register"))
        .form(&[("redirect_uris", "http://127.0.0.1/cb")])
        .send()
        .await
        .unwrap();
    assert_error(&answer(form).await, 400, "invalid_client_metadata");

    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn a_client_manages_its_registration_with_the_registration_access_token() {
    let app = TestApp::spawn().await;
    let created = register(&app, &mcp_inspector()).await.body;
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["client_id"].as_str().unwrap().to_owned();

    let read = answer(app.http.get(&uri).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["client_id"], id.as_str());
    assert_eq!(read.body["client_name"], "MCP Inspector");
    assert_eq!(read.body["redirect_uris"], created["redirect_uris"]);
    assert!(read.body.get("registration_access_token").is_none());
    assert_eq!(read.headers["cache-control"], "no-store");

    let mut replacement = mcp_inspector();
    replacement["client_id"] = json!(id);
    replacement["client_name"] = json!("Inspector 2");
    replacement["redirect_uris"] = json!(["http://localhost:6274/oauth/callback"]);
    let put = answer(
        app.http
            .put(&uri)
            .bearer_auth(&token)
            .json(&replacement)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["client_name"], "Inspector 2");
    assert_eq!(
        put.body["redirect_uris"],
        json!(["http://localhost:6274/oauth/callback"])
    );
    assert!(put.body.get("client_uri").is_some());
    let stored = app.state.store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.settings.name, "Inspector 2");

    let mut bad = replacement.clone();
    bad["redirect_uris"] = json!(["http://evil.example/cb"]);
    let refused = answer(
        app.http
            .put(&uri)
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&refused, 400, "invalid_redirect_uri");
    let unchanged = app.state.store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(
        unchanged.settings.redirect_uris,
        ["http://localhost:6274/oauth/callback"]
    );

    let mut other_id = replacement.clone();
    other_id["client_id"] = json!("someone-else");
    let refused = answer(
        app.http
            .put(&uri)
            .bearer_auth(&token)
            .json(&other_id)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&refused, 400, "invalid_client_metadata");

    let deleted = app
        .http
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(app.state.store.find_client(&id).await.unwrap().is_none());
    let gone = answer(app.http.get(&uri).bearer_auth(&token).send().await.unwrap()).await;
    assert_error(&gone, 401, "invalid_token");
}

#[tokio::test]
async fn a_wrong_or_missing_registration_access_token_is_invalid_token() {
    let app = TestApp::spawn().await;
    let first = register(&app, &mcp_inspector()).await.body;
    let second = register(&app, &vs_code()).await.body;
    let uri = first["registration_client_uri"].as_str().unwrap();
    let others_token = second["registration_access_token"].as_str().unwrap();

    for request in [
        app.http.get(uri),
        app.http.get(uri).bearer_auth(others_token),
        app.http.get(uri).bearer_auth("not-a-token"),
        app.http.delete(uri).bearer_auth(others_token),
        app.http
            .put(uri)
            .bearer_auth(others_token)
            .json(&mcp_inspector()),
        app.http
            .get(app.url("/register/no-such-client"))
            .bearer_auth(others_token),
    ] {
        let a = answer(request.send().await.unwrap()).await;
        assert_error(&a, 401, "invalid_token");
        let challenge = a.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    assert_eq!(stored_clients(&app).await, 2, "nothing was deleted");
}

#[tokio::test]
async fn moving_a_public_client_to_a_secret_method_issues_a_secret() {
    let app = TestApp::spawn().await;
    let created = register(&app, &mcp_inspector()).await.body;
    let uri = created["registration_client_uri"].as_str().unwrap();
    let token = created["registration_access_token"].as_str().unwrap();
    let mut body = mcp_inspector();
    body["token_endpoint_auth_method"] = json!("client_secret_basic");
    let put = answer(
        app.http
            .put(uri)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let secret = put.body["client_secret"].as_str().unwrap();
    let id = created["client_id"].as_str().unwrap();
    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert_eq!(stored.secret_hash, Some(opaque::hash(secret)));
}

#[tokio::test]
async fn token_mode_requires_the_initial_access_token() {
    let app = TestApp::spawn_with(|c| {
        c.registration.mode = RegistrationMode::Token;
        c.registration.initial_access_token = Some(Secret::new("initial-access-token-for-tests"));
    })
    .await;
    let missing = register(&app, &claude()).await;
    assert_error(&missing, 401, "invalid_token");
    let wrong = answer(
        app.http
            .post(app.url("/register"))
            .bearer_auth("initial-access-token-for-test")
            .json(&claude())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&wrong, 401, "invalid_token");
    assert_eq!(stored_clients(&app).await, 0);
    let right = answer(
        app.http
            .post(app.url("/register"))
            .bearer_auth("initial-access-token-for-tests")
            .json(&claude())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(right.status, 201, "{}", right.body);
}

#[tokio::test]
async fn registration_off_refuses_with_a_json_error() {
    let app = TestApp::spawn_with(|c| c.registration.mode = RegistrationMode::Off).await;
    let a = register(&app, &claude()).await;
    assert_error(&a, 403, "access_denied");
    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn registrations_per_ip_are_limited_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.registration.per_ip_per_hour = 2).await;
    for _ in 0..2 {
        assert_eq!(register(&app, &claude()).await.status, 201);
    }
    let limited = register(&app, &claude()).await;
    assert_error(&limited, 429, "temporarily_unavailable");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3_600).contains(&retry), "{retry}");
    assert_eq!(stored_clients(&app).await, 2);

    let spoofed = answer(
        app.http
            .post(app.url("/register"))
            .header("x-forwarded-for", "198.51.100.1")
            .json(&claude())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        spoofed.status, 429,
        "an untrusted peer cannot choose its address"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_registrations_count_per_forwarded_client() {
    let app = TestApp::spawn_with(|c| {
        c.registration.per_ip_per_hour = 1;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let from = |ip: &'static str| {
        app.http
            .post(app.url("/register"))
            .header("x-forwarded-for", format!("203.0.113.250, {ip}"))
            .json(&claude())
            .send()
    };
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 201);
    assert_eq!(from("198.51.100.2").await.unwrap().status(), 201);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 429);
}

#[tokio::test]
async fn unused_dynamic_clients_are_swept_after_the_ttl() {
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let unused = register(&app, &claude()).await.body;
    let used = register(&app, &vs_code()).await.body;
    let used_id = used["client_id"].as_str().unwrap();
    app.state
        .store
        .mark_client_used(used_id, clock.now())
        .await
        .unwrap();

    assert_eq!(
        mcp_authd::app::sweeps::sweep_unused_clients(&app.state)
            .await
            .unwrap(),
        0
    );
    clock.advance(app.state.config.registration.unused_client_ttl.as_i64() + 1);
    assert_eq!(
        mcp_authd::app::sweeps::sweep_unused_clients(&app.state)
            .await
            .unwrap(),
        1
    );

    let store = &app.state.store;
    let unused_id = unused["client_id"].as_str().unwrap();
    assert!(store.find_client(unused_id).await.unwrap().is_none());
    assert!(store.find_client(used_id).await.unwrap().is_some());
}

#[tokio::test]
async fn register_answers_cors_preflights_for_any_origin() {
    let app = TestApp::spawn().await;
    for (path, method) in [("/register", "POST"), ("/register/some-id", "PUT")] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{path}");
        let h = preflight.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for header in ["authorization", "content-type", "mcp-protocol-version"] {
            assert!(allowed.contains(header), "{allowed}");
        }
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains(method)
        );
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    let a = app
        .http
        .post(app.url("/register"))
        .header("origin", "http://localhost:6274")
        .json(&mcp_inspector())
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    assert_eq!(a.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn post_endpoints_never_redirect() {
    let app = TestApp::spawn().await;
    for path in ["/register/", "//register"] {
        let a = app
            .http
            .post(app.url(path))
            .json(&claude())
            .send()
            .await
            .unwrap();
        assert!(
            !a.status().is_redirection() && a.status().is_client_error(),
            "{path}: {}",
            a.status()
        );
    }
    assert_eq!(stored_clients(&app).await, 0);
}
