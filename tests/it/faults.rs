//! Faults the server must survive, with the real binary where a process has to die: `kill -9`
//! under load, SIGTERM under load, the database going away or stalling while serving, two
//! instances starting together on an empty database, many concurrent writers on one SQLite
//! file from two processes. Each test is bounded in time and uses loopback only.
//! `FAULT_ROUNDS` (default 1) repeats the crash test; `scripts/faults.sh` runs more rounds.

use crate::flow::{PASSWORD, Pkce, REDIRECT, authorize_url};
use crate::helpers::{TestApp, TestDb, test_config};
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::store::{NewAuthorizationCode, NewClient, Store};
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A free loopback port (bound, read, released).
async fn free_port() -> u16 {
    free_ports::<1>().await[0]
}

/// `N` distinct free loopback ports: all are held until every one is known, so two
/// servers are never handed the same port.
async fn free_ports<const N: usize>() -> [u16; N] {
    let mut listeners = Vec::with_capacity(N);
    for _ in 0..N {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// `mcp-authd serve` as its own process.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on `port` against `db_url`, with `env` added.
    fn start(db_url: &str, dir: &Path, port: u16, env: &[(&str, &str)]) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.join(format!("server-{port}-{}.log", opaque::new_id()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-authd"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(dir)
            .current_dir(dir)
            .env("DATABASE_URL", db_url)
            .env("MCP_AUTHD_ISSUER", &base)
            .env("MCP_AUTHD_LISTEN", format!("127.0.0.1:{port}"))
            .env("MCP_AUTHD_KEYS__ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MCP_AUTHD_")) {
            if !["MCP_AUTHD_ISSUER", "MCP_AUTHD_LISTEN"].contains(&key.as_str()) {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            child: command.spawn().expect("spawn mcp-authd"),
            base,
            log,
        }
    }

    /// Waits (at most 30 s) for `/readyz` to answer 200.
    async fn ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server not ready within 30 s: {}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> String {
        self.child.id().expect("running").to_string()
    }

    /// Sends SIGTERM (through kill(1): the tests use no unsafe code).
    async fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// `kill -9`.
    async fn kill9(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// The log must never show a panic.
    fn assert_no_panic(&self) {
        let log = self.log_text();
        assert!(!log.contains("panicked"), "a panic in the log: {log}");
    }
}

/// A person and a public client stored directly; returns the client id.
async fn seed(store: &Store, now: i64) -> (String, String) {
    let hash = mcp_authd::support::password::hash_blocking(PASSWORD).unwrap();
    let user = store
        .create_user(&opaque::new_id(), &hash, now)
        .await
        .unwrap()
        .id;
    let client = opaque::new_id();
    store
        .create_client(
            NewClient {
                id: client.clone(),
                settings: ClientSettings {
                    name: "Crash test".into(),
                    redirect_uris: vec![REDIRECT.into()],
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
    (user, client)
}

/// Codes stored as `/consent` would have issued them; returns (code, verifier) pairs.
async fn codes(
    store: &Store,
    user: &str,
    client: &str,
    issuer: &str,
    n: usize,
) -> Vec<(String, String)> {
    let now = Clock::system().now();
    let mut out = Vec::new();
    for _ in 0..n {
        let code = opaque::new_secret();
        let pkce = Pkce::new();
        store
            .insert_code(
                &NewAuthorizationCode {
                    code_hash: opaque::hash(&code),
                    client_id: client.into(),
                    user_id: user.into(),
                    grant_id: None,
                    redirect_uri: REDIRECT.into(),
                    code_challenge: pkce.challenge.clone(),
                    resource: issuer.into(),
                    scope: String::new(),
                    auth_time: now,
                    nonce: None,
                    expires_at: now + 600,
                },
                now,
            )
            .await
            .unwrap();
        out.push((code, pkce.verifier));
    }
    out
}

async fn post_token(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), reqwest::Error> {
    let response = http.post(format!("{base}/token")).form(form).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// What the clients saw before the crash.
#[derive(Default)]
struct Seen {
    /// Codes answered 200.
    redeemed: HashSet<String>,
    /// Codes whose answer was lost in the crash.
    unknown: HashSet<String>,
    /// The newest refresh token of each family (by first code).
    newest: HashMap<String, String>,
    /// Every access token received.
    access: Vec<String>,
}

#[tokio::test]
async fn kill_9_under_code_exchanges_and_refreshes_loses_nothing() {
    let rounds: usize = std::env::var("FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    for round in 0..rounds {
        kill_9_round(round).await;
    }
}

async fn kill_9_round(round: usize) {
    let db = TestDb::new().await;
    let store = db.store().await;
    let port = free_port().await;
    let issuer = format!("http://127.0.0.1:{port}");
    let (user, client) = seed(&store, Clock::system().now()).await;
    let all_codes = codes(&store, &user, &client, &issuer, 40).await;
    let mut server = Server::start(&db.url, db.dir.path(), port, &[]);
    server.ready().await;
    let http = reqwest::Client::new();
    let jwks_before: Value = http
        .get(format!("{issuer}/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let queue = Arc::new(Mutex::new(all_codes.clone()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (queue, seen, http, issuer, client) = (
                queue.clone(),
                seen.clone(),
                http.clone(),
                issuer.clone(),
                client.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let Some((code, verifier)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("code_verifier", verifier.as_str()),
                        ("redirect_uri", REDIRECT),
                        ("client_id", client.as_str()),
                    ];
                    let body = match post_token(&http, &issuer, &form).await {
                        Ok((200, body)) => body,
                        Ok((status, body)) => panic!("exchange answered {status}: {body}"),
                        Err(_) => {
                            seen.lock().unwrap().unknown.insert(code);
                            return;
                        }
                    };
                    let mut refresh = body["refresh_token"].as_str().unwrap().to_owned();
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.redeemed.insert(code.clone());
                        seen.newest.insert(code.clone(), refresh.clone());
                        seen.access
                            .push(body["access_token"].as_str().unwrap().into());
                    }
                    for _ in 0..5 {
                        let form = [
                            ("grant_type", "refresh_token"),
                            ("refresh_token", refresh.as_str()),
                            ("client_id", client.as_str()),
                        ];
                        match post_token(&http, &issuer, &form).await {
                            Ok((200, body)) => {
                                refresh = body["refresh_token"].as_str().unwrap().to_owned();
                                let mut seen = seen.lock().unwrap();
                                seen.newest.insert(code.clone(), refresh.clone());
                                seen.access
                                    .push(body["access_token"].as_str().unwrap().into());
                            }
                            Ok((status, body)) => panic!("refresh answered {status}: {body}"),
                            Err(_) => return,
                        }
                    }
                }
            })
        })
        .collect();
    // Crash somewhere in the middle of the load: once a few families exist, at a moment
    // that differs from round to round.
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().redeemed.len() < 4 {
        assert!(Instant::now() < deadline, "no exchange within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis((round as u64 * 97) % 300)).await;
    server.kill9().await;
    for worker in workers {
        worker.await.unwrap();
    }
    server.assert_no_panic();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        !seen.redeemed.is_empty(),
        "round {round}: the crash came before any exchange"
    );

    // Restart on the same database and data directory.
    let mut restarted = Server::start(&db.url, db.dir.path(), port, &[]);
    restarted.ready().await;
    let jwks_after: Value = http
        .get(format!("{issuer}/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_before, jwks_after, "the signing keys are unchanged");

    // Every access token issued before the crash still verifies.
    let mut config = test_config(&db);
    config.issuer = issuer.clone();
    config.keys.encryption_key = Some(Secret::new(ENCRYPTION_KEY));
    let state = mcp_authd::server::build_state(config, Clock::system())
        .await
        .unwrap();
    let now = Clock::system().now();
    for token in &seen.access {
        state
            .keys
            .verify(token, now)
            .expect("an access token verifies");
    }
    assert_eq!(state.store.list_signing_keys().await.unwrap().len(), 1);

    // The newest refresh token of every family works (rotated just before the crash, it
    // is inside the reuse window and yields the successor the crash swallowed).
    for (family, token) in &seen.newest {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
            ("client_id", client.as_str()),
        ];
        let (status, body) = post_token(&http, &issuer, &form).await.unwrap();
        assert_eq!(status, 200, "round {round}, family {family}: {body}");
    }

    // No code is redeemable twice: those answered before the crash are spent; the others
    // redeem at most once now.
    for (code, verifier) in &all_codes {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client.as_str()),
        ];
        let first = post_token(&http, &issuer, &form).await.unwrap().0;
        let second = post_token(&http, &issuer, &form).await.unwrap().0;
        if seen.redeemed.contains(code) {
            assert_eq!(first, 400, "a code redeemed before the crash is spent");
        } else {
            assert!(
                first == 200 || seen.unknown.contains(code),
                "an untouched code redeems"
            );
        }
        assert_eq!(second, 400, "never twice");
    }
    restarted.assert_no_panic();
    restarted.terminate().await;
    let exit = restarted.child.wait().await.unwrap();
    assert!(exit.success());
    eprintln!(
        "kill -9 round {round} on {}: {} codes redeemed, {} answers lost in the crash, {} access tokens verified",
        state.store.backend_name(),
        seen.redeemed.len(),
        seen.unknown.len(),
        seen.access.len()
    );
}

/// A /token request whose body is still on its way: in flight until the rest is sent.
async fn hanging_request(base: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_requests_and_exits_0() {
    let db = TestDb::new().await;
    let port = free_port().await;
    let mut server = Server::start(
        &db.url,
        db.dir.path(),
        port,
        &[("MCP_AUTHD_HTTP__SHUTDOWN_TIMEOUT", "5s")],
    );
    server.ready().await;
    let base = server.base.clone();
    let mut in_flight = vec![hanging_request(&base).await, hanging_request(&base).await];
    // Background load: a new connection per request, so a refusal after the listener
    // closed is a connect error and never a half-answered request.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (base, stop, answered) = (base.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let form = [
                        ("grant_type", "client_credentials"),
                        ("client_id", "nobody"),
                    ];
                    match post_token(&http, &base, &form).await {
                        Ok((status, body)) => {
                            assert!(status < 500, "{status}: {body}");
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    // Both hanging requests are in flight (the metrics request itself is the third).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let in_flight = text
            .lines()
            .find_map(|l| l.strip_prefix("mcp_authd_http_requests_in_flight "))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if in_flight >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hanging requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    server.terminate().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The in-flight requests finish after the signal.
    for stream in &mut in_flight {
        stream
            .write_all(format!("client_credentials&pad={}", "a".repeat(66)).as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("exits within the shutdown bound")
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(status.success(), "exit status {status}");
    assert!(signalled.elapsed() < Duration::from_secs(7));
    assert!(answered.load(std::sync::atomic::Ordering::Relaxed) > 0);
    server.assert_no_panic();
    assert!(server.log_text().contains("stopped"));
}

#[tokio::test]
async fn two_instances_starting_together_on_an_empty_database_migrate_once_and_share_one_key() {
    let db = TestDb::new().await;
    let [pa, pb] = free_ports().await;
    let (dir_b, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Server::start(&db.url, db.dir.path(), pa, &[]);
    let mut b = Server::start(&db.url, dir_b.path(), pb, &[]);
    // And the CLI, which migrates too, at the same moment.
    let cli = Command::new(env!("CARGO_BIN_EXE_mcp-authd"))
        .args(["migrate", "--data-dir"])
        .arg(dir_c.path())
        .env("DATABASE_URL", &db.url)
        .env("MCP_AUTHD_KEYS__ENCRYPTION_KEY", ENCRYPTION_KEY)
        .output();
    let (_, _, migrated) = tokio::join!(a.ready(), b.ready(), cli);
    let migrated = migrated.unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let store = db.store().await;
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "exactly one signing key: {keys:?}");
    let http = reqwest::Client::new();
    for server in [&a, &b] {
        let jwks: Value = http
            .get(format!("{}/jwks.json", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["kid"], keys[0].kid.as_str());
        server.assert_no_panic();
    }
    for server in [&mut a, &mut b] {
        server.terminate().await;
        assert!(server.child.wait().await.unwrap().success());
    }
}

#[tokio::test]
async fn stores_opening_one_new_database_at_the_same_moment_all_open_and_migrate() {
    // Switching a new SQLite file to WAL is refused at once (no busy wait) when another
    // connection does the same: many rounds make that race likely on every machine.
    for round in 0..25 {
        let db = TestDb::new().await;
        let open = || async {
            let store = Store::connect(&Secret::new(&db.url)).await?;
            store.migrate().await?;
            Ok::<_, mcp_authd::store::StoreError>(store)
        };
        let opened = tokio::join!(open(), open(), open(), open());
        for store in [opened.0, opened.1, opened.2, opened.3] {
            let store = store.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(store.ping().await);
            store.close().await;
        }
    }
}

#[tokio::test]
async fn fifty_concurrent_writers_from_two_processes_never_see_a_locked_database() {
    let db = TestDb::new().await;
    let port = free_port().await;
    let env = [("MCP_AUTHD_REGISTRATION__PER_IP_PER_HOUR", "0")];
    let mut other = Server::start(&db.url, db.dir.path(), port, &env);
    other.ready().await;
    let here = TestApp::spawn_beside_url(&db.url, |c| {
        c.registration.per_ip_per_hour = 0;
        c.keys.encryption_key = Some(Secret::new(ENCRYPTION_KEY));
    })
    .await;
    let bases = [other.base.clone(), here.base_url.clone()];
    let http = reqwest::Client::new();
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let (http, base) = (http.clone(), bases[i % 2].clone());
            tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/register"))
                    .json(&serde_json::json!({
                        "client_name": format!("writer {i}"),
                        "redirect_uris": [REDIRECT],
                        "token_endpoint_auth_method": "none"
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut registered = Vec::new();
    for writer in writers {
        let (status, body) = writer.await.unwrap();
        assert_eq!(status, 201, "{body}");
        registered.push(body);
    }
    // What one process wrote, the other reads.
    for (i, body) in registered.iter().enumerate() {
        let base = &bases[(i + 1) % 2];
        let read = http
            .get(format!(
                "{base}/register/{}",
                body["client_id"].as_str().unwrap()
            ))
            .bearer_auth(body["registration_access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
    }
    assert!(!other.log_text().contains("database is locked"));
    other.assert_no_panic();
    other.terminate().await;
    assert!(other.child.wait().await.unwrap().success());
    here.stop().await;
}

/// A loopback TCP relay to the database that a test can cut (every connection reset, new
/// ones refused) and restore: what a database restart looks like from the server.
struct Relay {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, conns) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self {
            port,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Tokens for a person, through a code stored directly: (client, refresh token).
async fn refresh_token_for(app: &TestApp) -> (String, String) {
    let (user, client) = seed(&app.state.store, Clock::system().now()).await;
    let (code, verifier) = codes(&app.state.store, &user, &client, &app.base_url, 1)
        .await
        .remove(0);
    let (status, body) = post_token(
        &app.http,
        &app.base_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
        ],
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    (client, body["refresh_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn postgres_going_away_or_stalling_fails_fast_with_503_and_service_resumes() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: PostgreSQL only (set TEST_DATABASE_URL)");
        return;
    };
    if base.is_empty() {
        return;
    }
    let db = TestDb::new().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.port)).unwrap();
    let relayed = url.to_string();
    let app = TestApp::spawn_beside_url(&relayed, |_| {}).await;
    let (client, mut refresh) = refresh_token_for(&app).await;
    let refresh_form = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
            ("client_id", client.clone()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let request = app.http.post(app.url("/token")).form(&form).send();
        async move {
            let started = Instant::now();
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body, started.elapsed())
        }
    };

    // The database goes away.
    relay.cut();
    let started = Instant::now();
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(4));
    let (status, body, took) = send(refresh_form(&refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert!(took < Duration::from_secs(7), "no hang: {took:?}");
    // A whole authorization request (the client itself may still come from memory, but the
    // person's session and the pending request need the database).
    let page = app
        .http
        .get(authorize_url(&app, &client, &Pkce::new(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("<html"));

    // It comes back: service resumes without a restart.
    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body, _) = send(refresh_form(&refresh)).await;
        if status == 200 {
            refresh = body["refresh_token"].as_str().unwrap().to_owned();
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The database stalls: a table lock held elsewhere.
    let mut locker = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let (status, body, took) = send(refresh_form(&refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert!(took < Duration::from_secs(8), "no hang: {took:?}");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let (status, body, _) = send(refresh_form(&refresh)).await;
    assert_eq!(status, 200, "after the stall: {body}");
    app.stop().await;
}
