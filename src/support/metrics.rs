//! In-process counters, gauges and latency histograms, written out in the Prometheus text
//! exposition format (version 0.0.4) for `GET /metrics`.
//!
//! Hand-written rather than a metrics crate: the set is small and fixed, the format is a few
//! lines of text, and every label value comes from a bounded set (matched routes, status
//! codes, grant types, RFC error codes), so there is nothing a registry would add.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the request-latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One latency histogram: cumulative counts are computed when rendering.
#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// A counter per label value, for small label sets.
#[derive(Debug, Default)]
struct LabeledCounter(Mutex<BTreeMap<String, u64>>);

impl LabeledCounter {
    fn add(&self, label: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                map.insert(label.to_owned(), 1);
            }
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Key of the request counter: matched route, method, status.
type RequestKey = (String, &'static str, u16);

/// Every metric this process keeps in memory. Gauges read from elsewhere (database, keys)
/// arrive in a [`Scrape`] at render time.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<HashMap<RequestKey, u64>>,
    latency: Mutex<HashMap<String, Histogram>>,
    in_flight: AtomicI64,
    connections_open: AtomicI64,
    connections_refused: AtomicU64,
    overloaded: AtomicU64,
    tokens_issued: LabeledCounter,
    token_errors: LabeledCounter,
    refresh_reuse: AtomicU64,
    code_reuse: AtomicU64,
    logins: AtomicU64,
    login_failures: AtomicU64,
    rate_limited: LabeledCounter,
    audit_events: LabeledCounter,
    audit_failures: AtomicU64,
}

/// A database connection pool's usage at scrape time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUsage {
    /// `main` (PostgreSQL), `writer` or `reader` (SQLite).
    pub pool: &'static str,
    /// Open connections.
    pub size: u32,
    /// Open connections not lent out.
    pub idle: u32,
    /// The pool's ceiling.
    pub max: u32,
}

/// Values read at scrape time rather than counted as they happen.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// Registered clients per source (`cli`, `dynamic`, `cimd`); `None` when the database
    /// did not answer in time.
    pub clients: Option<Vec<(String, i64)>>,
    /// Seconds the current signing key has been signing.
    pub signing_key_age: Option<i64>,
    /// Seconds until the next key starts signing.
    pub next_rotation_in: Option<i64>,
    /// Connection pools.
    pub pools: Vec<PoolUsage>,
}

/// Decrements the in-flight gauge when the request it counts ends, however it ends.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The label spelling of an HTTP method; anything unusual is `other`, so a client cannot
/// invent label values.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

impl Metrics {
    /// An empty set of metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one finished request under its matched route (never the raw URI, so the
    /// number of series stays bounded).
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let key = (route.to_owned(), method_label(method), status);
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(0) += 1;
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request as in flight until the guard drops.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Requests being served right now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A TCP connection was accepted (`+1`) or closed (`-1`).
    pub fn connection_change(&self, delta: i64) {
        self.connections_open.fetch_add(delta, Ordering::Relaxed);
    }

    /// A connection was closed at once because `http.max_connections` were open.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered 503 because `http.max_in_flight` requests were running.
    pub fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// `/token` issued tokens under `grant` (its RFC 6749 spelling).
    pub fn tokens_issued(&self, grant: &str) {
        self.tokens_issued.add(grant);
    }

    /// `/token` refused a request with this RFC 6749 error code.
    pub fn token_refused(&self, error: &str) {
        self.token_errors.add(error);
    }

    /// A rotated refresh token came back outside the reuse window: its family was revoked.
    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.fetch_add(1, Ordering::Relaxed);
    }

    /// A used authorization code came back: the tokens it bought were revoked.
    pub fn code_reuse_detected(&self) {
        self.code_reuse.fetch_add(1, Ordering::Relaxed);
    }

    /// A person signed in.
    pub fn login_succeeded(&self) {
        self.logins.fetch_add(1, Ordering::Relaxed);
    }

    /// A sign-in failed (unknown user, wrong password or disabled person).
    pub fn login_failed(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A rate limiter answered 429; `limiter` is `login`, `registration` or `token`.
    pub fn rate_limited(&self, limiter: &str) {
        self.rate_limited.add(limiter);
    }

    /// An audit event was stored.
    pub fn audit_recorded(&self, kind: &str) {
        self.audit_events.add(kind);
    }

    /// An audit event could not be stored (it was logged instead).
    pub fn audit_failed(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything, with `scrape` for the gauges read now.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut out = String::with_capacity(8_192);
        self.render_http(&mut out);
        render_labeled(
            &mut out,
            "mcp_authd_tokens_issued_total",
            "Token responses issued by /token, by grant type.",
            "grant",
            &self.tokens_issued.snapshot(),
        );
        render_labeled(
            &mut out,
            "mcp_authd_token_errors_total",
            "/token requests refused, by RFC 6749 error code.",
            "error",
            &self.token_errors.snapshot(),
        );
        counter(
            &mut out,
            "mcp_authd_refresh_token_reuse_detected_total",
            "Rotated refresh tokens presented again outside the reuse window (family revoked).",
            self.refresh_reuse.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mcp_authd_authorization_code_reuse_detected_total",
            "Authorization codes presented a second time (their tokens revoked).",
            self.code_reuse.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mcp_authd_logins_total",
            "Successful sign-ins.",
            self.logins.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mcp_authd_login_failures_total",
            "Failed sign-ins (unknown user, wrong password, disabled person).",
            self.login_failures.load(Ordering::Relaxed),
        );
        render_labeled(
            &mut out,
            "mcp_authd_rate_limited_total",
            "Requests refused with 429 by a rate limiter.",
            "limiter",
            &self.rate_limited.snapshot(),
        );
        render_labeled(
            &mut out,
            "mcp_authd_audit_events_total",
            "Security events stored in the audit log, by kind.",
            "kind",
            &self.audit_events.snapshot(),
        );
        counter(
            &mut out,
            "mcp_authd_audit_write_failures_total",
            "Security events that could not be stored (logged instead).",
            self.audit_failures.load(Ordering::Relaxed),
        );
        self.render_gauges(&mut out, scrape);
        out
    }

    fn render_http(&self, out: &mut String) {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut requests: Vec<_> = requests.into_iter().collect();
        requests.sort();
        header(
            out,
            "mcp_authd_http_requests_total",
            "HTTP requests answered, by matched route, method and status.",
            "counter",
        );
        for ((route, method, status), n) in requests {
            let _ = writeln!(
                out,
                "mcp_authd_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(&route)
            );
        }
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut latency: Vec<_> = latency.into_iter().collect();
        latency.sort_by(|a, b| a.0.cmp(&b.0));
        let name = "mcp_authd_http_request_duration_seconds";
        header(
            out,
            name,
            "Time from receiving a request to its response headers, by matched route.",
            "histogram",
        );
        for (route, h) in latency {
            let route = escape(&route);
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        gauge(
            out,
            "mcp_authd_http_requests_in_flight",
            "Requests being served now.",
            self.in_flight(),
        );
        gauge(
            out,
            "mcp_authd_http_connections_open",
            "TCP connections open now.",
            self.connections_open.load(Ordering::Relaxed),
        );
        counter(
            out,
            "mcp_authd_http_connections_refused_total",
            "Connections closed at once because http.max_connections were open.",
            self.connections_refused.load(Ordering::Relaxed),
        );
        counter(
            out,
            "mcp_authd_http_overloaded_total",
            "Requests answered 503 because http.max_in_flight requests were running.",
            self.overloaded.load(Ordering::Relaxed),
        );
    }

    fn render_gauges(&self, out: &mut String, scrape: &Scrape) {
        if let Some(clients) = &scrape.clients {
            header(
                out,
                "mcp_authd_registered_clients",
                "Registered OAuth clients, by how they registered.",
                "gauge",
            );
            for (source, n) in clients {
                let _ = writeln!(
                    out,
                    "mcp_authd_registered_clients{{source=\"{}\"}} {n}",
                    escape(source)
                );
            }
        }
        if let Some(age) = scrape.signing_key_age {
            gauge(
                out,
                "mcp_authd_signing_key_age_seconds",
                "How long the current access-token signing key has been signing.",
                age,
            );
        }
        if let Some(next) = scrape.next_rotation_in {
            gauge(
                out,
                "mcp_authd_signing_key_rotation_in_seconds",
                "Seconds until the next signing key starts signing (negative: overdue).",
                next,
            );
        }
        if !scrape.pools.is_empty() {
            header(
                out,
                "mcp_authd_db_pool_connections",
                "Database connections, by pool and state.",
                "gauge",
            );
            for p in &scrape.pools {
                let in_use = p.size.saturating_sub(p.idle);
                let _ = writeln!(
                    out,
                    "mcp_authd_db_pool_connections{{pool=\"{}\",state=\"in_use\"}} {in_use}",
                    p.pool
                );
                let _ = writeln!(
                    out,
                    "mcp_authd_db_pool_connections{{pool=\"{}\",state=\"idle\"}} {}",
                    p.pool, p.idle
                );
            }
            header(
                out,
                "mcp_authd_db_pool_max_connections",
                "The ceiling of each database connection pool.",
                "gauge",
            );
            for p in &scrape.pools {
                let _ = writeln!(
                    out,
                    "mcp_authd_db_pool_max_connections{{pool=\"{}\"}} {}",
                    p.pool, p.max
                );
            }
        }
        gauge(
            out,
            "mcp_authd_database_up",
            "1 when the database answered this scrape.",
            i64::from(scrape.clients.is_some()),
        );
        header(out, "mcp_authd_build_info", "The running version.", "gauge");
        let _ = writeln!(
            out,
            "mcp_authd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn render_labeled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<String, u64>,
) {
    header(out, name, help, "counter");
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_latency_is_cumulative() {
        let m = Metrics::new();
        m.http_request("/token", "POST", 200, Duration::from_millis(3));
        m.http_request("/token", "POST", 200, Duration::from_millis(40));
        m.http_request("/token", "BREW", 400, Duration::from_secs(20));
        let text = m.render(&Scrape::default());
        assert!(text.contains(
            "mcp_authd_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "mcp_authd_http_requests_total{route=\"/token\",method=\"other\",status=\"400\"} 1"
        ));
        assert!(text.contains(
            "mcp_authd_http_request_duration_seconds_bucket{route=\"/token\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "mcp_authd_http_request_duration_seconds_bucket{route=\"/token\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "mcp_authd_http_request_duration_seconds_bucket{route=\"/token\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("mcp_authd_http_request_duration_seconds_count{route=\"/token\"} 3"));
    }

    #[test]
    fn labeled_counters_and_gauges_render() {
        let m = Metrics::new();
        m.tokens_issued("refresh_token");
        m.rate_limited("login");
        m.rate_limited("login");
        let _guard = m.request_started();
        let text = m.render(&Scrape {
            clients: Some(vec![("dynamic".into(), 4)]),
            signing_key_age: Some(10),
            next_rotation_in: Some(-5),
            pools: vec![PoolUsage {
                pool: "main",
                size: 3,
                idle: 1,
                max: 16,
            }],
        });
        assert!(text.contains("mcp_authd_tokens_issued_total{grant=\"refresh_token\"} 1"));
        assert!(text.contains("mcp_authd_rate_limited_total{limiter=\"login\"} 2"));
        assert!(text.contains("mcp_authd_http_requests_in_flight 1"));
        assert!(text.contains("mcp_authd_registered_clients{source=\"dynamic\"} 4"));
        assert!(text.contains("mcp_authd_signing_key_rotation_in_seconds -5"));
        assert!(text.contains("mcp_authd_db_pool_connections{pool=\"main\",state=\"in_use\"} 2"));
        assert!(text.contains("mcp_authd_database_up 1"));
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }

    #[test]
    fn every_sample_line_has_a_type_line() {
        let m = Metrics::new();
        m.http_request("/healthz", "GET", 200, Duration::from_millis(1));
        let text = m.render(&Scrape::default());
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| typed.contains(b))
                .unwrap_or(name);
            assert!(typed.contains(&base), "{name} has no # TYPE line");
        }
    }
}
