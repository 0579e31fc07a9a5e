//! Start-up and shutdown: open the store, build state, bind, serve until a signal.

use crate::app::introspect::revoked;
use crate::app::keys::Keys;
use crate::app::state::AppState;
use crate::config::Config;
use crate::http;
use crate::store::Store;
use crate::support::clock::Clock;
use crate::support::secret::redact_database_url;
use anyhow::Context;
use tokio::net::TcpListener;

/// Opens and migrates the database, loads the signing keys (creating the first one if
/// needed) and the revoked access-token ids, then assembles the state shared by server and CLI.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let store = open_store(&config).await?;
    let keys = Keys::load(&store, &config, &clock)
        .await
        .context("loading the access-token signing keys")?;
    let state = AppState::new(config, store, clock, keys)?;
    state
        .revoked
        .refresh()
        .await
        .context("loading the revoked access tokens")?;
    Ok(state)
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let store = Store::connect(&url).await?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating {}", redact_database_url(url.expose())))?;
    Ok(store)
}

/// Serves requests on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (for at most `http.shutdown_timeout`). While it serves, the revoked access-token
/// ids are re-read every [`revoked::REFRESH_INTERVAL`], which keeps introspection off the
/// database, and the clients' change counter is polled so client lookups come from memory.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let revocations = state.revoked.spawn_refresher(revoked::REFRESH_INTERVAL);
    let clients = state.clients.spawn_refresher();
    let app = http::router(state.clone());
    let served = http::listener::serve(state, listener, app, shutdown).await;
    revocations.abort();
    clients.abort();
    served
}

/// Serves the admin router (`/metrics`, `/healthz`, `/readyz`) on `http.admin_listen`.
pub async fn serve_admin(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::admin_router(state.clone());
    http::listener::serve(state, listener, app, shutdown).await
}

/// `mcp-authd serve`: everything from configuration to a graceful exit on SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.insecure_issuer() {
        tracing::warn!(
            issuer = %config.issuer,
            "allow_insecure_issuer is set: serving a non-loopback http:// issuer, so tokens, codes \
             and passwords cross the network in the clear. For development only"
        );
    }
    if config.open_resource_mode() {
        tracing::warn!(
            "no [[resources]] configured: open-resource mode accepts any https or loopback resource"
        );
    }
    let listen = config.listen;
    let issuer = config.issuer.clone();
    let state = build_state(config, Clock::system()).await?;
    if crate::app::sign_in::nobody_can_sign_in(&state).await? {
        tracing::warn!(
            "nobody can sign in yet: create a person with `mcp-authd users create NAME`, or \
             add an [[identity_providers]] entry to the configuration (README: \"Sign in with \
             GitHub / Google / Entra ID / Okta\")"
        );
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let key_refresher = state.keys.spawn_refresher(state.keys.poll_interval()).await;
    tracing::info!(%issuer, %listen, store = state.store.backend_name(), "mcp-authd is serving");
    let sweeps = crate::app::sweeps::spawn(state.clone());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let admin = match state.config.http.admin_listen {
        Some(addr) => {
            let admin_listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on http.admin_listen {addr}"))?;
            tracing::info!(%addr, "serving /metrics on the admin address");
            Some(tokio::spawn(serve_admin(
                state.clone(),
                admin_listener,
                stopped(stopping.clone()),
            )))
        }
        None => None,
    };
    let served = serve(state.clone(), listener, stopped(stopping)).await;
    if let Some(admin) = admin {
        admin.await??;
    }
    key_refresher.abort();
    sweeps.abort();
    served?;
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM (containers, systemd) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
