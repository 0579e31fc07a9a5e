//! Request limits: a cap on requests served at once (`http.max_in_flight`), and clean answers
//! where a lower layer would give plain text or an empty body: an oversized body and a
//! request past `http.request_timeout` (503). JSON endpoints get RFC 6749 JSON; the pages a
//! browser sees get an HTML page.

use super::error::ApiError;
use super::pages::error_page;
use crate::app::state::AppState;
use crate::oauth::error::{ErrorCode, OAuthError};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};
use tower_http::timeout::Timeout;

/// Seconds a client is told to wait after an overload answer.
const OVERLOAD_RETRY_AFTER: u32 = 1;

/// The permits of `http.max_in_flight`, shared by every route of one router.
#[derive(Clone)]
pub struct Limits {
    in_flight: Arc<Semaphore>,
}

impl Limits {
    /// Permits for `http.max_in_flight` requests at once.
    pub fn new(state: &AppState) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(state.config.http.max_in_flight)),
        }
    }

    /// Serves `request` on `route` within the limits: refuses an announced oversized body
    /// before reading it, sheds load past `http.max_in_flight`, bounds the body
    /// (`http.max_body_bytes`) and the time (`http.request_timeout`), and rewrites bare 413
    /// and 503 answers into the endpoint's shape. Called by the one per-request layer
    /// (`observe`), so a request pays for one layer, not two.
    pub async fn apply(
        &self,
        state: &AppState,
        route: &str,
        request: Request,
        next: Next,
    ) -> Response {
        let page = is_page(route);
        let max_body = state.config.http.max_body_bytes;
        let announced = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max_body as u64) {
            // The body is never read, so the connection ends with this answer: say so (RFC
            // 9112 9.6), or a client sends its next request on a connection about to close.
            let mut response = too_large(page, max_body);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        let _permit = if is_probe(route) {
            None
        } else {
            match self.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    state.metrics.overloaded();
                    return overloaded(page);
                }
            }
        };
        // The request timeout and the body limit wrap the rest of the request here, not as
        // router layers: axum clones and boxes each router layer for every request.
        let timeout = state.config.http.request_timeout.as_std();
        let with_limits = Timeout::with_status_code(
            DefaultBodyLimit::max(max_body).layer(next),
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        );
        let Ok(response) = with_limits.oneshot(request).await;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match response.status() {
            // axum's own rejection when a body without a length runs past the limit.
            StatusCode::PAYLOAD_TOO_LARGE if content_type.starts_with("text/plain") => {
                too_large(page, max_body)
            }
            // The request timeout answers with an empty body.
            StatusCode::SERVICE_UNAVAILABLE if content_type.is_empty() => timed_out(page),
            _ => response,
        }
    }
}

/// Routes a person's browser shows: errors there are pages, not JSON.
fn is_page(route: &str) -> bool {
    matches!(
        route,
        "/authorize" | "/login" | "/consent" | "/account" | "/account/revoke" | "/logout"
    )
}

/// Routes polled by machines: they must answer even under overload, so orchestrators see
/// the truth, and are logged at debug so they do not drown the log.
pub fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

fn too_large(page: bool, max: usize) -> Response {
    let message = format!("The request body is larger than {max} bytes.");
    if page {
        return error_page(StatusCode::PAYLOAD_TOO_LARGE, "Request too large", &message);
    }
    // 413 says what HTTP clients and proxies understand; the body is RFC 6749 5.2 JSON, so
    // OAuth clients reading the code see `invalid_request`.
    let error = OAuthError::invalid_request(format!("the request body is larger than {max} bytes"));
    let mut response = ApiError::from(error).into_response();
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
}

fn overloaded(page: bool) -> Response {
    let mut response = if page {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "The server is busy. Try again in a moment.",
        )
    } else {
        ApiError::from(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is busy; retry shortly",
        ))
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(OVERLOAD_RETRY_AFTER));
    response
}

fn timed_out(page: bool) -> Response {
    if page {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "This took too long",
            "The server could not answer in time. Try again in a moment.",
        );
    }
    ApiError::from(OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the request took too long; retry shortly",
    ))
    .into_response()
}
