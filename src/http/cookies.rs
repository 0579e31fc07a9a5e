//! Cookies: read by name, and written with the attributes DESIGN.md 2.4 requires.

use axum::http::{HeaderMap, HeaderValue, header};

/// Names and attributes of this server's cookies, fixed by whether the issuer is https.
#[derive(Clone, Debug)]
pub struct CookieJar {
    secure: bool,
}

/// The login session.
pub const SESSION: &str = "mcp_authd_session";
/// Binds pending requests and CSRF tokens to one browser.
pub const BROWSER: &str = "mcp_authd_browser";

impl CookieJar {
    /// Cookies for an issuer: `Secure` and `__Host-`-prefixed when it is https.
    pub fn for_issuer(issuer: &str) -> Self {
        Self {
            secure: issuer.starts_with("https://"),
        }
    }

    fn full_name(&self, name: &str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// The value of cookie `name` in the request, if any.
    pub fn get(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        let wanted = self.full_name(name);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == wanted)
            .map(|(_, v)| v.to_owned())
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure on https; `max_age`
    /// `None` makes a browser-session cookie, `Some(0)` deletes it.
    pub fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.full_name(name)
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(seconds) = max_age {
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_get_secure_host_prefixed_cookies() {
        let jar = CookieJar::for_issuer("https://auth.example.com");
        let cookie = jar.set(SESSION, "abc", Some(60));
        assert_eq!(
            cookie,
            "__Host-mcp_authd_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-mcp_authd_session=abc"),
        );
        assert_eq!(jar.get(&headers, SESSION).as_deref(), Some("abc"));
    }

    #[test]
    fn http_issuers_get_plain_cookies() {
        let jar = CookieJar::for_issuer("http://127.0.0.1:8080");
        assert_eq!(
            jar.set(BROWSER, "x", None),
            "mcp_authd_browser=x; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
