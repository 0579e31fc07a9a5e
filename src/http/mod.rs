//! The HTTP surface: every route in one place, and the layers every request passes.

mod account;
mod answers;
mod authorize;
mod bearer;
mod browser;
pub mod client_auth;
pub mod client_ip;
mod consent;
mod cookies;
pub mod cors;
pub mod error;
mod federation;
pub mod form;
mod head_deadline;
mod health;
mod introspect;
pub mod json;
mod jwks;
pub mod limits;
pub mod listener;
mod login;
mod metadata;
pub mod observe;
mod pages;
mod register;
mod revoke;
mod token;
mod userinfo;

use crate::app::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower::ServiceExt;

/// Builds the application router with its middleware. For an issuer with a path
/// (`https://host/auth`), every route is served both under that path, where the metadata
/// points, and at the root, where a proxy that strips the prefix sends it.
pub fn router(state: AppState) -> Router {
    let prefix = issuer_path(&state.config.issuer);
    let app = routes(state);
    match prefix {
        Some(prefix) => Router::new()
            .fallback_service(app.map_request(move |request| strip_prefix(&prefix, request))),
        None => app,
    }
}

/// The path of the issuer URL, if it has one (`/auth` of `https://host/auth`).
fn issuer_path(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let path = url.path().trim_end_matches('/');
    (!path.is_empty()).then(|| path.to_owned())
}

/// Rewrites `{prefix}/x?q` to `/x?q` (and `{prefix}` to `/`); any other request is unchanged.
fn strip_prefix(prefix: &str, mut request: Request) -> Request {
    let uri = request.uri();
    let Some(rest) = uri.path().strip_prefix(prefix) else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return request;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(stripped) = path_and_query.parse() {
        parts.path_and_query = Some(stripped);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The routes at the root, with their middleware.
fn routes(state: AppState) -> Router {
    let max_body = state.config.http.max_body_bytes;
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
        .route("/login", post(login::login))
        .route("/login/{id}", get(federation::start))
        .route("/login/{id}/callback", get(federation::callback))
        .route(
            "/consent",
            get(consent::consent_form).post(consent::consent_decision),
        )
        .route("/account", get(account::show))
        .route("/account/revoke", post(account::revoke))
        .route("/logout", post(account::logout))
        .merge(
            Router::new()
                .route("/token", post(token::token))
                .route("/jwks.json", get(jwks::jwks))
                .layer(from_fn(cors::cors)),
        )
        .merge(metadata::routes(&state.config).layer(from_fn(cors::cors)))
        .merge(register::routes(max_body).layer(from_fn(cors::cors)))
        .merge(
            Router::new()
                .route("/introspect", post(introspect::introspect))
                .route("/revoke", post(revoke::revoke))
                .route(
                    "/userinfo",
                    get(userinfo::userinfo).post(userinfo::userinfo),
                )
                .layer(from_fn(cors::cors)),
        )
        .merge(metrics)
        .layer(from_fn_with_state(
            observe::Observe::new(&state),
            observe::observe,
        ))
        .with_state(state)
}

/// The router of `http.admin_listen`: metrics and health, for the operator's network only.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(from_fn_with_state(
            observe::Observe::new(&state),
            observe::observe,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(prefix: &str, uri: &str) -> String {
        let request = Request::builder()
            .uri(uri)
            .body(Default::default())
            .unwrap();
        strip_prefix(prefix, request).uri().to_string()
    }

    #[test]
    fn the_issuer_path_is_stripped_only_as_a_whole_segment() {
        assert_eq!(stripped("/auth", "/auth/authorize?a=1"), "/authorize?a=1");
        assert_eq!(stripped("/auth", "/auth"), "/");
        assert_eq!(stripped("/auth", "/authorize"), "/authorize");
        assert_eq!(stripped("/auth", "/token"), "/token");
        assert_eq!(
            issuer_path("https://host/tenant/auth").as_deref(),
            Some("/tenant/auth")
        );
        assert_eq!(issuer_path("https://host"), None);
    }
}
