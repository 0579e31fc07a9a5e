//! `GET /login/{id}` and `GET /login/{id}/callback`: the round trip to an upstream identity
//! provider, as the browser makes it.

use super::answers::{PageResult, parse_page_params, request_gone, see_other, signed_in};
use super::browser::{Browser, with_cookies};
use super::client_ip::ClientIp;
use super::pages::{PageResponse, error_page};
use crate::app::federation::upstream::Upstream;
use crate::app::federation::{self, BeginError, Callback, Finished, RoundTrip};
use crate::app::state::AppState;
use crate::tokens::opaque;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// The round trip's values for `state` on this browser.
fn round_trip(browser: &Browser, state: String) -> RoundTrip {
    RoundTrip {
        verifier: browser.derive("upstream-pkce", &state),
        nonce: browser.derive("upstream-nonce", &state),
        state,
    }
}

fn provider(state: &AppState, id: &str) -> Result<Arc<Upstream>, PageResponse> {
    state.providers.get(id).cloned().ok_or_else(|| {
        PageResponse::new(error_page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This server has no identity provider by that name. Start again from the application.",
        ))
    })
}

/// A page naming the provider that cannot be used, or that refused.
fn provider_page(upstream: &Upstream, status: StatusCode, message: &str) -> PageResponse {
    PageResponse::new(error_page(
        status,
        &format!("Signing in with {} did not work", upstream.config.name),
        message,
    ))
}

/// `GET /login/{id}?request=HANDLE`: sends the browser to the provider.
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let upstream = provider(&state, &id)?;
    let params = parse_page_params(query.unwrap_or_default().as_bytes())?;
    let browser = Browser::load(&state, &headers).await?;
    let trip = round_trip(&browser, opaque::new_secret());
    let location = federation::begin(
        &state,
        &upstream,
        &browser.binding_hash(),
        params.get("request"),
        &trip,
    )
    .await
    .map_err(|error| match error {
        BeginError::RequestGone => request_gone(),
        BeginError::Store(error) => error.into(),
        BeginError::Upstream(error) => provider_page(
            &upstream,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} is unavailable right now ({error}). Try again in a moment.",
                upstream.config.name
            ),
        ),
    })?;
    Ok(with_cookies(see_other(&location), browser.set_cookies()))
}

/// `GET /login/{id}/callback`: the provider's answer; signs the person in and goes on to
/// the consent page (or the account page).
pub async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let upstream = provider(&state, &id)?;
    let params = parse_page_params(query.unwrap_or_default().as_bytes())?;
    let browser = Browser::load(&state, &headers).await?;
    let Some(returned_state) = params.get("state") else {
        return Err(provider_page(
            &upstream,
            StatusCode::BAD_REQUEST,
            "The answer carries no state, so it cannot be matched to a sign-in. Start again from the application.",
        ));
    };
    let trip = round_trip(&browser, returned_state.to_owned());
    let answer = Callback {
        code: params.get("code"),
        iss: params.get("iss"),
        error: params.get("error"),
        error_description: params.get("error_description"),
    };
    let finished = federation::finish(
        &state,
        &upstream,
        &browser.binding_hash(),
        &trip,
        &answer,
        browser.session.as_ref(),
        ip,
    )
    .await?;
    let (session_secret, ttl, request) = match finished {
        Finished::SignedIn {
            session_secret,
            ttl,
            request,
        } => (session_secret, ttl, request),
        Finished::Refused(message) => {
            return Err(provider_page(&upstream, StatusCode::FORBIDDEN, &message));
        }
    };
    Ok(signed_in(
        &state,
        &browser,
        request.as_deref(),
        &session_secret,
        ttl,
    ))
}
