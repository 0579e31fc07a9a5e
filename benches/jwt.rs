//! Access-token signing and verification speed per algorithm, through the keyring the token
//! endpoint and introspection use, beside jsonwebtoken's own `encode` for reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use mcp_authd::app::keys::Keys;
use mcp_authd::config::Config;
use mcp_authd::store::Store;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::access_token::AccessTokenClaims;
use mcp_authd::tokens::signing_key::SigningAlgorithm;
use mcp_authd::tokens::signing_key::{KeyMaterial, algorithm_name, jwt_algorithm};
use std::hint::black_box;

const NOW: i64 = 1_800_000_000;

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example.com".into(),
        sub: "Lw0mQ3bZ1yX8rV2kT6nP9c".into(),
        aud: "https://mcp.example.com/mcp".into(),
        client_id: "https://app.example.com/oauth/client-metadata.json".into(),
        scope: "mcp:read mcp:write".into(),
        iat: NOW,
        exp: NOW + 3_600,
        jti: "q8Vx3nR5tY7uI9oP1aS3dF".into(),
        auth_time: Some(NOW - 60),
    }
}

/// A keyring over a throwaway SQLite file, as `build_state` makes one.
fn keyring(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    alg: SigningAlgorithm,
) -> Keys {
    let mut config = Config {
        issuer: "https://auth.example.com".into(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.keys.algorithm = alg;
    config.keys.encryption_key = Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    let url = Secret::new(format!(
        "sqlite://{}",
        dir.join(format!("{}.db", algorithm_name(alg))).display()
    ));
    runtime.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Keys::load(&store, &config, &Clock::fixed(NOW))
            .await
            .unwrap()
    })
}

fn jwt(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let claims = claims();
    for alg in [
        SigningAlgorithm::ES256,
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::RS256,
    ] {
        let name = algorithm_name(alg);
        let keys = keyring(&runtime, dir.path(), alg);
        let token = keys.sign(&claims).unwrap();
        keys.verify(&token, NOW).unwrap();

        c.bench_function(&format!("sign/{name}"), |b| {
            b.iter(|| keys.sign(black_box(&claims)).unwrap())
        });
        c.bench_function(&format!("verify/{name}"), |b| {
            b.iter(|| keys.verify(black_box(&token), NOW).unwrap())
        });

        // Reference: jsonwebtoken::encode with an EncodingKey built once, which still parses
        // the private key inside every call.
        let generated = KeyMaterial::generate(alg).unwrap();
        let encoding = match alg {
            SigningAlgorithm::ES256 => EncodingKey::from_ec_der(&generated.pkcs8),
            SigningAlgorithm::EdDSA => EncodingKey::from_ed_der(&generated.pkcs8),
            SigningAlgorithm::RS256 => continue, // needs PKCS#1; the ES256/EdDSA gap tells the story
        };
        let mut header = Header::new(jwt_algorithm(alg));
        header.typ = Some("at+jwt".into());
        header.kid = Some(generated.material.kid().into());
        c.bench_function(&format!("jsonwebtoken_encode/{name}"), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap())
        });
    }
}

criterion_group!(benches, jwt);
criterion_main!(benches);
