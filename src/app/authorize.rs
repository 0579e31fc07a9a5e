//! The authorization flow (RFC 6749 4.1) without HTTP: what the person must do next for a
//! validated request, the pending request kept while they do it, and the code at the end
//! (RFC 6749 4.1.2, RFC 9207 `iss`).

use crate::app::state::AppState;
use crate::oauth::authorize::{self, AuthorizationRequest, Prompt, RedirectError};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::store::{Grant, NewAuthorizationCode, Session, StoreError};
use crate::support::rate_limit::{RetryAfter, network_key};
use crate::tokens::opaque;
use std::net::IpAddr;

/// How long a pending authorization request waits for the person.
const PENDING_TTL: i64 = 600;

/// What happens next for a validated request.
pub enum Step<'a> {
    /// The person signs in first.
    SignIn,
    /// The person decides on the consent page.
    Consent(&'a Session),
    /// A remembered consent (this grant) covers the request: the code is issued at once.
    IssueCode(&'a Session, Grant),
    /// The request ends with an error for the client (`prompt=none` that cannot be met).
    Refuse(RedirectError),
}

/// Decides between signing in, consent, and answering at once.
pub async fn next_step<'a>(
    state: &AppState,
    session: Option<&'a Session>,
    client: &Client,
    request: &AuthorizationRequest,
) -> Result<Step<'a>, StoreError> {
    // `prompt=login`: the sign-in page, whatever session there is; the consent step then
    // checks that the session is from a sign-in at or after the request. `max_age`: a
    // sign-in older than it counts as none.
    let session = session
        .filter(|_| !request.prompt.forces_login())
        .filter(|s| request.max_age_allows(s.auth_time));
    // `id_token_hint` (OpenID Connect Core 3.1.2.1): it must be an ID token this server gave
    // this client; a session of another person counts as none.
    let session = match hinted_person(state, request) {
        Ok(Some(sub)) => session.filter(|s| s.user.id == sub),
        Ok(None) => session,
        Err(error) => return Ok(Step::Refuse(authorize::error_for(request, error))),
    };
    Ok(match (session, request.prompt) {
        (None, Prompt::None) => Step::Refuse(authorize::error_for(
            request,
            OAuthError::new(ErrorCode::LoginRequired, "the person is not signed in"),
        )),
        (Some(session), Prompt::None) => {
            match remembered_grant(state, session, client, request).await? {
                Some(grant) => Step::IssueCode(session, grant),
                None => Step::Refuse(authorize::error_for(
                    request,
                    OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "the person has not approved this access",
                    ),
                )),
            }
        }
        (None, _) => Step::SignIn,
        (Some(session), prompt) if prompt.forces_consent() => Step::Consent(session),
        (Some(session), _) => match remembered_grant(state, session, client, request).await? {
            Some(grant) => Step::IssueCode(session, grant),
            None => Step::Consent(session),
        },
    })
}

/// The person an `id_token_hint` names, when one was sent.
fn hinted_person(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<Option<String>, OAuthError> {
    let Some(hint) = &request.id_token_hint else {
        return Ok(None);
    };
    match state.keys.verify_id_token_hint(hint, state.clock.now()) {
        Ok(claims) if claims.aud == request.client_id => Ok(Some(claims.sub)),
        _ => Err(OAuthError::invalid_request(
            "id_token_hint is not an ID token this server issued to this client",
        )),
    }
}

/// The remembered consent that answers the request without asking the person again, if
/// there is one.
pub async fn remembered_grant(
    state: &AppState,
    session: &Session,
    client: &Client,
    request: &AuthorizationRequest,
) -> Result<Option<Grant>, StoreError> {
    let grant = state
        .store
        .find_grant(&session.user.id, &request.client_id, &request.target.uri)
        .await?;
    Ok(grant.filter(|grant| {
        authorize::remembered_consent_covers(client, request, grant.updated_at, &grant.scope)
    }))
}

/// Why a pending request was not kept.
#[derive(Debug)]
pub enum PendingRefused {
    /// `authorize.pending_per_ip` is used up for this network.
    TooMany(RetryAfter),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for PendingRefused {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Keeps the request while the person signs in or decides, bound to their browser, within
/// `authorize.pending_per_ip`. Returns the handle the pages carry.
pub async fn keep_pending(
    state: &AppState,
    ip: IpAddr,
    browser_binding: &str,
    request: &AuthorizationRequest,
) -> Result<String, PendingRefused> {
    let now = state.clock.now();
    if let Err(retry) = state.pending_limiter.check(&network_key(ip), now) {
        tracing::warn!(%ip, "authorization refused: too many pending requests from this network");
        return Err(PendingRefused::TooMany(retry));
    }
    let handle = opaque::new_secret();
    let json = serde_json::to_string(request)
        .map_err(|e| StoreError::Corrupt(format!("pending request: {e}")))?;
    state
        .store
        .insert_pending_request(
            &opaque::hash(&handle),
            browser_binding,
            &request.client_id,
            &json,
            now,
            now + PENDING_TTL,
        )
        .await?;
    Ok(handle)
}

/// The pending request a page names, if it is this browser's and still waiting, with its
/// client. `consume` takes it, once: the decision it leads to is made at most once.
pub async fn pending_request(
    state: &AppState,
    browser_binding: &str,
    handle: &str,
    consume: bool,
) -> Result<Option<(AuthorizationRequest, Client)>, StoreError> {
    let (hash, now) = (opaque::hash(handle), state.clock.now());
    let json = if consume {
        state
            .store
            .consume_pending_request(&hash, browser_binding, now)
            .await?
    } else {
        state
            .store
            .find_pending_request(&hash, browser_binding, now)
            .await?
    };
    let Some(request) = json.and_then(|j| serde_json::from_str::<AuthorizationRequest>(&j).ok())
    else {
        return Ok(None);
    };
    let client = state.store.find_client(&request.client_id).await?;
    Ok(client.map(|client| (request, client)))
}

/// Mints a code bound to everything `/token` must check, under the grant the person's
/// consent made; returns where the browser goes with it (the client's redirect URI with
/// `code`, `state` and `iss`).
pub async fn issue_code(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    grant: Grant,
) -> Result<String, StoreError> {
    let now = state.clock.now();
    let code = opaque::new_secret();
    let record = NewAuthorizationCode {
        code_hash: opaque::hash(&code),
        client_id: request.client_id.clone(),
        user_id: session.user.id.clone(),
        grant_id: Some(grant.id),
        redirect_uri: request.redirect.as_str().to_owned(),
        code_challenge: request.code_challenge.clone(),
        resource: request.target.uri.clone(),
        scope: request.scopes.token_scopes().join(" "),
        nonce: request.nonce.clone(),
        auth_time: session.auth_time,
        expires_at: now + state.config.tokens.authorization_code_ttl.as_i64(),
    };
    state.store.insert_code(&record, now).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(client_state) = &request.state {
        params.push(("state", client_state));
    }
    params.push(("iss", &state.config.issuer));
    Ok(request.redirect.with_params(&params))
}
