//! Fetching client ID metadata documents safely: no redirects, 200 only, a size cap, one
//! deadline for the whole fetch, and no connection to a special-use address, whatever DNS
//! answers; plus the cache of when each document was last fetched. Fetches are bounded:
//! at most `cimd.max_concurrent_fetches` at once (more are refused, never queued), and a
//! document that failed is not fetched again for `cimd.negative_cache_ttl`.

use super::single_flight::SingleFlight;
use crate::config::CimdConfig;
use crate::oauth::cimd::{cache_ttl, check_document_url, host_matches, parse_document};
use crate::oauth::client::ClientKeys;
use crate::oauth::registration::Registration;
use crate::support::limited_body::read_limited;
use crate::support::net::is_public_unicast;
use anyhow::Context as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;
use url::{Host, Url};

/// Documents whose freshness (or failure) is remembered at most; beyond it expired entries
/// are dropped, and if none has expired, all of them.
const MAX_CACHED: usize = 10_000;

/// Why a document could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The document could not be fetched or broke a rule; client-safe, says which.
    Refused(String),
    /// `cimd.max_concurrent_fetches` documents are being fetched already; retry shortly.
    Busy,
}

/// Per-URL entries that hold until a unix second, with bounded memory.
struct Expiring<V> {
    entries: Mutex<HashMap<String, (i64, V)>>,
}

impl<V: Clone> Expiring<V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key` while it holds at `now`.
    fn get(&self, key: &str, now: i64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(until, _)| now < *until)
            .map(|(_, value)| value.clone())
    }

    /// Holds `value` for `key` until `until`.
    fn insert(&self, key: &str, now: i64, until: i64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED && !entries.contains_key(key) {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (until, value));
    }

    fn remove(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(key);
    }
}

/// A resolver error saying every address of a name was special-use.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to special-use addresses")]
struct SpecialUseAddress(String);

/// Resolves names with the system resolver and keeps only publicly routable unicast
/// addresses. The HTTP client connects only to what this returns, so a DNS answer that
/// changes between checks (rebinding) still cannot reach a private address.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| is_public_unicast(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(SpecialUseAddress(host)) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Fetches and checks documents; shared by every request through `AppState`.
pub struct CimdFetcher {
    /// For every URL: connects only to public addresses.
    strict: reqwest::Client,
    /// For the exact URLs in `cimd.allow_private_urls` only.
    private: reqwest::Client,
    config: CimdConfig,
    /// client_id → until when the stored copy may be used without refetching.
    fresh: Expiring<()>,
    /// client_id → until when it is not fetched again, and why it failed.
    refused: Expiring<String>,
    /// One permit per fetch allowed at once.
    slots: Semaphore,
    /// jwks_uri → the client's JWK Set until its cache lifetime ends.
    key_sets: Expiring<Arc<Value>>,
    /// jwks_uri → until when it may not be refetched for an unknown `kid`.
    key_refetched: Expiring<()>,
    /// jwks_uri → until when it is not fetched again, and why it failed.
    key_refused: Expiring<String>,
    /// Concurrent fetches of one jwks_uri share one request.
    key_lookups: SingleFlight<Result<Arc<Value>, FetchError>>,
}

/// How often one jwks_uri may be refetched because an assertion named a key not in it: a
/// client rotating keys gets its new key within this, and a stream of made-up `kid`s
/// cannot make this server fetch more often.
const KEY_REFETCH_INTERVAL_SECONDS: i64 = 60;

/// Whether to use a cached JWK Set or to fetch it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySetFreshness {
    /// The cached set while its lifetime lasts.
    Cached,
    /// A new fetch, because the cached set lacks a key an assertion names; at most once
    /// per [`KEY_REFETCH_INTERVAL_SECONDS`], else the cached set.
    Refetch,
}

impl std::fmt::Debug for CimdFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CimdFetcher").finish_non_exhaustive()
    }
}

/// A document that passed every check, with how long it may be reused.
#[derive(Debug)]
pub struct FetchedDocument {
    /// The client's settings and descriptive fields.
    pub registration: Registration,
    /// Seconds the document may be reused, from its `Cache-Control` within the bounds.
    pub ttl: u64,
}

impl CimdFetcher {
    /// Builds the HTTP clients; fails at start on an unreadable `cimd.extra_ca_file`.
    pub fn new(config: &CimdConfig) -> anyhow::Result<Self> {
        let extra_ca = match &config.extra_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).with_context(|| {
                    format!("cimd.extra_ca_file: cannot read {}", path.display())
                })?;
                Some(reqwest::Certificate::from_pem(&pem).with_context(|| {
                    format!(
                        "cimd.extra_ca_file: {} is not a PEM certificate",
                        path.display()
                    )
                })?)
            }
            None => None,
        };
        let timeout = config.timeout.as_std();
        let builder = || {
            let builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .https_only(true)
                .timeout(timeout)
                .connect_timeout(timeout)
                .user_agent(concat!(
                    "mcp-authd/",
                    env!("CARGO_PKG_VERSION"),
                    " (client ID metadata document fetcher)"
                ));
            match &extra_ca {
                Some(cert) => builder.add_root_certificate(cert.clone()),
                None => builder,
            }
        };
        Ok(Self {
            strict: builder()
                .dns_resolver(Arc::new(PublicOnlyResolver))
                .build()
                .context("building the CIMD HTTP client")?,
            private: builder().build().context("building the CIMD HTTP client")?,
            config: config.clone(),
            fresh: Expiring::new(),
            refused: Expiring::new(),
            slots: Semaphore::new(config.max_concurrent_fetches),
            key_sets: Expiring::new(),
            key_refetched: Expiring::new(),
            key_refused: Expiring::new(),
            key_lookups: SingleFlight::default(),
        })
    }

    /// Whether the stored copy of `client_id` may still be used at `now`.
    pub fn is_fresh(&self, client_id: &str, now: i64) -> bool {
        self.fresh.get(client_id, now).is_some()
    }

    /// Remembers that `client_id` was fetched at `now` and may be reused for `ttl` seconds.
    pub fn remember(&self, client_id: &str, now: i64, ttl: u64) {
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
        self.fresh
            .insert(client_id, now, now.saturating_add(ttl), ());
    }

    /// Fetches and checks the document `client_id` names at `now`, unless it failed within
    /// `cimd.negative_cache_ttl` (then the same refusal, without a fetch) or too many
    /// fetches are running. A refusal is client-safe and says which rule refused it; the
    /// details go to the log.
    pub async fn fetch(
        &self,
        client_id: &str,
        now: i64,
        allowed_private_schemes: &[String],
    ) -> Result<FetchedDocument, FetchError> {
        if let Some(reason) = self.refused.get(client_id, now) {
            return Err(FetchError::Refused(reason));
        }
        let Ok(_slot) = self.slots.try_acquire() else {
            tracing::warn!(
                limit = self.config.max_concurrent_fetches,
                "client ID metadata document fetch refused: too many in flight"
            );
            return Err(FetchError::Busy);
        };
        let fetched = self.fetch_now(client_id, allowed_private_schemes).await;
        match &fetched {
            Ok(_) => self.refused.remove(client_id),
            Err(reason) => {
                let ttl = self.config.negative_cache_ttl.as_i64();
                self.refused
                    .insert(client_id, now, now.saturating_add(ttl), reason.clone());
            }
        }
        fetched.map_err(FetchError::Refused)
    }

    async fn fetch_now(
        &self,
        client_id: &str,
        allowed_private_schemes: &[String],
    ) -> Result<FetchedDocument, String> {
        let url = check_document_url(client_id)?;
        let (body, cache_control) = self.get_json(url, "document").await?;
        let registration = parse_document(client_id, &body, allowed_private_schemes)?;
        Ok(FetchedDocument {
            registration,
            ttl: self.ttl(cache_control.as_deref()),
        })
    }

    /// The cache lifetime a response's `Cache-Control` gives, within the configured bounds.
    fn ttl(&self, cache_control: Option<&str>) -> u64 {
        cache_ttl(
            cache_control,
            self.config.cache_min_ttl.0,
            self.config.cache_max_ttl.0,
        )
    }

    /// The JWK Set a `private_key_jwt` client publishes at `jwks_uri`, fetched under the
    /// document rules (public addresses, host lists, size and time limits, no redirects,
    /// bounded concurrency, failures remembered for `cimd.negative_cache_ttl`) and cached
    /// for the lifetime its `Cache-Control` gives within the document bounds. Concurrent
    /// callers share one fetch.
    pub async fn key_set(
        &self,
        jwks_uri: &str,
        now: i64,
        freshness: KeySetFreshness,
    ) -> Result<Arc<Value>, FetchError> {
        let cached = self.key_sets.get(jwks_uri, now);
        let may_refetch = freshness == KeySetFreshness::Refetch
            && self.key_refetched.get(jwks_uri, now).is_none();
        match cached {
            Some(keys) if !may_refetch => return Ok(keys),
            Some(_) => {}
            None => {
                if let Some(reason) = self.key_refused.get(jwks_uri, now) {
                    return Err(FetchError::Refused(reason));
                }
            }
        }
        if may_refetch {
            let until = now.saturating_add(KEY_REFETCH_INTERVAL_SECONDS);
            self.key_refetched.insert(jwks_uri, now, until, ());
        }
        self.key_lookups
            .run(jwks_uri, || self.fetch_key_set(jwks_uri, now))
            .await
    }

    async fn fetch_key_set(&self, jwks_uri: &str, now: i64) -> Result<Arc<Value>, FetchError> {
        let Ok(_slot) = self.slots.try_acquire() else {
            tracing::warn!(
                limit = self.config.max_concurrent_fetches,
                "client JWK Set fetch refused: too many fetches in flight"
            );
            return Err(FetchError::Busy);
        };
        let fetched = async {
            let url = Url::parse(jwks_uri).map_err(|_| "the jwks_uri is not a URL".to_owned())?;
            let (body, cache_control) = self.get_json(url, "JWK Set").await?;
            let value = crate::oauth::strict_json::parse(&body)
                .map_err(|reason| format!("the JWK Set is not valid JSON: {reason}"))?;
            ClientKeys::from_metadata(Some(&value), None)?;
            Ok::<_, String>((Arc::new(value), self.ttl(cache_control.as_deref())))
        }
        .await;
        match fetched {
            Ok((keys, ttl)) => {
                let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
                self.key_refused.remove(jwks_uri);
                self.key_sets
                    .insert(jwks_uri, now, now.saturating_add(ttl), keys.clone());
                Ok(keys)
            }
            Err(reason) => {
                tracing::info!(%jwks_uri, %reason, "client JWK Set refused");
                let ttl = self.config.negative_cache_ttl.as_i64();
                self.key_refused
                    .insert(jwks_uri, now, now.saturating_add(ttl), reason.clone());
                Err(FetchError::Refused(reason))
            }
        }
    }

    /// One GET of a client-published JSON resource (`what` names it in reasons) under the
    /// host lists and address rules, within `cimd.timeout`.
    async fn get_json(&self, url: Url, what: &str) -> Result<(Vec<u8>, Option<String>), String> {
        let host = url.host_str().unwrap_or_default();
        let not_accepted = || format!("{what}s from {host} are not accepted");
        if self.config.deny_hosts.iter().any(|e| host_matches(host, e)) {
            return Err(not_accepted());
        }
        if !self.config.allow_hosts.is_empty()
            && !self
                .config
                .allow_hosts
                .iter()
                .any(|e| host_matches(host, e))
        {
            return Err(not_accepted());
        }
        let exempt = self
            .config
            .allow_private_urls
            .iter()
            .any(|u| u == url.as_str());
        if !exempt {
            let literal = match url.host() {
                Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public_unicast(ip)) {
                return Err(format!("the {what} URL is a special-use address"));
            }
        }
        let client = if exempt { &self.private } else { &self.strict };
        let deadline = self.config.timeout.as_std();
        match tokio::time::timeout(deadline, self.download(client, url, exempt, what)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(what, deadline)),
        }
    }

    /// One GET: 200 and JSON only, the body read up to `cimd.max_bytes`.
    async fn download(
        &self,
        client: &reqwest::Client,
        url: Url,
        exempt: bool,
        what: &str,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let shown = url.to_string();
        let mut response = client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(what, &shown, &e))?;
        // The resolver already refused special-use addresses; this checks the socket too.
        let peer = response.remote_addr().map(|addr| addr.ip());
        if !exempt && peer.is_some_and(|ip| !is_public_unicast(ip)) {
            return Err(format!("the {what} URL is a special-use address"));
        }
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "fetching the {what} answered a redirect ({status}); redirects are not followed"
            ));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("fetching the {what} answered {status}, not 200"));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::oauth::strict_json::is_json_media_type(content_type) {
            return Err(format!("the {what} is not served as application/json"));
        }
        let cache_control = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let max = self.config.max_bytes;
        let body = read_limited(&mut response, max)
            .await
            .map_err(|e| describe(what, &shown, &e))?
            .ok_or_else(|| format!("the {what} is larger than {max} bytes"))?;
        Ok((body, cache_control))
    }
}

fn timed_out(what: &str, deadline: Duration) -> String {
    format!(
        "fetching the {what} timed out after {}s",
        deadline.as_secs()
    )
}

/// A client-safe reason for a failed request; the full error goes to the log.
fn describe(what: &str, url: &str, error: &reqwest::Error) -> String {
    tracing::info!(%url, error = %error, "fetching a client's {what} failed");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<SpecialUseAddress>().is_some() {
            return format!("the {what} host resolves only to special-use addresses");
        }
        source = e.source();
    }
    if error.is_timeout() {
        format!("fetching the {what} timed out")
    } else if error.is_connect() {
        format!("the {what} host could not be reached")
    } else {
        format!("the {what} could not be fetched")
    }
}
