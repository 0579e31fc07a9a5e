//! Security limits on what anonymous callers can make the server do: parameter length caps
//! at `/authorize`, pending requests per client network, and a database that stays bounded
//! under a flood of anonymous requests.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::support::clock::Clock;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

const NOW: i64 = 1_800_000_000;

/// What the database stores: on SQLite the file and its WAL after a checkpoint; on
/// PostgreSQL the bytes of every row in every table, because its files are no measure
/// there: PostgreSQL 15 extends a table by up to 512 pages at once when inserts race.
async fn database_bytes(app: &TestApp) -> u64 {
    let url = &app.db.url;
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut total = 0;
        for table in tables {
            let sql =
                format!("SELECT COALESCE(SUM(pg_column_size(t.*)), 0)::BIGINT FROM {table} t");
            let bytes: i64 = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap();
            total += u64::try_from(bytes).unwrap();
        }
        total
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let path = url.strip_prefix("sqlite://").unwrap();
        let len = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        len(path) + len(&format!("{path}-wal"))
    }
}

/// `/authorize` for `client_id` with the usual parameters, `name` set to `value`.
fn authorize_with(app: &TestApp, client_id: &str, name: &str, value: &str) -> String {
    let pkce = Pkce::new();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st4te"),
    ];
    params.retain(|(n, _)| *n != name);
    params.push((name, value));
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

#[tokio::test]
async fn oversized_authorize_parameters_get_a_page_before_the_client_is_looked_up() {
    // Stands in for a document host: looking the client up would connect here.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let document = format!(
        "https://127.0.0.1:{}/client.json",
        listener.local_addr().unwrap().port()
    );
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let allowed = vec![document.clone()];
    let app = TestApp::spawn_with(|c| c.cimd.allow_private_urls = allowed).await;
    let long_client_id = format!("{document}?{}", "x".repeat(2_048));
    let cases = [
        ("state", "x".repeat(1_025), &document),
        ("scope", "x".repeat(2_049), &document),
        (
            "redirect_uri",
            format!("{REDIRECT}?{}", "x".repeat(2_048)),
            &document,
        ),
        ("resource", "x".repeat(2_049), &document),
        ("nonce", "x".repeat(2_049), &document),
        ("code_challenge", "x".repeat(2_049), &document),
        ("client_id", long_client_id.clone(), &long_client_id),
    ];
    for (name, value, client_id) in &cases {
        let page = app
            .http
            .get(authorize_with(&app, client_id, name, value))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{name}");
        assert!(page.headers().get("location").is_none(), "never a redirect");
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("The {name} parameter is longer than")),
            "{name}: {html}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no lookup happened");

    let client = public_client(&app).await;
    let at_the_cap = app
        .http
        .get(authorize_with(&app, &client, "state", &"x".repeat(1_024)))
        .send()
        .await
        .unwrap();
    assert_eq!(at_the_cap.status(), 200, "a state of 1 KiB is accepted");
}

#[tokio::test]
async fn two_thousand_anonymous_authorize_gets_store_little_and_are_limited_per_network() {
    let clock = Clock::fixed(NOW);
    let app = TestApp::spawn_with_clock(clock.clone(), |c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let client = public_client(&app).await;
    let url = authorize_with(&app, &client, "state", "flood");
    let limit = app.state.config.authorize.pending_per_ip;
    assert_eq!(limit, 30, "the default");
    let before = database_bytes(&app).await;
    let from = |ip: &'static str| app.http.get(&url).header("x-forwarded-for", ip);

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for _ in 0..200 {
        let batch: Vec<_> = (0..10)
            .map(|_| {
                let request = from("198.51.100.7");
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        for status in batch {
            *statuses.entry(status.await.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(statuses, HashMap::from([(200, 30), (429, 1_970)]));
    let refused = from("198.51.100.7").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "600");
    assert!(refused.headers().get("location").is_none());
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many sign-in requests came from your network")
    );
    let elsewhere = from("203.0.113.9").send().await.unwrap();
    assert_eq!(elsewhere.status(), 200, "another network is not affected");

    // 30 pending requests (about 17 KiB), nothing for the 1,970 refused (storing those
    // would take about 1 MB).
    let grown = database_bytes(&app).await.saturating_sub(before);
    assert!(grown < 64 * 1024, "the database grew by {grown} bytes");

    clock.advance(601);
    let swept = mcp_authd::app::sweeps::sweep_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(swept.pending_requests, 31, "every stored request expires");
}

#[tokio::test]
async fn pending_requests_are_counted_per_ipv6_64() {
    let app = TestApp::spawn_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
        c.authorize.pending_per_ip = 2;
    })
    .await;
    let client = public_client(&app).await;
    let url = authorize_with(&app, &client, "state", "v6");
    let from = |ip: &'static str| app.http.get(&url).header("x-forwarded-for", ip).send();
    assert_eq!(from("2001:db8:1:2::1").await.unwrap().status(), 200);
    assert_eq!(from("2001:db8:1:2::2").await.unwrap().status(), 200);
    assert_eq!(
        from("2001:db8:1:2:ffff::9").await.unwrap().status(),
        429,
        "the same /64"
    );
    assert_eq!(from("2001:db8:1:3::1").await.unwrap().status(), 200);
}
