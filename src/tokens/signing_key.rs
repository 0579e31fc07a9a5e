//! One signing key's cryptography: generating it, its public JWK and thumbprint `kid`, and
//! signing JWS compact tokens with a key pair parsed once, not once per token.

use super::keyring::KeyError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

/// The JWS `alg` name of an algorithm, as written in headers, JWKs and the database.
pub fn algorithm_name(algorithm: SigningAlgorithm) -> &'static str {
    match algorithm {
        SigningAlgorithm::ES256 => "ES256",
        SigningAlgorithm::EdDSA => "EdDSA",
        SigningAlgorithm::RS256 => "RS256",
    }
}

/// The algorithm a stored `alg` name stands for, if it is one we sign with.
pub fn parse_algorithm(name: &str) -> Option<SigningAlgorithm> {
    match name {
        "ES256" => Some(SigningAlgorithm::ES256),
        "EdDSA" => Some(SigningAlgorithm::EdDSA),
        "RS256" => Some(SigningAlgorithm::RS256),
        _ => None,
    }
}

/// The jsonwebtoken algorithm that verifies tokens signed with `algorithm`.
pub fn jwt_algorithm(algorithm: SigningAlgorithm) -> jsonwebtoken::Algorithm {
    match algorithm {
        SigningAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        SigningAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
    }
}

/// A parsed private key, ready to sign without re-parsing.
enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// Everything needed to sign with and verify against one key, built once per key.
pub struct KeyMaterial {
    kid: String,
    algorithm: SigningAlgorithm,
    signer: Signer,
    /// The base64url JWS header `{"alg":…,"kid":…,"typ":"at+jwt"}`, the same for every token.
    header_b64: String,
    /// The ID token header, `typ: "JWT"` (OpenID Connect Core 2), so an ID token is never
    /// taken for an access token.
    id_header_b64: String,
    /// The public JWK as published.
    jwk: Value,
    decoding: DecodingKey,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A new key: its material and the PKCS#8 private key to seal and store.
pub struct GeneratedKey {
    /// The usable key.
    pub material: KeyMaterial,
    /// PKCS#8 v1 DER of the private key; seal it before it leaves memory.
    pub pkcs8: Vec<u8>,
}

fn crypto(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> KeyError + '_ {
    move |_| KeyError::Crypto(format!("{what} failed"))
}

impl KeyMaterial {
    /// Generates a fresh key pair: P-256 for ES256, Ed25519 for EdDSA, RSA-2048 for RS256.
    /// RSA generation takes tens of milliseconds: call it off the async executor.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<GeneratedKey, KeyError> {
        let pkcs8 = match algorithm {
            SigningAlgorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec())
                .map_err(crypto("P-256 key generation"))?,
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec())
                .map_err(crypto("Ed25519 key generation"))?,
            SigningAlgorithm::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|der| der.as_ref().to_vec())
                .map_err(crypto("RSA-2048 key generation"))?,
        };
        let material = Self::from_pkcs8(algorithm, &pkcs8)?;
        Ok(GeneratedKey { material, pkcs8 })
    }

    /// Parses a PKCS#8 private key and derives its public JWK and `kid` from it.
    pub fn from_pkcs8(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            KeyError::Corrupt(format!(
                "the {} private key does not parse: {e}",
                algorithm_name(algorithm)
            ))
        };
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (signer, mut jwk) = match algorithm {
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(rejected)?;
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                let (x, y) = match point {
                    [0x04, rest @ ..] if rest.len() == 64 => (b64(&rest[..32]), b64(&rest[32..])),
                    _ => return Err(KeyError::Crypto("unexpected P-256 public key".into())),
                };
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
                (Signer::Ecdsa(pair), jwk)
            }
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let x = b64(pair.public_key().as_ref());
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
                (Signer::Ed25519(pair), jwk)
            }
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = pair.public_key();
                let n = b64(public.modulus().big_endian_without_leading_zero());
                let e = b64(public.exponent().big_endian_without_leading_zero());
                let jwk = json!({"kty": "RSA", "n": n, "e": e});
                (Signer::Rsa(pair), jwk)
            }
        };
        let kid = thumbprint(&jwk)?;
        let alg = algorithm_name(algorithm);
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::from(kid.as_str()));
            members.insert("alg".into(), Value::from(alg));
            members.insert("use".into(), Value::from("sig"));
        }
        let decoding = decoding_key(&jwk)?;
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        let header_b64 = b64(header.to_string().as_bytes());
        let id_header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let id_header_b64 = b64(id_header.to_string().as_bytes());
        Ok(Self {
            kid,
            algorithm,
            signer,
            header_b64,
            id_header_b64,
            jwk,
            decoding,
        })
    }

    /// The key id, carried in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public JWK as published in `/jwks.json`.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The verification key, built from the published JWK exactly as a resource server would.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Signs `claims_json` into a JWS compact access token with this key's header.
    pub fn sign(&self, claims_json: &[u8]) -> Result<String, KeyError> {
        self.sign_with(&self.header_b64, claims_json)
    }

    /// Signs `claims_json` into an ID token (`typ: "JWT"`).
    pub fn sign_id_token(&self, claims_json: &[u8]) -> Result<String, KeyError> {
        self.sign_with(&self.id_header_b64, claims_json)
    }

    /// OpenID Connect Core 3.1.3.6 `at_hash`: the left half of the access token's hash with
    /// the hash of this key's algorithm (SHA-512 for Ed25519), base64url.
    pub fn at_hash(&self, access_token: &str) -> String {
        let digest = match self.algorithm {
            SigningAlgorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
            SigningAlgorithm::ES256 | SigningAlgorithm::RS256 => {
                Sha256::digest(access_token.as_bytes()).to_vec()
            }
        };
        URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
    }

    fn sign_with(&self, header_b64: &str, claims_json: &[u8]) -> Result<String, KeyError> {
        let mut token = String::with_capacity(header_b64.len() + claims_json.len() * 4 / 3 + 400);
        token.push_str(header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims_json, &mut token);
        let signature = match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), token.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .map_err(crypto("ES256 signing"))?,
            Signer::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(crypto("RS256 signing"))?;
                signature
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, used as its `kid`: it names the key
/// itself, so two keys can never share one and anyone can recompute it.
pub fn thumbprint(jwk: &Value) -> Result<String, KeyError> {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::Corrupt(format!("public JWK lacks {name:?}")))
    };
    // The required members only, in lexicographic order, without whitespace.
    let canonical = match member("kty")? {
        "EC" => json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?}),
        "OKP" => json!({"crv": member("crv")?, "kty": "OKP", "x": member("x")?}),
        "RSA" => json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        other => return Err(KeyError::Corrupt(format!("unsupported key type {other:?}"))),
    };
    // serde_json objects keep keys sorted, and `to_string` writes no whitespace.
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes())))
}

/// The verification key for a published JWK: what any resource server derives from `/jwks.json`.
pub fn decoding_key(jwk: &Value) -> Result<DecodingKey, KeyError> {
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
        .map_err(|e| KeyError::Corrupt(format!("public JWK does not parse: {e}")))?;
    DecodingKey::from_jwk(&parsed)
        .map_err(|e| KeyError::Corrupt(format!("public JWK is unusable: {e}")))
}

/// JWS algorithms offered for access-token signing keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: fast and compact, the default.
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256, for verifiers that know nothing else.
    RS256,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_and_round_trips_through_pkcs8() {
        for algorithm in [
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::RS256,
        ] {
            let generated = KeyMaterial::generate(algorithm).unwrap();
            let again = KeyMaterial::from_pkcs8(algorithm, &generated.pkcs8).unwrap();
            assert_eq!(again.kid(), generated.material.kid());
            assert_eq!(again.jwk(), generated.material.jwk());
            assert_eq!(again.kid().len(), 43, "SHA-256 thumbprint in base64url");

            let token = again.sign(br#"{"sub":"x","exp":1}"#).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(again.kid()));
            let mut validation = jsonwebtoken::Validation::new(jwt_algorithm(algorithm));
            validation.validate_exp = false;
            let data = jsonwebtoken::decode::<serde_json::Value>(
                &token,
                generated.material.decoding_key(),
                &validation,
            )
            .unwrap();
            assert_eq!(data.claims["sub"], "x");
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // The example of RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
