//! The RFC error vocabulary: one enum of codes with their registered spellings, and an error
//! carrying a description that is always safe to show the client.

use std::borrow::Cow;
use std::fmt;

/// Error codes from RFC 6749 4.1.2.1 and 5.2, RFC 7591 3.2.2, RFC 8707, OpenID `prompt=none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed or missing parameter.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, or bound elsewhere.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// The scope is unknown or exceeds what is allowed.
    InvalidScope,
    /// The resource is unknown (RFC 8707).
    InvalidTarget,
    /// The person refused.
    AccessDenied,
    /// `prompt=none` but the person is not logged in.
    LoginRequired,
    /// `prompt=none` but consent is needed.
    ConsentRequired,
    /// OpenID Connect Core 3.1.2.6: a `request` object was sent; none is read here.
    RequestNotSupported,
    /// OpenID Connect Core 3.1.2.6: a `request_uri` was sent; none is fetched here.
    RequestUriNotSupported,
    /// A registration redirect URI is unacceptable (RFC 7591).
    InvalidRedirectUri,
    /// Registration metadata is unacceptable (RFC 7591).
    InvalidClientMetadata,
    /// A bearer token (e.g. a registration access token) is invalid (RFC 6750).
    InvalidToken,
    /// A valid bearer token without the scope the endpoint needs (RFC 6750 3.1).
    InsufficientScope,
    /// Something broke on our side; details are only in the log.
    ServerError,
    /// The database or another dependency is down for now.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The registered spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: a code plus a description written for the client developer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// Human-readable, client-safe explanation (never a secret or internal detail).
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with the given code and description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_target`.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `server_error`, with a fixed description: the cause belongs in the log.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server failed to handle the request",
        )
    }

    /// `temporarily_unavailable`, for a database that does not answer.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry shortly",
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}
