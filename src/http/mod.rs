//! The HTTP surface: every route in one place, and the layers every request passes.

mod account;
mod authorize;
mod browser;
pub mod client_auth;
pub mod client_ip;
mod cookies;
pub mod cors;
pub mod error;
pub mod form;
mod head_deadline;
mod health;
mod introspect;
pub mod json;
mod jwks;
pub mod limits;
pub mod listener;
mod metadata;
pub mod observe;
mod pages;
pub mod rate_limit;
mod register;
mod revoke;
mod token;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;

/// Builds the application router with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.http.max_body_bytes;
    let timeout = state.config.http.request_timeout.as_std();
    // With `http.admin_listen` set, /metrics is served only there (see `admin_router`).
    let metrics = if state.config.http.admin_listen.is_none() {
        Router::new().route("/metrics", get(observe::metrics))
    } else {
        Router::new()
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/login", post(authorize::login))
        .route(
            "/consent",
            get(authorize::consent_form).post(authorize::consent_decision),
        )
        .route("/account", get(account::show))
        .route("/account/revoke", post(account::revoke))
        .route("/logout", post(account::logout))
        .merge(
            Router::new()
                .route("/token", post(token::token))
                .route("/jwks.json", get(jwks::jwks))
                .layer(cors::layer()),
        )
        .merge(metadata::routes(&state.config).layer(cors::layer()))
        .merge(register::routes(max_body).layer(cors::layer()))
        .merge(
            Router::new()
                .route("/introspect", post(introspect::introspect))
                .route("/revoke", post(revoke::revoke))
                .layer(cors::layer()),
        )
        .merge(metrics)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(from_fn_with_state(
            limits::Limits::new(&state),
            limits::limit,
        ))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// The router of `http.admin_listen`: metrics and health, for the operator's network only.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
