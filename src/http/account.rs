//! `/account`: the signed-in person's connected applications, with revocation and sign-out.

use super::answers::{PageResult, genuine_form, login_page, see_other, url_host};
use super::browser::{Browser, with_cookies};
use super::client_ip::ClientIp;
use super::cookies::SESSION;
use super::pages::{AccountPage, AppView, GrantView, PageResponse, error_page, page};
use crate::app::account::{self, Selection};
use crate::app::state::AppState;
use crate::oauth::params::Params;
use crate::oauth::resource;
use crate::support::clock::format_utc as timestamp;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};

/// `GET /account`: the sign-in form, or the list of applications holding grants.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let browser = Browser::load(&state, &headers).await?;
    let Some(session) = browser.session.as_ref() else {
        return login_page(&state, &browser, None, None, "", None, StatusCode::OK).await;
    };
    let notice = Params::parse(query.unwrap_or_default().as_bytes())
        .ok()
        .and_then(|p| {
            p.get("revoked")
                .map(|_| "Access revoked. The application's tokens no longer work.")
        });
    let mut apps: Vec<AppView> = Vec::new();
    for listing in account::grants(&state, &session.user.id).await? {
        let grant = listing.grant;
        let view = GrantView {
            resource_name: resource::configured(state.config.audiences(), &grant.resource)
                .map(|r| r.name.clone()),
            resource_uri: if grant.resource == state.config.issuer {
                "any MCP server".to_owned()
            } else {
                grant.resource.clone()
            },
            scopes: grant.scope.clone(),
            granted: timestamp(grant.created_at),
            last_used: grant
                .last_used_at
                .map_or_else(|| "never".to_owned(), timestamp),
            id: grant.id,
        };
        match apps.iter_mut().find(|a| a.client_id == grant.client_id) {
            Some(app) => app.grants.push(view),
            None => apps.push(AppView {
                client_host: url_host(&grant.client_id),
                client_id: grant.client_id,
                client_name: listing.client_name,
                grants: vec![view],
            }),
        }
    }
    let csrf = browser.csrf_token();
    let revoke_url = format!("{}/account/revoke", state.config.issuer);
    let logout_url = format!("{}/logout", state.config.issuer);
    let template = AccountPage {
        username: &session.user.username,
        csrf: &csrf,
        apps,
        revoke_url: &revoke_url,
        logout_url: &logout_url,
        notice,
    };
    Ok(with_cookies(
        page(StatusCode::OK, &template),
        browser.set_cookies(),
    ))
}

/// Checks the form came from this browser's signed-in session.
async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Browser, Params), PageResponse> {
    const RELOAD: &str = "Reload your account page and try again.";
    let (params, browser) = genuine_form(state, headers, body, RELOAD).await?;
    if browser.session.is_none() {
        return Err(PageResponse::new(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            RELOAD,
        )));
    }
    Ok((browser, params))
}

/// `POST /account/revoke`: one grant (`grant_id`) or every grant of one application (`client_id`).
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let (browser, params) = signed_in_form(&state, &headers, &body).await?;
    let Some(session) = browser.session.as_ref() else {
        return Err(PageResponse::new(error_page(
            StatusCode::FORBIDDEN,
            "Signed out",
            "Sign in again.",
        )));
    };
    let selection = match (params.get("grant_id"), params.get("client_id")) {
        (Some(grant_id), None) => Selection::Grant(grant_id),
        (None, Some(client_id)) => Selection::Application(client_id),
        _ => {
            return Err(PageResponse::new(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "Choose one application or one MCP server to revoke.",
            )));
        }
    };
    account::revoke(&state, ip, session, selection).await?;
    Ok(see_other(&format!(
        "{}/account?revoked=1",
        state.config.issuer
    )))
}

/// `POST /logout`: ends the session.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> PageResult {
    let (browser, _) = signed_in_form(&state, &headers, &body).await?;
    if let Some(session) = &browser.session {
        account::sign_out(&state, session).await?;
    }
    let clear = browser.jar().set(SESSION, "", Some(0));
    Ok(with_cookies(
        see_other(&format!("{}/account", state.config.issuer)),
        vec![clear],
    ))
}
