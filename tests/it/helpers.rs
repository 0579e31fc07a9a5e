//! Test harness: a fresh database per test (SQLite file, or PostgreSQL when
//! `TEST_DATABASE_URL` is set) and the real server on a loopback port.

use mcp_authd::app::state::AppState;
use mcp_authd::config::{Config, Overrides};
use mcp_authd::server;
use mcp_authd::store::Store;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A database that exists for one test.
pub struct TestDb {
    /// Its URL, for the store or for the CLI binary.
    pub url: String,
    /// Working directory for the test (and the SQLite file), removed at drop.
    pub dir: TempDir,
}

impl TestDb {
    /// A new empty database on the backend the test run targets.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => fresh_postgres_database(&base).await,
            _ => format!("sqlite://{}", dir.path().join("test.db").display()),
        };
        Self { url, dir }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&Secret::new(&self.url))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

async fn fresh_postgres_database(base: &str) -> String {
    let name = format!(
        "t_{}",
        mcp_authd::tokens::opaque::new_id()
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create database");
    let mut url = url::Url::parse(base).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// A configuration for tests: the given database, and a loopback issuer set by `spawn_app`.
pub fn test_config(db: &TestDb) -> Config {
    let mut config =
        mcp_authd::config::load(&Overrides::default(), Vec::new()).expect("defaults load");
    config.database_url = Some(Secret::new(&db.url));
    config.data_dir = db.dir.path().to_path_buf();
    config
}

/// The real server on `127.0.0.1:0`, stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub base_url: String,
    /// Its state, to reach the store and clock directly.
    pub state: AppState,
    /// An HTTP client that keeps cookies and never follows redirects.
    pub http: reqwest::Client,
    /// Its database.
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts the server on a fresh database with default configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the server after `adjust` has changed the configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(TestDb::new().await, Clock::system(), adjust).await
    }

    /// Starts the server on a fresh database with a clock the test controls.
    pub async fn spawn_with_clock(clock: Clock, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(TestDb::new().await, clock, adjust).await
    }

    /// Starts a second instance on `other`'s database (its own data directory, port and
    /// clock), as a load-balanced deployment runs. `other` must outlive it.
    pub async fn spawn_beside(
        other: &TestApp,
        clock: Clock,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let db = TestDb {
            url: other.db.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        Self::start(db, clock, adjust).await
    }

    /// Starts an instance on the database at `url` (another process's, or one reached
    /// through a relay), with its own data directory.
    pub async fn spawn_beside_url(url: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb {
            url: url.to_owned(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        Self::start(db, Clock::system(), adjust).await
    }

    /// Starts the server on a fresh database, on a listener the test bound first (so it
    /// knows the issuer before the configuration is written, as an upstream provider's
    /// registered callback needs).
    pub async fn spawn_on(listener: TcpListener, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on_with_clock(listener, Clock::system(), adjust).await
    }

    /// [`spawn_on`](Self::spawn_on) with a clock the test controls.
    pub async fn spawn_on_with_clock(
        listener: TcpListener,
        clock: Clock,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_on(listener, TestDb::new().await, clock, adjust).await
    }

    async fn start(db: TestDb, clock: Clock, adjust: impl FnOnce(&mut Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener, db, clock, adjust).await
    }

    async fn start_on(
        listener: TcpListener,
        db: TestDb,
        clock: Clock,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let base_url = format!("http://{addr}");
        let mut config = test_config(&db);
        config.issuer = base_url.clone();
        config.listen = addr;
        adjust(&mut config);
        let state = server::build_state(config, clock).await.expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            base_url,
            state,
            http,
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Posts a form to this instance's `/token`; the status and the JSON body (`Null` if none).
    pub async fn post_token(&self, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// `GET path` on this instance: the status and the JSON body (`Null` if none).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Runs `mcp-authd ARGS` as an operator would beside this instance: its database, data
    /// directory and issuer, with `stdin` fed in.
    pub async fn cli(&self, args: &[&str], stdin: &str) -> CliRun {
        let data_dir = self.db.dir.path().display().to_string();
        let args = [args, &["--data-dir", &data_dir]].concat();
        let mut command = binary();
        command.env("MCP_AUTHD_ISSUER", &self.base_url);
        run_cli(
            command,
            self.db.dir.path(),
            Some(&self.db.url),
            &args,
            stdin,
        )
        .await
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// What one CLI run printed and how it exited.
pub struct CliRun {
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl CliRun {
    /// Stdout as JSON, failing the test with both outputs when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Stdout, failing the test when the command did not exit 0.
    pub fn succeeded(self) -> String {
        assert_eq!(self.code, 0, "the command failed: {}", self.stderr);
        self.stdout
    }
}

/// Runs `command` with `args` in `dir` against `database_url`, feeding `stdin`.
pub async fn run_cli(
    mut command: tokio::process::Command,
    dir: &std::path::Path,
    database_url: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> CliRun {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("spawn mcp-authd");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = child.wait_with_output().await.expect("wait");
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `mcp-authd` binary with no configuration inherited from the test's environment
/// (`MCP_AUTHD_*`, `DATABASE_URL`, `RUST_LOG`), so only what a test sets applies.
pub fn binary() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-authd"));
    command.env_remove("DATABASE_URL").env_remove("RUST_LOG");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MCP_AUTHD_")) {
        command.env_remove(key);
    }
    command
}
