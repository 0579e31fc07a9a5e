//! Client ID metadata documents, served by the test itself over loopback TLS with a CA made
//! at test time (`cimd.extra_ca_file`, `cimd.allow_private_urls`), and every refusal.

use crate::flow::{Pkce, authorize_url};
use crate::helpers::TestApp;
use mcp_authd::app::clients::resolve_client;
use mcp_authd::config::{Config, Seconds};
use mcp_authd::oauth::client::AuthMethod;
use mcp_authd::oauth::client::{Client, ClientSource};
use mcp_authd::oauth::error::{ErrorCode, OAuthError};
use mcp_authd::support::clock::Clock;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const NOW: i64 = 1_800_000_000;

/// What the document server answers on one path.
#[derive(Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Sent without Content-Length, in small chunks.
    chunked: bool,
    /// Pause after the headers and the first bytes of the body.
    stall: Duration,
}

impl Reply {
    pub(crate) fn json(document: &Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: document.to_string().into_bytes(),
            chunked: false,
            stall: Duration::ZERO,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// An HTTPS server on 127.0.0.1 whose certificate chains to a CA written to `ca_pem`.
pub(crate) struct DocServer {
    port: u16,
    ca_pem: PathBuf,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    connections: Arc<AtomicUsize>,
    _dir: TempDir,
}

impl DocServer {
    pub(crate) async fn start() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mcp-authd test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();

        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let tls = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Self {
            port,
            ca_pem,
            replies: Arc::default(),
            hits: Arc::default(),
            connections: Arc::default(),
            _dir: dir,
        };
        let (replies, hits, connections) = (
            server.replies.clone(),
            server.hits.clone(),
            server.connections.clone(),
        );
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, replies, hits) = (acceptor.clone(), replies.clone(), hits.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let reply = replies.lock().unwrap().get(&path).cloned();
                    let reply = reply.unwrap_or(Reply {
                        status: 404,
                        headers: vec![],
                        body: vec![],
                        chunked: false,
                        stall: Duration::ZERO,
                    });
                    let _ = write_reply(&mut tls, reply).await;
                });
            }
        });
        server
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn set(&self, url: &str, reply: Reply) {
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
        self.replies.lock().unwrap().insert(path, reply);
    }

    pub(crate) fn hits(&self, url: &str) -> usize {
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
        self.hits.lock().unwrap().get(&path).copied().unwrap_or(0)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn write_reply(
    tls: &mut tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    reply: Reply,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        tls.write_all(head.as_bytes()).await?;
        for chunk in reply.body.chunks(512) {
            tls.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            tls.write_all(chunk).await?;
            tls.write_all(b"\r\n").await?;
            tls.flush().await?;
        }
        tls.write_all(b"0\r\n\r\n").await?;
    } else {
        head.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
        tls.write_all(head.as_bytes()).await?;
        let split = reply.body.len().min(8);
        tls.write_all(&reply.body[..split]).await?;
        tls.flush().await?;
        tokio::time::sleep(reply.stall).await;
        tls.write_all(&reply.body[split..]).await?;
    }
    tls.flush().await?;
    tls.shutdown().await
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Doc Client",
        "client_uri": "https://app.example.com",
        "redirect_uris": ["http://127.0.0.1/callback", "https://app.example.com/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "software_id": "doc-client",
        "an_unknown_field": {"ignored": true}
    })
}

/// The app trusting the server's CA, with `allowed` exempt from the private-address block.
async fn app_for(server: &DocServer, allowed: &[&str], clock: Clock) -> TestApp {
    app_with(server, allowed, clock, |_| {}).await
}

/// [`app_for`], then `adjust` applied to the configuration.
pub(crate) async fn app_with(
    server: &DocServer,
    allowed: &[&str],
    clock: Clock,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let ca = server.ca_pem.clone();
    let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
    TestApp::spawn_with_clock(clock, move |c| {
        c.cimd.extra_ca_file = Some(ca);
        c.cimd.allow_private_urls = allowed;
        c.cimd.cache_min_ttl = Seconds(300);
        c.cimd.cache_max_ttl = Seconds(3_600);
        // Ample on a loaded 2-core CI machine (a TLS fetch took over 1 s there once);
        // the timeout test sets its own.
        c.cimd.timeout = Seconds(5);
        adjust(c);
    })
    .await
}

async fn resolve(app: &TestApp, client_id: &str) -> Result<Option<Client>, OAuthError> {
    resolve_client(&app.state, client_id).await
}

/// Asserts the document was refused as `invalid_client` for a reason mentioning `why`.
fn assert_refused(result: Result<Option<Client>, OAuthError>, why: &str) {
    let error = result.expect_err("the document was accepted");
    assert_eq!(error.code, ErrorCode::InvalidClient);
    assert!(error.description.contains(why), "{}", error.description);
}

#[tokio::test]
async fn a_document_is_fetched_checked_and_stored_as_a_client() {
    let server = DocServer::start().await;
    let id = server.url("/oauth/client.json");
    server.set(&id, Reply::json(&document(&id)));
    let app = app_for(&server, &[&id], Clock::fixed(NOW)).await;

    let client = resolve(&app, &id).await.unwrap().unwrap();
    assert_eq!(client.id, id);
    assert_eq!(client.source, ClientSource::Cimd);
    assert_eq!(client.settings.name, "Doc Client");
    assert_eq!(client.settings.auth_method, AuthMethod::None);
    assert_eq!(client.settings.redirect_uris.len(), 2);
    assert!(client.secret_hash.is_none());
    assert_eq!(client.metadata["client_uri"], "https://app.example.com");
    assert!(client.metadata.get("an_unknown_field").is_none());

    let stored = app.state.store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(stored.source, ClientSource::Cimd);
    assert_eq!(server.hits(&id), 1);
}

#[tokio::test]
async fn documents_are_cached_per_cache_control_within_the_bounds() {
    let server = DocServer::start().await;
    let short = server.url("/short.json");
    let long = server.url("/long.json");
    server.set(
        &short,
        Reply::json(&document(&short)).header("cache-control", "max-age=60"),
    );
    server.set(
        &long,
        Reply::json(&document(&long)).header("cache-control", "public, max-age=999999"),
    );
    let clock = Clock::fixed(NOW);
    let app = app_for(&server, &[&short, &long], clock.clone()).await;

    resolve(&app, &short).await.unwrap().unwrap();
    resolve(&app, &long).await.unwrap().unwrap();
    resolve(&app, &short).await.unwrap().unwrap();
    assert_eq!((server.hits(&short), server.hits(&long)), (1, 1));

    clock.advance(299);
    resolve(&app, &short).await.unwrap().unwrap();
    assert_eq!(
        server.hits(&short),
        1,
        "max-age=60 is raised to cache_min_ttl"
    );

    let mut renamed = document(&short);
    renamed["client_name"] = json!("Renamed");
    server.set(&short, Reply::json(&renamed));
    clock.advance(1);
    let refreshed = resolve(&app, &short).await.unwrap().unwrap();
    assert_eq!(server.hits(&short), 2);
    assert_eq!(
        refreshed.settings.name, "Renamed",
        "the stored copy is refreshed"
    );
    assert_eq!(refreshed.created_at, NOW);

    clock.advance(3_299);
    resolve(&app, &long).await.unwrap().unwrap();
    assert_eq!(server.hits(&long), 1);
    clock.advance(1);
    resolve(&app, &long).await.unwrap().unwrap();
    assert_eq!(
        server.hits(&long),
        2,
        "max-age beyond cache_max_ttl is capped"
    );
}

#[tokio::test]
async fn a_failing_document_is_fetched_once_within_the_negative_cache_window() {
    let server = DocServer::start().await;
    let id = server.url("/flaky.json");
    server.set(&id, Reply::json(&document(&id)).status(500));
    let clock = Clock::fixed(NOW);
    let app = app_for(&server, &[&id], clock.clone()).await;
    let window = app.state.config.cimd.negative_cache_ttl.as_i64();
    assert_eq!(window, 30, "the default");
    for _ in 0..5 {
        assert_refused(resolve(&app, &id).await, "500");
    }
    assert_eq!(server.hits(&id), 1, "one fetch within the window");
    assert!(app.state.store.find_client(&id).await.unwrap().is_none());

    server.set(&id, Reply::json(&document(&id)));
    clock.advance(window - 1);
    assert_refused(resolve(&app, &id).await, "500");
    assert_eq!(server.hits(&id), 1);
    clock.advance(1);
    assert!(resolve(&app, &id).await.unwrap().is_some(), "fetched again");
    assert_eq!(server.hits(&id), 2);
}

#[tokio::test]
async fn concurrent_authorize_requests_for_one_document_cause_one_fetch() {
    let server = DocServer::start().await;
    let id = server.url("/popular.json");
    let mut reply = Reply::json(&document(&id));
    reply.stall = Duration::from_millis(300);
    server.set(&id, reply);
    // Callers waiting for another's fetch hold no slot of their own.
    let app = app_with(&server, &[&id], Clock::system(), |c| {
        c.cimd.max_concurrent_fetches = 1;
    })
    .await;
    let pkce = Pkce::new();
    let url = authorize_url(&app, &id, &pkce, &[]);
    let pages: Vec<_> = (0..20)
        .map(|_| {
            let request = app.http.get(&url);
            tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    for page in pages {
        assert!(
            page.await.unwrap().contains("Doc Client"),
            "the sign-in page"
        );
    }
    assert_eq!(server.hits(&id), 1);
    assert_eq!(app.state.cimd_lookups.in_flight(), 0);
}

#[tokio::test]
async fn fetches_past_the_global_cap_are_temporarily_unavailable_not_queued() {
    let server = DocServer::start().await;
    let slow = server.url("/slow-but-fine.json");
    let other = server.url("/other.json");
    let mut reply = Reply::json(&document(&slow));
    reply.stall = Duration::from_secs(2);
    server.set(&slow, reply);
    server.set(&other, Reply::json(&document(&other)));
    let app = app_with(&server, &[&slow, &other], Clock::system(), |c| {
        c.cimd.max_concurrent_fetches = 1;
        c.cimd.timeout = Seconds(10);
    })
    .await;
    let state = app.state.clone();
    let first = {
        let slow = slow.clone();
        tokio::spawn(async move { resolve_client(&state, &slow).await })
    };
    while server.hits(&slow) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = resolve(&app, &other).await.expect_err("no free fetch slot");
    assert_eq!(refused.code, ErrorCode::TemporarilyUnavailable);
    assert_eq!(server.hits(&other), 0, "refused, not queued");
    assert!(first.await.unwrap().unwrap().is_some());
    assert!(
        resolve(&app, &other).await.unwrap().is_some(),
        "the slot is free again, and a busy answer is not remembered as a failure"
    );
}

#[tokio::test]
async fn introspection_and_revocation_never_fetch_a_document() {
    let server = DocServer::start().await;
    let id = server.url("/never.json");
    server.set(&id, Reply::json(&document(&id)));
    let app = app_for(&server, &[&id], Clock::fixed(NOW)).await;
    for path in ["/introspect", "/revoke"] {
        let answer = app
            .http
            .post(app.url(path))
            .form(&[("client_id", id.as_str()), ("token", "whatever")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{path}");
    }
    assert_eq!(server.connections(), 0, "nothing was fetched");
}

#[tokio::test]
async fn unused_document_clients_are_swept_like_unused_registrations() {
    let server = DocServer::start().await;
    let unused = server.url("/unused.json");
    let used = server.url("/used.json");
    for id in [&unused, &used] {
        server.set(id, Reply::json(&document(id)));
    }
    let clock = Clock::fixed(NOW);
    let app = app_for(&server, &[&unused, &used], clock.clone()).await;
    resolve(&app, &unused).await.unwrap().unwrap();
    resolve(&app, &used).await.unwrap().unwrap();
    let store = &app.state.store;
    store.mark_client_used(&used, NOW).await.unwrap();
    clock.advance(app.state.config.registration.unused_client_ttl.as_i64() + 1);
    let swept = mcp_authd::app::sweeps::sweep_unused_clients(&app.state)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert!(store.find_client(&unused).await.unwrap().is_none());
    assert!(store.find_client(&used).await.unwrap().is_some());
    resolve(&app, &unused).await.unwrap().unwrap();
    assert_eq!(
        server.hits(&unused),
        2,
        "a swept document is fetched again when named"
    );
}

#[tokio::test]
async fn private_and_special_use_addresses_are_refused_without_connecting() {
    let server = DocServer::start().await;
    let exempt = server.url("/exempt.json");
    let app = app_for(&server, &[&exempt], Clock::fixed(NOW)).await;
    let port = server.port;
    for (id, why) in [
        (format!("https://localhost:{port}/doc.json"), "special-use"),
        (server.url("/doc.json"), "special-use"),
        (format!("https://[::1]:{port}/doc.json"), "special-use"),
        (
            format!("https://[::ffff:7f00:1]:{port}/doc.json"),
            "special-use",
        ),
        (
            format!("https://[64:ff9b::7f00:1]:{port}/doc.json"),
            "special-use",
        ),
        (format!("https://0x7f.1:{port}/doc.json"), "normalized"),
        (
            format!("https://169.254.169.254:{port}/latest"),
            "special-use",
        ),
    ] {
        server.set(&id, Reply::json(&document(&id)));
        assert_refused(resolve(&app, &id).await, why);
    }
    assert_eq!(server.connections(), 0, "nothing was fetched");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = DocServer::start().await;
    let id = server.url("/moved.json");
    let target = server.url("/target.json");
    server.set(
        &id,
        Reply::json(&json!({}))
            .status(302)
            .header("location", &target),
    );
    server.set(&target, Reply::json(&document(&id)));
    let app = app_for(&server, &[&id, &target], Clock::fixed(NOW)).await;
    assert_refused(resolve(&app, &id).await, "redirects are not followed");
    assert_eq!(server.hits(&target), 0);
}

#[tokio::test]
async fn oversized_documents_are_refused_with_or_without_a_length() {
    let server = DocServer::start().await;
    let sized = server.url("/big.json");
    let streamed = server.url("/big-chunked.json");
    let app = app_for(&server, &[&sized, &streamed], Clock::fixed(NOW)).await;
    let max = app.state.config.cimd.max_bytes;
    for (id, chunked) in [(&sized, false), (&streamed, true)] {
        let mut doc = document(id);
        doc["padding"] = json!("x".repeat(max));
        let mut reply = Reply::json(&doc);
        reply.chunked = chunked;
        server.set(id, reply);
        assert_refused(resolve(&app, id).await, &format!("larger than {max} bytes"));
    }
}

#[tokio::test]
async fn a_slow_document_times_out() {
    let server = DocServer::start().await;
    let id = server.url("/slow.json");
    let mut reply = Reply::json(&document(&id));
    reply.stall = Duration::from_secs(5);
    server.set(&id, reply);
    let app = app_with(&server, &[&id], Clock::fixed(NOW), |c| {
        c.cimd.timeout = Seconds(1);
    })
    .await;
    let started = Instant::now();
    assert_refused(resolve(&app, &id).await, "timed out");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn non_json_documents_are_refused() {
    let server = DocServer::start().await;
    let html = server.url("/page.html");
    let garbage = server.url("/garbage.json");
    server.set(
        &html,
        Reply::json(&document(&html)).header("content-type", "text/html"),
    );
    let mut reply = Reply::json(&json!({}));
    reply.body = b"<html>not json</html>".to_vec();
    server.set(&garbage, reply);
    let app = app_for(&server, &[&html, &garbage], Clock::fixed(NOW)).await;
    assert_refused(resolve(&app, &html).await, "application/json");
    assert_refused(resolve(&app, &garbage).await, "not valid JSON");
}

#[tokio::test]
async fn a_document_must_name_itself_and_hold_no_shared_secret() {
    let server = DocServer::start().await;
    let mismatched = server.url("/mismatched.json");
    let secret = server.url("/secret.json");
    let basic = server.url("/basic.json");
    let no_uris = server.url("/no-uris.json");
    let bad_uri = server.url("/bad-uri.json");
    server.set(
        &mismatched,
        Reply::json(&document(&server.url("/other.json"))),
    );
    let mut doc = document(&secret);
    doc["client_secret"] = json!("published-secret");
    server.set(&secret, Reply::json(&doc));
    let mut doc = document(&basic);
    doc["token_endpoint_auth_method"] = json!("client_secret_basic");
    server.set(&basic, Reply::json(&doc));
    let mut doc = document(&no_uris);
    doc.as_object_mut().unwrap().remove("redirect_uris");
    server.set(&no_uris, Reply::json(&doc));
    let mut doc = document(&bad_uri);
    doc["redirect_uris"] = json!(["http://evil.example/callback"]);
    server.set(&bad_uri, Reply::json(&doc));
    let ids = [&mismatched, &secret, &basic, &no_uris, &bad_uri];
    let allowed: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    let app = app_for(&server, &allowed, Clock::fixed(NOW)).await;

    assert_refused(resolve(&app, &mismatched).await, "client_id");
    assert_refused(resolve(&app, &secret).await, "client secret");
    assert_refused(resolve(&app, &basic).await, "shared-secret");
    assert_refused(resolve(&app, &no_uris).await, "redirect_uris");
    assert_refused(resolve(&app, &bad_uri).await, "evil.example");
    assert!(app.state.store.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn host_allow_and_deny_lists_apply_before_fetching() {
    let server = DocServer::start().await;
    let id = server.url("/listed.json");
    server.set(&id, Reply::json(&document(&id)));
    let ca = server.ca_pem.clone();
    let allowed = vec![id.clone()];
    let denied = TestApp::spawn_with(|c| {
        c.cimd.extra_ca_file = Some(ca.clone());
        c.cimd.allow_private_urls = allowed.clone();
        c.cimd.deny_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    assert_refused(resolve(&denied, &id).await, "not accepted");
    let not_allowed = TestApp::spawn_with(|c| {
        c.cimd.extra_ca_file = Some(ca);
        c.cimd.allow_private_urls = allowed;
        c.cimd.allow_hosts = vec!["example.com".into()];
    })
    .await;
    assert_refused(resolve(&not_allowed, &id).await, "not accepted");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn other_client_ids_are_looked_up_among_stored_clients() {
    let server = DocServer::start().await;
    let id = server.url("/doc.json");
    server.set(&id, Reply::json(&document(&id)));
    let ca = server.ca_pem.clone();
    let allowed = vec![id.clone()];
    let app = TestApp::spawn_with(|c| {
        c.cimd.enabled = false;
        c.cimd.extra_ca_file = Some(ca);
        c.cimd.allow_private_urls = allowed;
    })
    .await;
    assert!(resolve(&app, &id).await.unwrap().is_none(), "CIMD is off");
    assert!(resolve(&app, "no-such-client").await.unwrap().is_none());
    assert!(
        resolve(&app, "https://app.example.com")
            .await
            .unwrap()
            .is_none(),
        "an https URL without a path is not a document"
    );
    assert_eq!(server.connections(), 0);

    let registered = app
        .http
        .post(app.url("/register"))
        .json(&json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let found = resolve(&app, client_id).await.unwrap().unwrap();
    assert_eq!(found.source, ClientSource::Dynamic);
}
