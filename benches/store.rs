//! The database work of the two write-heavy grants, on each store, without HTTP or signing:
//! a code exchange (read the code with its person's status, then redeem it: consume, store
//! the first refresh token, touch the grant, in one transaction) and a refresh rotation
//! (read the token, then rotate it: mark, store the successor, touch the grant).
//!
//! `cargo bench --bench store` measures SQLite (a file in a temp dir, as `serve` opens it);
//! with `BENCH_DATABASE_URL=postgres://…` (a throwaway database: the bench writes to it) it
//! measures PostgreSQL too. One request at a time: this is the latency floor of each flow's
//! storage, not the server's throughput (that is `bench/load.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::store::{CodeRedemption, NewAuthorizationCode, NewClient, NewRefreshToken, Store};
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;
use std::time::{Duration, Instant};

const NOW: i64 = 1_800_000_000;
const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The person, client and grant every code and token of the bench hangs off.
struct Fixture {
    user_id: String,
    client_id: String,
    grant_id: String,
}

async fn fixture(store: &Store) -> Fixture {
    store.migrate().await.unwrap();
    let client_id = format!("bench-{}", opaque::new_id());
    let settings = ClientSettings {
        name: "Bench".into(),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scope: None,
        auth_method: AuthMethod::None,
    };
    let new = NewClient {
        id: client_id.clone(),
        settings,
        source: ClientSource::Cli,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
        keys: None,
        metadata: serde_json::json!({}),
        registration_token_hash: None,
    };
    store.create_client(new, NOW).await.unwrap();
    let username = format!("bench-{}", opaque::new_id());
    let user = store.create_user(&username, "unused", NOW).await.unwrap();
    let scopes = ["mcp:read".to_owned()];
    let grant = store
        .upsert_grant(&user.id, &client_id, RESOURCE, &scopes, NOW)
        .await
        .unwrap();
    Fixture {
        user_id: user.id,
        client_id,
        grant_id: grant.id,
    }
}

impl Fixture {
    fn refresh_token(&self, secret: &str, parent: Option<&str>, family: &str) -> NewRefreshToken {
        NewRefreshToken {
            token_hash: opaque::hash(secret),
            family_id: family.into(),
            parent_hash: parent.map(opaque::hash),
            grant_id: Some(self.grant_id.clone()),
            client_id: self.client_id.clone(),
            user_id: Some(self.user_id.clone()),
            resource: RESOURCE.into(),
            scope: "mcp:read".into(),
            auth_time: NOW,
            access_jti: opaque::new_id(),
            access_expires_at: NOW + 3_600,
            issued_at: NOW,
            expires_at: NOW + 86_400,
            family_expires_at: NOW + 30 * 86_400,
        }
    }

    fn code(&self, secret: &str) -> NewAuthorizationCode {
        NewAuthorizationCode {
            code_hash: opaque::hash(secret),
            client_id: self.client_id.clone(),
            user_id: self.user_id.clone(),
            grant_id: Some(self.grant_id.clone()),
            redirect_uri: "http://127.0.0.1/callback".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: RESOURCE.into(),
            scope: "mcp:read".into(),
            auth_time: NOW,
            nonce: None,
            expires_at: NOW + 60,
        }
    }
}

/// The stores to measure: SQLite always, PostgreSQL when `BENCH_DATABASE_URL` names one.
fn stores(runtime: &tokio::runtime::Runtime, dir: &std::path::Path) -> Vec<(&'static str, Store)> {
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    let mut urls = vec![("sqlite", sqlite)];
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        urls.push(("postgres", url));
    }
    urls.into_iter()
        .map(|(name, url)| {
            let store = runtime.block_on(Store::connect(&Secret::new(url))).unwrap();
            (name, store)
        })
        .collect()
}

fn store_transactions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    for (backend, store) in stores(&runtime, dir.path()) {
        let fixture = runtime.block_on(fixture(&store));

        // Each iteration redeems a fresh code; storing the code (the /authorize side) is
        // left out of the measured time.
        group.bench_function(format!("code_exchange/{backend}"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut measured = Duration::ZERO;
                    for _ in 0..iters {
                        let secret = opaque::new_secret();
                        store
                            .insert_code(&fixture.code(&secret), NOW)
                            .await
                            .unwrap();
                        let started = Instant::now();
                        let code = store.find_code(&opaque::hash(&secret)).await.unwrap();
                        let code = code.unwrap();
                        let first = opaque::new_secret();
                        let redemption = CodeRedemption {
                            access_jti: opaque::new_id(),
                            refresh_token: Some(fixture.refresh_token(&first, None, &first)),
                        };
                        assert!(store.redeem_code(&code, &redemption, NOW).await.unwrap());
                        measured += started.elapsed();
                    }
                    measured
                })
            })
        });

        // One long family: every iteration rotates the token the previous one issued.
        let family = opaque::new_id();
        let mut current = opaque::new_secret();
        let first = fixture.refresh_token(&current, None, &family);
        runtime
            .block_on(store.insert_refresh_token(&first))
            .unwrap();
        group.bench_function(format!("refresh_rotation/{backend}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let hash = opaque::hash(&current);
                    let token = store.find_refresh_token(&hash).await.unwrap().unwrap();
                    assert!(token.user_active && token.rotated_at.is_none());
                    let next = opaque::new_secret();
                    let successor = fixture.refresh_token(&next, Some(&current), &family);
                    assert!(store.rotate_refresh_token(&successor).await.unwrap());
                    current = next;
                })
            })
        });
        runtime.block_on(store.close());
    }
    group.finish();
}

criterion_group!(benches, store_transactions);
criterion_main!(benches);
