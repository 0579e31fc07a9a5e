//! Start-up checks that turn a well-typed but wrong configuration into a message naming the key.

use super::{Config, ConfigError, RegistrationMode};
use crate::oauth::audiences::is_acceptable_resource_uri;
use crate::oauth::scope;
use crate::support::net::IpNet;
use crate::tokens::rotation::REFRESH_INTERVAL_SECONDS;
use base64::Engine;
use std::collections::HashSet;
use url::Url;

/// How long resource servers may cache the JWKS; `keys.prepublish` must be longer.
pub const JWKS_MAX_AGE_SECONDS: u64 = 300;

/// The `Cache-Control` of `/jwks.json`, spelling out [`JWKS_MAX_AGE_SECONDS`].
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Checks every cross-field and format rule the types cannot express.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    validate_issuer(&config.issuer)?;
    if config.insecure_issuer() && !config.allow_insecure_issuer {
        return Err(ConfigError::new(
            "issuer",
            format!(
                "{:?} is http:// and not loopback: OAuth 2.1 requires TLS. Use the https URL \
                 clients reach (behind a TLS-terminating proxy too), or, for development only, \
                 set allow_insecure_issuer = true",
                config.issuer
            ),
        ));
    }
    validate_tokens(config)?;
    validate_keys(config)?;
    validate_resources(config)?;
    validate_registration(config)?;
    validate_limits(config)?;
    super::providers::validate(&config.identity_providers)?;
    if !config.login.password && config.identity_providers.is_empty() {
        return Err(ConfigError::new(
            "login.password",
            "false leaves no way to sign in: configure [[identity_providers]] first",
        ));
    }
    if let Some(url) = &config.database_url {
        let url = url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .map_err(|e| ConfigError::new("log.level", e.to_string()))?;
    Ok(())
}

fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let err = |m: String| Err(ConfigError::new("issuer", m));
    let url = match Url::parse(issuer) {
        Ok(url) => url,
        Err(e) => return err(format!("{issuer:?} is not an absolute URL: {e}")),
    };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return err(format!(
            "{issuer:?} must be an http or https URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return err(format!(
            "{issuer:?} must not have a query, fragment or user information (RFC 8414 2)"
        ));
    }
    if issuer.ends_with('/') {
        return err(format!("{issuer:?} must not end with a slash"));
    }
    let normalized = url.as_str().trim_end_matches('/');
    if normalized != issuer {
        return err(format!(
            "{issuer:?} must be written as clients will compare it, byte for byte: {normalized:?}"
        ));
    }
    Ok(())
}

fn validate_tokens(config: &Config) -> Result<(), ConfigError> {
    let t = &config.tokens;
    let positive = [
        ("tokens.access_token_ttl", t.access_token_ttl),
        ("tokens.authorization_code_ttl", t.authorization_code_ttl),
        ("tokens.refresh_token_idle_ttl", t.refresh_token_idle_ttl),
        (
            "tokens.refresh_token_absolute_ttl",
            t.refresh_token_absolute_ttl,
        ),
        ("login.session_ttl", config.login.session_ttl),
        ("login.failure_window", config.login.failure_window),
    ];
    for (key, value) in positive {
        if value.0 == 0 {
            return Err(ConfigError::new(key, "must be longer than 0 seconds"));
        }
    }
    if t.access_token_ttl.0 > 86_400 {
        return Err(ConfigError::new(
            "tokens.access_token_ttl",
            "must be at most 24h: access tokens cannot be recalled from resource servers that verify offline",
        ));
    }
    if t.authorization_code_ttl.0 > 600 {
        return Err(ConfigError::new(
            "tokens.authorization_code_ttl",
            "must be at most 10m (RFC 6749 4.1.2)",
        ));
    }
    if t.refresh_token_idle_ttl > t.refresh_token_absolute_ttl {
        return Err(ConfigError::new(
            "tokens.refresh_token_idle_ttl",
            "must not exceed tokens.refresh_token_absolute_ttl",
        ));
    }
    Ok(())
}

fn validate_keys(config: &Config) -> Result<(), ConfigError> {
    let k = &config.keys;
    // A new key reaches every instance within one key refresh, then every resource server
    // within one JWKS cache lifetime; only then may it sign.
    let visible_everywhere = JWKS_MAX_AGE_SECONDS + REFRESH_INTERVAL_SECONDS;
    if k.prepublish.0 <= visible_everywhere {
        return Err(ConfigError::new(
            "keys.prepublish",
            format!(
                "must exceed the JWKS cache lifetime of {JWKS_MAX_AGE_SECONDS}s plus the \
                 {REFRESH_INTERVAL_SECONDS}s key refresh interval ({visible_everywhere}s)"
            ),
        ));
    }
    if k.rotation_interval <= k.prepublish {
        return Err(ConfigError::new(
            "keys.rotation_interval",
            "must be longer than keys.prepublish",
        ));
    }
    if let Some(key) = &k.encryption_key {
        let decoded = base64::engine::general_purpose::STANDARD.decode(key.expose().trim());
        if decoded.map(|bytes| bytes.len()) != Ok(32) {
            return Err(ConfigError::new(
                "keys.encryption_key",
                "must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)",
            ));
        }
    }
    Ok(())
}

fn validate_resources(config: &Config) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, resource) in config.resources.iter().enumerate() {
        let key = |field: &str| format!("resources[{i}].{field}");
        if !is_acceptable_resource_uri(&resource.uri) {
            return Err(ConfigError::new(
                key("uri"),
                format!(
                    "{:?} must be an absolute https URL (or http on loopback) without a fragment",
                    resource.uri
                ),
            ));
        }
        if !seen.insert(resource.uri.trim_end_matches('/')) {
            return Err(ConfigError::new(
                key("uri"),
                format!("{:?} is configured twice", resource.uri),
            ));
        }
        if resource.name.trim().is_empty() {
            return Err(ConfigError::new(key("name"), "must not be empty"));
        }
        if let Some(bad) = resource.scopes.iter().find(|s| !scope::is_scope_token(s)) {
            return Err(ConfigError::new(
                key("scopes"),
                format!("{bad:?} is not a valid scope token"),
            ));
        }
        if let Some(extra) = resource
            .default_scopes
            .iter()
            .find(|s| !resource.scopes.contains(s))
        {
            return Err(ConfigError::new(
                key("default_scopes"),
                format!("{extra:?} is not one of this resource's scopes"),
            ));
        }
    }
    if let Some(default) = &config.default_resource {
        let known = config.resources.iter().any(|r| r.uri == *default);
        if !config.resources.is_empty() && !known {
            return Err(ConfigError::new(
                "default_resource",
                "must be the uri of one of [[resources]]",
            ));
        }
        if !is_acceptable_resource_uri(default) {
            return Err(ConfigError::new(
                "default_resource",
                "must be an absolute https URL (or http on loopback)",
            ));
        }
    }
    Ok(())
}

fn validate_registration(config: &Config) -> Result<(), ConfigError> {
    let r = &config.registration;
    if r.mode == RegistrationMode::Token && r.initial_access_token.is_none() {
        return Err(ConfigError::new(
            "registration.initial_access_token",
            "is required when registration.mode = \"token\"",
        ));
    }
    for scheme in &r.allowed_redirect_schemes {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let reserved = [
            "http",
            "https",
            "javascript",
            "data",
            "file",
            "vbscript",
            "blob",
            "about",
        ];
        if !valid || reserved.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(ConfigError::new(
                "registration.allowed_redirect_schemes",
                format!("{scheme:?} is not a private-use URI scheme"),
            ));
        }
    }
    Ok(())
}

fn validate_limits(config: &Config) -> Result<(), ConfigError> {
    for proxy in &config.http.trusted_proxies {
        proxy
            .parse::<IpNet>()
            .map_err(|e| ConfigError::new("http.trusted_proxies", e))?;
    }
    if config.http.max_body_bytes < 1_024 {
        return Err(ConfigError::new(
            "http.max_body_bytes",
            "must be at least 1024",
        ));
    }
    if config.http.request_timeout.0 == 0 {
        return Err(ConfigError::new(
            "http.request_timeout",
            "must be longer than 0 seconds",
        ));
    }
    let h = &config.http;
    if h.max_connections == 0 || h.max_in_flight == 0 {
        return Err(ConfigError::new(
            "http.max_connections",
            "http.max_connections and http.max_in_flight must be at least 1",
        ));
    }
    if !(8_192..=1_048_576).contains(&h.max_header_bytes) {
        return Err(ConfigError::new(
            "http.max_header_bytes",
            "must be between 8192 and 1048576",
        ));
    }
    if h.header_read_timeout.0 == 0 {
        return Err(ConfigError::new(
            "http.header_read_timeout",
            "must be longer than 0 seconds",
        ));
    }
    if h.idle_timeout.0 == 0 || h.shutdown_timeout.0 == 0 {
        return Err(ConfigError::new(
            "http.idle_timeout",
            "http.idle_timeout and http.shutdown_timeout must be longer than 0 seconds",
        ));
    }
    if config.tokens.failure_window.0 == 0 {
        return Err(ConfigError::new(
            "tokens.failure_window",
            "must be longer than 0 seconds",
        ));
    }
    if config.login.max_failures == 0 {
        return Err(ConfigError::new("login.max_failures", "must be at least 1"));
    }
    if config.login.max_failures_per_ip == 0 {
        return Err(ConfigError::new(
            "login.max_failures_per_ip",
            "must be at least 1",
        ));
    }
    let c = &config.cimd;
    if c.max_bytes == 0 || c.timeout.0 == 0 {
        return Err(ConfigError::new(
            "cimd",
            "max_bytes and timeout must be above 0",
        ));
    }
    if c.max_concurrent_fetches == 0 {
        return Err(ConfigError::new(
            "cimd.max_concurrent_fetches",
            "must be at least 1",
        ));
    }
    if c.negative_cache_ttl.0 > 3_600 {
        return Err(ConfigError::new(
            "cimd.negative_cache_ttl",
            "must be at most 1h: a fixed document must not stay refused for long",
        ));
    }
    if config.authorize.pending_window.0 == 0 {
        return Err(ConfigError::new(
            "authorize.pending_window",
            "must be longer than 0 seconds",
        ));
    }
    if c.cache_min_ttl > c.cache_max_ttl {
        return Err(ConfigError::new(
            "cimd.cache_min_ttl",
            "must not exceed cimd.cache_max_ttl",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_http_issuer_needs_the_development_switch() {
        let mut config = Config {
            issuer: "http://auth.example.com".into(),
            ..Config::default()
        };
        let refused = validate(&config).unwrap_err();
        assert!(refused.to_string().contains("requires TLS"), "{refused}");
        config.allow_insecure_issuer = true;
        assert!(validate(&config).is_ok());
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            config.issuer = loopback.into();
            config.allow_insecure_issuer = false;
            assert!(validate(&config).is_ok(), "{loopback}");
        }
    }

    #[test]
    fn issuer_must_be_byte_exact() {
        assert!(validate_issuer("https://auth.example.com").is_ok());
        assert!(validate_issuer("https://auth.example.com/tenant").is_ok());
        assert!(validate_issuer("https://auth.example.com/").is_err());
        assert!(validate_issuer("https://Auth.example.com").is_err());
        assert!(validate_issuer("https://auth.example.com:443").is_err());
        assert!(validate_issuer("https://auth.example.com?x=1").is_err());
        assert!(validate_issuer("auth.example.com").is_err());
    }

    #[test]
    fn jwks_cache_control_spells_out_the_max_age() {
        assert_eq!(
            JWKS_CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECONDS}")
        );
    }

    #[test]
    fn prepublish_must_outlast_key_refresh_plus_jwks_cache() {
        let mut config = Config::default();
        config.keys.prepublish = crate::config::Seconds(310);
        assert_eq!(
            validate_keys(&config).map_err(|e| e.key),
            Err("keys.prepublish".to_owned())
        );
        config.keys.prepublish = crate::config::Seconds(311);
        assert!(validate_keys(&config).is_ok());
    }

    #[test]
    fn resource_uris_must_be_https_or_loopback() {
        assert!(is_acceptable_resource_uri("https://mcp.example.com/mcp"));
        assert!(is_acceptable_resource_uri("http://localhost:3000/mcp"));
        assert!(!is_acceptable_resource_uri("http://mcp.example.com/mcp"));
        assert!(!is_acceptable_resource_uri("https://mcp.example.com/mcp#x"));
        assert!(!is_acceptable_resource_uri("urn:x"));
    }
}
