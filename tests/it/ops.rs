//! Operations: metrics, request ids, the admin listener, audit events, limits.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::app::audit::{AuditEvent, AuditKind};
use mcp_authd::server;
use mcp_authd::store::AuditFilter;
use mcp_authd::support::clock::Clock;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Posts a form to /token and returns the status and JSON body.
/// A public client, a person, and tokens from one code exchange: (client, access, refresh).
async fn tokens(app: &TestApp, user: &str) -> (String, String, String) {
    create_user(app, user).await;
    let client = public_client(app).await;
    let body = tokens_for(app, &client, user, &[]).await;
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
            app.post_token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", &client),
            ])
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

/// The stored audit events' kinds, oldest first.
async fn audit_kinds(app: &TestApp) -> Vec<String> {
    events(app, AuditFilter::default())
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn events(app: &TestApp, mut filter: AuditFilter) -> Vec<mcp_authd::store::AuditRecord> {
    filter.limit = 1_000;
    app.state.store.list_audit_events(&filter).await.unwrap()
}

#[tokio::test]
async fn sign_ins_consents_revocations_and_reuse_are_audited() {
    let app = TestApp::spawn().await;
    let first_key = audit_kinds(&app).await;
    assert_eq!(first_key, ["key_rotated"], "the first key is recorded");
    let user_id = create_user(&app, "alice").await;

    // A failed sign-in, with the attempted name and the reason kept for operators.
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
    let failed = submit_login(&app, &page, "alice", "not the password").await;
    assert_eq!(failed.status(), 401);

    // Then a sign-in, a consent, a code exchange and two refreshes, then reuse.
    let pkce = Pkce::new();
    let params = authorize(&app, &client, &pkce, "alice", &[]).await;
    let (_, body) = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ])
        .await;
    let after_token = audit_kinds(&app).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let form = |t: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", t.to_owned()),
            ("client_id", client.clone()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let request = app.http.post(app.url("/token")).form(&form).send();
        async move { request.await.unwrap() }
    };
    let next: Value = send(form(&refresh)).await.json().await.unwrap();
    send(form(next["refresh_token"].as_str().unwrap())).await;
    assert_eq!(send(form(&refresh)).await.status(), 400);
    // The code again.
    let replay = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ])
        .await;
    assert_eq!(replay.0, 400);

    // The person revokes the application on the account page.
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
            ("client_id", client.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);

    assert_eq!(
        after_token,
        [
            "key_rotated",
            "login_failed",
            "login_succeeded",
            "consent_given"
        ],
        "a successful /token writes no audit event"
    );
    let all = events(&app, AuditFilter::default()).await;
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds[4..],
        [
            "refresh_reuse_detected",
            "code_reuse_detected",
            "consent_revoked"
        ]
    );
    let failure = &all[1];
    assert_eq!(failure.user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(failure.ip.as_deref(), Some("127.0.0.1"));
    let detail: Value = serde_json::from_str(&failure.detail).unwrap();
    assert_eq!(detail["reason"], "wrong_password");
    assert_eq!(detail["username"], "alice");
    assert!(
        !all.iter().any(|e| e.detail.contains("not the password")),
        "never a password"
    );
    assert_eq!(all[3].client_id.as_deref(), Some(client.as_str()));
    for e in &all[2..] {
        assert_eq!(e.user_id.as_deref(), Some(user_id.as_str()), "{}", e.kind);
    }
    let mine = events(
        &app,
        AuditFilter {
            client_id: Some(client.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(mine.len(), 4, "consent, reuse twice, revocation");
    app.stop().await;
}

#[tokio::test]
async fn registrations_and_operator_actions_are_audited_and_read_with_the_cli() {
    let app = TestApp::spawn().await;
    let registered: Value = app
        .http
        .post(app.url("/register"))
        .json(&serde_json::json!({
            "client_name": "Dyn",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dynamic = registered["client_id"].as_str().unwrap();
    let token = registered["registration_access_token"].as_str().unwrap();
    let deleted = app
        .http
        .delete(app.url(&format!("/register/{dynamic}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let created: Value = serde_json::from_str(
        &app.cli(
            &[
                "clients",
                "create",
                "--name",
                "Ops",
                "--public",
                "--redirect-uri",
                REDIRECT,
                "--json",
            ],
            "",
        )
        .await
        .succeeded(),
    )
    .unwrap();
    let cli_client = created["client_id"].as_str().unwrap();
    app.cli(&["clients", "update", cli_client, "--name", "Ops 2"], "")
        .await
        .succeeded();
    app.cli(&["grants", "revoke", "--client", cli_client], "")
        .await
        .succeeded();
    app.cli(&["tokens", "revoke", "--client", cli_client], "")
        .await
        .succeeded();
    app.cli(&["keys", "rotate"], "").await.succeeded();

    let out = app
        .cli(&["audit", "--json", "--since", "1h"], "")
        .await
        .succeeded();
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = listed.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "key_rotated",
            "client_registered",
            "client_deleted",
            "client_registered",
            "client_updated",
            "grant_revoked",
            "tokens_revoked",
            "key_rotated"
        ]
    );
    assert_eq!(listed[1]["client_id"], dynamic);
    assert_eq!(listed[1]["ip"], "127.0.0.1");
    assert_eq!(listed[1]["detail"]["via"], "registration_endpoint");
    assert_eq!(listed[3]["detail"]["via"], "cli");
    assert_eq!(listed[6]["client_id"], cli_client);
    assert_eq!(listed[7]["detail"]["rotation"], "scheduled");

    let only: Vec<Value> = serde_json::from_str(
        &app.cli(&["audit", "--json", "--client", cli_client], "")
            .await
            .succeeded(),
    )
    .unwrap();
    assert_eq!(only.len(), 4);
    let text = app
        .cli(&["audit", "--since", "2000-01-01"], "")
        .await
        .succeeded();
    assert!(text.starts_with("TIME (UTC)") && text.contains("client_updated"));
    let future = app
        .cli(&["audit", "--json", "--since", "2999-01-01T00:00:00Z"], "")
        .await;
    let future = future.succeeded();
    assert_eq!(future.trim(), "[]");
    app.stop().await;
}

#[tokio::test]
async fn the_sweep_prunes_audit_events_past_the_retention() {
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::spawn_with_clock(clock.clone(), |c| {
        c.audit.retention = mcp_authd::config::Seconds(86_400)
    })
    .await;
    app.state
        .audit(AuditEvent::new(AuditKind::GrantRevoked).with("n", 1))
        .await;
    clock.advance(86_400 - 1);
    app.state
        .audit(AuditEvent::new(AuditKind::GrantRevoked).with("n", 2))
        .await;
    clock.advance(2);
    let pruned = mcp_authd::app::sweeps::sweep_audit_events(&app.state)
        .await
        .unwrap();
    assert_eq!(pruned, 2, "the first key's event and the first revocation");
    let left = events(&app, AuditFilter::default()).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].detail.contains("\"n\":2"));
    app.stop().await;
}

/// Sends raw bytes on a new connection and returns what the server answered before closing
/// or going quiet for `wait`.
async fn raw(app: &TestApp, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(app.state.config.listen).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_some(&mut stream, wait).await
}

async fn read_some(stream: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server closed the connection (EOF or reset) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn oversized_bodies_get_a_clean_answer_in_the_endpoints_shape() {
    let app = TestApp::spawn_with(|c| c.http.max_body_bytes = 2_048).await;
    let big = "x=".to_owned() + &"a".repeat(4_000);
    let token = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 413, "413, with an RFC 6749 5.2 body");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("2048 bytes")
    );
    let login = app
        .http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 413);
    assert!(login.text().await.unwrap().contains("<html"));
    // Without a Content-Length, the limit is found while reading: still a page, not text.
    let chunk = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let answer = raw(
        &app,
        format!(
            "POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{chunk}"
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("text/html"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let app = TestApp::spawn_with(|c| c.http.max_header_bytes = 8_192).await;
    let answer = raw(
        &app,
        format!(
            "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "a".repeat(10_000)
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let fine = app
        .http
        .get(app.url("/healthz"))
        .header("x-fine", "a".repeat(4_000))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_the_connection_cap_holds() {
    let app = TestApp::spawn_with(|c| {
        c.http.idle_timeout = mcp_authd::config::Seconds(1);
        c.http.max_connections = 2;
    })
    .await;
    let addr = app.state.config.listen;
    // A client that opens a connection and sends half a request head.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    // A keep-alive connection that goes quiet after one request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_some(&mut idle, Duration::from_millis(300)).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Both slots are taken: a third connection is closed at once.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    assert!(closed_within(&mut third, Duration::from_millis(500)).await);
    assert!(
        closed_within(&mut slow, Duration::from_secs(3)).await,
        "slow head"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle keep-alive"
    );
    // Slots are free again.
    let after = app.http.get(app.url("/metrics")).send().await.unwrap();
    let text = after.text().await.unwrap();
    assert_eq!(
        sample(&text, "mcp_authd_http_connections_refused_total"),
        Some(1.0)
    );
    app.stop().await;
}

/// Waits (at most 10 s) until `n` requests are being served.
async fn wait_in_flight(state: &mcp_authd::app::state::AppState, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state.metrics.in_flight() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts a /token request whose body never finishes, so it stays in flight.
async fn hanging_token_request(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_or_the_timeout_get_503_json() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_in_flight = 1;
        c.http.request_timeout = mcp_authd::config::Seconds(2);
    })
    .await;
    let mut hanging = hanging_token_request(app.state.config.listen).await;
    wait_in_flight(&app.state, 1).await;
    let shed = app
        .http
        .post(app.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "probes are never shed");
    // The hanging request itself times out with JSON, not an empty 503.
    let answer = read_some(&mut hanging, Duration::from_secs(4)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("temporarily_unavailable"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn token_failures_are_limited_per_client_and_address_with_429() {
    let app = TestApp::spawn_with(|c| c.tokens.max_failures = 3).await;
    let bad = |client: &'static str| {
        let request = app
            .http
            .post(app.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", client),
            ])
            .send();
        async move { request.await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(bad("guessing-client").await.status(), 401);
    }
    let refused = bad("guessing-client").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 60);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(bad("another-client").await.status(), 401, "per client");
    let text = metrics_text(&app).await;
    assert_eq!(
        sample(&text, "mcp_authd_rate_limited_total{limiter=\"token\"}"),
        Some(1.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_within_the_bound() {
    let db = crate::helpers::TestDb::new().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = crate::helpers::test_config(&db);
    config.issuer = format!("http://{addr}");
    config.http.shutdown_timeout = mcp_authd::config::Seconds(2);
    let state = server::build_state(config, Clock::system()).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(state.clone(), listener, async move {
        let _ = rx.await;
    }));
    // One request in flight that will finish, one that never will.
    let mut finishing = hanging_token_request(addr).await;
    let mut stuck = hanging_token_request(addr).await;
    wait_in_flight(&state, 2).await;
    let started = std::time::Instant::now();
    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    finishing
        .write_all(format!("client_credentials&pad={}", "a".repeat(66)).as_bytes())
        .await
        .unwrap();
    let answer = read_some(&mut finishing, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    server.await.unwrap().unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
        "the stuck request is cut off at http.shutdown_timeout: {waited:?}"
    );
    drop(stuck.write_all(b"x").await);
}
