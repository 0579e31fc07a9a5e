//! The answers the browser flows share: the sign-in page, redirects, and the error and 429
//! pages.

use super::browser::{Browser, with_cookies};
use super::cookies::SESSION;
use super::pages::{LoginPage, PageResponse, ProviderLink, error_page, page, with_page_headers};
use crate::app::sign_in::nobody_can_sign_in;
use crate::app::state::AppState;
use crate::oauth::params::Params;
use crate::oauth::redirect_uri::is_loopback_host;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a browser-facing handler answers: a page or redirect, or an error page.
pub type PageResult = Result<Response, PageResponse>;

/// A 400 page with a title and what to do.
pub fn bad_request(title: &str, message: &str) -> PageResponse {
    PageResponse::new(error_page(StatusCode::BAD_REQUEST, title, message))
}

/// Parses a query string or form body, answering a readable page when it is malformed.
pub fn parse_page_params(raw: &[u8]) -> Result<Params, PageResponse> {
    Params::parse(raw).map_err(|e| bad_request("Invalid request", &e.description))
}

/// The sign-in page, posting to `/login`; on a first run with a loopback issuer (someone
/// trying mcp-authd on their own machine), it says how to let someone in.
pub async fn login_page(
    state: &AppState,
    browser: &Browser,
    request: Option<&str>,
    client_name: Option<&str>,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageResponse> {
    let action = format!("{}/login", state.config.issuer);
    let first_run = is_loopback_url(&state.config.issuer) && nobody_can_sign_in(state).await?;
    let csrf = browser.csrf_token();
    let template = LoginPage {
        action: &action,
        csrf: &csrf,
        request,
        client_name,
        username,
        error,
        providers: state
            .providers
            .all()
            .map(|provider| ProviderLink {
                id: &provider.id,
                name: &provider.name,
                href: provider_link(state, &provider.id, request),
            })
            .collect(),
        password: state.config.login.password,
        first_run,
    };
    Ok(with_cookies(page(status, &template), browser.set_cookies()))
}

/// Where "Sign in with" a provider goes: the round trip's start, carrying the pending
/// request's handle.
pub fn provider_link(state: &AppState, provider_id: &str, request: Option<&str>) -> String {
    let start = format!("{}/login/{provider_id}", state.config.issuer);
    match request {
        Some(handle) => format!("{start}?request={handle}"),
        None => start,
    }
}

/// The only way to sign in, when it is one provider and no password form: `/authorize`
/// sends the person straight there.
pub fn only_provider(state: &AppState) -> Option<&str> {
    let mut all = state.providers.all();
    match (all.next(), all.next(), state.config.login.password) {
        (Some(only), None, false) => Some(&only.id),
        _ => None,
    }
}

/// The answer to a successful sign-in: the session cookie, and on to the consent page of
/// the pending request (or the account page without one).
pub fn signed_in(
    state: &AppState,
    browser: &Browser,
    request: Option<&str>,
    session_secret: &str,
    ttl: i64,
) -> Response {
    let next = match request {
        Some(handle) => format!("{}/consent?request={handle}", state.config.issuer),
        None => format!("{}/account", state.config.issuer),
    };
    let mut cookies = browser.set_cookies();
    cookies.push(browser.jar().set(SESSION, session_secret, Some(ttl)));
    with_cookies(see_other(&next), cookies)
}

fn is_loopback_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|url| url.host().is_some_and(|h| is_loopback_host(&h)))
}

/// The host of a URL, for showing people where something lives.
pub fn url_host(value: &str) -> Option<String> {
    url::Url::parse(value)
        .ok()
        .filter(|u| u.has_host())
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// A 303 See Other with the page headers (no referrer leaks the code or the request).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    with_page_headers(response)
}

/// A 429 page saying what happened and how long to wait, with `Retry-After`.
pub fn rate_limited_page(what: &str, retry_after: u64) -> Response {
    let minutes = retry_after.div_ceil(60).max(1);
    let message = format!("{what} Wait {minutes} minute(s) and try again.");
    let mut response = error_page(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", &message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// The page for a pending request that is gone: used, expired, or another browser's.
pub fn request_gone() -> PageResponse {
    bad_request(
        "This request has expired",
        "The sign-in request was already used, has expired, or belongs to another browser. Start again from the application.",
    )
}

/// A form posted from one of our pages, with the browser that posted it, when it carries
/// this browser's CSRF token from our own origin; else a 403 page saying `what_to_do`.
pub async fn genuine_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    what_to_do: &str,
) -> Result<(Params, Browser), PageResponse> {
    let params = parse_page_params(body)?;
    let browser = Browser::load(state, headers).await?;
    if !browser.form_is_genuine(headers, &state.config.issuer, params.get("csrf")) {
        return Err(PageResponse::new(with_cookies(
            error_page(StatusCode::FORBIDDEN, "This form has expired", what_to_do),
            browser.set_cookies(),
        )));
    }
    Ok((params, browser))
}
