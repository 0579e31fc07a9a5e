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

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is required")))
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
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
    fn invalid_utf8_is_invalid_request() {
        assert!(Params::parse(b"code=%FF%FE").is_err());
    }
}
