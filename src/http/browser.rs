//! The browser behind a page request: its binding cookie (which anchors CSRF tokens and
//! pending requests), and its login session if any. Everything here is derived from the
//! cookie or stored in the database, never from a per-process secret, so any instance of a
//! deployment serves any step of a sign-in (tests/it/instances.rs walks one across two).

use super::cookies::{BROWSER, CookieJar, SESSION};
use crate::app::state::AppState;
use crate::store::{Session, StoreError};
use crate::tokens::opaque;
use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

/// What the server knows about the browser making a page request.
pub struct Browser {
    binding: String,
    new_binding: bool,
    /// The person signed in on this browser, if any.
    pub session: Option<Session>,
    jar: CookieJar,
}

impl Browser {
    /// Reads the cookies and looks up the session; a first visit gets a new binding.
    pub async fn load(state: &AppState, headers: &HeaderMap) -> Result<Self, StoreError> {
        let jar = CookieJar::for_issuer(&state.config.issuer);
        let existing = jar.get(headers, BROWSER).filter(|v| v.len() == 43);
        let (binding, new_binding) = match existing {
            Some(value) => (value, false),
            None => (opaque::new_secret(), true),
        };
        let session = match jar.get(headers, SESSION) {
            Some(id) => {
                state
                    .store
                    .find_session(&opaque::hash(&id), state.clock.now())
                    .await?
            }
            None => None,
        };
        Ok(Self {
            binding,
            new_binding,
            session,
            jar,
        })
    }

    /// Identifies this browser in the database without storing the cookie itself.
    pub fn binding_hash(&self) -> String {
        opaque::hash(&format!("binding:{}", self.binding))
    }

    /// The CSRF token for forms on this browser: derived from the HttpOnly binding cookie,
    /// which a cross-site attacker can neither read nor set.
    pub fn csrf_token(&self) -> String {
        opaque::hash(&format!("csrf:{}", self.binding))
    }

    /// A value that only this browser's cookie and `input` determine, for one `purpose`: an
    /// upstream round trip's PKCE verifier and nonce, derived from its `state`.
    pub fn derive(&self, purpose: &str, input: &str) -> String {
        opaque::hash(&format!("{purpose}:{}:{input}", self.binding))
    }

    /// Whether a submitted CSRF token is this browser's (never true on a first visit).
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        let expected = self.csrf_token();
        !self.new_binding
            && submitted.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
    }

    /// Whether a form post is genuine: sent from this browser (its CSRF token) and not from
    /// a foreign origin.
    pub fn form_is_genuine(&self, headers: &HeaderMap, issuer: &str, csrf: Option<&str>) -> bool {
        origin_allowed(headers, issuer) && self.csrf_ok(csrf)
    }

    /// Cookies the response must set (the binding on a first visit).
    pub fn set_cookies(&self) -> Vec<HeaderValue> {
        if self.new_binding {
            vec![self.jar.set(BROWSER, &self.binding, None)]
        } else {
            Vec::new()
        }
    }

    /// The cookie jar for this issuer.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }
}

/// Refuses cross-site form posts: no Origin, `null` (sent under `no-referrer`), or our own.
fn origin_allowed(headers: &HeaderMap, issuer: &str) -> bool {
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => true,
        Some(origin) => url::Url::parse(issuer)
            .is_ok_and(|issuer| issuer.origin().ascii_serialization() == origin),
    }
}

/// Adds `Set-Cookie` headers to a response.
pub fn with_cookies(
    mut response: axum::response::Response,
    cookies: Vec<HeaderValue>,
) -> axum::response::Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
