//! HTTP-level fuzzing of the protocol endpoints with generated requests against the real
//! server on loopback and the run's database: form bodies for `POST /token`, JSON bodies for
//! `POST /register`, queries and forms for `/authorize`. Every answer must be below 500, an
//! RFC error in JSON at the JSON endpoints, and at `/authorize` a page or a redirect to the
//! registered URI only when client and redirect URI were valid. Afterwards no server thread
//! has panicked and a whole valid flow still works.
//!
//! `PROPTEST_CASES` sets the cases per endpoint (default [`DEFAULT_CASES`]);
//! `scripts/fuzz.sh` runs thousands. A failure prints the shrunk request.

use crate::flow::{self, Pkce, REDIRECT};
use crate::helpers::TestApp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_authd::oauth::client::{AuthMethod, GrantType};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Runtime;

/// Cases per endpoint when `PROPTEST_CASES` is not set: a few seconds per backend.
const DEFAULT_CASES: u32 = 256;

/// The name of the threads the fuzzed servers run on, watched by the panic hook.
const SERVER_THREAD: &str = "fuzz-server";

/// Panics seen on a fuzzed server's threads. A handler panic drops the connection (the
/// request fails) and would only show in the log; this is the in-process check for it.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Every error code the token endpoint may answer (RFC 6749 5.2, RFC 8707), and 429's.
const TOKEN_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "temporarily_unavailable",
];

/// Every error code the registration endpoint may answer (RFC 7591 3.2.2); `invalid_request`
/// for a body past `http.max_body_bytes`, refused before any endpoint reads it.
const REGISTER_ERRORS: &[&str] = &[
    "invalid_client_metadata",
    "invalid_redirect_uri",
    "invalid_request",
    "temporarily_unavailable",
];

/// Every error code an authorization error redirect may carry (RFC 6749 4.1.2.1, RFC 8707,
/// OpenID Connect `prompt=none`).
const AUTHORIZE_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "invalid_target",
    "login_required",
    "consent_required",
    "access_denied",
];

/// Counts panics on server threads, then lets the previous hook report them as usual.
fn watch_server_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(SERVER_THREAD) {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// One server under fuzzing, its runtime, and the clients the cases use.
struct Target {
    app: TestApp,
    /// A public code client with [`REDIRECT`].
    public: String,
    /// A `client_secret_basic` client allowed every grant, and its secret.
    confidential: (String, String),
    /// The fuzzing client: a new connection for every case, so a broken connection is always
    /// the answer to that case, never a reused one the server closed after an earlier body.
    http: reqwest::Client,
    runtime: Runtime,
}

impl Target {
    /// Starts the server (limits that would mask deeper paths off, no outbound fetches).
    fn start() -> Self {
        watch_server_panics();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .unwrap();
        let (app, public, confidential) = runtime.block_on(async {
            let app = TestApp::spawn_with(|config| {
                config.tokens.max_failures = 0;
                config.registration.per_ip_per_hour = 0;
                config.cimd.enabled = false;
            })
            .await;
            let public = flow::public_client(&app).await;
            let (id, secret) = flow::create_client(
                &app,
                AuthMethod::ClientSecretBasic,
                &[REDIRECT],
                &[
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ],
                None,
            )
            .await;
            (app, public, (id, secret.unwrap()))
        });
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            app,
            public,
            confidential,
            http,
            runtime,
        }
    }

    /// Runs `cases` generated inputs through `check`, failing with the shrunk input.
    fn fuzz<S: Strategy>(
        &self,
        endpoint: &str,
        strategy: S,
        check: impl Fn(&Self, S::Value) -> Result<(), TestCaseError>,
    ) {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CASES);
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        let ran = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let result = TestRunner::new(config).run(&strategy, |input| {
            ran.fetch_add(1, Ordering::Relaxed);
            check(self, input)
        });
        if let Err(error) = result {
            panic!("{endpoint}: {error}");
        }
        eprintln!(
            "fuzz {endpoint}: {cases} cases passed ({} requests) in {:.1} s",
            ran.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }

    /// A POST of `body` to `path` on the fuzzing client, with the generated content type.
    fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&Raw>,
    ) -> reqwest::RequestBuilder {
        let request = self.http.post(self.app.url(path)).body(body);
        with_header(request, reqwest::header::CONTENT_TYPE, content_type)
    }

    /// Sends one request and returns status, headers and body, or fails the case when the
    /// connection broke (what a panicking handler does).
    fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), TestCaseError> {
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("no answer: {e:?}")))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| TestCaseError::fail(format!("body cut: {e:?}")))?;
            Ok((status, headers, body.to_vec()))
        })
    }

    /// No server thread panicked, the server is ready, and a whole valid flow (sign-in,
    /// consent, code exchange) still ends in tokens: the store is intact.
    fn assert_still_healthy(self) {
        assert_eq!(
            SERVER_PANICS.load(Ordering::SeqCst),
            0,
            "a server thread panicked (see the output above)"
        );
        self.runtime.block_on(async {
            let app = &self.app;
            let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
            assert_eq!(ready.status(), 200);
            flow::create_user(app, "fuzz-survivor").await;
            let pkce = Pkce::new();
            let client = flow::public_client(app).await;
            let redirect = flow::authorize(app, &client, &pkce, "fuzz-survivor", &[]).await;
            let code = redirect.get("code").expect("a code after the fuzzing");
            let tokens = app
                .http
                .post(app.url("/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", &pkce.verifier),
                    ("redirect_uri", REDIRECT),
                    ("client_id", &client),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(tokens.status(), 200);
            let body: Value = tokens.json().await.unwrap();
            assert!(body["access_token"].is_string(), "{body}");
        });
        let Self { app, runtime, .. } = self;
        runtime.block_on(app.stop());
    }
}

/// Generated bytes, shown escaped (and cut) when a case fails.
#[derive(Clone)]
struct Raw(Vec<u8>);

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(300)];
        write!(f, "b\"{}\"", shown.escape_ascii())?;
        if shown.len() < self.0.len() {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// Bytes that end up in a parameter: real values, arbitrary text, raw bytes (invalid UTF-8,
/// stray `%`), and oversized runs.
fn value(real: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(real).prop_map(|v| form_encode(v.as_bytes())),
        2 => any::<String>().prop_map(|v| form_encode(v.as_bytes())),
        1 => vec(any::<u8>(), 0..40).prop_map(|v| form_encode(&v)),
        1 => vec(any::<u8>(), 0..40),
        1 => "(%[0-9A-Fa-f]{0,2}|[+&=;a-z]){0,10}".prop_map(String::into_bytes),
        1 => (1usize..80_000).prop_map(|n| vec![b'A'; n]),
    ]
}

fn form_encode(bytes: &[u8]) -> Vec<u8> {
    url::form_urlencoded::byte_serialize(bytes)
        .collect::<String>()
        .into_bytes()
}

/// A form body of `names` (sampled, so some repeat) and arbitrary names, joined raw.
fn form_body(names: &'static [&'static str], real: Vec<String>) -> impl Strategy<Value = Raw> {
    let name = prop_oneof![
        4 => prop::sample::select(names).prop_map(|n| n.as_bytes().to_vec()),
        1 => "[a-z_%=&+]{0,12}".prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..12),
    ];
    vec((name, value(real)), 0..10).prop_map(|pairs| {
        let mut body = Vec::new();
        for (i, (name, value)) in pairs.into_iter().enumerate() {
            if i > 0 {
                body.push(b'&');
            }
            body.extend(name);
            body.push(b'=');
            body.extend(value);
        }
        Raw(body)
    })
}

/// A `Content-Type` near or far from `expected`, or none.
fn content_type(expected: &'static str) -> impl Strategy<Value = Option<Raw>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            4 => Just(expected.as_bytes().to_vec()),
            1 => Just(format!("{expected}; charset=ISO-8859-1").into_bytes()),
            1 => prop::sample::select(vec![
                "text/plain", "application/json", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "", ";", "*/*",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            1 => vec(any::<u8>(), 0..30),
        ]
        .prop_map(Raw),
    )
}

/// Sets a header when the generated bytes make a valid header value.
fn with_header(
    request: reqwest::RequestBuilder,
    name: reqwest::header::HeaderName,
    value: Option<&Raw>,
) -> reqwest::RequestBuilder {
    match value.and_then(|v| reqwest::header::HeaderValue::from_bytes(&v.0).ok()) {
        Some(value) => request.header(name, value),
        None => request,
    }
}

/// The JSON body of an error answer, if it is one with an `error` member among `codes`.
fn rfc_error<'a>(body: &[u8], codes: &[&'a str]) -> Result<&'a str, TestCaseError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        TestCaseError::fail(format!("not JSON: {:?}", String::from_utf8_lossy(body)))
    })?;
    let code = json["error"].as_str().unwrap_or_default();
    codes
        .iter()
        .find(|c| **c == code)
        .copied()
        .ok_or_else(|| TestCaseError::fail(format!("not an RFC error code here: {json}")))
}

#[test]
fn token_endpoint_never_answers_5xx_to_any_form_body() {
    let target = Target::start();
    let (id, secret) = target.confidential.clone();
    let real = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
        target.public.clone(),
        id.clone(),
        secret.clone(),
        REDIRECT.into(),
        Pkce::new().verifier,
        "https://mcp.example.com/mcp".into(),
        "read write".into(),
        "\0".into(),
        format!("{id}\0"),
        "\u{feff}\u{202e}".into(),
    ];
    let names: &'static [&'static str] = &[
        "grant_type",
        "code",
        "code_verifier",
        "redirect_uri",
        "refresh_token",
        "client_id",
        "client_secret",
        "resource",
        "scope",
    ];
    let basic =
        |user: &str, pass: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
    let authorization = proptest::option::of(
        prop_oneof![
            Just(basic(&id, &secret).into_bytes()),
            Just(basic(&id, "wrong").into_bytes()),
            Just(basic(&target.public, "").into_bytes()),
            vec(any::<u8>(), 0..30)
                .prop_map(|raw| format!("Basic {}", STANDARD.encode(raw)).into_bytes()),
            "(Basic|basic|Bearer|Digest)? ?[ -~]{0,30}".prop_map(String::into_bytes),
            vec(any::<u8>(), 0..30),
        ]
        .prop_map(Raw),
    );
    let cases = (
        form_body(names, real),
        content_type("application/x-www-form-urlencoded"),
        authorization,
    );
    target.fuzz(
        "POST /token",
        cases,
        |t, (body, content_type, authorization)| {
            let request = t.post("/token", body.0, content_type.as_ref());
            let request = with_header(
                request,
                reqwest::header::AUTHORIZATION,
                authorization.as_ref(),
            );
            let (status, headers, body) = t.send(request)?;
            prop_assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&body));
            if status >= 400 {
                rfc_error(&body, TOKEN_ERRORS)?;
                prop_assert_eq!(&headers["cache-control"], "no-store");
            } else {
                prop_assert_eq!(status, 200);
                let json: Value = serde_json::from_slice(&body).expect("tokens are JSON");
                prop_assert!(json["access_token"].is_string(), "{}", json);
            }
            Ok(())
        },
    );
    target.assert_still_healthy();
}

/// Any JSON value, up to a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        Just(Value::from("\0\u{feff}")),
        weird_uri().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 30, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::from),
            btree_map(".{0,10}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// URIs that are almost acceptable, and some that are dangerous.
fn weird_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(REDIRECT.to_owned()),
        "(https?|cursor|javascript|data|file|HTTP)(:|://)[a-zA-Z0-9.:@\\[\\]*%-]{0,20}(/[a-z#?\\\\ ]{0,6}){0,2}",
        any::<String>(),
        (1usize..3000).prop_map(|n| format!("https://a.example/{}", "x".repeat(n))),
    ]
}

/// RFC 7591 client metadata with the right names and any values: wrong types, huge arrays,
/// weird URIs.
fn metadata() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "response_types",
        "client_name",
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "scope",
        "contacts",
        "software_id",
        "software_version",
        "application_type",
        "jwks_uri",
    ]);
    let value = prop_oneof![
        3 => vec(weird_uri().prop_map(Value::from), 0..4).prop_map(Value::from),
        2 => prop::sample::select(vec![
            "none", "client_secret_basic", "client_secret_post", "private_key_jwt",
            "authorization_code", "refresh_token", "client_credentials", "implicit", "code",
            "token", "native", "web",
        ])
        .prop_map(Value::from),
        1 => vec(prop::sample::select(vec!["authorization_code", "refresh_token", "client_credentials", "password"]), 0..5)
            .prop_map(Value::from),
        2 => json(),
        1 => (0usize..3000).prop_map(|n| Value::from(vec!["https://a.example/cb"; n])),
    ];
    btree_map(field, value, 0..8)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

#[test]
fn register_endpoint_never_answers_5xx_to_any_json_body() {
    let target = Target::start();
    let body = prop_oneof![
        3 => metadata().prop_map(|v| v.to_string().into_bytes()),
        2 => json().prop_map(|v| v.to_string().into_bytes()),
        1 => vec(any::<u8>(), 0..200),
        1 => "[\\[\\]{}\",:0-9a-z\\\\ ]{0,40}".prop_map(String::into_bytes),
    ]
    .prop_map(Raw);
    let cases = (body, content_type("application/json"));
    target.fuzz("POST /register", cases, |t, (body, content_type)| {
        let request = t.post("/register", body.0, content_type.as_ref());
        let (status, _, body) = t.send(request)?;
        prop_assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&body));
        if status >= 400 {
            rfc_error(&body, REGISTER_ERRORS)?;
        } else {
            prop_assert_eq!(status, 201);
            let json: Value = serde_json::from_slice(&body).expect("client information is JSON");
            prop_assert!(json["client_id"].is_string(), "{}", json);
        }
        Ok(())
    });
    target.assert_still_healthy();
}

/// `REDIRECT` with only its port changed: what RFC 8252 lets a loopback client send.
fn is_registered_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://127.0.0.1") else {
        return false;
    };
    let path_at = rest.find('/').unwrap_or(rest.len());
    let (port, path) = rest.split_at(path_at);
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    port_ok && path == "/callback"
}

#[test]
fn authorize_endpoint_redirects_only_to_a_registered_uri_and_never_answers_5xx() {
    let target = Target::start();
    let pkce = Pkce::new();
    let real = vec![
        target.public.clone(),
        target.confidential.0.clone(),
        "unknown-client".into(),
        REDIRECT.into(),
        "http://127.0.0.1:1234/callback".into(),
        "http://127.0.0.1:9999/callback/".into(),
        "http://127.0.0.1:9999/Callback".into(),
        "https://evil.example/callback".into(),
        "code".into(),
        "token".into(),
        pkce.challenge.clone(),
        "S256".into(),
        "plain".into(),
        "none".into(),
        "login consent".into(),
        format!("{}\0", target.public),
        "\0".into(),
        "https://mcp.example.com/mcp".into(),
        "read write".into(),
    ];
    let names: &'static [&'static str] = &[
        "response_type",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "state",
        "scope",
        "resource",
        "prompt",
    ];
    // Half the cases start from a valid request, so the checks after the client and
    // redirect URI (errors by redirect) are reached.
    let valid_start = format!(
        "response_type=code&client_id={}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&",
        target.public,
        String::from_utf8(form_encode(REDIRECT.as_bytes())).unwrap(),
        pkce.challenge,
    );
    let cases = (
        any::<bool>(),
        form_body(names, real),
        any::<bool>(),
        content_type("application/x-www-form-urlencoded"),
    );
    target.fuzz(
        "/authorize",
        cases,
        |t, (from_valid, tail, post, content_type)| {
            let app = &t.app;
            let mut raw = if from_valid {
                valid_start.clone().into_bytes()
            } else {
                Vec::new()
            };
            raw.extend(tail.0);
            let request = if post {
                t.post("/authorize", raw.clone(), content_type.as_ref())
            } else {
                // Bytes a URL cannot carry are sent percent-encoded, as a browser would.
                let query: String = raw
                    .iter()
                    .map(|b| match b {
                        b'!'..=b'~' if *b != b'#' => (*b as char).to_string(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                // reqwest builds no URL past 64 KiB; hyper refuses far shorter ones anyway.
                let query = &query[..query.len().min(60_000)];
                t.http.get(format!("{}?{query}", app.url("/authorize")))
            };
            let (status, headers, body) = t.send(request)?;
            prop_assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&body));
            if status == 302 || status == 303 {
                let location = headers["location"].to_str().expect("an ASCII Location");
                let parsed = url::Url::parse(location).expect("an absolute Location");
                let sent_to = format!(
                    "{}://{}{}",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or_default(),
                    parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
                ) + parsed.path();
                prop_assert!(is_registered_redirect(&sent_to), "redirected to {location}");
                // Only a request naming the client once (and no other redirect URI) gets here.
                let params: Vec<(String, String)> = url::form_urlencoded::parse(&raw)
                    .into_owned()
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                let named = |name: &str| -> Vec<&str> {
                    params
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                        .collect()
                };
                let client = named("client_id");
                prop_assert!(
                    client.len() == 1
                        && [&t.public, &t.confidential.0].contains(&&client[0].to_owned()),
                    "redirected for client_id {client:?}"
                );
                prop_assert!(
                    named("redirect_uri")
                        .iter()
                        .all(|u| is_registered_redirect(u))
                );
                let answer: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
                let error = answer
                    .iter()
                    .find(|(k, _)| k == "error")
                    .map(|(_, v)| v.as_str());
                prop_assert!(
                    error.is_some_and(|e| AUTHORIZE_ERRORS.contains(&e)),
                    "no RFC error in {location}"
                );
                prop_assert!(answer.iter().any(|(k, v)| k == "iss" && *v == app.base_url));
            } else if status == 431 {
                // hyper refuses a request line past `http.max_header_bytes` before any route.
                prop_assert!(!post && raw.len() > 8_192, "431 for {} bytes", raw.len());
            } else {
                prop_assert!(
                    status == 200 || (400..500).contains(&status),
                    "status {status}"
                );
                let html = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/html"));
                prop_assert!(
                    html,
                    "{status} without a page: {:?}",
                    headers.get("content-type")
                );
            }
            Ok(())
        },
    );
    target.assert_still_healthy();
}

/// Found by the fuzzing: a body past `http.max_body_bytes` is refused unread and the
/// connection closed, which the answer did not say, so a pooled client sent its next request
/// on the dead connection ("broken pipe").
#[tokio::test]
async fn a_body_refused_unread_says_the_connection_closes_and_the_next_request_works() {
    let app = TestApp::spawn().await;
    let oversized = format!("{{\"client_name\":\"{}\"}}", "x".repeat(200_000));
    let refused = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413, "too large: 413 with RFC 6749 JSON");
    assert_eq!(refused.headers()["connection"], "close");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let next = app
        .http
        .post(app.url("/register"))
        .json(&serde_json::json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 201);
}

/// Found by the fuzzing on PostgreSQL, whose text cannot hold NUL: a client_id ending in
/// `%00` made the client lookup fail as a 500. Now any parameter with NUL is refused first.
#[tokio::test]
async fn a_nul_character_in_a_parameter_is_a_bad_request_not_a_server_error() {
    let app = TestApp::spawn().await;
    let client = flow::public_client(&app).await;
    let page = app
        .http
        .get(format!("{}?client_id={client}%00", app.url("/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let token = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client}%00"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
