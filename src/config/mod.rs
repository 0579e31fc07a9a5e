//! Typed settings: defaults, then a TOML file, then `MCP_AUTHD_*` environment, then flags.

mod duration;
mod load;
mod providers;
mod validate;

pub use duration::Seconds;
pub use load::{ConfigError, Overrides, load};
pub use providers::{IdentityProviderConfig, ProviderKind};
pub use validate::{JWKS_CACHE_CONTROL, JWKS_MAX_AGE_SECONDS};

use crate::oauth::audiences::{Audiences, ResourceConfig};
use crate::oauth::metadata::ServerProfile;
use crate::oauth::redirect_uri::is_loopback_host;
use crate::oauth::registration::RegistrationMode;
use crate::support::secret::Secret;
use crate::support::telemetry::LogFormat;
use crate::tokens::signing_key::SigningAlgorithm;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything mcp-authd can be told, loaded once at start and validated before anything runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The exact public URL clients see; never derived from request headers.
    pub issuer: String,
    /// Development only: accept an `http://` issuer that is not loopback (OAuth 2.1 requires
    /// TLS), with a warning on every start.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub allow_insecure_issuer: bool,
    /// The socket address the HTTP server binds.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`; `None` means the SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Where the SQLite file and a generated key-encryption key live.
    pub data_dir: PathBuf,
    /// Token lifetimes.
    pub tokens: TokensConfig,
    /// Signing keys and their rotation.
    pub keys: KeysConfig,
    /// The MCP servers this authorization server protects.
    pub resources: Vec<ResourceConfig>,
    /// The audience for a request that names no resource.
    pub default_resource: Option<String>,
    /// Dynamic client registration (RFC 7591) policy.
    pub registration: RegistrationConfig,
    /// Client ID metadata documents.
    pub cimd: CimdConfig,
    /// People's login sessions and brute-force limits.
    pub login: LoginConfig,
    /// The upstream providers people may sign in with (`[[identity_providers]]`).
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// Limits on authorization requests waiting for a person.
    pub authorize: AuthorizeConfig,
    /// HTTP limits and proxy trust.
    pub http: HttpConfig,
    /// Log output.
    pub log: LogConfig,
    /// Security event retention.
    pub audit: AuditConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            allow_insecure_issuer: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("data"),
            tokens: TokensConfig::default(),
            keys: KeysConfig::default(),
            resources: Vec::new(),
            default_resource: None,
            registration: RegistrationConfig::default(),
            cimd: CimdConfig::default(),
            login: LoginConfig::default(),
            identity_providers: Vec::new(),
            authorize: AuthorizeConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Config {
    /// The database to open: the configured URL, else the SQLite file inside `data_dir`.
    pub fn database_url(&self) -> Secret {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}",
                self.data_dir.join("mcp-authd.db").display()
            )),
        }
    }

    /// True for an `http://` issuer that is not loopback: accepted only with
    /// `allow_insecure_issuer`.
    pub fn insecure_issuer(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|url| {
            url.scheme() == "http" && !url.host().is_some_and(|h| is_loopback_host(&h))
        })
    }

    /// True when no resources are configured, so any absolute https or loopback URI is accepted.
    pub fn open_resource_mode(&self) -> bool {
        self.resources.is_empty()
    }

    /// The part of the configuration the metadata document (RFC 8414) describes.
    pub fn server_profile(&self) -> ServerProfile<'_> {
        ServerProfile {
            audiences: self.audiences(),
            registration: self.registration.mode,
            client_id_metadata_documents: self.cimd.enabled,
            signing_algorithm: self.keys.algorithm,
            token_exchange: self
                .identity_providers
                .iter()
                .any(|p| p.store_upstream_tokens),
        }
    }

    /// The part of the configuration every audience rule reads.
    pub fn audiences(&self) -> Audiences<'_> {
        Audiences {
            issuer: &self.issuer,
            resources: &self.resources,
            default_resource: self.default_resource.as_deref(),
        }
    }
}

/// `[tokens]`: lifetimes of what the server issues.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Lifetime of a JWT access token.
    pub access_token_ttl: Seconds,
    /// Lifetime of an authorization code.
    pub authorization_code_ttl: Seconds,
    /// A refresh token unused for this long expires.
    pub refresh_token_idle_ttl: Seconds,
    /// A refresh token family ends this long after the person logged in.
    pub refresh_token_absolute_ttl: Seconds,
    /// How long a just-rotated refresh token may be presented again for the same successor.
    pub refresh_reuse_window: Seconds,
    /// Failed `/token` requests allowed per client and address within `failure_window`,
    /// then 429; 0 turns the limit off.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_failures: u32,
    /// The window `/token` failures are counted in.
    pub failure_window: Seconds,
    /// How long the sweep keeps a refresh-token family after it was revoked or went idle
    /// (so a stolen token presented again is still recognised as reuse), before deleting it.
    pub revoked_retention: Seconds,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Seconds(3_600),
            authorization_code_ttl: Seconds(60),
            refresh_token_idle_ttl: Seconds(30 * 86_400),
            refresh_token_absolute_ttl: Seconds(90 * 86_400),
            refresh_reuse_window: Seconds(30),
            max_failures: 60,
            failure_window: Seconds(60),
            revoked_retention: Seconds(7 * 86_400),
        }
    }
}

/// `[keys]`: signing keys and their rotation schedule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Algorithm of newly generated keys.
    pub algorithm: SigningAlgorithm,
    /// How long one key signs.
    pub rotation_interval: Seconds,
    /// How long the next key is published before it signs.
    pub prepublish: Seconds,
    /// Base64 256-bit key that encrypts private keys at rest.
    pub encryption_key: Option<Secret>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::ES256,
            rotation_interval: Seconds(30 * 86_400),
            prepublish: Seconds(2 * 86_400),
            encryption_key: None,
        }
    }
}

/// `[registration]`: RFC 7591 dynamic client registration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Who may register.
    pub mode: RegistrationMode,
    /// Bearer token required when `mode = "token"`.
    pub initial_access_token: Option<Secret>,
    /// Registrations accepted per client IP per hour.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub per_ip_per_hour: u32,
    /// Dynamically registered clients never used for this long are deleted.
    pub unused_client_ttl: Seconds,
    /// Private-use redirect URI schemes allowed besides https and loopback http.
    #[serde(deserialize_with = "crate::support::lenient::list")]
    pub allowed_redirect_schemes: Vec<String>,
    /// Whether registrations holding the initial access token may ask for
    /// `client_credentials`. Never in `open` mode: an anonymous registration must not yield
    /// a client that mints tokens with no person involved.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub allow_client_credentials: bool,
}

impl RegistrationConfig {
    /// Whether a dynamic registration may include the `client_credentials` grant.
    pub fn machine_clients_allowed(&self) -> bool {
        self.mode == RegistrationMode::Token && self.allow_client_credentials
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Open,
            initial_access_token: None,
            per_ip_per_hour: 20,
            unused_client_ttl: Seconds(7 * 86_400),
            allowed_redirect_schemes: Vec::new(),
            allow_client_credentials: false,
        }
    }
}

/// `[cimd]`: client ID metadata documents.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CimdConfig {
    /// Whether https client_ids are fetched as metadata documents.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub enabled: bool,
    /// Hosts allowed to serve documents; empty means any.
    #[serde(deserialize_with = "crate::support::lenient::list")]
    pub allow_hosts: Vec<String>,
    /// Hosts never fetched.
    #[serde(deserialize_with = "crate::support::lenient::list")]
    pub deny_hosts: Vec<String>,
    /// Largest document accepted.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_bytes: usize,
    /// Deadline for the whole fetch.
    pub timeout: Seconds,
    /// Shortest time a document is cached.
    pub cache_min_ttl: Seconds,
    /// Longest time a document is cached.
    pub cache_max_ttl: Seconds,
    /// An extra CA certificate (PEM) to trust, for tests and private networks.
    pub extra_ca_file: Option<PathBuf>,
    /// Exact document URLs exempt from the private-address block.
    #[serde(deserialize_with = "crate::support::lenient::list")]
    pub allow_private_urls: Vec<String>,
    /// How long a document that could not be fetched or was refused is not fetched again.
    pub negative_cache_ttl: Seconds,
    /// Documents fetched at once at most, across all URLs; past it `temporarily_unavailable`.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_concurrent_fetches: usize,
}

impl Default for CimdConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            max_bytes: 5_120,
            timeout: Seconds(5),
            cache_min_ttl: Seconds(300),
            cache_max_ttl: Seconds(86_400),
            extra_ca_file: None,
            allow_private_urls: Vec::new(),
            negative_cache_ttl: Seconds(30),
            max_concurrent_fetches: 16,
        }
    }
}

/// `[login]`: sessions and brute-force protection for people.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// How long a login lasts before the password is asked again.
    pub session_ttl: Seconds,
    /// Failed sign-ins allowed per username within the window.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_failures: u32,
    /// Failed sign-ins allowed per client network (IPv4 address, IPv6 /64) within the
    /// window; higher than per username, since many people may share one NAT address.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_failures_per_ip: u32,
    /// The window failures are counted in.
    pub failure_window: Seconds,
    /// Whether the sign-in page offers the local password form; `false` with identity
    /// providers means federation only.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub password: bool,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            session_ttl: Seconds(12 * 3_600),
            max_failures: 5,
            max_failures_per_ip: 30,
            failure_window: Seconds(900),
            password: true,
        }
    }
}

/// `[authorize]`: how many authorization requests may wait for a person.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizeConfig {
    /// Pending requests (a sign-in or consent page shown) stored per client IP (IPv6: per
    /// /64) within `pending_window`, then a 429 page; 0 turns the limit off.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub pending_per_ip: u32,
    /// The window pending requests are counted in.
    pub pending_window: Seconds,
}

impl Default for AuthorizeConfig {
    fn default() -> Self {
        Self {
            pending_per_ip: 30,
            pending_window: Seconds(600),
        }
    }
}

/// `[http]`: request limits and reverse-proxy trust.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Peers (IP or CIDR) whose forwarded headers are believed.
    #[serde(deserialize_with = "crate::support::lenient::list")]
    pub trusted_proxies: Vec<String>,
    /// Largest request body accepted.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_body_bytes: usize,
    /// Deadline for one request.
    pub request_timeout: Seconds,
    /// A separate address for `/metrics`; none serves it on `listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Open connections at most; further connections are closed at once.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_connections: usize,
    /// Requests served at once at most; further requests get 503 with `Retry-After`.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_in_flight: usize,
    /// Largest request head (request line and headers) accepted; larger gets 431.
    #[serde(deserialize_with = "crate::support::lenient::from_str")]
    pub max_header_bytes: usize,
    /// A connection must send a complete request head within this long of opening or of
    /// its previous response, else it is closed: ends idle keep-alive connections.
    pub idle_timeout: Seconds,
    /// A request head must be complete within this long of its first byte, else the
    /// connection is closed: ends clients that send headers slowly.
    pub header_read_timeout: Seconds,
    /// On SIGTERM, how long in-flight requests may take to finish before the process exits.
    pub shutdown_timeout: Seconds,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            max_body_bytes: 65_536,
            request_timeout: Seconds(30),
            admin_listen: None,
            max_connections: 1_024,
            max_in_flight: 256,
            max_header_bytes: 16_384,
            idle_timeout: Seconds(75),
            header_read_timeout: Seconds(10),
            shutdown_timeout: Seconds(30),
        }
    }
}

/// `[log]`: what is logged and how.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `mcp_authd=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// `[audit]`: stored security events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Events older than this are pruned.
    pub retention: Seconds,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Seconds(90 * 86_400),
        }
    }
}
