//! Scope strings (RFC 6749 3.3): space-delimited tokens of printable ASCII.

/// Splits a scope string into its tokens, refusing characters RFC 6749 3.3 does not allow.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(format!(
                "scope {token:?} contains characters RFC 6749 3.3 does not allow"
            ));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// Whether a single scope token is well formed: `%x21 / %x23-5B / %x5D-7E`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Joins scope tokens into the space-delimited wire form.
pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dedupes_and_refuses_bad_characters() {
        assert_eq!(parse("read  write read").unwrap(), ["read", "write"]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("read \"x\"").is_err());
        assert!(parse("caf\u{e9}").is_err());
    }
}
