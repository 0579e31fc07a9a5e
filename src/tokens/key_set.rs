//! Verifying a JWT signed by someone else's published keys (a JWKS): a client's assertion,
//! an upstream provider's ID token. Asymmetric algorithms only, so a public key can never
//! serve as an HMAC secret, and never `none`.

use super::signing_key::decoding_key;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Algorithms accepted from others, as metadata lists them.
pub const SIGNING_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "PS256" => Some(Algorithm::PS256),
        "ES256" => Some(Algorithm::ES256),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// Whether `jwt` names a key (`kid`) that `jwks` does not hold: the sign that its signer
/// rotated keys and the published set should be fetched again.
pub fn names_unknown_key(jwt: &str, jwks: &Value) -> bool {
    let Some(kid) = jsonwebtoken::decode_header(jwt)
        .ok()
        .and_then(|header| header.kid)
    else {
        return false;
    };
    let keys = jwks.get("keys").and_then(Value::as_array);
    !keys.is_some_and(|keys| {
        keys.iter()
            .any(|key| key.get("kid").and_then(Value::as_str) == Some(kid.as_str()))
    })
}

/// Decodes `jwt` signed with an algorithm of [`SIGNING_ALGORITHMS`] by a key of `jwks` (the
/// one its `kid` names, else any that verifies), with the claim checks `configure` adds to
/// the validation. The reason is for the log only.
pub fn verify<T: DeserializeOwned>(
    jwt: &str,
    jwks: &Value,
    configure: impl FnOnce(&mut Validation),
) -> Result<T, &'static str> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| "malformed JWT")?;
    let alg_name = serde_json::to_value(header.alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let alg = algorithm(&alg_name).ok_or("algorithm not accepted")?;
    if header.crit.is_some() {
        return Err("critical header parameters are not understood");
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the key set has no keys")?;
    let candidates = keys.iter().filter(|key| {
        let kid_matches = match (&header.kid, key.get("kid").and_then(Value::as_str)) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let alg_matches = key
            .get("alg")
            .and_then(Value::as_str)
            .is_none_or(|a| a == alg_name);
        let for_signing = key
            .get("use")
            .and_then(Value::as_str)
            .is_none_or(|u| u == "sig");
        kid_matches && alg_matches && for_signing
    });
    let mut validation = Validation::new(alg);
    configure(&mut validation);
    for key in candidates {
        let Ok(decoding) = decoding_key(key) else {
            continue;
        };
        if let Ok(data) = jsonwebtoken::decode::<T>(jwt, &decoding, &validation) {
            return Ok(data.claims);
        }
    }
    Err("no published key verifies the signature")
}
