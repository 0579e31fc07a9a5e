//! Request parameters (RFC 6749 3.1): form-urlencoded, strict UTF-8, each at most once.

use super::error::OAuthError;
use std::collections::HashMap;

/// Decoded parameters; a parameter sent with an empty value counts as absent (RFC 6749 3.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `a=1&b=2`, refusing invalid percent-encoding, invalid UTF-8 and repeated names.
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
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
            if map.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} is repeated; each parameter may appear only once"
                )));
            }
        }
        Ok(Self(map))
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is required")))
    }

    /// Builds parameters from pairs, for tests and internal callers.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
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
    fn a_repeated_parameter_is_invalid_request() {
        let err = Params::parse(b"code=a&code=b").unwrap_err();
        assert!(err.description.contains("repeated"));
    }

    #[test]
    fn invalid_utf8_is_invalid_request() {
        assert!(Params::parse(b"code=%FF%FE").is_err());
    }
}
