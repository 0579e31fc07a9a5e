//! `private_key_jwt` client authentication (RFC 7523 2.2, OpenID Connect Core 9): clients
//! that come as documents publishing keys (ChatGPT), by dynamic registration, or from the
//! CLI; and every assertion an attacker could send instead.

use crate::cimd::{DocServer, Reply, app_with};
use crate::flow::{Pkce, REDIRECT, authorize, create_client, create_user};
use crate::helpers::{CliRun, TestApp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_authd::config::Config;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, ClientKeys, GrantType};
use mcp_authd::store::ClientUpdate;
use mcp_authd::support::clock::Clock;
use mcp_authd::tokens::opaque;
use mcp_authd::tokens::signing_key::KeyMaterial;
use mcp_authd::tokens::signing_key::SigningAlgorithm;
use serde_json::{Value, json};

const NOTES: &str = "https://notes.example/mcp";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn notes(config: &mut Config) {
    config.resources = vec![ResourceConfig {
        uri: NOTES.into(),
        name: "Notes".into(),
        scopes: vec!["notes:read".into(), "notes:write".into()],
        default_scopes: vec!["notes:read".into()],
        scope_descriptions: Default::default(),
    }];
}

fn key(algorithm: SigningAlgorithm) -> KeyMaterial {
    KeyMaterial::generate(algorithm).unwrap().material
}

fn jwks(keys: &[&KeyMaterial]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>()})
}

fn now() -> i64 {
    Clock::system().now()
}

/// The claims a well-behaved client signs: to the issuer, for five minutes, a fresh jti.
fn claims(app: &TestApp, client_id: &str) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": app.state.config.issuer,
        "iat": now(), "exp": now() + 300, "jti": opaque::new_id(),
    })
}

fn sign(key: &KeyMaterial, claims: &Value) -> String {
    key.sign(claims.to_string().as_bytes()).unwrap()
}

/// Posts `form` to /token with `assertion` as the client's credential.
async fn with_assertion(app: &TestApp, form: &[(&str, &str)], assertion: &str) -> (u16, Value) {
    let mut form = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]);
    app.post_token(&form).await
}

/// A code for `client_id` from alice's sign-in and approval.
async fn code(app: &TestApp, client_id: &str, scope: &str) -> (String, Pkce) {
    let pkce = Pkce::new();
    let params = authorize(app, client_id, &pkce, "alice", &[("scope", scope)]).await;
    (params["code"].clone(), pkce)
}

/// Redeems a code with a fresh assertion signed by `key`; `client_id` goes in the body.
async fn redeem(app: &TestApp, client_id: &str, key: &KeyMaterial, scope: &str) -> Value {
    let (code, pkce) = code(app, client_id, scope).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
    ];
    let (status, body) = with_assertion(app, &form, &sign(key, &claims(app, client_id))).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A stored `private_key_jwt` client with `keys`, for the code grant and client_credentials.
async fn stored_client(app: &TestApp, keys: ClientKeys, resource_server: bool) -> String {
    let grants = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    let (id, _) = create_client(app, AuthMethod::PrivateKeyJwt, &[REDIRECT], &grants, None).await;
    let update = ClientUpdate {
        keys: Some(Some(keys)),
        resource_server: Some(resource_server),
        ..Default::default()
    };
    let now = app.state.clock.now();
    app.state
        .store
        .update_client(&id, update, now)
        .await
        .unwrap();
    id
}

fn assert_invalid_client(status: u16, body: &Value, why: &str) {
    assert_eq!(status, 401, "{why}: {body}");
    assert_eq!(body["error"], "invalid_client", "{why}: {body}");
}

#[tokio::test]
async fn a_chatgpt_shaped_document_signs_in_and_redeems_with_a_signed_assertion() {
    let server = DocServer::start().await;
    let id = server.url("/oauth/chatgpt.json");
    let jwks_uri = server.url("/oauth/jwks.json");
    // What ChatGPT publishes: private_key_jwt with an RS256 key at a jwks_uri, and (in
    // newer documents) both methods listed.
    server.set(
        &id,
        Reply::json(&json!({
            "client_id": id,
            "client_uri": "https://chatgpt.com/",
            "client_name": "ChatGPT",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks_uri": jwks_uri,
        })),
    );
    let signing = key(SigningAlgorithm::RS256);
    server.set(&jwks_uri, Reply::json(&jwks(&[&signing])));
    let app = app_with(&server, &[&id, &jwks_uri], Clock::system(), notes).await;
    create_user(&app, "alice").await;

    let stored = app.state.store.find_client(&id).await.unwrap();
    assert!(stored.is_none(), "not stored before its first use");
    let (code, pkce) = code(&app, &id, "notes:read").await;
    let client = app.state.store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(client.settings.auth_method, AuthMethod::PrivateKeyJwt);
    assert_eq!(client.keys, Some(ClientKeys::JwksUri(jwks_uri.clone())));

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", id.as_str()),
    ];
    // Its method is enforced: the client_id alone is anyone's to send.
    let (status, body) = app.post_token(&form).await;
    assert_invalid_client(status, &body, "no assertion");

    let assertion = sign(&signing, &claims(&app, &id));
    let (status, body) = with_assertion(&app, &form, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "notes:read");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();

    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let (status, body) = with_assertion(&app, &refresh, &assertion).await;
    assert_invalid_client(status, &body, "the same assertion again");
    let (status, body) = with_assertion(&app, &refresh, &sign(&signing, &claims(&app, &id))).await;
    assert_eq!(
        status, 200,
        "a fresh assertion, client_id taken from it: {body}"
    );
    assert_eq!(server.hits(&jwks_uri), 1, "the key set is cached");
}

#[tokio::test]
async fn a_document_with_only_private_key_jwt_and_inline_keys_gets_in() {
    let server = DocServer::start().await;
    let id = server.url("/signed-only.json");
    let signing = key(SigningAlgorithm::EdDSA);
    server.set(
        &id,
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Signed Only",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks(&[&signing]),
        })),
    );
    let app = app_with(&server, &[&id], Clock::system(), notes).await;
    create_user(&app, "alice").await;
    let body = redeem(&app, &id, &signing, "notes:write").await;
    assert_eq!(body["scope"], "notes:write");
}

#[tokio::test]
async fn a_goose_shaped_document_gets_the_mcp_servers_scopes() {
    let server = DocServer::start().await;
    let id = server.url("/goose.json");
    // Goose's document: a public client whose `scope` names identity scopes only.
    server.set(
        &id,
        Reply::json(&json!({
            "client_id": id,
            "client_name": "Goose",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile email",
        })),
    );
    let app = app_with(&server, &[&id], Clock::system(), notes).await;
    create_user(&app, "alice").await;
    for (asked, granted) in [
        ("notes:write", "notes:write"),
        ("openid profile email", "notes:read openid profile email"),
        (
            "openid notes:read notes:write",
            "notes:read notes:write openid",
        ),
    ] {
        let (code, pkce) = code(&app, &id, asked).await;
        let (status, body) = app
            .post_token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
                ("redirect_uri", REDIRECT),
                ("client_id", &id),
            ])
            .await;
        assert_eq!(status, 200, "{asked}: {body}");
        assert_eq!(body["scope"], granted, "{asked}");
    }
}

#[tokio::test]
async fn a_dynamically_registered_private_key_jwt_client_gets_in_without_a_secret() {
    let app = TestApp::spawn_with(notes).await;
    create_user(&app, "alice").await;
    let signing = key(SigningAlgorithm::ES256);
    let response = app
        .http
        .post(app.url("/register"))
        .json(&json!({
            "client_name": "Signed Registrant",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks(&[&signing]),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(info["jwks"], jwks(&[&signing]), "the keys are echoed");
    assert!(info.get("client_secret").is_none(), "{info}");
    let id = info["client_id"].as_str().unwrap();
    let body = redeem(&app, id, &signing, "notes:read").await;
    assert_eq!(body["scope"], "notes:read");

    // Without keys, or with a private key, the registration is refused.
    for (extra, why) in [
        (json!({}), "needs jwks"),
        (
            json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "public keys only",
        ),
    ] {
        let mut body = json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let response = app
            .http
            .post(app.url("/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{why}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_client_metadata");
        assert!(
            error["error_description"].as_str().unwrap().contains(why),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_operator_creates_a_private_key_jwt_machine_client_from_a_jwks_file() {
    let app = TestApp::spawn_with(notes).await;
    let signing = key(SigningAlgorithm::ES256);
    let file = app.db.dir.path().join("client-jwks.json");
    std::fs::write(&file, jwks(&[&signing]).to_string()).unwrap();
    let file = file.to_str().unwrap();
    let create = [
        "clients",
        "create",
        "--name",
        "Nightly job",
        "--grant-type",
        "client_credentials",
        "--token-endpoint-auth-method",
        "private_key_jwt",
    ];
    let CliRun {
        code,
        stdout: out,
        stderr: err,
    } = app
        .cli(
            &[&create[..], &["--jwks-file", file, "--json"]].concat(),
            "",
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"], jwks(&[&signing]));
    let id = created["client_id"].as_str().unwrap();

    let form = [("grant_type", "client_credentials"), ("resource", NOTES)];
    let (status, body) = with_assertion(&app, &form, &sign(&signing, &claims(&app, id))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");

    // Mistakes are refused with a message and a non-zero exit, storing nothing.
    let private = app.db.dir.path().join("private.json");
    std::fs::write(
        &private,
        json!({"keys": [{"kty": "EC", "d": "x"}]}).to_string(),
    )
    .unwrap();
    for (extra, why) in [
        (vec![], "needs jwks or jwks_uri"),
        (vec!["--jwks-uri", "http://jobs.example/jwks.json"], "https"),
        (
            vec!["--jwks-file", private.to_str().unwrap()],
            "public keys only",
        ),
        (vec!["--jwks-file", "/no/such/file.json"], "cannot read"),
    ] {
        let CliRun {
            code, stderr: err, ..
        } = app.cli(&[&create[..], &extra[..]].concat(), "").await;
        assert_ne!(code, 0, "{why}");
        assert!(err.contains(why), "{why}: {err}");
    }
    assert_eq!(app.state.store.list_clients().await.unwrap().len(), 1);
}

#[tokio::test]
async fn every_forged_or_reused_assertion_gets_one_identical_invalid_client() {
    let app = TestApp::spawn_with(notes).await;
    let signing = key(SigningAlgorithm::ES256);
    let id = stored_client(&app, ClientKeys::Jwks(jwks(&[&signing])), false).await;
    let other = stored_client(&app, ClientKeys::Jwks(jwks(&[&signing])), false).await;
    let grant = [
        ("grant_type", "client_credentials"),
        ("resource", NOTES),
        ("client_id", id.as_str()),
    ];
    let good = claims(&app, &id);
    let with = |changes: Value| {
        let mut claims = good.clone();
        claims["jti"] = opaque::new_id().into();
        claims
            .as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        claims
    };
    let payload = URL_SAFE_NO_PAD.encode(with(json!({})).to_string());
    let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    // HS256 keyed with the published public key: the algorithm-confusion attack.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &with(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(signing.jwk().to_string().as_bytes()),
    )
    .unwrap();
    let foreign = key(SigningAlgorithm::ES256);

    let replayed = sign(&signing, &good);
    let (status, body) = with_assertion(&app, &grant, &replayed).await;
    assert_eq!(status, 200, "the genuine assertion: {body}");

    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", replayed),
        ("foreign key", sign(&foreign, &with(json!({})))),
        (
            "wrong aud",
            sign(
                &signing,
                &with(json!({"aud": "https://other.example/token"})),
            ),
        ),
        (
            "expired",
            sign(
                &signing,
                &with(json!({"exp": now() - 120, "iat": now() - 420})),
            ),
        ),
        (
            "an hour ahead",
            sign(&signing, &with(json!({"exp": now() + 3_600}))),
        ),
        ("no jti", {
            let mut claims = with(json!({}));
            claims.as_object_mut().unwrap().remove("jti");
            sign(&signing, &claims)
        }),
        (
            "another client's assertion",
            sign(&signing, &with(json!({"iss": other, "sub": other}))),
        ),
        ("HS256 with the public key", confused),
        ("alg none", unsigned),
        ("not a JWT", "not-a-jwt".into()),
    ];
    let mut bodies = Vec::new();
    for (why, assertion) in &cases {
        let (status, body) = with_assertion(&app, &grant, assertion).await;
        assert_invalid_client(status, &body, why);
        bodies.push(body);
    }
    let (status, body) = app.post_token(&grant).await;
    assert_invalid_client(status, &body, "missing assertion");
    bodies.push(body);
    let mut wrong_type = grant.to_vec();
    let fresh = sign(&signing, &with(json!({})));
    wrong_type.extend([
        ("client_assertion_type", "urn:example:other"),
        ("client_assertion", fresh.as_str()),
    ]);
    let (status, body) = app.post_token(&wrong_type).await;
    assert_invalid_client(status, &body, "another assertion type");
    bodies.push(body);
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every refusal reads the same: {bodies:?}"
    );

    // An assertion beside a secret is two methods at once.
    let mut two = grant.to_vec();
    two.extend([
        ("client_secret", "guess"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", fresh.as_str()),
    ]);
    let (status, body) = app.post_token(&two).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_made_up_key_ids_cause_no_fetches() {
    let server = DocServer::start().await;
    let jwks_uri = server.url("/rotating/jwks.json");
    let (old, new) = (key(SigningAlgorithm::ES256), key(SigningAlgorithm::ES256));
    server.set(
        &jwks_uri,
        Reply::json(&jwks(&[&old])).header("cache-control", "max-age=3600"),
    );
    let app = app_with(&server, &[&jwks_uri], Clock::system(), notes).await;
    let id = stored_client(&app, ClientKeys::JwksUri(jwks_uri.clone()), false).await;
    let grant = [("grant_type", "client_credentials"), ("resource", NOTES)];

    let (status, body) = with_assertion(&app, &grant, &sign(&old, &claims(&app, &id))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.hits(&jwks_uri), 1);

    // The client rotates: its set now has only the new key, which the cache lacks.
    server.set(&jwks_uri, Reply::json(&jwks(&[&new])));
    let (status, body) = with_assertion(&app, &grant, &sign(&new, &claims(&app, &id))).await;
    assert_eq!(status, 200, "the new key after one refetch: {body}");
    assert_eq!(server.hits(&jwks_uri), 2);

    // Unknown kids from a forger: refused, and the set is not fetched again for each.
    for _ in 0..5 {
        let forged = sign(&key(SigningAlgorithm::ES256), &claims(&app, &id));
        let (status, body) = with_assertion(&app, &grant, &forged).await;
        assert_invalid_client(status, &body, "a made-up key");
    }
    assert_eq!(server.hits(&jwks_uri), 2, "refetches are rate-limited");
    let (status, body) = with_assertion(&app, &grant, &sign(&old, &claims(&app, &id))).await;
    assert_invalid_client(status, &body, "the retired key");
}

#[tokio::test]
async fn a_private_key_jwt_resource_server_introspects_and_revokes_with_assertions() {
    let app = TestApp::spawn_with(notes).await;
    create_user(&app, "alice").await;
    let signing = key(SigningAlgorithm::ES256);
    let id = stored_client(&app, ClientKeys::Jwks(jwks(&[&signing])), true).await;
    let tokens = redeem(&app, &id, &signing, "notes:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let request = app.http.post(app.url(path)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let assertion = || sign(&signing, &claims(&app, &id));
    let (status, body) = post(
        "/introspect",
        vec![
            ("token", access.to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion()),
        ],
    )
    .await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    let (status, body) = post(
        "/introspect",
        vec![("token", access.to_owned()), ("client_id", id.clone())],
    )
    .await;
    assert_invalid_client(status, &body, "a client_id alone cannot introspect");

    let (status, _) = post(
        "/revoke",
        vec![
            ("token", refresh.to_owned()),
            ("client_id", id.clone()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion()),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = with_assertion(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        &assertion(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
