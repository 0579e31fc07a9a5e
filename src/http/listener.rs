//! The accept loop: a cap on open connections, a deadline for idle keep-alive connections
//! (hyper's timer) and one for each request head (`head_deadline`), a cap on the head's size, and a bounded drain
//! on shutdown. `axum::serve` offers none of these knobs, so connections are served with
//! hyper-util directly, the way `axum::serve` does it.

use super::head_deadline::HeadDeadline;
use crate::app::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// HTTP/2 streams one connection may run at once.
const MAX_H2_STREAMS: u32 = 100;

/// How long to pause accepting after an error such as running out of file descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish for at most `http.shutdown_timeout`, and returns.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let http = &state.config.http;
    let permits = Arc::new(Semaphore::new(http.max_connections));
    let header_read_timeout = http.header_read_timeout.as_std();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.idle_timeout.as_std())
        // hyper refuses buffers under 8 KiB (configuration validation says so first).
        .max_buf_size(http.max_header_bytes.max(8_192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(u32::try_from(http.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(http.idle_timeout.as_std())
        .keep_alive_timeout(Duration::from_secs(20));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Per-connection failures (reset before accept) and resource exhaustion
                    // alike: pause briefly rather than spin, and carry on.
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state.metrics.connection_refused();
            tracing::warn!(%peer, limit = http.max_connections, "connection refused: http.max_connections are open");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(HeadDeadline::new(stream, header_read_timeout)),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        let state = state.clone();
        state.metrics.connection_change(1);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            state.metrics.connection_change(-1);
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    let bound = http.shutdown_timeout.as_std();
    if tokio::time::timeout(bound, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            timeout = %http.shutdown_timeout,
            "connections still busy after http.shutdown_timeout; closing them"
        );
    }
    Ok(())
}
