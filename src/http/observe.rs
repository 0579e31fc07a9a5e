//! What every request leaves behind: a request id (answered in `x-request-id`), one log line,
//! and its count and latency in the metrics; plus the `/metrics` endpoint itself.

use super::client_ip::client_ip;
use super::limits::{Limits, is_probe};
use crate::app::state::AppState;
use crate::support::metrics::Scrape;
use crate::tokens::opaque;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
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
        // The id's own bytes, not a copy of them.
        None => HeaderValue::from_maybe_shared(Bytes::from(opaque::new_id()))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    }
}

/// The client address for the log line, written straight into it (empty when unknown).
struct ClientIp(Option<IpAddr>);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
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

/// What the per-request layer holds: the state, and the limits every request passes.
#[derive(Clone)]
pub struct Observe {
    state: AppState,
    limits: Limits,
}

impl Observe {
    /// The layer's state for one router (one `http.max_in_flight` for all its routes).
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            limits: Limits::new(state),
        }
    }
}

/// The one layer every request passes: request id, a span carrying it for every log line of
/// the request, the request limits (`limits`), one summary line when the response is ready,
/// and the request metrics. One layer rather than one each: axum clones a route's layers
/// and boxes their futures for every request.
pub async fn observe(
    State(Observe { state, limits }): State<Observe>,
    mut request: Request,
    next: Next,
) -> Response {
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
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    // The URI's bytes are shared with the request: cloning them copies nothing.
    let uri = request.uri().clone();
    let path = uri.path();
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or("unknown"),
        method = %method,
        route = %route,
    );
    let in_flight = state.metrics.request_started();
    let mut response = limits
        .apply(&state, route, request, next)
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .http_request(route, method.as_str(), status, elapsed);
    if status == 429 {
        state.metrics.rate_limited(limiter_of(route));
    }
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let client = ClientIp(ip);
    span.in_scope(|| {
        // Path only: a query string can carry an authorization code or a state value.
        if is_probe(route) {
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
