//! Operations: metrics, request ids, the admin listener, audit events, limits.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::server;
use serde_json::Value;
use tokio::net::TcpListener;

/// Posts a form to /token and returns the status and JSON body.
async fn post_token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A public client, a person, and tokens from one code exchange: (client, access, refresh).
async fn tokens(app: &TestApp, user: &str) -> (String, String, String) {
    create_user(app, user).await;
    let client = public_client(app).await;
    let pkce = Pkce::new();
    let params = authorize(app, &client, &pkce, user, &[]).await;
    let (status, body) = post_token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        client,
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

/// The value of one sample line, `name{labels} value`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_tokens_logins_and_reuse() {
    let app = TestApp::spawn().await;
    let (client, _access, refresh) = tokens(&app, "alice").await;
    let rotate = |token: String| {
        let client = client.clone();
        let app = &app;
        async move {
            post_token(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client),
                ],
            )
            .await
        }
    };
    let (status, body) = rotate(refresh.clone()).await;
    assert_eq!(status, 200);
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(rotate(second).await.0, 200);
    // The first token again, once its successor has been used: reuse.
    assert_eq!(rotate(refresh).await.0, 400);
    app.http
        .get(app.url("/register/some-client-id"))
        .send()
        .await
        .unwrap();

    let text = metrics_text(&app).await;
    assert_eq!(
        sample(
            &text,
            "mcp_authd_tokens_issued_total{grant=\"authorization_code\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mcp_authd_tokens_issued_total{grant=\"refresh_token\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "mcp_authd_token_errors_total{error=\"invalid_grant\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "mcp_authd_refresh_token_reuse_detected_total"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "mcp_authd_logins_total"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "mcp_authd_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}"
        ),
        Some(3.0)
    );
    assert!(
        text.contains("route=\"/register/{client_id}\""),
        "routes are matched paths, never raw URIs"
    );
    assert!(!text.contains("some-client-id"));
    assert!(text.contains(
        "mcp_authd_http_request_duration_seconds_bucket{route=\"/token\",le=\"+Inf\"} 4"
    ));
    assert_eq!(
        sample(&text, "mcp_authd_registered_clients{source=\"cli\"}"),
        Some(1.0)
    );
    assert!(sample(&text, "mcp_authd_signing_key_age_seconds").is_some());
    assert!(sample(&text, "mcp_authd_signing_key_rotation_in_seconds").unwrap() > 0.0);
    assert!(text.contains("mcp_authd_db_pool_connections{pool="));
    assert_eq!(sample(&text, "mcp_authd_database_up"), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_unmatched_paths_share_one_label() {
    let app = TestApp::spawn().await;
    let a = app.http.get(app.url("/healthz")).send().await.unwrap();
    let b = app.http.get(app.url("/no/such/path")).send().await.unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id_a.len() >= 16 && id_a != id_b);
    // A request id from an untrusted peer is replaced, not echoed.
    let forged = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "forged-id")
        .send()
        .await
        .unwrap();
    assert_ne!(forged.headers()["x-request-id"], "forged-id");
    let text = metrics_text(&app).await;
    assert!(text.contains("route=\"unmatched\",method=\"GET\",status=\"404\""));
    assert!(!text.contains("/no/such/path"));
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_passes_its_request_id_through() {
    let app = TestApp::spawn_with(|c| c.http.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "proxy-7f3a.1");
    let odd = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "has space")
        .send()
        .await
        .unwrap();
    assert_ne!(odd.headers()["x-request-id"], "has space");
    app.stop().await;
}

#[tokio::test]
async fn with_an_admin_address_metrics_leave_the_public_listener() {
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let app = TestApp::spawn_with(|c| c.http.admin_listen = Some(admin_addr)).await;
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_admin(app.state.clone(), admin, async move {
        let _ = rx.await;
    }));
    let base = format!("http://{admin_addr}");
    let metrics = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("mcp_authd_http_requests_total")
    );
    let ready = app.http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let _ = tx.send(());
    task.await.unwrap().unwrap();
    app.stop().await;
}
