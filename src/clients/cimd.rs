//! Fetching client ID metadata documents safely: no redirects, 200 only, a size cap, one
//! deadline for the whole fetch, and no connection to a special-use address, whatever DNS
//! answers; plus the cache of when each document was last fetched. Fetches are bounded:
//! at most `cimd.max_concurrent_fetches` at once (more are refused, never queued), and a
//! document that failed is not fetched again for `cimd.negative_cache_ttl`.

use crate::config::CimdConfig;
use crate::net::is_public_unicast;
use crate::oauth::cimd::{cache_ttl, check_document_url, host_matches, parse_document};
use crate::oauth::registration::Registration;
use anyhow::Context as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header;
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
        let host = url.host_str().unwrap_or_default();
        if self.config.deny_hosts.iter().any(|e| host_matches(host, e)) {
            return Err(format!("documents from {host} are not accepted"));
        }
        if !self.config.allow_hosts.is_empty()
            && !self
                .config
                .allow_hosts
                .iter()
                .any(|e| host_matches(host, e))
        {
            return Err(format!("documents from {host} are not accepted"));
        }
        let exempt = self
            .config
            .allow_private_urls
            .iter()
            .any(|u| u == client_id);
        if !exempt {
            let literal = match url.host() {
                Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public_unicast(ip)) {
                return Err("the document URL is a special-use address".into());
            }
        }
        let client = if exempt { &self.private } else { &self.strict };
        let deadline = self.config.timeout.as_std();
        let (body, cache_control) =
            match tokio::time::timeout(deadline, self.download(client, url, exempt)).await {
                Ok(result) => result?,
                Err(_) => return Err(timed_out(deadline)),
            };
        let registration = parse_document(client_id, &body, allowed_private_schemes)?;
        let ttl = cache_ttl(
            cache_control.as_deref(),
            self.config.cache_min_ttl.0,
            self.config.cache_max_ttl.0,
        );
        Ok(FetchedDocument { registration, ttl })
    }

    /// One GET: 200 and JSON only, the body read up to `cimd.max_bytes`.
    async fn download(
        &self,
        client: &reqwest::Client,
        url: Url,
        exempt: bool,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let shown = url.to_string();
        let mut response = client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(&shown, &e))?;
        // The resolver already refused special-use addresses; this checks the socket too.
        let peer = response.remote_addr().map(|addr| addr.ip());
        if !exempt && peer.is_some_and(|ip| !is_public_unicast(ip)) {
            return Err("the document URL is a special-use address".into());
        }
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "fetching the document answered a redirect ({status}); redirects are not followed"
            ));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("fetching the document answered {status}, not 200"));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::http::json::is_json(content_type) {
            return Err("the document is not served as application/json".into());
        }
        let cache_control = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let max = self.config.max_bytes;
        let too_large = || format!("the document is larger than {max} bytes");
        if response
            .content_length()
            .is_some_and(|len| len > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&shown, &e))? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, cache_control))
    }
}

fn timed_out(deadline: Duration) -> String {
    format!(
        "fetching the document timed out after {}s",
        deadline.as_secs()
    )
}

/// A client-safe reason for a failed request; the full error goes to the log.
fn describe(url: &str, error: &reqwest::Error) -> String {
    tracing::info!(%url, error = %error, "client ID metadata document fetch failed");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<SpecialUseAddress>().is_some() {
            return "the document host resolves only to special-use addresses".into();
        }
        source = e.source();
    }
    if error.is_timeout() {
        "fetching the document timed out".into()
    } else if error.is_connect() {
        "the document host could not be reached".into()
    } else {
        "the document could not be fetched".into()
    }
}
