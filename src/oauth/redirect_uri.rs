//! Which redirect URIs may be registered, and whether a requested one matches a registration.

use url::{Host, Url};

/// Why a redirect URI cannot be registered; the text is safe to show to the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("redirect URI {uri:?} {reason}")]
pub struct InvalidRedirectUri {
    /// The URI as given.
    pub uri: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Schemes that can run code or read files where the browser lands; never a redirect target.
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "blob", "about"];

/// Checks a URI for registration: https, loopback http, or a private-use scheme on the list.
pub fn validate_for_registration(
    raw: &str,
    allowed_private_schemes: &[String],
) -> Result<(), InvalidRedirectUri> {
    let refuse = |reason| {
        Err(InvalidRedirectUri {
            uri: raw.to_owned(),
            reason,
        })
    };
    if raw.is_empty() || raw.len() > 2_000 {
        return refuse("must be between 1 and 2000 characters");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("contains whitespace or control characters");
    }
    if raw.contains('*') {
        return refuse("contains a wildcard; redirect URIs are matched exactly");
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse("is not an absolute URI");
    };
    if url.fragment().is_some() || raw.contains('#') {
        return refuse("has a fragment, which RFC 6749 3.1.2 forbids");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("contains user information");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "https" => refuse("has no host"),
        "http" if url.host().as_ref().is_some_and(is_loopback_host) => Ok(()),
        "http" => refuse("uses http on a host that is not loopback; use https"),
        scheme if DANGEROUS_SCHEMES.contains(&scheme) => refuse("uses a forbidden scheme"),
        scheme
            if allowed_private_schemes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme)) =>
        {
            Ok(())
        }
        _ => refuse(
            "uses a scheme that is not https, loopback http, or an allowed private-use scheme",
        ),
    }
}

/// `127.0.0.0/8`, `[::1]` and `localhost`: the hosts RFC 8252 lets native apps listen on.
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(uri: &str) -> bool {
        validate_for_registration(uri, &["cursor".to_owned()]).is_ok()
    }

    #[test]
    fn accepts_https_loopback_and_allowed_private_schemes() {
        assert!(ok("https://claude.ai/api/mcp/auth_callback"));
        assert!(ok("http://127.0.0.1/"));
        assert!(ok("http://127.0.0.1:33418/"));
        assert!(ok("http://localhost:6274/oauth/callback"));
        assert!(ok("http://[::1]:8000/cb"));
        assert!(ok("cursor://anysphere.cursor-retrieval/oauth/callback"));
    }

    #[test]
    fn refuses_what_rfc_9700_warns_about() {
        for bad in [
            "http://example.com/cb",
            "https://example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "https://*.example.com/cb",
            "/relative/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "https://example.com/c b",
            "https://example.com/cb\r\n",
            "vscode://callback",
        ] {
            assert!(!ok(bad), "{bad} was accepted");
        }
    }
}
