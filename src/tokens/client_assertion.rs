//! `private_key_jwt` client assertions (RFC 7523 2.2 and 3, OpenID Connect Core 9): a
//! short-lived JWT the client signs with its private key, checked against the public keys
//! it published. Pure: the caller supplies the keys, the accepted audiences and the time,
//! and remembers the `jti` so that no assertion is accepted twice.

use super::key_set;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest an assertion may live from now: a replay cache holds each `jti` until `exp`,
/// so a far-off `exp` would make it hold entries for as long.
pub const MAX_LIFETIME_SECONDS: i64 = 300;

/// Clock difference tolerated between the client and this server.
const LEEWAY_SECONDS: i64 = 60;

/// An assertion whose signature and claims checked out; its `jti` must now be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's id, used once.
    pub jti: String,
    /// Until when the id must be remembered (unix seconds).
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

/// The client an assertion says it comes from (its `sub`, unverified), for a request that
/// sends no `client_id` beside it (RFC 7523 3.2 makes `client_id` optional).
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Checks `assertion` for `client_id`: signed with an accepted algorithm by a key of `jwks`
/// (the one its `kid` names, else any that verifies), `iss` = `sub` = `client_id`, `aud`
/// one of `audiences`, `exp` in the future but at most [`MAX_LIFETIME_SECONDS`] ahead,
/// `nbf` (if any) passed, and a `jti`. The reason is for the log only: every failure must
/// answer the client the same way.
pub fn verify(
    assertion: &str,
    client_id: &str,
    jwks: &Value,
    audiences: &[String],
    now: i64,
) -> Result<VerifiedAssertion, &'static str> {
    let claims: Claims = key_set::verify(assertion, jwks, |validation| {
        validation.validate_exp = false; // checked below against the caller's clock
        validation.set_audience(audiences);
        validation.set_issuer(&[client_id]);
        validation.sub = Some(client_id.to_owned());
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    })?;
    if claims.iss != client_id || claims.sub != client_id {
        return Err("iss and sub must be the client_id");
    }
    if claims.exp + LEEWAY_SECONDS <= now {
        return Err("the assertion has expired");
    }
    if claims.exp > now + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS {
        return Err("the assertion lives too long");
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECONDS) {
        return Err("the assertion is not valid yet");
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err("the assertion needs a jti of at most 256 characters");
    }
    Ok(VerifiedAssertion {
        jti: claims.jti,
        expires_at: claims.exp + LEEWAY_SECONDS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::signing_key::KeyMaterial;
    use crate::tokens::signing_key::SigningAlgorithm;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const CLIENT: &str = "https://chatgpt.example/oauth/client.json";
    const AUD: &str = "https://auth.example/token";

    fn key(algorithm: SigningAlgorithm) -> KeyMaterial {
        KeyMaterial::generate(algorithm).unwrap().material
    }

    fn jwks(keys: &[&KeyMaterial]) -> Value {
        json!({"keys": keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>()})
    }

    fn claims(exp: i64, jti: &str) -> Value {
        json!({"iss": CLIENT, "sub": CLIENT, "aud": AUD, "exp": exp, "iat": NOW, "jti": jti})
    }

    fn signed(key: &KeyMaterial, claims: &Value) -> String {
        key.sign(claims.to_string().as_bytes()).unwrap()
    }

    fn check(assertion: &str, keys: &Value) -> Result<VerifiedAssertion, &'static str> {
        verify(assertion, CLIENT, keys, &[AUD.to_owned()], NOW)
    }

    #[test]
    fn an_assertion_signed_by_a_published_key_verifies_for_each_algorithm() {
        for algorithm in [
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::RS256,
        ] {
            let k = key(algorithm);
            let verified = check(&signed(&k, &claims(NOW + 60, "j1")), &jwks(&[&k])).unwrap();
            assert_eq!(verified.jti, "j1");
            assert_eq!(
                claimed_client_id(&signed(&k, &claims(NOW, "j"))).as_deref(),
                Some(CLIENT)
            );
        }
    }

    #[test]
    fn what_an_attacker_sends_is_refused() {
        let k = key(SigningAlgorithm::ES256);
        let published = jwks(&[&k]);
        let foreign = key(SigningAlgorithm::ES256);
        assert!(check(&signed(&foreign, &claims(NOW + 60, "j")), &published).is_err());
        assert!(
            check(&signed(&k, &claims(NOW - 120, "j")), &published).is_err(),
            "expired"
        );
        assert!(
            check(&signed(&k, &claims(NOW + 3_600, "j")), &published).is_err(),
            "lives too long"
        );
        let mut wrong_aud = claims(NOW + 60, "j");
        wrong_aud["aud"] = json!("https://other.example/token");
        assert!(check(&signed(&k, &wrong_aud), &published).is_err());
        let mut other_sub = claims(NOW + 60, "j");
        other_sub["sub"] = json!("someone-else");
        assert!(check(&signed(&k, &other_sub), &published).is_err());
        let mut no_jti = claims(NOW + 60, "j");
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(check(&signed(&k, &no_jti), &published).is_err());

        let payload = URL_SAFE_NO_PAD.encode(claims(NOW + 60, "j").to_string());
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert!(check(&none, &published).is_err(), "alg none");
        // HS256 keyed with the public key's bytes, the classic confusion attack.
        let public = k.jwk().to_string();
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(NOW + 60, "j"),
            &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert!(check(&hs, &published).is_err(), "HS256");
    }
}
