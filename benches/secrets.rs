//! The per-request costs that are not signatures or database work: the SHA-256 check of a
//! client secret or token (every authenticated request), the argon2id check of a password
//! (every sign-in), and building the metadata document (served pre-serialized; built once
//! per start, measured so a change that makes it per-request shows up).
//!
//! `cargo bench --bench secrets`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_authd::config::Config;
use mcp_authd::oauth::metadata::authorization_server_metadata;
use mcp_authd::support::password;
use mcp_authd::tokens::opaque;
use std::hint::black_box;

fn secrets(c: &mut Criterion) {
    let secret = opaque::new_secret();
    let stored = opaque::hash(&secret);
    c.bench_function("secret/sha256_verify", |b| {
        b.iter(|| assert!(opaque::verify(black_box(&secret), &stored)))
    });

    let password_hash = password::hash_blocking("correct horse battery staple").unwrap();
    let passwords = password::Passwords::new(1);
    let mut slow = c.benchmark_group("password");
    slow.sample_size(20);
    slow.bench_function("argon2id_verify", |b| {
        b.iter(|| {
            assert!(passwords.verify_blocking(
                black_box("correct horse battery staple"),
                Some(&password_hash)
            ))
        })
    });
    slow.finish();

    let config = Config {
        issuer: "https://auth.example.com".into(),
        ..Config::default()
    };
    c.bench_function("metadata/build_and_serialize", |b| {
        b.iter(|| {
            serde_json::to_vec(&authorization_server_metadata(black_box(
                config.server_profile(),
            )))
            .unwrap()
        })
    });
}

criterion_group!(benches, secrets);
criterion_main!(benches);
