//! The claims of an OpenID Connect ID token (Core 2, 3.1.3.6), signed by the same rotating
//! keys as access tokens but with another `typ`, so neither can pass for the other.

use serde::{Deserialize, Serialize};

/// The claims of an ID token. `aud` is the client; `sub` is the same person id access
/// tokens carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer, byte for byte as configured.
    pub iss: String,
    /// The person's stable id.
    pub sub: String,
    /// The client the token was issued to.
    pub aud: String,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// When the person signed in (Core 2: required when `max_age` was sent; always given).
    pub auth_time: i64,
    /// The request's `nonce`, echoed (Core 3.1.2.1); never on a refresh (Core 12.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The left half of the access token's hash (Core 3.1.3.6), set by the keyring, which
    /// knows the signing algorithm's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The person's claims their scopes allow.
    #[serde(flatten)]
    pub person: PersonClaims,
}

/// Claims about the person (Core 5.1), each present only when its scope was granted and the
/// value is known. Served in ID tokens and at `/userinfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonClaims {
    /// `profile`: the name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile`: the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `email`: the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email`: whether someone checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// What is known of a person, before their scopes pick from it.
#[derive(Clone, Debug, Default)]
pub struct Person<'a> {
    /// What they sign in with.
    pub username: &'a str,
    /// A display name, when one is known (the username otherwise).
    pub name: Option<&'a str>,
    /// An email address and whether it was verified, when one is known.
    pub email: Option<(&'a str, bool)>,
}

impl PersonClaims {
    /// The claims `scopes` allow of `person` (`profile`: name and username; `email`: the
    /// address and whether it is verified).
    pub fn for_scopes<'s>(person: &Person<'_>, scopes: impl IntoIterator<Item = &'s str>) -> Self {
        let mut claims = Self::default();
        for scope in scopes {
            match scope {
                "profile" => {
                    claims.name = Some(person.name.unwrap_or(person.username).to_owned());
                    claims.preferred_username = Some(person.username.to_owned());
                }
                "email" => {
                    if let Some((address, verified)) = person.email {
                        claims.email = Some(address.to_owned());
                        claims.email_verified = Some(verified);
                    }
                }
                _ => {}
            }
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_pick_the_claims_and_unknown_values_stay_out() {
        let alice = Person {
            username: "alice",
            ..Person::default()
        };
        assert_eq!(
            PersonClaims::for_scopes(&alice, ["openid"]),
            PersonClaims::default()
        );
        let profile = PersonClaims::for_scopes(&alice, ["openid", "profile", "email"]);
        assert_eq!(profile.name.as_deref(), Some("alice"));
        assert_eq!(profile.preferred_username.as_deref(), Some("alice"));
        assert_eq!(profile.email, None, "no address is known");
        let bob = Person {
            username: "bob",
            name: Some("Bob B."),
            email: Some(("bob@example.com", true)),
        };
        let both = PersonClaims::for_scopes(&bob, ["email", "profile"]);
        assert_eq!(both.name.as_deref(), Some("Bob B."));
        assert_eq!(both.email.as_deref(), Some("bob@example.com"));
        assert_eq!(both.email_verified, Some(true));
        let json = serde_json::to_value(PersonClaims::for_scopes(&bob, ["email"])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"email": "bob@example.com", "email_verified": true})
        );
    }
}
