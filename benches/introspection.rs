//! Introspection throughput without HTTP: the in-process function `POST /introspect` calls,
//! for a JWT access token (signature, revocation list, person and client, all in memory) and,
//! for comparison, for an opaque refresh token (one database lookup) and for the bare ES256
//! signature check that every JWT introspection includes.
//!
//! `cargo bench --bench introspection`; Criterion prints the time per introspection and the
//! throughput (`thrpt`, introspections per second on one core).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_authd::app::introspect::revoked::REFRESH_INTERVAL;
use mcp_authd::app::introspect::{Caller, introspect};
use mcp_authd::app::token::{AccessGrant, mint_access_token};
use mcp_authd::config::Overrides;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::server::build_state;
use mcp_authd::store::{NewClient, NewRefreshToken};
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;
use std::hint::black_box;

fn introspection(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (state, client, jwt, refresh) = runtime.block_on(async {
        let mut config = mcp_authd::config::load(&Overrides::default(), Vec::new()).unwrap();
        config.data_dir = dir.path().to_path_buf();
        config.database_url = Some(Secret::new(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        )));
        let state = build_state(config, Clock::system()).await.unwrap();
        let now = state.clock.now();
        let user = state
            .store
            .create_user("alice", "unused", now)
            .await
            .unwrap();
        let client = state
            .store
            .create_client(
                NewClient {
                    id: "bench-client".into(),
                    settings: ClientSettings {
                        name: "Bench".into(),
                        redirect_uris: vec!["http://127.0.0.1/callback".into()],
                        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                        scope: None,
                        auth_method: AuthMethod::None,
                    },
                    source: ClientSource::Cli,
                    secret_hash: None,
                    resource_server: false,
                    resources: Vec::new(),
                    keys: None,
                    metadata: serde_json::json!({}),
                    registration_token_hash: None,
                },
                now,
            )
            .await
            .unwrap();
        let resource = "https://mcp.example.com/mcp";
        let minted = mint_access_token(
            &state,
            &AccessGrant {
                subject: &user.id,
                client_id: &client.id,
                resource,
                scope: "mcp:read",
                auth_time: Some(now),
                reuse: None,
            },
        )
        .unwrap();
        // Some revoked tokens in the list, as a live server has.
        for i in 0..1_000 {
            state
                .store
                .revoke_access_token(&format!("revoked-{i}"), now + 3_600, now)
                .await
                .unwrap();
        }
        let refresh = opaque::new_secret();
        state
            .store
            .insert_refresh_token(&NewRefreshToken {
                token_hash: opaque::hash(&refresh),
                family_id: "family".into(),
                parent_hash: None,
                grant_id: None,
                client_id: client.id.clone(),
                user_id: Some(user.id.clone()),
                resource: resource.into(),
                scope: "mcp:read".into(),
                auth_time: now,
                access_jti: minted.jti.clone(),
                access_expires_at: minted.expires_at,
                issued_at: now,
                expires_at: now + 86_400,
                family_expires_at: now + 86_400,
            })
            .await
            .unwrap();
        (state, client, minted.jwt, refresh)
    });
    // As `serve` does: keep the revocation list fresh so lookups stay in memory.
    let refresher = {
        let _entered = runtime.enter();
        state.revoked.spawn_refresher(REFRESH_INTERVAL)
    };
    runtime.block_on(state.revoked.refresh()).unwrap();

    let check = |token: &str| {
        let answer = runtime
            .block_on(introspect(&state, Caller::Client(&client), token))
            .unwrap();
        assert!(answer.active);
    };
    check(&jwt);
    check(&refresh);
    assert!(state.revoked.is_fresh());

    let mut group = c.benchmark_group("introspection");
    group.throughput(Throughput::Elements(1));
    // The part no cache can skip: the signature check, for the breakdown.
    group.bench_function("jwt_signature_only", |b| {
        b.iter(|| {
            state
                .keys
                .verify(black_box(&jwt), state.clock.now())
                .unwrap()
        })
    });
    group.bench_function("jwt_access_token", |b| {
        b.iter(|| {
            runtime
                .block_on(introspect(&state, Caller::Client(&client), black_box(&jwt)))
                .unwrap()
        })
    });
    group.bench_function("refresh_token_database", |b| {
        b.iter(|| {
            runtime
                .block_on(introspect(
                    &state,
                    Caller::Client(&client),
                    black_box(&refresh),
                ))
                .unwrap()
        })
    });
    group.finish();
    assert!(
        state.revoked.is_fresh(),
        "the JWT numbers were measured from memory"
    );
    refresher.abort();
}

criterion_group!(benches, introspection);
criterion_main!(benches);
