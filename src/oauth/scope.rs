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

/// The server's own scopes (OpenID Connect and `offline_access`): allowed beside any
/// resource's scopes and never an allow-list; with `openid`, the ones that grant something
/// ride in the access token's `scope` for `/userinfo` (see [`granted_identity`]). MCP clients (Goose,
/// mcp-remote, Cline, opencode) ask for them beside the MCP server's scope.
pub const IDENTITY_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether `scope` is one of [`IDENTITY_SCOPES`].
pub fn is_identity(scope: &str) -> bool {
    IDENTITY_SCOPES.contains(&scope)
}

/// The identity scopes that grant something: `openid`, and `profile` and `email` beside it
/// (OpenID Connect Core 5.4). Without `openid` none does; `offline_access` never adds
/// anything, since refresh tokens are issued as for any request (MCP SEP-2207).
pub fn granted_identity(asked: &[String]) -> Vec<String> {
    if !asked.iter().any(|s| s == "openid") {
        return Vec::new();
    }
    ["openid", "profile", "email"]
        .into_iter()
        .filter(|s| asked.iter().any(|a| a == s))
        .map(str::to_owned)
        .collect()
}

/// How the consent page names an identity scope, apart from the MCP server's permissions.
pub fn identity_in_words(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Confirm who you are to the application (your account id)"),
        "profile" => Some("Your name and username"),
        "email" => Some("Your email address"),
        _ => None,
    }
}

/// Splits tokens into (resource scopes, identity scopes), keeping their order.
pub fn split_identity(scopes: Vec<String>) -> (Vec<String>, Vec<String>) {
    scopes.into_iter().partition(|s| !is_identity(s))
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

    #[test]
    fn identity_scopes_are_told_apart() {
        let (resource, identity) =
            split_identity(parse("openid mcp:tools email offline_access").unwrap());
        assert_eq!(resource, ["mcp:tools"]);
        assert_eq!(identity, ["openid", "email", "offline_access"]);
    }
}

#[cfg(test)]
mod properties {
    //! Scope strings of any text: tokens are well formed, unique, and survive a round trip.

    use super::*;
    use crate::testing::proptest_config;
    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn parsing_keeps_only_unique_well_formed_tokens_or_refuses_the_string(
            text in prop_oneof![any::<String>(), "[ -~]{0,40}"],
        ) {
            let every_token_ok = text.split(' ').filter(|t| !t.is_empty()).all(is_scope_token);
            match parse(&text) {
                Ok(scopes) => {
                    prop_assert!(every_token_ok);
                    prop_assert!(scopes.iter().all(|s| is_scope_token(s)));
                    let mut unique = scopes.clone();
                    unique.sort();
                    unique.dedup();
                    prop_assert_eq!(unique.len(), scopes.len());
                    prop_assert_eq!(parse(&join(&scopes)), Ok(scopes));
                }
                Err(message) => {
                    prop_assert!(!every_token_ok);
                    prop_assert!(message.contains("RFC 6749 3.3"));
                }
            }
        }

        #[test]
        fn joined_tokens_parse_back_in_order_without_repeats(
            tokens in vec("[!#-\\[\\]-~]{1,10}", 0..10),
        ) {
            let mut expected: Vec<String> = Vec::new();
            for t in &tokens {
                if !expected.contains(t) {
                    expected.push(t.clone());
                }
            }
            prop_assert_eq!(parse(&join(&tokens)), Ok(expected));
        }
    }
}
