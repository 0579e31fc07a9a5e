//! `/authorize` (RFC 6749 4.1.1), the sign-in and consent steps it leads to, and issuing
//! the code (RFC 6749 4.1.2, RFC 9207 `iss`).

use super::browser::{Browser, with_cookies};
use super::client_ip::ClientIp;
use super::cookies::SESSION;
use super::pages::{
    ConsentPage, LeavingPage, LoginPage, PageResponse, ScopeView, error_page, page,
    with_page_headers,
};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::clients::resolve_client;
use crate::app::state::AppState;
use crate::oauth::authorize::{
    self, AuthorizationRequest, Prompt, RedirectError, UntrustedRequest,
};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::redirect_uri::is_loopback_host;
use crate::oauth::resource;
use crate::store::{Client, NewAuthorizationCode, Session, StoreError};
use crate::support::password;
use crate::support::rate_limit::{RetryAfter, network_key};
use crate::tokens::opaque;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// How long a pending authorization request waits for the person.
const PENDING_TTL: i64 = 600;

type PageResult = Result<Response, PageResponse>;

/// The page for a client that could not be looked up: unverifiable, or a storage failure.
fn client_lookup_page(error: OAuthError) -> PageResponse {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::BAD_REQUEST,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    PageResponse::new(error_page(
        status,
        "This application could not be verified",
        &error.description,
    ))
}

fn bad_request(title: &str, message: &str) -> PageResponse {
    PageResponse::new(error_page(StatusCode::BAD_REQUEST, title, message))
}

/// `GET /authorize`.
pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = parse_page_params(query.unwrap_or_default().as_bytes())?;
    start(&state, ip, &headers, params).await
}

/// `POST /authorize` (form-encoded, RFC 6749 3.1).
pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let params = parse_page_params(&body)?;
    start(&state, ip, &headers, params).await
}

fn parse_page_params(raw: &[u8]) -> Result<Params, PageResponse> {
    Params::parse(raw).map_err(|e| bad_request("Invalid request", &e.description))
}

/// Validates the request in the safe order, then asks the person what is needed.
async fn start(state: &AppState, ip: IpAddr, headers: &HeaderMap, params: Params) -> PageResult {
    authorize::check_lengths(&params)
        .map_err(|UntrustedRequest(message)| bad_request("Request too large", &message))?;
    let client = match params.get("client_id") {
        _ if params.is_repeated("client_id") => {
            return Err(bad_request(
                "Invalid request",
                "The client_id parameter is repeated.",
            ));
        }
        None => {
            return Err(bad_request(
                "Invalid request",
                "The request does not say which application is asking (client_id is missing).",
            ));
        }
        Some(id) => resolve_client(state, id)
            .await
            .map_err(client_lookup_page)?,
    };
    let Some(client) = client else {
        return Err(bad_request(
            "Unknown application",
            "The application that sent you here is not registered with this server.",
        ));
    };
    let redirect = authorize::verify_client_redirect(&params, &client)
        .map_err(|UntrustedRequest(message)| bad_request("Invalid redirect address", &message))?;
    let now = state.clock.now();
    let request = match authorize::validate(&params, &client, redirect, &state.config, now) {
        Ok(request) => request,
        Err(error) => return Ok(error_answer(state, &client, &error)),
    };
    let browser = Browser::load(state, headers).await?;
    proceed(state, ip, &browser, &client, request).await
}

/// Decides between signing in, consent, and answering at once.
async fn proceed(
    state: &AppState,
    ip: IpAddr,
    browser: &Browser,
    client: &Client,
    request: AuthorizationRequest,
) -> PageResult {
    // `prompt=login`: the sign-in page, whatever session there is; the consent step then
    // checks that the session is from a sign-in at or after the request.
    let session = browser
        .session
        .as_ref()
        .filter(|_| !request.prompt.forces_login());
    match (session, request.prompt) {
        (None, Prompt::None) => Ok(error_answer(
            state,
            client,
            &authorize::error_for(
                &request,
                OAuthError::new(ErrorCode::LoginRequired, "the person is not signed in"),
            ),
        )),
        (Some(session), Prompt::None) => {
            if covered(state, session, client, &request).await? {
                issue_code(state, browser, session, &request).await
            } else {
                let error = OAuthError::new(
                    ErrorCode::ConsentRequired,
                    "the person has not approved this access",
                );
                Ok(error_answer(
                    state,
                    client,
                    &authorize::error_for(&request, error),
                ))
            }
        }
        (None, _) => {
            let handle = store_pending(state, ip, browser, &request).await?;
            Ok(login_page(
                state,
                browser,
                Some(&handle),
                Some(&client.settings.name),
                "",
                None,
                StatusCode::OK,
            ))
        }
        (Some(session), prompt) => {
            if !prompt.forces_consent() && covered(state, session, client, &request).await? {
                return issue_code(state, browser, session, &request).await;
            }
            let handle = store_pending(state, ip, browser, &request).await?;
            Ok(consent_page(
                state, browser, session, client, &request, &handle,
            ))
        }
    }
}

/// Whether a remembered consent answers the request without asking the person again.
async fn covered(
    state: &AppState,
    session: &Session,
    client: &Client,
    request: &AuthorizationRequest,
) -> Result<bool, StoreError> {
    let grant = state
        .store
        .find_grant(&session.user.id, &request.client_id, &request.target.uri)
        .await?;
    Ok(grant.is_some_and(|grant| {
        authorize::remembered_consent_covers(client, request, grant.updated_at, &grant.scope)
    }))
}

/// Stores the request for the page about to be shown, within `authorize.pending_per_ip`.
async fn store_pending(
    state: &AppState,
    ip: IpAddr,
    browser: &Browser,
    request: &AuthorizationRequest,
) -> Result<String, PageResponse> {
    let now = state.clock.now();
    if let Err(RetryAfter(seconds)) = state.pending_limiter.check(&network_key(ip), now) {
        tracing::warn!(%ip, "authorization refused: too many pending requests from this network");
        return Err(PageResponse::new(rate_limited_page(
            "Too many sign-in requests came from your network.",
            seconds,
        )));
    }
    let handle = opaque::new_secret();
    let json = serde_json::to_string(request)
        .map_err(|_| bad_request("Invalid request", "The request could not be stored."))?;
    state
        .store
        .insert_pending_request(
            &opaque::hash(&handle),
            &browser.binding_hash(),
            &request.client_id,
            &json,
            now,
            now + PENDING_TTL,
        )
        .await?;
    Ok(handle)
}

/// The sign-in page, posting to `/login`.
pub fn login_page(
    state: &AppState,
    browser: &Browser,
    request: Option<&str>,
    client_name: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let action = format!("{}/login", state.config.issuer);
    let csrf = browser.csrf_token();
    let template = LoginPage {
        action: &action,
        csrf: &csrf,
        request,
        client_name,
        username,
        error,
    };
    with_cookies(page(status, &template), browser.set_cookies())
}

fn consent_page(
    state: &AppState,
    browser: &Browser,
    session: &Session,
    client: &Client,
    request: &AuthorizationRequest,
    handle: &str,
) -> Response {
    let action = format!("{}/consent", state.config.issuer);
    let account_url = format!("{}/account", state.config.issuer);
    let csrf = browser.csrf_token();
    let configured = resource::configured(&state.config, &request.target.uri);
    let scopes = request
        .scopes
        .granted
        .iter()
        .map(|name| ScopeView {
            name: name.clone(),
            words: configured
                .and_then(|r| r.scope_descriptions.get(name).cloned())
                .unwrap_or_else(|| scope_in_words(name)),
        })
        .collect();
    let loopback_only = client.settings.redirect_uris.iter().all(|uri| {
        url::Url::parse(uri).is_ok_and(|u| u.host().as_ref().is_some_and(is_loopback_host))
    });
    let template = ConsentPage {
        action: &action,
        csrf: &csrf,
        request: handle,
        username: &session.user.username,
        client_name: &client.settings.name,
        client_host: url_host(&client.id),
        redirect_host: url_host(request.redirect.as_str())
            .unwrap_or_else(|| request.redirect.as_str().to_owned()),
        loopback_only,
        resource_name: request.target.name.as_deref(),
        resource_uri: &request.target.uri,
        unrestricted: request.target.unrestricted,
        scopes,
        dropped: &request.scopes.dropped,
        account_url: &account_url,
    };
    with_cookies(page(StatusCode::OK, &template), browser.set_cookies())
}

/// `mcp:read` → "Read access (mcp)": a fallback when configuration gives no description.
fn scope_in_words(scope: &str) -> String {
    let (prefix, action) = scope.rsplit_once([':', '.', '/']).unwrap_or(("", scope));
    let verb = match action {
        "read" => "Read access".to_owned(),
        "write" => "Write access".to_owned(),
        "admin" => "Administrative access".to_owned(),
        other => format!("Permission \u{201c}{other}\u{201d}"),
    };
    if prefix.is_empty() {
        verb
    } else {
        format!("{verb} ({prefix})")
    }
}

/// The host of a URL, for showing people where something lives.
pub fn url_host(value: &str) -> Option<String> {
    url::Url::parse(value)
        .ok()
        .filter(|u| u.has_host())
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// A 303 to the client's verified redirect URI carrying an error.
fn redirect_error(state: &AppState, error: &RedirectError) -> Response {
    see_other(&error.location(&state.config.issuer))
}

/// An error before the person has decided anything: a redirect for the operator's own
/// clients, and for every other client a page that names where the link goes and lets the
/// person choose to follow it (RFC 9700 4.11.2: no open redirector).
fn error_answer(state: &AppState, client: &Client, error: &RedirectError) -> Response {
    if authorize::redirects_errors_at_once(client) {
        return redirect_error(state, error);
    }
    let location = error.location(&state.config.issuer);
    let host =
        url_host(error.redirect.as_str()).unwrap_or_else(|| error.redirect.as_str().to_owned());
    page(
        StatusCode::BAD_REQUEST,
        &LeavingPage {
            title: "This request cannot be completed",
            message: &error.error.description,
            host: &host,
            location: &location,
        },
    )
}

/// A 303 See Other with the page headers (no referrer leaks the code or the request).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    with_page_headers(response)
}

/// Mints a code bound to everything `/token` must check, and sends the browser back with it.
async fn issue_code(
    state: &AppState,
    browser: &Browser,
    session: &Session,
    request: &AuthorizationRequest,
) -> PageResult {
    let now = state.clock.now();
    let grant = state
        .store
        .find_grant(&session.user.id, &request.client_id, &request.target.uri)
        .await?;
    let code = opaque::new_secret();
    let record = NewAuthorizationCode {
        code_hash: opaque::hash(&code),
        client_id: request.client_id.clone(),
        user_id: session.user.id.clone(),
        grant_id: grant.map(|g| g.id),
        redirect_uri: request.redirect.as_str().to_owned(),
        code_challenge: request.code_challenge.clone(),
        resource: request.target.uri.clone(),
        scope: request.scopes.granted.join(" "),
        auth_time: session.auth_time,
        expires_at: now + state.config.tokens.authorization_code_ttl.as_i64(),
    };
    state.store.insert_code(&record, now).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(client_state) = &request.state {
        params.push(("state", client_state));
    }
    params.push(("iss", &state.config.issuer));
    Ok(with_cookies(
        see_other(&request.redirect.with_params(&params)),
        browser.set_cookies(),
    ))
}

/// `POST /login`: checks the password, starts a session, and continues the pending request.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let params = parse_page_params(&body)?;
    let browser = Browser::load(&state, &headers).await?;
    if !browser.form_is_genuine(&headers, &state.config.issuer, params.get("csrf")) {
        return Err(PageResponse::new(with_cookies(
            error_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The sign-in form was not sent from this browser's session. Start again from the application.",
            ),
            browser.set_cookies(),
        )));
    }
    let username = params.get("username").unwrap_or_default();
    let request = params.get("request");
    if request.is_some() {
        // A sign-in continues only the pending request of this very browser; a stale or
        // foreign handle signs nobody in (login CSRF), it ends here.
        pending(&state, &browser, request, false).await?;
    }
    let now = state.clock.now();
    let user_key = format!("user:{}", username.to_lowercase());
    let ip_key = format!("ip:{}", network_key(ip));
    // Attempts count before the password check, so parallel guesses count too; a success
    // gives its attempt back.
    if let Err(RetryAfter(seconds)) = state.login_limiter.check(&user_key, now) {
        tracing::warn!(%ip, "sign-in refused: too many attempts for this username");
        return Ok(too_many_attempts(seconds));
    }
    if let Err(RetryAfter(seconds)) = state.login_ip_limiter.check(&ip_key, now) {
        state.login_limiter.refund(&user_key);
        tracing::warn!(%ip, "sign-in refused: too many attempts from this address");
        return Ok(too_many_attempts(seconds));
    }
    let user = state.store.find_user_by_username(username).await?;
    let stored_hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map(|u| u.password_hash.clone());
    let verified = password::verify(
        params.get("password").unwrap_or_default().to_owned(),
        stored_hash,
    )
    .await;
    let user = match user {
        Some(user) if verified && !user.disabled => user,
        _ => {
            tracing::info!(%ip, "sign-in failed");
            state.metrics.login_failed();
            state
                .audit(login_failure(user.as_ref(), username, verified).ip(ip))
                .await;
            let client_name = None;
            return Ok(login_page(
                &state,
                &browser,
                request,
                client_name,
                username,
                Some("Incorrect username or password."),
                StatusCode::UNAUTHORIZED,
            ));
        }
    };
    state.login_limiter.reset(&user_key);
    state.login_ip_limiter.refund(&ip_key);
    if let Some(old) = &browser.session {
        state.store.delete_session(&old.id_hash).await?;
    }
    let session_id = opaque::new_secret();
    let ttl = state.config.login.session_ttl.as_i64();
    state
        .store
        .create_session(&opaque::hash(&session_id), &user.id, now, now + ttl)
        .await?;
    tracing::info!(user_id = %user.id, "signed in");
    state.metrics.login_succeeded();
    state
        .audit(
            AuditEvent::new(AuditKind::LoginSucceeded)
                .user(&user.id)
                .ip(ip),
        )
        .await;
    let next = match request {
        Some(handle) => format!("{}/consent?request={handle}", state.config.issuer),
        None => format!("{}/account", state.config.issuer),
    };
    let mut cookies = browser.set_cookies();
    cookies.push(browser.jar().set(SESSION, &session_id, Some(ttl)));
    Ok(with_cookies(see_other(&next), cookies))
}

/// The audit event of a failed sign-in: who was tried, and why it failed (operators only).
fn login_failure(user: Option<&crate::store::User>, username: &str, verified: bool) -> AuditEvent {
    let event = AuditEvent::new(AuditKind::LoginFailed).attempted_username(username);
    match user {
        None => event.with("reason", "unknown_user"),
        Some(u) if u.disabled => event.user(&u.id).with("reason", "disabled"),
        Some(u) if !verified => event.user(&u.id).with("reason", "wrong_password"),
        Some(u) => event.user(&u.id),
    }
}

/// The 429 page after `login.max_failures` failures, with `Retry-After`.
fn too_many_attempts(retry_after: u64) -> Response {
    rate_limited_page("Too many failed sign-ins.", retry_after)
}

/// A 429 page saying what happened and how long to wait, with `Retry-After`.
fn rate_limited_page(what: &str, retry_after: u64) -> Response {
    let minutes = retry_after.div_ceil(60).max(1);
    let message = format!("{what} Wait {minutes} minute(s) and try again.");
    let mut response = error_page(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", &message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// Loads the pending request named by a form or link, bound to this browser.
async fn pending(
    state: &AppState,
    browser: &Browser,
    handle: Option<&str>,
    consume: bool,
) -> Result<(AuthorizationRequest, Client), PageResponse> {
    let gone = || {
        bad_request(
            "This request has expired",
            "The sign-in request was already used, has expired, or belongs to another browser. Start again from the application.",
        )
    };
    let handle = handle.ok_or_else(gone)?;
    let (hash, binding, now) = (
        opaque::hash(handle),
        browser.binding_hash(),
        state.clock.now(),
    );
    let json = if consume {
        state
            .store
            .consume_pending_request(&hash, &binding, now)
            .await?
    } else {
        state
            .store
            .find_pending_request(&hash, &binding, now)
            .await?
    };
    let request: AuthorizationRequest = json
        .and_then(|j| serde_json::from_str(&j).ok())
        .ok_or_else(gone)?;
    let client = state
        .store
        .find_client(&request.client_id)
        .await?
        .ok_or_else(gone)?;
    Ok((request, client))
}

/// `GET /consent?request=…`: after sign-in, shows the consent page (or answers at once
/// when an existing grant covers the request and consent was not forced).
pub async fn consent_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = parse_page_params(query.unwrap_or_default().as_bytes())?;
    let browser = Browser::load(&state, &headers).await?;
    let (request, client) = pending(&state, &browser, params.get("request"), false).await?;
    let session = browser
        .session
        .as_ref()
        .filter(|s| request.accepts_sign_in_at(s.auth_time));
    let Some(session) = session else {
        return Ok(login_page(
            &state,
            &browser,
            params.get("request"),
            Some(&client.settings.name),
            "",
            None,
            StatusCode::OK,
        ));
    };
    if !request.prompt.forces_consent() && covered(&state, session, &client, &request).await? {
        pending(&state, &browser, params.get("request"), true).await?;
        return issue_code(&state, &browser, session, &request).await;
    }
    Ok(consent_page(
        &state,
        &browser,
        session,
        &client,
        &request,
        params.get("request").unwrap_or_default(),
    ))
}

/// `POST /consent`: the person's decision, accepted once per pending request.
pub async fn consent_decision(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let params = parse_page_params(&body)?;
    let browser = Browser::load(&state, &headers).await?;
    if !browser.form_is_genuine(&headers, &state.config.issuer, params.get("csrf")) {
        return Err(PageResponse::new(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The consent form was not sent from this browser's session. Start again from the application.",
        )));
    }
    let Some(session) = browser.session.as_ref() else {
        return Err(bad_request(
            "You are signed out",
            "Your session ended before you decided. Start again from the application.",
        ));
    };
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(bad_request("Invalid request", "Choose Allow or Deny.")),
    };
    let (request, _client) = pending(&state, &browser, params.get("request"), true).await?;
    if !request.accepts_sign_in_at(session.auth_time) {
        return Err(bad_request(
            "Sign in again",
            "The application asked for a fresh sign-in before this decision. Start again from the application.",
        ));
    }
    if !approve {
        tracing::info!(client_id = %request.client_id, "consent denied");
        state
            .audit(consent_event(AuditKind::ConsentDenied, session, &request).ip(ip))
            .await;
        let error = OAuthError::new(ErrorCode::AccessDenied, "the person denied the request");
        return Ok(redirect_error(
            &state,
            &authorize::error_for(&request, error),
        ));
    }
    let now = state.clock.now();
    state
        .store
        .upsert_grant(
            &session.user.id,
            &request.client_id,
            &request.target.uri,
            &request.scopes.granted,
            now,
        )
        .await?;
    tracing::info!(client_id = %request.client_id, user_id = %session.user.id, "consent given");
    state
        .audit(consent_event(AuditKind::ConsentGiven, session, &request).ip(ip))
        .await;
    issue_code(&state, &browser, session, &request).await
}

/// The audit event of a consent decision: who, which application, which MCP server and scopes.
fn consent_event(kind: AuditKind, session: &Session, request: &AuthorizationRequest) -> AuditEvent {
    AuditEvent::new(kind)
        .user(&session.user.id)
        .client(&request.client_id)
        .with("resource", request.target.uri.as_str())
        .with("scope", request.scopes.granted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::scope_in_words;

    #[test]
    fn scopes_have_words() {
        assert_eq!(scope_in_words("mcp:read"), "Read access (mcp)");
        assert_eq!(scope_in_words("write"), "Write access");
        assert_eq!(
            scope_in_words("files.share"),
            "Permission \u{201c}share\u{201d} (files)"
        );
    }
}
