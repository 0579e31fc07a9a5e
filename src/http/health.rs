//! `/healthz` (the process is up) and `/readyz` (the database answers).

use crate::app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

/// How long readiness waits for the database before calling it down.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: answers as long as the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 while the database answers, 503 while it does not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(true) => (StatusCode::OK, "ready\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}
