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

/// Whether a requested redirect URI matches a registered one: byte-exact, except that for
/// loopback IP literals and `localhost` the port may differ (RFC 8252 7.3), including a
/// registration without a port. The host itself must still match exactly, so `localhost`
/// never matches `127.0.0.1`, and the any-port rule never applies to other hosts.
pub fn matches(requested: &str, registered: &str) -> bool {
    if requested == registered {
        return true;
    }
    let (Ok(req), Ok(reg)) = (Url::parse(requested), Url::parse(registered)) else {
        return false;
    };
    let loopback = reg.scheme() == "http" && reg.host().as_ref().is_some_and(is_loopback_host);
    if !loopback || req.scheme() != "http" || req.host() != reg.host() {
        return false;
    }
    // Compare everything but the port, on the raw strings after the authority, so no
    // normalisation of the path or query sneaks in.
    after_authority(requested) == after_authority(registered)
        && req.username().is_empty()
        && req.password().is_none()
        && req.fragment().is_none()
}

/// The part of a URI after `scheme://authority`.
fn after_authority(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.find(['/', '?']).map_or("", |at| &rest[at..])
}

/// The registered redirect URI to use for a request, or `None` when it cannot be trusted:
/// the requested one when it matches a registration, else the only registered one when
/// the request named none (RFC 6749 3.1.2.3).
pub fn select<'a>(requested: Option<&'a str>, registered: &'a [String]) -> Option<&'a str> {
    match requested {
        Some(uri) => registered.iter().any(|r| matches(uri, r)).then_some(uri),
        None if registered.len() == 1 => registered.first().map(String::as_str),
        None => None,
    }
}

#[cfg(test)]
mod matching_tests {
    use super::*;

    #[test]
    fn exact_match_for_ordinary_hosts() {
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
        assert!(!matches(
            "https://app.example/cb/",
            "https://app.example/cb"
        ));
        assert!(!matches(
            "https://app.example:8443/cb",
            "https://app.example/cb"
        ));
        assert!(!matches(
            "https://app.example/cb?x=1",
            "https://app.example/cb"
        ));
        assert!(!matches("https://APP.example/cb", "https://app.example/cb"));
    }

    #[test]
    fn loopback_matches_any_port_rfc_8252_7_3() {
        assert!(matches(
            "http://127.0.0.1:53127/callback",
            "http://127.0.0.1/callback"
        ));
        assert!(matches(
            "http://127.0.0.1:53127/callback",
            "http://127.0.0.1:8080/callback"
        ));
        assert!(matches("http://[::1]:4000/cb", "http://[::1]/cb"));
        assert!(matches(
            "http://localhost:6274/oauth/callback",
            "http://localhost:1/oauth/callback"
        ));
        assert!(matches("http://127.0.0.1:33418/", "http://127.0.0.1/"));
    }

    #[test]
    fn loopback_rule_keeps_host_path_and_scheme() {
        assert!(!matches("http://127.0.0.1:5000/cb", "http://localhost/cb"));
        assert!(!matches("http://localhost:5000/cb", "http://127.0.0.1/cb"));
        assert!(!matches(
            "http://127.0.0.1:5000/other",
            "http://127.0.0.1/cb"
        ));
        assert!(!matches("https://127.0.0.1:5000/cb", "http://127.0.0.1/cb"));
        assert!(!matches("http://127.0.0.2:5000/cb", "http://127.0.0.1/cb"));
        assert!(!matches(
            "http://evil.example:5000/cb",
            "http://evil.example/cb"
        ));
        assert!(!matches(
            "https://app.example:444/cb",
            "https://app.example/cb"
        ));
        assert!(!matches(
            "http://user@127.0.0.1:5000/cb",
            "http://127.0.0.1/cb"
        ));
    }

    #[test]
    fn selection_needs_a_match_or_a_single_registration() {
        let one = vec!["https://a.example/cb".to_owned()];
        let two = vec![
            "https://a.example/cb".to_owned(),
            "https://b.example/cb".to_owned(),
        ];
        assert_eq!(select(None, &one), Some("https://a.example/cb"));
        assert_eq!(select(None, &two), None);
        assert_eq!(
            select(Some("https://b.example/cb"), &two),
            Some("https://b.example/cb")
        );
        assert_eq!(select(Some("https://c.example/cb"), &two), None);
    }
}
