//! Signing in at an upstream identity provider: the round trip out (bound to the browser and
//! to the pending authorization request), and back (single use, the provider's answer and ID
//! token checked), ending with a session for the linked person, created on first sign-in.

mod github;
pub mod upstream;
pub mod upstream_tokens;

use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::sign_in::{SignIn, start_session};
use crate::app::state::AppState;
use crate::config::IdentityProviderConfig;
use crate::store::{Profile, Session, StoreError, User};
use crate::tokens::opaque;
use crate::tokens::upstream_id_token::UpstreamIdentity;
use std::net::IpAddr;
use std::sync::Arc;
use upstream::{Upstream, UpstreamError};

/// How long a round trip to a provider may take.
const ROUND_TRIP_TTL: i64 = 600;

/// The configured providers, in configuration order.
#[derive(Debug, Default)]
pub struct Providers(Vec<Arc<Upstream>>);

impl Providers {
    /// One client per `[[identity_providers]]` entry; nothing is fetched yet.
    pub fn new(configs: &[IdentityProviderConfig]) -> anyhow::Result<Self> {
        configs
            .iter()
            .map(|config| Upstream::new(config.clone()).map(Arc::new))
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Upstream>> {
        self.0.iter().find(|p| p.config.id == id)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every provider, for the sign-in page.
    pub fn all(&self) -> impl Iterator<Item = &IdentityProviderConfig> {
        self.0.iter().map(|p| &p.config)
    }
}

/// The values of one round trip. `state` travels through the provider; the PKCE verifier
/// and the nonce are derived from it with the browser's own cookie (by the caller), so
/// someone who sees the callback URL still cannot redeem its code, and nothing secret is
/// stored.
pub struct RoundTrip {
    /// The `state` parameter.
    pub state: String,
    /// The PKCE `code_verifier`.
    pub verifier: String,
    /// The OpenID Connect `nonce`.
    pub nonce: String,
}

/// The provider's answer at the callback.
pub struct Callback<'a> {
    /// `code`, on success.
    pub code: Option<&'a str>,
    /// `iss` (RFC 9207).
    pub iss: Option<&'a str>,
    /// `error`, when the provider did not sign the person in.
    pub error: Option<&'a str>,
    /// `error_description`.
    pub error_description: Option<&'a str>,
}

/// Where mcp-authd asks the provider to send the person back.
pub fn callback_url(state: &AppState, provider_id: &str) -> String {
    format!("{}/login/{provider_id}/callback", state.config.issuer)
}

/// Why a round trip could not start.
#[derive(Debug)]
pub enum BeginError {
    /// The pending request is not this browser's, or no longer waiting.
    RequestGone,
    /// The provider cannot be used now.
    Upstream(UpstreamError),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for BeginError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Starts a round trip to `upstream` for this browser, continuing the pending request
/// `request` names (or the account page without one); returns the provider's URL.
pub async fn begin(
    state: &AppState,
    upstream: &Upstream,
    binding_hash: &str,
    request: Option<&str>,
    round_trip: &RoundTrip,
) -> Result<String, BeginError> {
    let now = state.clock.now();
    let request_hash = request.map(opaque::hash);
    if let Some(hash) = &request_hash {
        state
            .store
            .find_pending_request(hash, binding_hash, now)
            .await?
            .ok_or(BeginError::RequestGone)?;
    }
    let id = &upstream.config.id;
    let challenge = crate::oauth::pkce::challenge_s256(&round_trip.verifier);
    let url = upstream
        .authorization_url(
            &callback_url(state, id),
            &round_trip.state,
            &round_trip.nonce,
            &challenge,
            now,
        )
        .await
        .map_err(BeginError::Upstream)?;
    state
        .store
        .insert_federated_sign_in(
            &opaque::hash(&round_trip.state),
            id,
            binding_hash,
            request_hash.as_deref(),
            now,
            now + ROUND_TRIP_TTL,
        )
        .await?;
    Ok(url)
}

/// How a round trip ended.
pub enum Finished {
    /// The person is signed in: the session, and the handle of the pending request to go on
    /// with (a fresh one: the old handle never left this server), if any is still waiting.
    SignedIn {
        /// The session cookie's value.
        session_secret: String,
        /// Seconds the session lasts.
        ttl: i64,
        /// The pending request's new handle.
        request: Option<String>,
    },
    /// Nobody is signed in; the words say why, for the person.
    Refused(String),
}

/// Completes the round trip a callback belongs to. `round_trip` holds the values derived
/// for the `state` the callback carries.
pub async fn finish(
    state: &AppState,
    upstream: &Upstream,
    binding_hash: &str,
    round_trip: &RoundTrip,
    callback: &Callback<'_>,
    previous: Option<&Session>,
    ip: IpAddr,
) -> Result<Finished, StoreError> {
    let now = state.clock.now();
    let config = &upstream.config;
    let refused = |reason: &str, words: String| {
        tracing::info!(provider = %config.id, %ip, reason, "federated sign-in refused");
        Finished::Refused(words)
    };
    let Some(pending) = state
        .store
        .take_federated_sign_in(
            &opaque::hash(&round_trip.state),
            &config.id,
            binding_hash,
            now,
        )
        .await?
    else {
        return Ok(refused(
            "unknown, replayed or foreign state",
            "This sign-in link was already used, has expired, or was started in another \
             browser. Start again from the application."
                .into(),
        ));
    };
    if let Some(error) = callback.error {
        let detail = callback
            .error_description
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Ok(refused(
            "the provider answered an error",
            format!("{} did not sign you in: {error}{detail}.", config.name),
        ));
    }
    let upstream::Redeemed { identity, tokens } =
        match sign_in_upstream(upstream, state, round_trip, callback, now).await {
            Ok(redeemed) => redeemed,
            Err(error) => {
                return Ok(refused(
                    "the provider's answer was refused",
                    format!("Signing in with {} failed: {error}.", config.name),
                ));
            }
        };
    if let Err(words) = email_allowed(config, &identity) {
        state
            .audit(failure(config, &identity, ip).with("reason", "email_domain"))
            .await;
        return Ok(refused("email outside allowed_email_domains", words));
    }
    let user = match person_for(state, config, &identity, now).await? {
        Ok(user) => user,
        Err((reason, words)) => {
            state
                .audit(failure(config, &identity, ip).with("reason", reason))
                .await;
            return Ok(refused(reason, words));
        }
    };
    if config.store_upstream_tokens {
        upstream_tokens::keep(state, &config.id, &user.id, &tokens, now).await?;
    }
    let SignIn::SignedIn {
        session_secret,
        ttl,
        ..
    } = start_session(state, &user, Some(&config.id), previous, ip).await?
    else {
        return Ok(refused(
            "no session",
            "The sign-in did not complete.".into(),
        ));
    };
    let request = match pending.request_hash {
        Some(old) => {
            let handle = opaque::new_secret();
            let kept = state
                .store
                .rekey_pending_request(&old, &opaque::hash(&handle), binding_hash, now)
                .await?;
            kept.then_some(handle)
        }
        None => None,
    };
    Ok(Finished::SignedIn {
        session_secret,
        ttl,
        request,
    })
}

/// The answer's issuer, the code redemption, and who signed in.
async fn sign_in_upstream(
    upstream: &Upstream,
    state: &AppState,
    round_trip: &RoundTrip,
    callback: &Callback<'_>,
    now: i64,
) -> Result<upstream::Redeemed, UpstreamError> {
    upstream.check_response_issuer(callback.iss, now).await?;
    let code = callback
        .code
        .ok_or_else(|| UpstreamError::Refused("the answer carries no code".into()))?;
    let redirect_uri = callback_url(state, &upstream.config.id);
    upstream
        .redeem(
            code,
            &redirect_uri,
            &round_trip.verifier,
            &round_trip.nonce,
            now,
        )
        .await
}

/// `allowed_email_domains`: when set, a verified address in one of them.
fn email_allowed(
    config: &IdentityProviderConfig,
    identity: &UpstreamIdentity,
) -> Result<(), String> {
    if config.allowed_email_domains.is_empty() {
        return Ok(());
    }
    let domain = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .and_then(|email| email.rsplit_once('@'))
        .map(|(_, domain)| domain.to_ascii_lowercase());
    let allowed = domain.as_ref().is_some_and(|domain| {
        config
            .allowed_email_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    });
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "Your {} account has no verified email address in a domain this server accepts ({}).",
            config.name,
            config.allowed_email_domains.join(", ")
        ))
    }
}

/// The linked person (their profile refreshed from the provider), or a new one on first
/// sign-in when `auto_create` allows; the refusal's reason and words otherwise.
async fn person_for(
    state: &AppState,
    config: &IdentityProviderConfig,
    identity: &UpstreamIdentity,
    now: i64,
) -> Result<Result<User, (&'static str, String)>, StoreError> {
    let profile = Profile {
        display_name: identity
            .name
            .clone()
            .or_else(|| identity.preferred_username.clone()),
        email: identity.email.clone(),
        email_verified: identity.email_verified,
    };
    let link = (config.id.as_str(), identity.subject.as_str());
    if let Some(user) = state
        .store
        .find_federated_user(&config.id, &identity.subject)
        .await?
    {
        if user.disabled {
            return Ok(Err((
                "disabled",
                "Your account on this server is disabled. Ask its operator.".into(),
            )));
        }
        state
            .store
            .touch_federated_identity(link, &profile, now)
            .await?;
        return Ok(Ok(user));
    }
    if !config.auto_create {
        return Ok(Err((
            "not_linked",
            format!(
                "No account on this server is linked to your {} account. Ask its operator to \
                 run: mcp-authd users link USERNAME --provider {} --subject {}",
                config.name, config.id, identity.subject
            ),
        )));
    }
    let preferred = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .or(identity.preferred_username.as_deref())
        .unwrap_or(&identity.subject);
    let username = format!("{}:{preferred}", config.id);
    let created = match state
        .store
        .create_federated_user(&username, link, &profile, now)
        .await
    {
        // The name is taken (by a person linked under another subject): the subject is unique.
        Err(StoreError::Conflict(_)) => {
            let fallback = format!("{}:{}", config.id, identity.subject);
            state
                .store
                .create_federated_user(&fallback, link, &profile, now)
                .await?
        }
        other => other?,
    };
    tracing::info!(user_id = %created.id, provider = %config.id, "person created at first sign-in");
    Ok(Ok(created))
}

fn failure(config: &IdentityProviderConfig, identity: &UpstreamIdentity, ip: IpAddr) -> AuditEvent {
    AuditEvent::new(AuditKind::LoginFailed)
        .with("provider", config.id.as_str())
        .with("subject", identity.subject.as_str())
        .ip(ip)
}
