//! The ID token an upstream OpenID Connect provider returns when a person signs in there
//! (OpenID Connect Core 3.1.3.7): verified against the provider's published keys, its
//! issuer, mcp-authd's client id and the nonce of this one round trip.

use super::key_set;
use serde::Deserialize;
use serde_json::Value;

/// Clock difference tolerated between the provider and this server.
const LEEWAY_SECONDS: i64 = 60;

/// What mcp-authd takes from a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamIdentity {
    /// The provider's stable id for the person.
    pub subject: String,
    /// Their email address, if the provider said.
    pub email: Option<String>,
    /// Whether the provider verified that address.
    pub email_verified: bool,
    /// Their name.
    pub name: Option<String>,
    /// Their username at the provider.
    pub preferred_username: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    aud: Value,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// What the checks are made against.
pub struct Expected<'a> {
    /// The provider's issuer, byte for byte.
    pub issuer: &'a str,
    /// mcp-authd's client id there.
    pub client_id: &'a str,
    /// The nonce sent with this round trip.
    pub nonce: &'a str,
    /// Now, unix seconds.
    pub now: i64,
}

/// Verifies `id_token` (signature by a key of `jwks`, `iss`, `aud`, `azp` when there are
/// several audiences, `exp`, `nonce`). The reason is for the log and the page.
pub fn verify(
    id_token: &str,
    jwks: &Value,
    expected: &Expected<'_>,
) -> Result<UpstreamIdentity, &'static str> {
    let claims: Claims = key_set::verify(id_token, jwks, |validation| {
        validation.validate_exp = false; // checked below against the caller's clock
        validation.set_audience(&[expected.client_id]);
        validation.set_issuer(&[expected.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    })?;
    if claims.exp + LEEWAY_SECONDS <= expected.now {
        return Err("the ID token has expired");
    }
    let several_audiences = claims.aud.as_array().is_some_and(|a| a.len() > 1);
    if several_audiences && claims.azp.as_deref() != Some(expected.client_id) {
        return Err("the ID token has several audiences and azp is not mcp-authd");
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err("the ID token's nonce is not this sign-in's");
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err("the ID token's sub is empty or too long");
    }
    // Some providers send `"true"` as a string.
    let email_verified = match claims.email_verified {
        Some(Value::Bool(verified)) => verified,
        Some(Value::String(text)) => text == "true",
        _ => false,
    };
    Ok(UpstreamIdentity {
        subject: claims.sub,
        email: claims.email,
        email_verified,
        name: claims.name,
        preferred_username: claims.preferred_username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::signing_key::{KeyMaterial, SigningAlgorithm};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://login.acme.example";

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: "mcp-authd",
            nonce: "n-1",
            now: NOW,
        }
    }

    fn key() -> KeyMaterial {
        KeyMaterial::generate(SigningAlgorithm::ES256)
            .unwrap()
            .material
    }

    fn signed(key: &KeyMaterial, claims: &Value) -> String {
        key.sign(claims.to_string().as_bytes()).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "sub": "248289761001", "aud": "mcp-authd", "exp": NOW + 300,
               "iat": NOW, "nonce": "n-1", "email": "alice@acme.example",
               "email_verified": "true", "name": "Alice"})
    }

    #[test]
    fn a_token_from_the_provider_for_this_sign_in_verifies() {
        let key = key();
        let jwks = json!({"keys": [key.jwk()]});
        let identity = verify(&signed(&key, &claims()), &jwks, &expected()).unwrap();
        assert_eq!(identity.subject, "248289761001");
        assert_eq!(identity.email.as_deref(), Some("alice@acme.example"));
        assert!(identity.email_verified, "\"true\" as a string counts");
    }

    #[test]
    fn every_other_token_is_refused() {
        let (key, stranger) = (key(), key());
        let jwks = json!({"keys": [key.jwk()]});
        let with = |change: Value| {
            let mut c = claims();
            for (k, v) in change.as_object().unwrap() {
                c[k] = v.clone();
            }
            signed(&key, &c)
        };
        let refused = [
            signed(&stranger, &claims()),
            with(json!({"aud": "someone-else"})),
            with(json!({"iss": "https://evil.example"})),
            with(json!({"nonce": "n-2"})),
            with(json!({"exp": NOW - 120})),
            with(json!({"aud": ["mcp-authd", "other"], "azp": "other"})),
        ];
        for token in refused {
            assert!(verify(&token, &jwks, &expected()).is_err(), "{token}");
        }
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert!(verify(&signed(&key, &no_nonce), &jwks, &expected()).is_err());
    }
}
