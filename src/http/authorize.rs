//! `GET`/`POST /authorize` (RFC 6749 4.1.1): validates the request in the safe order, then
//! shows what `app::authorize` says comes next.

use super::answers::{
    PageResult, bad_request, login_page, only_provider, parse_page_params, provider_link,
    rate_limited_page, see_other, url_host,
};
use super::browser::{Browser, with_cookies};
use super::client_ip::ClientIp;
use super::consent::consent_page;
use super::pages::{LeavingPage, PageResponse, error_page, page};
use crate::app::authorize::{self as flow, PendingRefused, Step};
use crate::app::clients::resolve_client;
use crate::app::state::AppState;
use crate::oauth::authorize::{self, RedirectError, UntrustedRequest};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::net::IpAddr;

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

/// Validates the request in the safe order (sizes, client, redirect URI, then the rest),
/// then asks the person what is needed.
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
    let request =
        match authorize::validate(&params, &client, redirect, state.config.audiences(), now) {
            Ok(request) => request,
            Err(error) => return Ok(error_answer(state, &client, &error)),
        };
    let browser = Browser::load(state, headers).await?;
    let step = flow::next_step(state, browser.session.as_ref(), &client, &request).await?;
    if let Step::Refuse(error) = &step {
        return Ok(error_answer(state, &client, error));
    }
    if let Step::IssueCode(session, grant) = step {
        let location = flow::issue_code(state, session, &request, grant).await?;
        return Ok(with_cookies(see_other(&location), browser.set_cookies()));
    }
    let handle = match flow::keep_pending(state, ip, &browser.binding_hash(), &request).await {
        Ok(handle) => handle,
        Err(PendingRefused::TooMany(retry)) => {
            return Err(PageResponse::new(rate_limited_page(
                "Too many sign-in requests came from your network.",
                retry.0,
            )));
        }
        Err(PendingRefused::Store(error)) => return Err(error.into()),
    };
    Ok(match step {
        Step::Consent(session) => {
            consent_page(state, &browser, session, &client, &request, &handle)
        }
        _ if let Some(provider) = only_provider(state) => {
            let link = provider_link(state, provider, Some(&handle));
            with_cookies(see_other(&link), browser.set_cookies())
        }
        _ => {
            login_page(
                state,
                &browser,
                Some(&handle),
                Some(&client.settings.name),
                request.login_hint.as_deref().unwrap_or_default(),
                None,
                StatusCode::OK,
            )
            .await?
        }
    })
}

/// An error before the person has decided anything: a redirect for the operator's own
/// clients, and for every other client a page that names where the link goes and lets the
/// person choose to follow it (RFC 9700 4.11.2: no open redirector).
fn error_answer(state: &AppState, client: &Client, error: &RedirectError) -> Response {
    let location = error.location(&state.config.issuer);
    if authorize::redirects_errors_at_once(client) {
        return see_other(&location);
    }
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
