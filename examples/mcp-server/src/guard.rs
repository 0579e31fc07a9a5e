//! The gate in front of the MCP endpoint: no token, a bad token or too little scope each
//! get the RFC 6750 / RFC 9728 challenge that tells an MCP client what to do next.

use crate::metadata;
use crate::settings::Settings;
use crate::verifier::{Rejection, Verifier};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What the middleware needs: the verifier and the challenge parts built once.
pub struct Guard {
    verifier: Verifier,
    required_scope: String,
    resource_metadata: String,
}

impl Guard {
    /// A guard for these settings.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            verifier: Verifier::new(settings.clone())?,
            required_scope: settings.required_scope.clone(),
            resource_metadata: metadata::url(settings),
        })
    }

    /// The verifier, for callers that check tokens outside HTTP.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// `WWW-Authenticate` for a request without a token: where the metadata is and which
    /// scope to ask for (no `error`, as RFC 6750 3.1 asks).
    pub fn missing_token_challenge(&self) -> String {
        format!(
            "Bearer resource_metadata=\"{}\", scope=\"{}\"",
            self.resource_metadata, self.required_scope
        )
    }

    fn invalid_token_challenge(&self, description: &str) -> String {
        format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"{}\", scope=\"{}\"",
            self.resource_metadata, self.required_scope
        )
    }

    fn insufficient_scope_challenge(&self) -> String {
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", error_description=\"the token lacks the scope {}\"",
            self.required_scope, self.resource_metadata, self.required_scope
        )
    }
}

/// Axum middleware: lets a request through only with a valid token holding the required
/// scope, and hands the token's claims to the MCP handler in the request extensions.
pub async fn require_token(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer_token(&request) else {
        return challenge(
            StatusCode::UNAUTHORIZED,
            &guard.missing_token_challenge(),
            None,
            "an access token is required",
        );
    };
    let claims = match guard.verifier.verify(&token).await {
        Ok(claims) => claims,
        Err(Rejection::Invalid(why)) => {
            return challenge(
                StatusCode::UNAUTHORIZED,
                &guard.invalid_token_challenge(why),
                Some("invalid_token"),
                why,
            );
        }
        Err(Rejection::Unavailable(error)) => {
            tracing::error!(
                error = format!("{error:#}"),
                "cannot fetch the signing keys"
            );
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "the authorization server's keys are unavailable",
            )
                .into_response();
        }
    };
    if !claims.has_scope(&guard.required_scope) {
        return challenge(
            StatusCode::FORBIDDEN,
            &guard.insufficient_scope_challenge(),
            Some("insufficient_scope"),
            "the token lacks the required scope",
        );
    }
    request.extensions_mut().insert(claims);
    next.run(request).await
}

/// The token from `Authorization: Bearer …` (the scheme is case-insensitive).
fn bearer_token(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn challenge(
    status: StatusCode,
    www_authenticate: &str,
    error: Option<&str>,
    description: &str,
) -> Response {
    // Like the header, the body names no error when no token came (RFC 6750 3.1).
    let body = match error {
        Some(error) => serde_json::json!({ "error": error, "error_description": description }),
        None => serde_json::json!({ "error_description": description }),
    }
    .to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(www_authenticate) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
