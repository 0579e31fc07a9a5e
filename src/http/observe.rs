//! What every request leaves behind: a request id (answered in `x-request-id`), one log line,
//! and its count and latency in the metrics; plus the `/metrics` endpoint itself.

use super::client_ip::client_ip;
use crate::app::state::AppState;
use crate::support::metrics::Scrape;
use crate::tokens::opaque;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The header carrying the request id, in both directions.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long `/metrics` waits for the database's client count.
const SCRAPE_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// The request id a trusted proxy sent, if it is short and plain; otherwise a new one.
/// Ids from anyone else are ignored, like their forwarded-for headers.
fn request_id(request: &Request, trusted_peer: bool) -> HeaderValue {
    let forwarded = trusted_peer
        .then(|| request.headers().get(&REQUEST_ID))
        .flatten()
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        });
    match forwarded {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&opaque::new_id())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    }
}

/// Routes polled by machines: logged at debug so they do not drown the log.
fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// Which rate limiter answers 429 on a route, for `mcp_authd_rate_limited_total`.
fn limiter_of(route: &str) -> &'static str {
    match route {
        "/login" => "login",
        "/authorize" => "pending",
        "/register" => "registration",
        "/token" => "token",
        _ => "other",
    }
}

/// The outermost layer: request id, a span carrying it for every log line of the request,
/// one summary line when the response is ready, and the request metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ip = peer.map(|p| client_ip(p, request.headers(), &state.trusted_proxies));
    let trusted_peer = peer.is_some_and(|p| {
        let p = p.to_canonical();
        state.trusted_proxies.iter().any(|net| net.contains(p))
    });
    let id = request_id(&request, trusted_peer);
    request.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or("unknown"),
        method = %method,
        route = %route,
    );
    let in_flight = state.metrics.request_started();
    let mut response = next.run(request).instrument(span.clone()).await;
    drop(in_flight);
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .http_request(&route, method.as_str(), status, elapsed);
    if status == 429 {
        state.metrics.rate_limited(limiter_of(&route));
    }
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let client = ip.map(|ip| ip.to_string()).unwrap_or_default();
    span.in_scope(|| {
        // Path only: a query string can carry an authorization code or a state value.
        if is_probe(&route) {
            tracing::debug!(status, latency_ms, %path, ip = %client, "request");
        } else if status >= 500 {
            tracing::warn!(status, latency_ms, %path, ip = %client, "request");
        } else {
            tracing::info!(status, latency_ms, %path, ip = %client, "request");
        }
    });
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    let clients = tokio::time::timeout(SCRAPE_DB_TIMEOUT, state.store.count_clients_by_source())
        .await
        .ok()
        .and_then(Result::ok);
    let schedule = state.keys.schedule(now);
    let scrape = Scrape {
        clients,
        signing_key_age: schedule.map(|(age, _)| age),
        next_rotation_in: schedule.map(|(_, next)| next),
        pools: state.store.pool_usage(),
    };
    let body = state.metrics.render(&scrape);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
