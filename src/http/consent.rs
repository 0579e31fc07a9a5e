//! `GET`/`POST /consent`: the consent page after sign-in, and the person's decision.

use super::answers::{
    PageResult, bad_request, genuine_form, login_page, parse_page_params, request_gone, see_other,
    url_host,
};
use super::browser::{Browser, with_cookies};
use super::client_ip::ClientIp;
use super::pages::{ConsentPage, ScopeView, page};
use crate::app::authorize::{issue_code, pending_request, remembered_grant};
use crate::app::consent::{Decision, decide};
use crate::app::state::AppState;
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::client::Client;
use crate::oauth::redirect_uri::is_loopback_host;
use crate::oauth::{resource, scope};
use crate::store::Session;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// `GET /consent?request=…`: after sign-in, shows the consent page (or answers at once
/// when an existing grant covers the request and consent was not forced).
pub async fn consent_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = parse_page_params(query.unwrap_or_default().as_bytes())?;
    let browser = Browser::load(&state, &headers).await?;
    let handle = params.get("request").ok_or_else(request_gone)?;
    let (request, client) = pending_request(&state, &browser.binding_hash(), handle, false)
        .await?
        .ok_or_else(request_gone)?;
    let session = browser
        .session
        .as_ref()
        .filter(|s| request.accepts_sign_in_at(s.auth_time));
    let Some(session) = session else {
        return login_page(
            &state,
            &browser,
            Some(handle),
            Some(&client.settings.name),
            request.login_hint.as_deref().unwrap_or_default(),
            None,
            StatusCode::OK,
        )
        .await;
    };
    let remembered = if request.prompt.forces_consent() {
        None
    } else {
        remembered_grant(&state, session, &client, &request).await?
    };
    if let Some(grant) = remembered {
        pending_request(&state, &browser.binding_hash(), handle, true)
            .await?
            .ok_or_else(request_gone)?;
        let location = issue_code(&state, session, &request, grant).await?;
        return Ok(with_cookies(see_other(&location), browser.set_cookies()));
    }
    Ok(consent_page(
        &state, &browser, session, &client, &request, handle,
    ))
}

/// `POST /consent`: the person's decision, accepted once per pending request.
pub async fn consent_decision(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let (params, browser) = genuine_form(
        &state,
        &headers,
        &body,
        "The consent form was not sent from this browser's session. Start again from the application.",
    )
    .await?;
    let Some(session) = browser.session.as_ref() else {
        return Err(bad_request(
            "You are signed out",
            "Your session ended before you decided. Start again from the application.",
        ));
    };
    let decision = match params.get("decision") {
        Some("approve") => Decision::Approve,
        Some("deny") => Decision::Deny,
        _ => return Err(bad_request("Invalid request", "Choose Allow or Deny.")),
    };
    let handle = params.get("request").ok_or_else(request_gone)?;
    let (request, _client) = pending_request(&state, &browser.binding_hash(), handle, true)
        .await?
        .ok_or_else(request_gone)?;
    if !request.accepts_sign_in_at(session.auth_time) {
        return Err(bad_request(
            "Sign in again",
            "The application asked for a fresh sign-in before this decision. Start again from the application.",
        ));
    }
    let location = decide(&state, ip, session, &request, decision).await?;
    Ok(with_cookies(see_other(&location), browser.set_cookies()))
}

/// The consent page: who asks, for which MCP server, with which permissions, and where
/// the answer goes.
pub fn consent_page(
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
    let configured = resource::configured(state.config.audiences(), &request.target.uri);
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
        provider_name: session
            .identity_provider
            .as_deref()
            .and_then(|id| state.providers.get(id))
            .map(|provider| provider.config.name.as_str()),
        client_name: &client.settings.name,
        client_host: url_host(&client.id),
        redirect_host: url_host(request.redirect.as_str())
            .unwrap_or_else(|| request.redirect.as_str().to_owned()),
        loopback_only,
        resource_name: request.target.name.as_deref(),
        resource_uri: &request.target.uri,
        unrestricted: request.target.unrestricted,
        scopes,
        identity: request
            .scopes
            .identity
            .iter()
            .filter_map(|s| scope::identity_in_words(s))
            .collect(),
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
