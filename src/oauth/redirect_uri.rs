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
    if !is_normalized(raw, &url) {
        return refuse(
            "is not in normalized form (lower-case scheme and host, no default port, no dot segments, `//` after the scheme, `/` not `\\`)",
        );
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

/// Whether `raw` is already what a URL parser makes of it. A parser repairs
/// `https:evil.example/cb` and reads `https://app.example\@evil.example/` as a path on
/// `app.example`; storing the repaired form would let a registration show one host and mean
/// another, so only the normalized spelling is accepted. The one repair allowed is the `/`
/// a parser adds to an empty path (`https://app.example?x` is `https://app.example/?x`).
fn is_normalized(raw: &str, url: &Url) -> bool {
    let normalized = url.as_str();
    if normalized == raw {
        return true;
    }
    let path_added = match raw.split_once('?') {
        Some((before, query)) => format!("{before}/?{query}"),
        None => format!("{raw}/"),
    };
    url.path() == "/" && normalized == path_added
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
        assert!(
            ok("https://app.example"),
            "the parser's added `/` is no disguise"
        );
        assert!(ok("https://app.example/cb?x=1"));
        assert!(ok("http://127.0.0.1?a="));
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
            "https:evil.example/cb",
            "https:/evil.example/cb",
            "https://app.example\\@evil.example/",
            "https://App.Example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "HTTPS://app.example/cb",
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
    let Ok(reg) = Url::parse(registered) else {
        return false;
    };
    let loopback = reg.scheme() == "http" && reg.host().as_ref().is_some_and(is_loopback_host);
    if !loopback {
        return false;
    }
    // Compare the raw strings with only the port taken out, so no normalisation (scheme or
    // host case, `\\` read as `/`, a missing `//`, empty user information) lets a different
    // string through; the request must still parse, with the same host and a valid port.
    without_port(requested).is_some_and(|req| Some(req) == without_port(registered))
        && Url::parse(requested).is_ok_and(|req| req.host() == reg.host())
}

/// `scheme://host` and everything after the authority, the `:port` left out; `None` for a
/// URI without `://`. User information stays part of the host, so it never matches.
fn without_port(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once("://")?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rfind(':') {
        Some(at)
            if !authority[at..].contains(']')
                && authority[at + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[..at]
        }
        _ => authority,
    };
    Some((&uri[..scheme.len() + 3 + host.len()], tail))
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
    fn loopback_matching_ignores_the_port_and_nothing_else() {
        // Found by the property tests: URL parsing made these equal to the registration.
        for requested in [
            "Http://127.0.0.1",
            "HTTP://127.0.0.1:5000",
            "http://LOCALHOST:5000",
            "http://:@localhost",
            "http://:@localhost:5000",
            "http:127.0.0.1",
            "http:/127.0.0.1:5000",
            "http://127.0.0.1\\x",
            "http://127.0.0.1:5000\\x",
        ] {
            let registered = if requested.to_ascii_lowercase().contains("localhost") {
                "http://localhost"
            } else {
                "http://127.0.0.1"
            };
            assert!(!matches(requested, registered), "{requested} matched");
        }
        assert!(matches("http://127.0.0.1:5000", "http://127.0.0.1"));
        assert!(matches("http://[::1]:5000?x=1", "http://[::1]?x=1"));
        assert!(!matches("http://127.0.0.1:99999/cb", "http://127.0.0.1/cb"));
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

#[cfg(test)]
mod properties {
    //! Generated registrations and mutations of them: a registered URI matches itself and
    //! nothing else, but for the port of a loopback one.

    use super::*;
    use crate::testing::proptest_config;
    use proptest::prelude::*;

    /// A registrable URI in three parts: `scheme://host`, the `:port` (maybe empty), and
    /// everything after the authority. Whether the host is loopback comes along.
    #[derive(Clone, Debug)]
    struct Registered {
        origin: String,
        port: String,
        tail: String,
        loopback: bool,
    }

    impl Registered {
        fn uri(&self) -> String {
            format!("{}{}{}", self.origin, self.port, self.tail)
        }

        fn with_port(&self, port: &str) -> String {
            format!("{}{port}{}", self.origin, self.tail)
        }
    }

    /// No port, or one that is no scheme's default (a default port is not normalized form).
    fn port() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            (1u16..)
                .prop_filter("not a default port", |p| *p != 80 && *p != 443)
                .prop_map(|p| format!(":{p}"))
        ]
    }

    fn tail() -> impl Strategy<Value = String> {
        (
            // Segments in normalized form: no `.` or `..`, no percent-encoding to rewrite.
            "(/([A-Za-z0-9_~-][A-Za-z0-9._~-]{0,7})?){0,3}",
            proptest::option::of("[a-z]{1,5}=[A-Za-z0-9%+]{0,6}(&[a-z]{1,3}=[a-z]{0,3})?"),
        )
            .prop_map(|(path, query)| match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            })
    }

    fn registered() -> impl Strategy<Value = Registered> {
        let https = ("[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,5}){1,2}", port(), tail()).prop_map(
            |(host, port, tail)| Registered {
                origin: format!("https://{host}"),
                port,
                tail,
                loopback: false,
            },
        );
        let loopback = (
            prop_oneof![
                Just("127.0.0.1"),
                Just("localhost"),
                Just("[::1]"),
                Just("127.8.9.10")
            ],
            port(),
            tail(),
        )
            .prop_map(|(host, port, tail)| Registered {
                origin: format!("http://{host}"),
                port,
                tail,
                loopback: true,
            });
        let private =
            ("[a-z]{1,8}(\\.[a-z]{1,8}){0,2}", tail()).prop_map(|(host, tail)| Registered {
                origin: format!("cursor://{host}"),
                port: String::new(),
                tail: if tail.is_empty() { "/cb".into() } else { tail },
                loopback: false,
            });
        prop_oneof![https, loopback, private]
    }

    fn schemes() -> Vec<String> {
        vec!["cursor".to_owned()]
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn registration_check_and_matching_never_panic_on_any_strings(
            a in any::<String>(),
            b in "[a-zA-Z:/\\\\.@\\[\\]?#%0-9]{0,30}",
        ) {
            let _ = validate_for_registration(&a, &schemes());
            let _ = validate_for_registration(&b, &schemes());
            prop_assert!(matches(&a, &a));
            let _ = (matches(&a, &b), matches(&b, &a), select(Some(&a), std::slice::from_ref(&b)));
        }

        #[test]
        fn anything_registrable_is_an_absolute_uri_without_fragment_or_whitespace(
            raw in "[a-zA-Z]{1,6}:[a-zA-Z0-9:/\\\\.@\\[\\]?#% \t*-]{0,30}",
        ) {
            if validate_for_registration(&raw, &schemes()).is_ok() {
                let url = Url::parse(&raw).expect("accepted, so it parses");
                prop_assert!(url.fragment().is_none() && !raw.contains('#'));
                prop_assert!(!raw.chars().any(char::is_whitespace));
                prop_assert!(url.username().is_empty() && url.password().is_none());
                prop_assert!(!DANGEROUS_SCHEMES.contains(&url.scheme()));
            }
        }

        #[test]
        fn a_registered_uri_matches_itself_and_is_the_one_selected(r in registered()) {
            let uri = r.uri();
            prop_assert_eq!(validate_for_registration(&uri, &schemes()), Ok(()));
            prop_assert!(matches(&uri, &uri));
            let list = vec![uri.clone()];
            prop_assert_eq!(select(Some(&uri), &list), Some(uri.as_str()));
            prop_assert_eq!(select(None, &list), Some(uri.as_str()));
        }

        #[test]
        fn changing_any_one_character_of_a_registered_uri_breaks_the_match(
            r in registered(),
            at in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let uri = r.uri();
            let chars: Vec<char> = uri.chars().collect();
            let at = at.index(chars.len());
            prop_assume!(chars[at] != replacement);
            // On loopback, the port may differ (RFC 8252 7.3): that region is not mutated here.
            let port_region = r.origin.len()..r.origin.len() + r.port.len();
            prop_assume!(!(r.loopback && port_region.contains(&at)));
            let mut mutated = chars;
            mutated[at] = replacement;
            let mutated: String = mutated.into_iter().collect();
            prop_assert!(!matches(&mutated, &uri), "{mutated:?} matched {uri:?}");
            let list = [uri];
            prop_assert_eq!(select(Some(&mutated), &list), None);
        }

        #[test]
        fn appending_a_path_query_or_fragment_breaks_the_match(
            r in registered(),
            suffix in prop_oneof![
                prop::sample::select(vec![
                    "/", "/x", "?a=b", "&a=b", "#f", "%2F", "\\x", "\\", ".", "/..", "//evil.example",
                    "@evil.example", "?", "#", ";x", "%00", "\t", " ",
                ]).prop_map(str::to_owned),
                any::<String>().prop_filter("not empty", |s| !s.is_empty()),
            ],
        ) {
            let uri = r.uri();
            // Digits or a colon right after a loopback authority only change the port.
            prop_assume!(!(r.loopback && r.tail.is_empty()
                && suffix.starts_with(|c: char| c.is_ascii_digit() || c == ':')));
            let longer = format!("{uri}{suffix}");
            prop_assert!(!matches(&longer, &uri), "{longer:?} matched {uri:?}");
        }

        #[test]
        fn changing_the_case_of_any_letter_breaks_the_match(
            r in registered(),
            at in any::<prop::sample::Index>(),
        ) {
            let uri = r.uri();
            let letters: Vec<usize> = uri
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphabetic())
                .map(|(i, _)| i)
                .collect();
            let at = letters[at.index(letters.len())];
            let mut bytes = uri.clone().into_bytes();
            bytes[at] ^= 0x20;
            let flipped = String::from_utf8(bytes).expect("ASCII stays UTF-8");
            prop_assert!(!matches(&flipped, &uri), "{flipped:?} matched {uri:?}");
        }

        #[test]
        fn another_port_matches_only_on_a_loopback_registration(
            r in registered(),
            number in 1u16..,
            drop_port in any::<bool>(),
        ) {
            let other = if drop_port && !r.port.is_empty() { String::new() } else { format!(":{number}") };
            prop_assume!(other != r.port);
            let uri = r.uri();
            let moved = r.with_port(&other);
            prop_assert_eq!(matches(&moved, &uri), r.loopback, "{:?} against {:?}", moved, uri);
        }

        #[test]
        fn the_loopback_port_rule_never_changes_the_host_or_the_scheme(
            r in registered(),
            other in port(),
            origin in prop::sample::select(vec![
                "http://127.0.0.2", "http://localhost.", "http://[::2]", "https://127.0.0.1",
                "https://localhost", "http://evil.example", "http://a@127.0.0.1", "http://:@localhost",
                "http://127.0.0.1.evil.example", "http:/127.0.0.1", "http:127.0.0.1",
            ]),
        ) {
            prop_assume!(origin != r.origin);
            let uri = r.uri();
            let elsewhere = format!("{origin}{other}{}", r.tail);
            prop_assert!(!matches(&elsewhere, &uri), "{elsewhere:?} matched {uri:?}");
        }
    }
}
