//! Calling the person's identity provider for them: the MCP server trades the access token
//! it was given for the person's upstream access token (RFC 8693 token exchange at
//! mcp-authd's `/token`, authenticated as this server's own confidential client), then calls
//! the provider's API with it. mcp-authd keeps and refreshes the upstream tokens
//! (`store_upstream_tokens = true` on the provider); this server never stores them.

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::OnceCell;
use url::Url;

use crate::verifier::{authorization_server_metadata_url, http_client};

/// RFC 8693's grant type and token type for an access token.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// How long a call to mcp-authd or to the provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Who this server is at mcp-authd and which provider's API it calls.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// The provider's id in mcp-authd's `[[identity_providers]]` (the `audience`).
    pub provider: String,
    /// This server's client at mcp-authd (`clients create --resource-server --resource …`).
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// The provider API URL the `upstream_profile` tool reads (e.g. GitHub's
    /// `https://api.github.com/user` or the provider's OpenID Connect userinfo endpoint).
    pub profile_url: Url,
}

/// Everything but the secret.
impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("profile_url", &self.profile_url.as_str())
            .finish()
    }
}

/// Why the upstream call failed, in words for the tool's caller.
#[derive(Debug)]
pub enum UpstreamError {
    /// mcp-authd holds no usable upstream token for the person (`invalid_grant`): they
    /// must sign in with the provider again.
    SignInAgain(String),
    /// Anything else: mcp-authd or the provider could not be reached or refused this server.
    Failed(anyhow::Error),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignInAgain(why) => write!(
                f,
                "sign in with the identity provider again to use this tool ({why})"
            ),
            Self::Failed(error) => write!(f, "{error:#}"),
        }
    }
}

impl From<anyhow::Error> for UpstreamError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(error)
    }
}

/// Exchanges tokens and calls the provider; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Upstream {
    settings: UpstreamSettings,
    issuer: String,
    http: reqwest::Client,
    /// mcp-authd's token endpoint, read from its metadata on first use.
    token_endpoint: OnceCell<Url>,
}

#[derive(Deserialize)]
struct Exchanged {
    access_token: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl Upstream {
    /// A client for mcp-authd at `issuer` with these settings.
    pub fn new(issuer: &str, settings: UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            issuer: issuer.to_owned(),
            http: http_client(CALL_TIMEOUT)?,
            token_endpoint: OnceCell::new(),
        })
    }

    /// The provider's answer at the profile URL, called with the person's upstream token.
    pub async fn profile(&self, subject_token: &str) -> Result<serde_json::Value, UpstreamError> {
        let upstream_token = self.exchange(subject_token).await?;
        let url = &self.settings.profile_url;
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(upstream_token)
            .header("accept", "application/json")
            // GitHub's API refuses requests without a User-Agent.
            .header("user-agent", "mcp-authd-example-server")
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        if !response.status().is_success() {
            return Err(anyhow!("{url} answered {}", response.status()).into());
        }
        Ok(response
            .json()
            .await
            .with_context(|| format!("reading {url}"))?)
    }

    /// RFC 8693: the caller's mcp-authd access token in, the person's upstream token out.
    async fn exchange(&self, subject_token: &str) -> Result<String, UpstreamError> {
        let endpoint = self
            .token_endpoint
            .get_or_try_init(|| self.discover_token_endpoint())
            .await?;
        let response = self
            .http
            .post(endpoint.clone())
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", subject_token),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("audience", &self.settings.provider),
            ])
            .send()
            .await
            .with_context(|| format!("token exchange at {endpoint}"))?;
        let status = response.status();
        let body = response.bytes().await.context("reading the exchange")?;
        if status.is_success() {
            let exchanged: Exchanged =
                serde_json::from_slice(&body).context("reading the exchanged token")?;
            return Ok(exchanged.access_token);
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) if error.error == "invalid_grant" => Err(UpstreamError::SignInAgain(
                error.error_description.unwrap_or(error.error),
            )),
            Ok(error) => Err(anyhow!(
                "the token exchange answered {status} {}: {}",
                error.error,
                error.error_description.unwrap_or_default()
            )
            .into()),
            Err(_) => Err(anyhow!("the token exchange answered {status}").into()),
        }
    }

    async fn discover_token_endpoint(&self) -> anyhow::Result<Url> {
        let url = authorization_server_metadata_url(&self.issuer)?;
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            token_endpoint: String,
            #[serde(default)]
            grant_types_supported: Vec<String>,
        }
        let metadata: Metadata = self
            .http
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching {url}"))?
            .json()
            .await
            .with_context(|| format!("reading {url}"))?;
        if metadata.issuer != self.issuer {
            bail!(
                "{url} names the issuer {:?}, not {:?}",
                metadata.issuer,
                self.issuer
            );
        }
        if !metadata
            .grant_types_supported
            .iter()
            .any(|g| g == TOKEN_EXCHANGE)
        {
            bail!(
                "{} does not offer token exchange: set store_upstream_tokens = true on the provider {:?}",
                self.issuer,
                self.settings.provider
            );
        }
        Url::parse(&metadata.token_endpoint).with_context(|| format!("token_endpoint in {url}"))
    }
}
