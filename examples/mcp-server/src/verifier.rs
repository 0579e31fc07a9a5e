//! Offline access-token verification (RFC 9068) against mcp-authd's JWKS.
//!
//! Keys are cached; an unknown `kid` triggers one refetch (at most every few seconds, so
//! made-up key ids cannot turn this server into a flood against mcp-authd), which is how a
//! key rotation in mcp-authd reaches this server without a restart.

use crate::settings::Settings;
use anyhow::{Context, anyhow, bail};
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};
use url::Url;

/// The least time between two JWKS fetches caused by unknown key ids.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// How long a fetched key set is used before it is fetched again anyway.
const MAX_KEY_SET_AGE: Duration = Duration::from_secs(300);
/// Per-request limit for talking to mcp-authd.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The claims of an mcp-authd access token that a tool may want to read.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AccessClaims {
    /// The issuer (already checked).
    pub iss: String,
    /// The person the token speaks for (or, for `client_credentials`, the client).
    pub sub: String,
    /// The application the token was issued to.
    #[serde(default)]
    pub client_id: String,
    /// Space-delimited granted scopes.
    #[serde(default)]
    pub scope: String,
    /// Expiry, unix seconds (already checked).
    pub exp: i64,
    /// The token's unique id.
    #[serde(default)]
    pub jti: Option<String>,
}

impl AccessClaims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a token was not accepted.
#[derive(Debug)]
pub enum Rejection {
    /// The token is malformed, forged, expired or meant for someone else. The text is safe
    /// to send to the client.
    Invalid(&'static str),
    /// The keys could not be fetched, so no decision is possible.
    Unavailable(anyhow::Error),
}

struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    jwks_uri: Option<Url>,
}

/// Verifies access tokens for one resource; cheap to share behind an `Arc`.
pub struct Verifier {
    settings: Settings,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// Serializes fetches so a burst of requests with a new `kid` fetches once.
    fetching: Mutex<()>,
}

impl Verifier {
    /// A verifier with an empty cache; keys are fetched on first use.
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            http: http_client(FETCH_TIMEOUT)?,
            keys: RwLock::new(KeySet::default()),
            fetching: Mutex::new(()),
        })
    }

    /// Checks signature, `typ`, `iss`, `aud`, `exp` (and `nbf` if present) of `token`. The
    /// scope is the caller's decision: see [`AccessClaims::has_scope`].
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::Invalid("malformed token"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(Rejection::Invalid(
                "not an access token (typ must be at+jwt)",
            ));
        }
        let kid = header
            .kid
            .ok_or(Rejection::Invalid("the token names no signing key"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[self.settings.resource_id()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway.as_secs();

        let decoded = {
            let mut keys = self.keys.read().await;
            let known = keys.keys.contains_key(&kid);
            if !known || is_stale(&keys) {
                drop(keys);
                match self.refresh(&kid).await {
                    Ok(()) => {}
                    // A stale set still verifies the keys it holds while mcp-authd is away.
                    Err(error) if known => {
                        tracing::warn!(error = format!("{error:#}"), "JWKS refresh failed");
                    }
                    Err(error) => return Err(Rejection::Unavailable(error)),
                }
                keys = self.keys.read().await;
            }
            let key = keys.keys.get(&kid).ok_or(Rejection::Invalid(
                "the token is signed with an unknown key",
            ))?;
            if key.algorithm != header.alg {
                return Err(Rejection::Invalid(
                    "the token's algorithm does not match its key",
                ));
            }
            jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
        };
        decoded.map(|data| data.claims).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            Rejection::Invalid(match error.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::InvalidAudience => "the token is for another resource",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidSignature => "bad signature",
                _ => "invalid token",
            })
        })
    }

    /// Fetches the key set again unless another task just did, or `kid` caused a fetch
    /// less than [`MIN_REFETCH_INTERVAL`] ago.
    async fn refresh(&self, kid: &str) -> anyhow::Result<()> {
        let _fetching = self.fetching.lock().await;
        let jwks_uri = {
            let keys = self.keys.read().await;
            let recent = keys
                .fetched_at
                .is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL);
            if (keys.keys.contains_key(kid) && !is_stale(&keys)) || recent {
                return Ok(());
            }
            keys.jwks_uri.clone()
        };
        let jwks_uri = match jwks_uri.or_else(|| self.settings.jwks_uri.clone()) {
            Some(uri) => uri,
            None => self.discover_jwks_uri().await?,
        };
        let fetched = self.fetch_keys(&jwks_uri).await;
        let mut keys = self.keys.write().await;
        keys.jwks_uri = Some(jwks_uri);
        keys.fetched_at = Some(Instant::now());
        keys.keys = fetched?;
        tracing::info!(keys = keys.keys.len(), "fetched the JWKS");
        Ok(())
    }

    /// Reads `jwks_uri` from mcp-authd's RFC 8414 metadata, checking its `issuer`.
    async fn discover_jwks_uri(&self) -> anyhow::Result<Url> {
        let url = authorization_server_metadata_url(&self.settings.issuer)?;
        let body = self.get(&url).await?;
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let metadata: Metadata =
            serde_json::from_slice(&body).with_context(|| format!("reading {url}"))?;
        if metadata.issuer != self.settings.issuer {
            bail!(
                "{url} names the issuer {:?}, not {:?}",
                metadata.issuer,
                self.settings.issuer
            );
        }
        Url::parse(&metadata.jwks_uri).with_context(|| format!("jwks_uri in {url}"))
    }

    async fn fetch_keys(&self, jwks_uri: &Url) -> anyhow::Result<HashMap<String, Key>> {
        let body = self.get(jwks_uri).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).with_context(|| format!("reading {jwks_uri}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let usable = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
                continue;
            };
            let Ok(algorithm) = Algorithm::from_str(&alg.to_string()) else {
                continue;
            };
            if !usable {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid.clone(), Key { algorithm, key });
                }
                Err(error) => tracing::warn!(%kid, %error, "skipping an unusable JWK"),
            }
        }
        Ok(keys)
    }

    async fn get(&self, url: &Url) -> anyhow::Result<Vec<u8>> {
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .with_context(|| format!("fetching {url}"))?;
        if !response.status().is_success() {
            return Err(anyhow!("{url} answered {}", response.status()));
        }
        Ok(response.bytes().await?.to_vec())
    }
}

fn is_stale(keys: &KeySet) -> bool {
    keys.fetched_at
        .is_none_or(|at| at.elapsed() > MAX_KEY_SET_AGE)
}

/// An HTTP client for calls to mcp-authd and providers: bounded in time, and never
/// following a redirect somewhere else.
pub(crate) fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

/// The RFC 8414 metadata URL for an issuer: the well-known segment goes between the host
/// and the issuer's path.
pub fn authorization_server_metadata_url(issuer: &str) -> anyhow::Result<Url> {
    let mut url = Url::parse(issuer).with_context(|| format!("issuer {issuer:?}"))?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_segment() {
        assert_eq!(
            authorization_server_metadata_url("https://auth.example.com")
                .unwrap()
                .as_str(),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            authorization_server_metadata_url("https://example.com/tenant")
                .unwrap()
                .as_str(),
            "https://example.com/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn scopes_are_matched_whole() {
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            client_id: "c".into(),
            scope: "mcp:tools mcp:admin".into(),
            exp: 0,
            jti: None,
        };
        assert!(claims.has_scope("mcp:tools"));
        assert!(!claims.has_scope("mcp:tool"));
    }
}
