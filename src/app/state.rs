//! `AppState`: what every request handler shares, built once by `server::build_state`.

use crate::app::audit::{self, AuditEvent};
use crate::app::clients::cache::{self, ClientCache};
use crate::app::clients::cimd::CimdFetcher;
use crate::app::clients::single_flight::SingleFlight;
use crate::app::federation::Providers;
use crate::app::introspect::principals::{self, Principals};
use crate::app::introspect::revoked::{self, RevokedTokens};
use crate::app::keys::Keys;
use crate::config::Config;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::store::Store;
use crate::support::clock::Clock;
use crate::support::metrics::Metrics;
use crate::support::net::IpNet;
use crate::support::password::Passwords;
use crate::support::rate_limit::RateLimiter;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Keys the login limiter tracks at most (usernames and client IPs).
const LOGIN_LIMITER_KEYS: usize = 100_000;

/// Keys the registration limiter tracks at most (one per client IP or IPv6 /64).
const REGISTRATION_LIMITER_KEYS: usize = 100_000;

/// Keys the pending-request limiter tracks at most (one per client IP or IPv6 /64).
const PENDING_LIMITER_KEYS: usize = 100_000;

/// Keys the token-failure limiter tracks at most (one per client network and claimed client).
const TOKEN_LIMITER_KEYS: usize = 100_000;

/// Claimed client_ids tracked per client network at `/token`: one network sending random
/// client_ids only ever displaces its own oldest counts, never another network's.
const TOKEN_LIMITER_KEYS_PER_NETWORK: usize = 64;

/// Shared, immutable-after-start application state; cloning is one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct App {
    /// Validated configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Wall-clock time.
    pub clock: Clock,
    /// Access-token signing keys, kept current by a background refresh.
    pub keys: Keys,
    /// `http.trusted_proxies`, parsed once.
    pub trusted_proxies: Vec<IpNet>,
    /// `registration.per_ip_per_hour`, per client IP.
    pub registration_limiter: RateLimiter,
    /// `login.max_failures` per `login.failure_window`, per username.
    pub login_limiter: RateLimiter,
    /// `login.max_failures_per_ip` per `login.failure_window`, per client network.
    pub login_ip_limiter: RateLimiter,
    /// Fetches client ID metadata documents and remembers how long each stays fresh.
    pub cimd: CimdFetcher,
    /// Document lookups in flight, so concurrent requests for one document share a fetch.
    pub cimd_lookups: SingleFlight<Result<Option<Client>, OAuthError>>,
    /// Stored clients, kept in memory with bounded staleness.
    pub clients: ClientCache,
    /// Revoked access-token ids, mirrored in memory with bounded staleness.
    pub revoked: RevokedTokens,
    /// People and clients as introspection sees them, remembered briefly.
    pub principals: Principals,
    /// `tokens.max_failures` failed client authentications per `tokens.failure_window`, per
    /// client network and claimed client.
    pub token_limiter: RateLimiter,
    /// `authorize.pending_per_ip` per `authorize.pending_window`, per client IP (IPv6 /64):
    /// bounds the pending requests anonymous callers can make the server store.
    pub pending_limiter: RateLimiter,
    /// Counters and histograms served at `/metrics`.
    pub metrics: Metrics,
    /// Checks sign-in passwords, a few at a time.
    pub passwords: Passwords,
    /// The upstream identity providers people may sign in with.
    pub providers: Providers,
    /// Set once someone is known to be able to sign in, so the first-run check stops
    /// asking the database.
    pub someone_can_sign_in: AtomicBool,
}

impl AppState {
    /// Wraps the parts into shared state; fails on an unusable `cimd.extra_ca_file`.
    pub fn new(config: Config, store: Store, clock: Clock, keys: Keys) -> anyhow::Result<Self> {
        // Validated at load, so nothing is dropped here.
        let trusted_proxies = config
            .http
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        let registration_limiter = RateLimiter::new(
            config.registration.per_ip_per_hour,
            3_600,
            REGISTRATION_LIMITER_KEYS,
        );
        let login_limiter = RateLimiter::new(
            config.login.max_failures,
            config.login.failure_window.0,
            LOGIN_LIMITER_KEYS,
        );
        let login_ip_limiter = RateLimiter::new(
            config.login.max_failures_per_ip,
            config.login.failure_window.0,
            LOGIN_LIMITER_KEYS,
        );
        let token_limiter = RateLimiter::with_group_cap(
            config.tokens.max_failures,
            config.tokens.failure_window.0,
            TOKEN_LIMITER_KEYS,
            TOKEN_LIMITER_KEYS_PER_NETWORK,
        );
        let pending_limiter = RateLimiter::new(
            config.authorize.pending_per_ip,
            config.authorize.pending_window.0,
            PENDING_LIMITER_KEYS,
        );
        let cimd = CimdFetcher::new(&config.cimd)?;
        let providers = Providers::new(&config.identity_providers)?;
        let revoked = RevokedTokens::new(store.clone(), clock.clone(), revoked::DEFAULT_CAPACITY);
        let clients = ClientCache::new(store.clone(), cache::DEFAULT_CAPACITY);
        let principals = Principals::new(store.clone(), principals::DEFAULT_CAPACITY);
        Ok(Self(Arc::new(App {
            config,
            store,
            clock,
            keys,
            trusted_proxies,
            registration_limiter,
            login_limiter,
            login_ip_limiter,
            cimd,
            cimd_lookups: SingleFlight::default(),
            clients,
            revoked,
            principals,
            token_limiter,
            pending_limiter,
            metrics: Metrics::new(),
            passwords: Passwords::for_this_machine(),
            someone_can_sign_in: AtomicBool::new(false),
            providers,
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// Stores a security event (see [`audit::record`]) and counts it in the metrics.
    pub async fn audit(&self, event: AuditEvent) {
        if audit::record(&self.store, &self.clock, &event).await {
            self.metrics.audit_recorded(event.kind.as_str());
        } else {
            self.metrics.audit_failed();
        }
    }
}
