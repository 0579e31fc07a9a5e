//! `[[identity_providers]]`: the upstream OpenID Connect providers people sign in with, and
//! the start-up checks that name the key of a bad entry.

use super::ConfigError;
use crate::oauth::redirect_uri::is_loopback_host;
use crate::support::secret::Secret;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use url::Url;

/// One upstream provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// `[a-z0-9-]{1,32}`: part of the sign-in and callback URLs, and of links to people.
    pub id: String,
    /// Shown on the sign-in page: "Sign in with {name}".
    pub name: String,
    /// The protocol spoken with the provider.
    #[serde(default)]
    pub kind: ProviderKind,
    /// The provider's issuer; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`. Not used by `kind = "github"`.
    #[serde(default)]
    pub issuer: String,
    /// mcp-authd's client id at the provider.
    pub client_id: String,
    /// mcp-authd's client secret at the provider (or `client_secret_file`).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (a mounted container secret), read at start.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The scopes asked of the provider; empty means the kind's defaults (see
    /// [`IdentityProviderConfig::scopes`]).
    #[serde(default, deserialize_with = "crate::support::lenient::list")]
    pub scopes: Vec<String>,
    /// When set, only people whose verified email is in one of these domains get in.
    #[serde(default, deserialize_with = "crate::support::lenient::list")]
    pub allowed_email_domains: Vec<String>,
    /// Whether a first sign-in creates the person; when false an operator links them first
    /// (`mcp-authd users link NAME --provider ID --subject SUB`).
    #[serde(
        default = "default_true",
        deserialize_with = "crate::support::lenient::from_str"
    )]
    pub auto_create: bool,
    /// Whether the provider's access and refresh tokens are kept (sealed) for MCP servers
    /// to obtain with token exchange (RFC 8693) when they act for the person.
    #[serde(default, deserialize_with = "crate::support::lenient::from_str")]
    pub store_upstream_tokens: bool,
    /// GitHub: where people sign in (GitHub Enterprise: `https://HOST/login/oauth/authorize`).
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// GitHub: where codes are redeemed (`https://HOST/login/oauth/access_token`).
    #[serde(default)]
    pub token_url: Option<String>,
    /// GitHub: the REST API (GitHub Enterprise: `https://HOST/api/v3`).
    #[serde(default)]
    pub api_url: Option<String>,
}

impl IdentityProviderConfig {
    /// The scopes asked of the provider: the configured ones, else the kind's defaults
    /// (OpenID Connect: `openid email profile`; GitHub: `read:user user:email`).
    pub fn scopes(&self) -> Vec<String> {
        if !self.scopes.is_empty() {
            return self.scopes.clone();
        }
        let defaults: &[&str] = match self.kind {
            ProviderKind::Oidc => &["openid", "email", "profile"],
            ProviderKind::Github => &["read:user", "user:email"],
        };
        defaults.iter().map(|s| (*s).to_owned()).collect()
    }

    /// GitHub's three endpoints: the configured ones, else github.com's.
    pub fn github_endpoints(&self) -> GithubEndpoints {
        let or = |url: &Option<String>, default: &str| {
            url.as_deref()
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_owned()
        };
        GithubEndpoints {
            authorize_url: or(
                &self.authorize_url,
                "https://github.com/login/oauth/authorize",
            ),
            token_url: or(
                &self.token_url,
                "https://github.com/login/oauth/access_token",
            ),
            api_url: or(&self.api_url, "https://api.github.com"),
        }
    }
}

/// Where mcp-authd talks to GitHub (or a GitHub Enterprise server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubEndpoints {
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The REST API's base URL, without a trailing slash.
    pub api_url: String,
}

/// How mcp-authd talks to a provider.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenID Connect: discovery, the code flow with PKCE, and a verified ID token.
    #[default]
    Oidc,
    /// GitHub's OAuth 2 (no OpenID Connect): the person is read from its REST API.
    Github,
}

fn default_true() -> bool {
    true
}

/// Reads every `client_secret_file` into `client_secret`, so a missing file fails at start.
pub fn read_secret_files(providers: &mut [IdentityProviderConfig]) -> Result<(), ConfigError> {
    for (index, provider) in providers.iter_mut().enumerate() {
        let Some(path) = &provider.client_secret_file else {
            continue;
        };
        let key = format!("identity_providers[{index}].client_secret_file");
        if provider.client_secret.is_some() {
            return Err(ConfigError::new(
                key,
                "set client_secret or client_secret_file, not both",
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&key, format!("cannot read {}: {e}", path.display())))?;
        provider.client_secret = Some(Secret::new(text.trim()));
    }
    Ok(())
}

/// Checks ids, issuers and secrets, naming the key of the first bad entry.
pub fn validate(providers: &[IdentityProviderConfig]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    for (index, provider) in providers.iter().enumerate() {
        let key = |field: &str| format!("identity_providers[{index}].{field}");
        let id = &provider.id;
        let id_ok = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(ConfigError::new(
                key("id"),
                format!("{id:?} must be 1 to 32 of a-z, 0-9 and -: it is part of URLs"),
            ));
        }
        if !ids.insert(id.as_str()) {
            return Err(ConfigError::new(key("id"), format!("{id:?} is used twice")));
        }
        if provider.name.trim().is_empty() {
            return Err(ConfigError::new(key("name"), "must not be empty"));
        }
        match provider.kind {
            ProviderKind::Oidc => {
                validate_endpoint(&provider.issuer)
                    .map_err(|m| ConfigError::new(key("issuer"), m))?;
                if !provider.scopes().iter().any(|s| s == "openid") {
                    return Err(ConfigError::new(
                        key("scopes"),
                        "an OpenID Connect provider must be asked for openid (it brings the ID token)",
                    ));
                }
                let github_only = [
                    ("authorize_url", &provider.authorize_url),
                    ("token_url", &provider.token_url),
                    ("api_url", &provider.api_url),
                ];
                if let Some((field, _)) = github_only.iter().find(|(_, v)| v.is_some()) {
                    return Err(ConfigError::new(
                        key(field),
                        "only kind = \"github\" takes it: an OpenID Connect provider's endpoints \
                         come from its discovery document",
                    ));
                }
            }
            ProviderKind::Github => {
                if !provider.issuer.is_empty() {
                    return Err(ConfigError::new(
                        key("issuer"),
                        "kind = \"github\" takes no issuer: for GitHub Enterprise set \
                         authorize_url, token_url and api_url",
                    ));
                }
                let endpoints = provider.github_endpoints();
                for (field, url) in [
                    ("authorize_url", &endpoints.authorize_url),
                    ("token_url", &endpoints.token_url),
                    ("api_url", &endpoints.api_url),
                ] {
                    validate_endpoint(url).map_err(|m| ConfigError::new(key(field), m))?;
                }
            }
        }
        if provider.client_id.is_empty() {
            return Err(ConfigError::new(key("client_id"), "must not be empty"));
        }
        if provider
            .client_secret
            .as_ref()
            .is_none_or(|s| s.expose().is_empty())
        {
            return Err(ConfigError::new(
                key("client_secret"),
                "set client_secret or client_secret_file: mcp-authd is a confidential client",
            ));
        }
        if let Some(domain) = provider
            .allowed_email_domains
            .iter()
            .find(|d| d.is_empty() || d.contains('@') || d.contains(char::is_whitespace))
        {
            return Err(ConfigError::new(
                key("allowed_email_domains"),
                format!("{domain:?} is not a domain (write acme.example, not an address)"),
            ));
        }
    }
    Ok(())
}

/// https, or http on a loopback address (tests, local development).
fn validate_endpoint(issuer: &str) -> Result<(), String> {
    let url = Url::parse(issuer).map_err(|e| format!("{issuer:?} is not an absolute URL: {e}"))?;
    let loopback = url.host().is_some_and(|h| is_loopback_host(&h));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{issuer:?} must be https (http only on a loopback address)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str, issuer: &str) -> IdentityProviderConfig {
        IdentityProviderConfig {
            id: id.into(),
            name: "Acme SSO".into(),
            kind: ProviderKind::Oidc,
            issuer: issuer.into(),
            client_id: "mcp-authd".into(),
            client_secret: Some(Secret::new("s3cret")),
            client_secret_file: None,
            scopes: Vec::new(),
            allowed_email_domains: Vec::new(),
            auto_create: true,
            store_upstream_tokens: false,
            authorize_url: None,
            token_url: None,
            api_url: None,
        }
    }

    #[test]
    fn a_good_provider_passes_and_each_bad_field_is_named() {
        assert!(validate(&[provider("corp", "https://login.acme.example")]).is_ok());
        assert!(validate(&[provider("dev", "http://127.0.0.1:9000")]).is_ok());
        let key = |p: IdentityProviderConfig| validate(&[p]).unwrap_err().key;
        assert_eq!(
            key(provider("Corp", "https://a.example")),
            "identity_providers[0].id"
        );
        assert_eq!(
            key(provider("corp", "http://login.acme.example")),
            "identity_providers[0].issuer"
        );
        let mut no_secret = provider("corp", "https://a.example");
        no_secret.client_secret = None;
        assert_eq!(key(no_secret), "identity_providers[0].client_secret");
        let mut no_openid = provider("corp", "https://a.example");
        no_openid.scopes = vec!["email".into()];
        assert_eq!(key(no_openid), "identity_providers[0].scopes");
        let mut address = provider("corp", "https://a.example");
        address.allowed_email_domains = vec!["alice@acme.example".into()];
        assert_eq!(key(address), "identity_providers[0].allowed_email_domains");
        let twice = [
            provider("corp", "https://a.example"),
            provider("corp", "https://b.example"),
        ];
        assert_eq!(
            validate(&twice).unwrap_err().key,
            "identity_providers[1].id"
        );
    }

    #[test]
    fn github_needs_no_issuer_and_its_endpoints_can_be_moved_for_enterprise() {
        let mut github = provider("github", "");
        github.kind = ProviderKind::Github;
        assert!(validate(std::slice::from_ref(&github)).is_ok());
        assert_eq!(github.scopes(), ["read:user", "user:email"]);
        assert_eq!(github.github_endpoints().api_url, "https://api.github.com");
        github.api_url = Some("https://ghe.acme.example/api/v3/".into());
        assert_eq!(
            github.github_endpoints().api_url,
            "https://ghe.acme.example/api/v3"
        );
        let key = |p: IdentityProviderConfig| validate(&[p]).unwrap_err().key;
        let mut with_issuer = github.clone();
        with_issuer.issuer = "https://github.com".into();
        assert_eq!(key(with_issuer), "identity_providers[0].issuer");
        let mut plain_http = github.clone();
        plain_http.token_url = Some("http://ghe.acme.example/login/oauth/access_token".into());
        assert_eq!(key(plain_http), "identity_providers[0].token_url");
        let mut oidc_with_api = provider("corp", "https://a.example");
        oidc_with_api.api_url = Some("https://api.a.example".into());
        assert_eq!(key(oidc_with_api), "identity_providers[0].api_url");
        assert_eq!(
            provider("corp", "https://a.example").scopes(),
            ["openid", "email", "profile"]
        );
    }
}
