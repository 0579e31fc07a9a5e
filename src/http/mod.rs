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
mod health;
mod introspect;
pub mod json;
mod jwks;
mod metadata;
mod pages;
pub mod rate_limit;
mod register;
mod revoke;
mod token;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The span every request runs in: the path only, since query strings can carry codes.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Builds the application router with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.http.max_body_bytes;
    let timeout = state.config.http.request_timeout.as_std();
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
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}
