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

    async fn start(db: TestDb, clock: Clock, adjust: impl FnOnce(&mut Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
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
