//! mcp-authd as a careful OAuth client of one upstream provider: an OpenID Connect
//! provider's discovery document and keys (fetched when first needed and kept for a while, so
//! a provider that is down at start does not stop the server), or GitHub's fixed endpoints;
//! the authorization URL of a round trip, the code redemption, who signed in, and the
//! refresh of stored upstream tokens.

use super::github;
use crate::config::{IdentityProviderConfig, ProviderKind};
use crate::support::limited_body::read_limited;
use crate::tokens::key_set;
use crate::tokens::upstream_id_token::{self, Expected, UpstreamIdentity};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::RwLock;
use url::Url;

/// How long a discovery document and key set are trusted before they are fetched again.
const CACHE_SECONDS: i64 = 3_600;
/// The shortest wait between two key-set fetches prompted by unknown key ids, so made-up
/// `kid`s cannot make us hammer the provider.
const REFETCH_SECONDS: i64 = 60;
/// The most any answer of the provider may weigh.
const MAX_BYTES: usize = 256 * 1024;
/// How long one request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a step with the provider failed, in words for the person's page (the details go to
/// the log).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider could not be reached or answered something unusable.
    #[error("{0}")]
    Unavailable(String),
    /// The provider answered, but what it said must not sign anyone in.
    #[error("{0}")]
    Refused(String),
}

/// What the discovery document says (OpenID Connect Discovery 1.0, RFC 8414).
#[derive(Clone, Debug, Deserialize)]
struct Discovered {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

#[derive(Default)]
struct Cached {
    discovered: Option<(Discovered, i64)>,
    keys: Option<(Value, i64)>,
}

/// One configured provider and what has been learned about it.
pub struct Upstream {
    /// Its configuration.
    pub config: IdentityProviderConfig,
    pub(super) http: reqwest::Client,
    cached: RwLock<Cached>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

/// A token endpoint's answer (RFC 6749 5.1, 5.2; GitHub answers errors with 200).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The tokens the provider issued for the person (kept only with `store_upstream_tokens`).
pub struct IssuedTokens {
    /// The access token for the provider's APIs.
    pub access_token: String,
    /// Its refresh token, if the provider issued one.
    pub refresh_token: Option<String>,
    /// `token_type`, `Bearer` when the provider did not say.
    pub token_type: String,
    /// The scopes granted, when the provider said.
    pub scope: Option<String>,
    /// Seconds the access token lasts, when the provider said.
    pub expires_in: Option<i64>,
}

/// What a redeemed code brings: who signed in, and the provider's tokens for them.
pub struct Redeemed {
    /// The person, as the provider vouches for them.
    pub identity: UpstreamIdentity,
    /// The provider's tokens.
    pub tokens: IssuedTokens,
}

/// The client authentication a token request carries.
enum ClientAuth {
    /// `client_secret_basic`, what OpenID Connect providers support by default.
    Basic,
    /// `client_id` and `client_secret` in the form, as GitHub documents.
    Form,
}

impl Upstream {
    /// A client for the provider `config` describes; nothing is fetched yet.
    pub fn new(config: IdentityProviderConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("mcp-authd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            http,
            cached: RwLock::new(Cached::default()),
        })
    }

    /// Where the person's browser goes to sign in at the provider for one round trip.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        now: i64,
    ) -> Result<String, UpstreamError> {
        let endpoint = match self.config.kind {
            ProviderKind::Oidc => self.discovered(now).await?.authorization_endpoint,
            ProviderKind::Github => self.config.github_endpoints().authorize_url,
        };
        let mut url = Url::parse(&endpoint).map_err(|_| {
            UpstreamError::Unavailable("its authorization endpoint is not a URL".into())
        })?;
        let scopes = self.config.scopes();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", state)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if self.config.kind == ProviderKind::Oidc {
                query.append_pair("nonce", nonce);
                // OpenID Connect Core 11: a refresh token for offline_access needs consent.
                if scopes.iter().any(|s| s == "offline_access") {
                    query.append_pair("prompt", "consent");
                }
            }
        }
        Ok(url.into())
    }

    /// Checks the `iss` of the authorization response (RFC 9207, the mix-up defence): it
    /// must be the provider's when sent, and must be sent when the provider says it sends it.
    pub async fn check_response_issuer(
        &self,
        iss: Option<&str>,
        now: i64,
    ) -> Result<(), UpstreamError> {
        if self.config.kind == ProviderKind::Github {
            // GitHub has no issuer identifier; its endpoints are fixed in the configuration.
            return Ok(());
        }
        let discovered = self.discovered(now).await?;
        match iss {
            Some(iss) if iss == discovered.issuer => Ok(()),
            Some(_) => Err(UpstreamError::Refused(
                "the answer names another issuer (a mix-up attack?)".into(),
            )),
            None if discovered.authorization_response_iss_parameter_supported => Err(
                UpstreamError::Refused("the answer does not name its issuer".into()),
            ),
            None => Ok(()),
        }
    }

    /// Redeems `code` with the PKCE verifier, authenticating with the client secret, and
    /// returns who signed in (from the verified ID token, or GitHub's API) with the tokens.
    pub async fn redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Redeemed, UpstreamError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        match self.config.kind {
            ProviderKind::Oidc => {
                let discovered = self.discovered(now).await?;
                let answer = self
                    .token_request(&discovered.token_endpoint, &form, ClientAuth::Basic)
                    .await?;
                let id_token = answer
                    .id_token
                    .clone()
                    .ok_or_else(|| UpstreamError::Refused("it sent no ID token".into()))?;
                let tokens = issued(answer)?;
                let expected = Expected {
                    issuer: &discovered.issuer,
                    client_id: &self.config.client_id,
                    nonce,
                    now,
                };
                let keys = self.keys(&discovered, &id_token, now).await?;
                let identity =
                    upstream_id_token::verify(&id_token, &keys, &expected).map_err(|reason| {
                        tracing::warn!(provider = %self.config.id, reason, "upstream ID token refused");
                        UpstreamError::Refused(format!("its ID token was refused: {reason}"))
                    })?;
                Ok(Redeemed { identity, tokens })
            }
            ProviderKind::Github => {
                let endpoints = self.config.github_endpoints();
                let answer = self
                    .token_request(&endpoints.token_url, &form, ClientAuth::Form)
                    .await?;
                let tokens = issued(answer)?;
                let identity = github::identity(self, &endpoints.api_url, &tokens).await?;
                Ok(Redeemed { identity, tokens })
            }
        }
    }

    /// Trades a stored refresh token for fresh tokens.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        now: i64,
    ) -> Result<IssuedTokens, UpstreamError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let answer = match self.config.kind {
            ProviderKind::Oidc => {
                let discovered = self.discovered(now).await?;
                self.token_request(&discovered.token_endpoint, &form, ClientAuth::Basic)
                    .await?
            }
            ProviderKind::Github => {
                let endpoints = self.config.github_endpoints();
                self.token_request(&endpoints.token_url, &form, ClientAuth::Form)
                    .await?
            }
        };
        let mut tokens = issued(answer)?;
        // RFC 6749 6: a provider that does not rotate keeps the refresh token it had.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.to_owned());
        }
        Ok(tokens)
    }

    /// One request to a token endpoint, authenticated as `auth` says; an error answer
    /// becomes [`UpstreamError::Refused`] with its words.
    async fn token_request(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        auth: ClientAuth,
    ) -> Result<TokenAnswer, UpstreamError> {
        let secret = self
            .config
            .client_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let request = self
            .http
            .post(endpoint)
            .header(reqwest::header::ACCEPT, "application/json");
        let sent = match auth {
            ClientAuth::Basic => {
                request
                    .basic_auth(
                        form_encode(&self.config.client_id),
                        Some(form_encode(&secret)),
                    )
                    .form(form)
                    .send()
                    .await
            }
            ClientAuth::Form => {
                let mut with_client = form.to_vec();
                with_client.push(("client_id", &self.config.client_id));
                with_client.push(("client_secret", &secret));
                request.form(&with_client).send().await
            }
        };
        let answer: TokenAnswer = self.json(sent, "token endpoint").await?;
        if let Some(error) = &answer.error {
            tracing::warn!(provider = %self.config.id, %error, "the provider refused a token request");
            return Err(UpstreamError::Refused(format!(
                "it refused to issue tokens ({error}{})",
                answer
                    .error_description
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )));
        }
        Ok(answer)
    }

    /// The discovery document, fetched when missing or older than [`CACHE_SECONDS`].
    async fn discovered(&self, now: i64) -> Result<Discovered, UpstreamError> {
        if let Some((doc, at)) = &self.cached.read().await.discovered
            && now - at < CACHE_SECONDS
        {
            return Ok(doc.clone());
        }
        let issuer = self.config.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let sent = self.http.get(&url).send().await;
        let doc: Discovered = self.json(sent, "discovery document").await?;
        // Discovery 4.3: the document must be the issuer's own.
        if doc.issuer != self.config.issuer {
            tracing::warn!(provider = %self.config.id, found = %doc.issuer, "discovery issuer mismatch");
            return Err(UpstreamError::Unavailable(format!(
                "its discovery document names the issuer {:?}, not {:?}",
                doc.issuer, self.config.issuer
            )));
        }
        self.cached.write().await.discovered = Some((doc.clone(), now));
        Ok(doc)
    }

    /// The key set, fetched when missing, old, or lacking the key `id_token` names (at most
    /// once per [`REFETCH_SECONDS`]).
    async fn keys(
        &self,
        discovered: &Discovered,
        id_token: &str,
        now: i64,
    ) -> Result<Value, UpstreamError> {
        if let Some((keys, at)) = &self.cached.read().await.keys {
            let fresh = now - at < CACHE_SECONDS;
            let may_refetch = now - at >= REFETCH_SECONDS;
            if fresh && !(key_set::names_unknown_key(id_token, keys) && may_refetch) {
                return Ok(keys.clone());
            }
        }
        let sent = self.http.get(&discovered.jwks_uri).send().await;
        let keys: Value = self.json(sent, "key set").await?;
        self.cached.write().await.keys = Some((keys.clone(), now));
        Ok(keys)
    }

    /// A JSON answer from the provider, within [`MAX_BYTES`]; an error status with a JSON
    /// body is still read (token errors come that way).
    pub(super) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        what: &str,
    ) -> Result<T, UpstreamError> {
        let unavailable = |detail: String| {
            tracing::warn!(provider = %self.config.id, what, detail, "identity provider unusable");
            UpstreamError::Unavailable(format!("its {what} could not be read"))
        };
        let mut response = sent.map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() || status.is_server_error() {
            return Err(unavailable(format!("answered {status}")));
        }
        let body = read_limited(&mut response, MAX_BYTES)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .ok_or_else(|| unavailable(format!("larger than {MAX_BYTES} bytes")))?;
        serde_json::from_slice(&body).map_err(|e| unavailable(format!("{status}: {e}")))
    }
}

/// RFC 6749 2.3.1: the client id and secret are form-encoded before Basic authentication.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The tokens of a successful answer.
fn issued(answer: TokenAnswer) -> Result<IssuedTokens, UpstreamError> {
    let access_token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| UpstreamError::Refused("it sent no access token".into()))?;
    Ok(IssuedTokens {
        access_token,
        refresh_token: answer.refresh_token.filter(|t| !t.is_empty()),
        token_type: answer.token_type.unwrap_or_else(|| "Bearer".into()),
        scope: answer.scope,
        expires_in: answer.expires_in.filter(|s| *s > 0),
    })
}
