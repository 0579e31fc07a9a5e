//! Request parameters (RFC 6749 3.1): form-urlencoded, strict UTF-8, each at most once.

use super::error::OAuthError;
use std::collections::HashMap;

/// Decoded parameters; a parameter sent with an empty value counts as absent (RFC 6749 3.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    /// Parses `a=1&b=2`, refusing invalid percent-encoding and invalid UTF-8. Repeats are kept
    /// so the caller can decide how to refuse them (see [`Params::refuse_repeats`]).
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            map.entry(name).or_default().push(value);
        }
        Ok(Self(map))
    }

    /// `invalid_request` if any parameter but those in `allowed` was sent more than once
    /// (RFC 6749 3.1: "Request and response parameters MUST NOT be included more than once").
    pub fn refuse_repeats(&self, allowed: &[&str]) -> Result<(), OAuthError> {
        let mut repeated: Vec<&str> = self
            .0
            .iter()
            .filter(|(name, values)| values.len() > 1 && !allowed.contains(&name.as_str()))
            .map(|(name, _)| name.as_str())
            .collect();
        repeated.sort_unstable();
        match repeated.first() {
            None => Ok(()),
            Some(name) => Err(OAuthError::invalid_request(format!(
                "parameter {name:?} is repeated; each parameter may appear only once"
            ))),
        }
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|values| values.len() > 1)
    }

    /// The (first) value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    /// Every value of `name`, for parameters that may legitimately repeat (`resource`).
    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// The first parameter, by name, whose name or any value is longer than `cap(name)`
    /// bytes: how an endpoint refuses oversized input before doing any work with it.
    pub fn first_oversized(&self, cap: impl Fn(&str) -> usize) -> Option<&str> {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort_unstable();
        names
            .into_iter()
            .find(|name| {
                let limit = cap(name);
                name.len() > limit || self.0[name.as_str()].iter().any(|v| v.len() > limit)
            })
            .map(String::as_str)
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is required")))
    }
}

/// Decodes one name or value. NUL is refused: no OAuth parameter may hold it (RFC 6749
/// Appendix A), and PostgreSQL text cannot, so a lookup with it would fail as a 500.
fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    if bytes.contains(&0) {
        return Err(OAuthError::invalid_request(
            "the request contains a NUL character, which no parameter may hold",
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| OAuthError::invalid_request("the request body is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_ignores_empty_values() {
        let p = Params::parse(b"grant_type=authorization_code&scope=a+b%20c&state=").unwrap();
        assert_eq!(p.get("grant_type"), Some("authorization_code"));
        assert_eq!(p.get("scope"), Some("a b c"));
        assert_eq!(p.get("state"), None);
    }

    #[test]
    fn a_repeated_parameter_is_invalid_request_unless_allowed() {
        let params = Params::parse(b"code=a&code=b&resource=x&resource=y").unwrap();
        let err = params.refuse_repeats(&["resource"]).unwrap_err();
        assert!(err.description.contains("\"code\""), "{err}");
        let params = Params::parse(b"code=a&resource=x&resource=y").unwrap();
        assert!(params.refuse_repeats(&["resource"]).is_ok());
        assert_eq!(params.all("resource"), ["x", "y"]);
    }

    #[test]
    fn the_first_oversized_parameter_is_named() {
        let params = Params::parse(b"b=12345&a=123&c=1&c=123456").unwrap();
        assert_eq!(params.first_oversized(|_| 10), None);
        assert_eq!(params.first_oversized(|_| 4), Some("b"));
        assert_eq!(
            params.first_oversized(|n| if n == "b" { 5 } else { 4 }),
            Some("c")
        );
        let long_name = Params::parse(b"abcdef=1").unwrap();
        assert_eq!(long_name.first_oversized(|_| 5), Some("abcdef"));
    }

    #[test]
    fn invalid_utf8_is_invalid_request() {
        assert!(Params::parse(b"code=%FF%FE").is_err());
    }

    #[test]
    fn a_nul_character_anywhere_is_invalid_request() {
        // Found by the HTTP fuzzing: /authorize?client_id=x%00 was a 500 on PostgreSQL.
        for body in [
            &b"client_id=x%00"[..],
            b"client_id=x\0",
            b"%00=x",
            b"a=b&c%00d=e",
        ] {
            let err = Params::parse(body).unwrap_err();
            assert!(err.description.contains("NUL"), "{err}");
        }
    }
}

#[cfg(test)]
mod properties {
    //! Form bodies of any bytes: parsing is total, lossless for what encodes, and strict
    //! about repeats and UTF-8.

    use super::*;
    use crate::oauth::error::ErrorCode;
    use crate::testing::proptest_config;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn any_bytes_parse_or_fail_as_invalid_request(raw in vec(any::<u8>(), 0..300)) {
            match Params::parse(&raw) {
                Ok(params) => {
                    // Every kept value is non-empty, whatever was sent.
                    prop_assert!(params.0.values().flatten().all(|v| !v.is_empty()));
                    if let Err(e) = params.refuse_repeats(&[]) {
                        prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
                    }
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidRequest),
            }
        }

        #[test]
        fn distinct_parameters_round_trip_through_form_encoding(
            pairs in btree_map("[^\\x00]*", "[^\\x00]+", 0..8),
        ) {
            let list: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let params = Params::parse(&encode(&list)).expect("encoded UTF-8 parses");
            prop_assert_eq!(params.refuse_repeats(&[]), Ok(()));
            for (name, value) in &pairs {
                prop_assert_eq!(params.get(name), Some(value.as_str()));
                prop_assert!(!params.is_repeated(name));
            }
        }

        #[test]
        fn a_repeated_parameter_is_refused_unless_allowed(
            name in "[a-z_]{1,12}",
            first in "[^\\x00]+",
            second in "[^\\x00]+",
            other in btree_map("[A-Z]{1,5}", "[^\\x00]+", 0..4),
        ) {
            let mut list = vec![(name.as_str(), first.as_str())];
            list.extend(other.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            list.push((name.as_str(), second.as_str()));
            let params = Params::parse(&encode(&list)).expect("encoded UTF-8 parses");
            prop_assert!(params.is_repeated(&name));
            let refused = params.refuse_repeats(&[]).expect_err("a repeat is refused");
            prop_assert_eq!(refused.code, ErrorCode::InvalidRequest);
            let quoted = format!("{name:?}");
            prop_assert!(refused.description.contains(&quoted));
            prop_assert_eq!(params.refuse_repeats(&[name.as_str()]), Ok(()));
            prop_assert_eq!(params.all(&name), [first, second]);
        }

        #[test]
        fn empty_values_count_as_absent(name in "[a-z_]{1,12}", repeats in 1usize..4) {
            let body = format!("{name}=&").repeat(repeats);
            let params = Params::parse(body.as_bytes()).expect("plain ASCII parses");
            prop_assert_eq!(params.get(&name), None);
            prop_assert_eq!(params.require(&name).map_err(|e| e.code), Err(ErrorCode::InvalidRequest));
            prop_assert_eq!(params.refuse_repeats(&[]), Ok(()));
        }

        #[test]
        fn invalid_utf8_or_nul_anywhere_is_invalid_request(
            before in "[a-z=&]{0,10}",
            bad in prop::sample::select(vec!["%FF", "%C3", "%80", "%ED%A0%80", "%F8%88%80%80%80", "%00", "\0"]),
            after in "[a-z]{0,10}",
        ) {
            let body = format!("x={before}{bad}{after}");
            // `bad` lands in a name or a value; either way the body is refused.
            prop_assert_eq!(
                Params::parse(body.as_bytes()).map_err(|e| e.code),
                Err(ErrorCode::InvalidRequest)
            );
        }
    }
}
