//! mcp-authd and the example MCP server on loopback ports, configured for each other.

use mcp_authd::app::state::AppState;
use mcp_authd::config::{Config, Overrides, Seconds};
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, ClientSource};
use mcp_authd::store::NewClient;
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::opaque;
use mcp_authd_example_server::Settings;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The person the walks sign in as.
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
/// A loopback redirect URI; nothing listens there, the walks read the redirect instead.
pub const REDIRECT_URI: &str = "http://127.0.0.1:47613/callback";
/// How long access tokens live in these walks, so a walk sees one expire.
pub const ACCESS_TOKEN_TTL: u64 = 3;

/// The pair of servers, stopped when dropped.
pub struct Pair {
    /// mcp-authd's issuer (`http://127.0.0.1:PORT`).
    pub issuer: String,
    /// The example server's MCP endpoint, also its resource identifier.
    pub mcp_url: String,
    /// mcp-authd's state, to reach its store.
    pub state: AppState,
    _dir: TempDir,
    _stop: Vec<oneshot::Sender<()>>,
}

impl Pair {
    /// Starts both servers; `adjust` may change mcp-authd's configuration.
    pub async fn start(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(adjust, |_| {}).await
    }

    /// [`Pair::start`], and `adjust_server` may change the example server's settings.
    pub async fn start_with(
        adjust: impl FnOnce(&mut Config),
        adjust_server: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let authd_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", authd_listener.local_addr().unwrap());
        let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());

        let mut config = mcp_authd::config::load(&Overrides::default(), Vec::new()).unwrap();
        config.issuer = issuer.clone();
        config.listen = authd_listener.local_addr().unwrap();
        config.data_dir = dir.path().to_path_buf();
        config.database_url = Some(Secret::new(format!(
            "sqlite://{}",
            dir.path().join("authd.db").display()
        )));
        config.resources = vec![ResourceConfig {
            uri: mcp_url.clone(),
            name: "Example MCP server".into(),
            scopes: vec!["mcp:tools".into(), "mcp:admin".into()],
            default_scopes: vec!["mcp:tools".into()],
            scope_descriptions: Default::default(),
        }];
        config.tokens.access_token_ttl = Seconds(ACCESS_TOKEN_TTL);
        // Strict rotation: a spent refresh token is refused at once, not replayed.
        config.tokens.refresh_reuse_window = Seconds(0);
        adjust(&mut config);

        let state = mcp_authd::server::build_state(config, Clock::system())
            .await
            .unwrap();
        let hash = mcp_authd::support::password::hash_blocking(PASSWORD).unwrap();
        state
            .store
            .create_user(USERNAME, &hash, state.clock.now())
            .await
            .unwrap();
        let (authd_stop, authd_stopped) = oneshot::channel::<()>();
        tokio::spawn(mcp_authd::server::serve(
            state.clone(),
            authd_listener,
            async move {
                let _ = authd_stopped.await;
            },
        ));

        let mut settings = Settings::new(&mcp_url, &issuer).unwrap();
        settings.scopes_supported = vec!["mcp:tools".into(), "mcp:admin".into()];
        // Expiry is exact here, so a walk sees its token refused the moment it expires.
        settings.leeway = Duration::ZERO;
        adjust_server(&mut settings);
        let (mcp_stop, mcp_stopped) = oneshot::channel::<()>();
        tokio::spawn(mcp_authd_example_server::serve(
            mcp_listener,
            settings,
            async move {
                let _ = mcp_stopped.await;
            },
        ));
        Self {
            issuer,
            mcp_url,
            state,
            _dir: dir,
            _stop: vec![authd_stop, mcp_stop],
        }
    }

    /// Creates a confidential (client_secret_basic) client `id` with `secret`, no redirect
    /// URIs and no grant types until `adjust` gives it some.
    pub async fn confidential_client(
        &self,
        id: &str,
        secret: &str,
        name: &str,
        adjust: impl FnOnce(&mut NewClient),
    ) {
        let mut client = NewClient {
            id: id.to_owned(),
            settings: ClientSettings {
                name: name.to_owned(),
                redirect_uris: vec![],
                grant_types: vec![],
                scope: None,
                auth_method: AuthMethod::ClientSecretBasic,
            },
            source: ClientSource::Cli,
            secret_hash: Some(opaque::hash(secret)),
            resource_server: false,
            resources: Vec::new(),
            keys: None,
            metadata: serde_json::json!({}),
            registration_token_hash: None,
        };
        adjust(&mut client);
        self.state
            .store
            .create_client(client, self.state.clock.now())
            .await
            .unwrap();
    }

    /// An absolute URL on mcp-authd.
    pub fn authd(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Presents a refresh token at `/token` for a public client.
    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.authd("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Calls the MCP endpoint directly with `token` (an `initialize`), returning the status
    /// and the `WWW-Authenticate` header.
    pub async fn call_mcp_with(&self, token: Option<&str>) -> (u16, Option<String>) {
        let mut request = reqwest::Client::new()
            .post(&self.mcp_url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#,
            );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), challenge)
    }
}

/// Runs `program script` in `dir` with `env` added; returns its JSON report (the last line
/// of its output). For the walks with clients from other ecosystems (Node.js, Python).
pub async fn run_report(program: &str, dir: &Path, script: &str, env: &[(&str, String)]) -> Value {
    let run = tokio::process::Command::new(program)
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 90 s"))
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{script} printed no report ({e}):\n{stdout}\n{stderr}"))
}
