//! The HTML surface: askama templates, the security headers every page carries, and the
//! error page shown when a request cannot be trusted enough to redirect.

use crate::app::store_failure;
use crate::oauth::error::ErrorCode;
use crate::store::StoreError;
use askama::Template;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Sign-in form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Handle of the pending authorization request, if signing in for one.
    pub request: Option<&'a str>,
    /// The application waiting on this sign-in.
    pub client_name: Option<&'a str>,
    /// Username to prefill after a failure.
    pub username: &'a str,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
    /// A link per identity provider, above the form.
    pub providers: Vec<ProviderLink<'a>>,
    /// Whether the password form is offered (`login.password`).
    pub password: bool,
    /// No person and no provider yet: the page says how to create one.
    pub first_run: bool,
}

/// "Sign in with {name}" on the sign-in page.
pub struct ProviderLink<'a> {
    /// The provider's id (`data-provider`).
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Where the link starts the round trip.
    pub href: String,
}

/// One scope, in words.
pub struct ScopeView {
    /// The scope token.
    pub name: String,
    /// What it allows.
    pub words: String,
}

/// Consent form.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Handle of the pending authorization request.
    pub request: &'a str,
    /// Who is signed in.
    pub username: &'a str,
    /// The identity provider they signed in with, if not the password.
    pub provider_name: Option<&'a str>,
    /// The application's name.
    pub client_name: &'a str,
    /// Host of a URL client_id (CIMD).
    pub client_host: Option<String>,
    /// Host the answer goes to.
    pub redirect_host: String,
    /// Every redirect URI is loopback: a local app.
    pub loopback_only: bool,
    /// The MCP server's configured name.
    pub resource_name: Option<&'a str>,
    /// The MCP server's URL.
    pub resource_uri: &'a str,
    /// Open-resource mode without a resource: not limited to one server.
    pub unrestricted: bool,
    /// Scopes to grant, in words.
    pub scopes: Vec<ScopeView>,
    /// The identity scopes granted, in words ("Your email address"), listed apart from
    /// the MCP server's permissions.
    pub identity: Vec<&'static str>,
    /// Scopes asked for but not grantable.
    pub dropped: &'a [String],
    /// Link to the account page.
    pub account_url: &'a str,
}

/// One consented MCP server of an application, on the account page.
pub struct GrantView {
    /// Grant id, for per-server revocation.
    pub id: String,
    /// Configured name of the MCP server.
    pub resource_name: Option<String>,
    /// Its URL.
    pub resource_uri: String,
    /// Consented scopes.
    pub scopes: String,
    /// When consent was given.
    pub granted: String,
    /// When a token was last issued under it.
    pub last_used: String,
}

/// One application with its grants, on the account page.
pub struct AppView {
    /// The client_id.
    pub client_id: String,
    /// Its name.
    pub client_name: String,
    /// Host of a URL client_id.
    pub client_host: Option<String>,
    /// Its grants.
    pub grants: Vec<GrantView>,
}

/// The person's connected applications.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    /// Who is signed in.
    pub username: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Applications holding grants.
    pub apps: Vec<AppView>,
    /// Where revocation forms post.
    pub revoke_url: &'a str,
    /// Where the sign-out form posts.
    pub logout_url: &'a str,
    /// Confirmation of the last action.
    pub notice: Option<&'a str>,
}

/// A page explaining an error to the person.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Headline.
    pub title: &'a str,
    /// What happened.
    pub message: &'a str,
    /// What to do about it.
    pub hint: &'a str,
}

/// An error for an application this server cannot vouch for: said on a page, with a link
/// back the person may follow, instead of an automatic redirect (RFC 9700 4.11.2).
#[derive(Template)]
#[template(path = "leaving.html")]
pub struct LeavingPage<'a> {
    /// Headline.
    pub title: &'a str,
    /// What happened, in the client-safe words of the OAuth error.
    pub message: &'a str,
    /// Host of the redirect URI the link goes to.
    pub host: &'a str,
    /// The error redirect, which only ever goes to a registered redirect URI.
    pub location: &'a str,
}

/// Renders a template into a response with the page security headers.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => with_page_headers((status, Html(html)).into_response()),
        Err(error) => {
            tracing::error!(%error, "template rendering failed");
            with_page_headers((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let hint = if status.is_server_error() {
        "Please try again in a moment."
    } else {
        "Return to the application and start again. If this keeps happening, tell the application's developer."
    };
    page(
        status,
        &ErrorPage {
            title,
            message,
            hint,
        },
    )
}

/// No framing, no referrer, no caching, and a CSP allowing only our inline styles.
pub fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page-flow failure already turned into the response the browser should get.
pub struct PageResponse(Box<Response>);

impl PageResponse {
    /// Wraps a finished response.
    pub fn new(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for PageResponse {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<StoreError> for PageResponse {
    fn from(error: StoreError) -> Self {
        let safe = store_failure(&error);
        let status = if safe.code == ErrorCode::TemporarilyUnavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::new(error_page(
            status,
            "Something went wrong",
            &safe.description,
        ))
    }
}
