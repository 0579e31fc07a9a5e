//! `POST /login`: the sign-in form, continuing the pending request it came from.

use super::answers::{
    PageResult, genuine_form, login_page, rate_limited_page, request_gone, signed_in,
};
use super::client_ip::ClientIp;
use super::pages::{PageResponse, error_page};
use crate::app::authorize::pending_request;
use crate::app::sign_in::{SignIn, sign_in};
use crate::app::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// `POST /login`: checks the password, starts a session, and continues the pending request.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let (params, browser) = genuine_form(
        &state,
        &headers,
        &body,
        "The sign-in form was not sent from this browser's session. Start again from the application.",
    )
    .await?;
    if !state.config.login.password {
        return Err(PageResponse::new(error_page(
            StatusCode::FORBIDDEN,
            "Password sign-in is off",
            "This server signs people in with their identity provider only.",
        )));
    }
    let username = params.get("username").unwrap_or_default();
    let request = params.get("request");
    if let Some(handle) = request {
        // A sign-in continues only the pending request of this very browser; a stale or
        // foreign handle signs nobody in (login CSRF), it ends here.
        pending_request(&state, &browser.binding_hash(), handle, false)
            .await?
            .ok_or_else(request_gone)?;
    }
    let password = params.get("password").unwrap_or_default();
    let outcome = sign_in(&state, ip, username, password, browser.session.as_ref()).await?;
    let (session_secret, ttl) = match outcome {
        SignIn::SignedIn {
            session_secret,
            ttl,
            ..
        } => (session_secret, ttl),
        SignIn::TooManyAttempts(retry) => {
            return Ok(rate_limited_page("Too many failed sign-ins.", retry.0));
        }
        SignIn::Refused => {
            return login_page(
                &state,
                &browser,
                request,
                None,
                username,
                Some("Incorrect username or password."),
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
    };
    Ok(signed_in(&state, &browser, request, &session_secret, ttl))
}
