//! The ceilings `bench/load.sh` measures mcp-authd against, on the same machine in the same
//! run: what axum alone serves (`GET /hello`), what one ES256 signature with a key built once
//! allows (`POST /sign`, the floor under `client_credentials`), and what one ES256 JWT
//! verification allows (`POST /verify`, the floor under introspection).
//!
//!   bench-ceiling 127.0.0.1:18580

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Keys {
    pair: EcdsaKeyPair,
    random: SystemRandom,
    decoding: DecodingKey,
    validation: Validation,
}

#[tokio::main]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18580".into());
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .and_then(|k| k.to_pkcs8v1())
        .expect("P-256 key generation");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("the key just generated parses");
    let point = pair.public_key().as_ref();
    let decoding = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .expect("the public key is a P-256 point");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["http://127.0.0.1:9999/mcp"]);
    let keys = Arc::new(Keys {
        pair,
        random: SystemRandom::new(),
        decoding,
        validation,
    });
    let app = Router::new()
        .route("/hello", get(|| async { "Hello, World!" }))
        .route("/sign", post(sign))
        .route("/verify", post(verify))
        .with_state(keys);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("the address is free");
    axum::serve(listener, app).await.expect("serving");
}

/// One access-token-shaped claims set, signed: what a `client_credentials` token costs at
/// least.
#[allow(clippy::disallowed_methods)] // no clock to fix here: the wall clock is the point
async fn sign(State(keys): State<Arc<Keys>>) -> axum::Json<Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "iss": "http://127.0.0.1:18580", "sub": "bench", "aud": "http://127.0.0.1:9999/mcp",
        "client_id": "bench", "iat": now, "exp": now + 3600,
        "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
    });
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = keys
        .pair
        .sign(&keys.random, input.as_bytes())
        .expect("signing");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
}

/// One JWT verified: what introspecting a JWT access token costs at least. The body is the
/// token (as issued by `POST /sign`).
async fn verify(State(keys): State<Arc<Keys>>, token: String) -> axum::Json<Value> {
    let active = jsonwebtoken::decode::<Value>(&token, &keys.decoding, &keys.validation).is_ok();
    axum::Json(json!({ "active": active }))
}
