//! The signing keys this instance holds in memory: the key that signs now, the keys the
//! JWKS publishes, and verification against them. Signing and verifying never touch the
//! database; `app::keys` loads the keys and performs the rotation steps (`tokens::rotation`).

use super::access_token::AccessTokenClaims;
use super::id_token::IdTokenClaims;
use super::rotation::{self, Schedule};
use super::signing_key::{KeyMaterial, jwt_algorithm};
use crate::support::clock::Clock;
use bytes::Bytes;
use std::sync::{Arc, RwLock};

/// What can go wrong with signing keys or a presented token. Never carries key material or
/// token contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed (the store's own error, kept whole for the logs).
    #[error(transparent)]
    Storage(Box<dyn std::error::Error + Send + Sync>),
    /// A stored private key does not open with this instance's key-encryption key.
    #[error(
        "cannot decrypt signing key {kid}: {source_hint}. Every instance sharing this database \
         must use the same keys.encryption_key: set it to the same base64 32-byte value on \
         every instance (e.g. the contents of the key file of the instance that created the keys)"
    )]
    Decrypt {
        /// The key that did not open.
        kid: String,
        /// Where this instance's key-encryption key came from.
        source_hint: String,
    },
    /// The key-encryption key could not be read or created.
    #[error("key-encryption key: {0}")]
    KeyFile(String),
    /// Key generation or signing failed inside the crypto library.
    #[error("signing key cryptography: {0}")]
    Crypto(String),
    /// A stored key is not what it claims to be.
    #[error("stored signing key is unusable: {0}")]
    Corrupt(String),
    /// No key signs at this moment (the database was unreachable since before the last one
    /// was created, or a clock is far off).
    #[error("no signing key is active")]
    NoActiveKey,
    /// The claims could not be serialized.
    #[error("access token claims: {0}")]
    Claims(String),
    /// A presented token is not valid.
    #[error("access token rejected: {0}")]
    Rejected(Rejection),
}

/// Why a presented token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JWS compact token we understand (includes `alg: none` and `crit` headers).
    #[error("not a well-formed JWT")]
    Malformed,
    /// No `kid`, or a `kid` that is not published (never existed, or withdrawn).
    #[error("unknown signing key")]
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key named by `kid`.
    #[error("algorithm does not match the key")]
    Algorithm,
    /// The header's `typ` is not the one expected (`at+jwt` for access tokens, RFC 9068
    /// section 4; `JWT` for ID tokens).
    #[error("wrong token type (typ)")]
    Type,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `iss` is not this server.
    #[error("wrong issuer")]
    Issuer,
}

/// A published key with its schedule.
#[derive(Clone)]
pub struct LiveKey {
    /// The parsed key pair, shared between snapshots.
    pub material: Arc<KeyMaterial>,
    /// When it signs and when it is published.
    pub schedule: Schedule,
}

/// The keys as last loaded, and the JWKS document built from them.
struct Snapshot {
    keys: Vec<LiveKey>,
    jwks: Bytes,
}

impl Snapshot {
    fn signing_key(&self, now: i64) -> Option<&LiveKey> {
        rotation::signing(self.keys.iter().map(|k| (&k.schedule, k)), now).map(|(_, k)| k)
    }

    fn pending_key(&self, now: i64) -> Option<&LiveKey> {
        rotation::pending(self.keys.iter().map(|k| (&k.schedule, k)), now).map(|(_, k)| k)
    }
}

/// The access-token signing keys of this instance: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Keyring(Arc<Inner>);

struct Inner {
    clock: Clock,
    issuer: String,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("published", &self.published_kids())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// An empty keyring for tokens of `issuer`; [`Keyring::replace`] fills it.
    pub fn new(issuer: &str, clock: &Clock) -> Self {
        Keyring(Arc::new(Inner {
            clock: clock.clone(),
            issuer: issuer.to_owned(),
            snapshot: RwLock::new(Arc::new(Snapshot {
                keys: Vec::new(),
                jwks: build_jwks(&[]),
            })),
        }))
    }

    /// Signs with the active key: header alg per key, `typ: "at+jwt"`, `kid`. Synchronous, no
    /// database, and the key pair is parsed once per key, not per token.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, KeyError> {
        let now = self.0.clock.now();
        let snapshot = self.snapshot();
        let key = snapshot.signing_key(now).ok_or(KeyError::NoActiveKey)?;
        let json = serde_json::to_vec(claims).map_err(|e| KeyError::Claims(e.to_string()))?;
        key.material.sign(&json)
    }

    /// Signs an ID token with the active key, `typ: "JWT"`, with `at_hash` of `access_token`
    /// computed for that key's algorithm.
    pub fn sign_id_token(
        &self,
        mut claims: IdTokenClaims,
        access_token: &str,
    ) -> Result<String, KeyError> {
        let now = self.0.clock.now();
        let snapshot = self.snapshot();
        let key = snapshot.signing_key(now).ok_or(KeyError::NoActiveKey)?;
        claims.at_hash = Some(key.material.at_hash(access_token));
        let json = serde_json::to_vec(&claims).map_err(|e| KeyError::Claims(e.to_string()))?;
        key.material.sign_id_token(&json)
    }

    /// Verifies against the currently published keys: known kid, alg equal to that key's alg
    /// (never `none`, never HS256 keyed with a public key), typ at+jwt, iss == issuer,
    /// exp > now. Does NOT check aud: that is the caller's business.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, KeyError> {
        let claims: AccessTokenClaims = self.verified(token, now, is_access_token_type)?;
        if claims.iss != self.0.issuer {
            return Err(KeyError::Rejected(Rejection::Issuer));
        }
        if claims.exp <= now {
            return Err(KeyError::Rejected(Rejection::Expired));
        }
        Ok(claims)
    }

    /// Verifies an ID token this server issued, as `id_token_hint` presents it (OpenID
    /// Connect Core 3.1.2.1): the same checks as [`Keyring::verify`] with `typ: "JWT"`, and
    /// an expired token still names its person.
    pub fn verify_id_token_hint(&self, token: &str, now: i64) -> Result<IdTokenClaims, KeyError> {
        let claims: IdTokenClaims = self.verified(token, now, |typ| typ == "JWT")?;
        if claims.iss != self.0.issuer {
            return Err(KeyError::Rejected(Rejection::Issuer));
        }
        Ok(claims)
    }

    /// The signature, key and header checks both token kinds share.
    fn verified<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        now: i64,
        typ_ok: impl Fn(&str) -> bool,
    ) -> Result<T, KeyError> {
        let reject = KeyError::Rejected;
        // The header is read unverified only to pick the key; nothing in it is trusted beyond
        // naming a key we published and that key's own algorithm.
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| reject(Rejection::Malformed))?;
        let snapshot = self.snapshot();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| {
                snapshot
                    .keys
                    .iter()
                    .find(|k| k.material.kid() == kid && k.schedule.published_at(now))
            })
            .ok_or(reject(Rejection::UnknownKey))?;
        let algorithm = jwt_algorithm(key.material.algorithm());
        if header.alg != algorithm {
            return Err(reject(Rejection::Algorithm));
        }
        if !header.typ.as_deref().is_some_and(typ_ok) {
            return Err(reject(Rejection::Type));
        }
        if header.crit.is_some() {
            return Err(reject(Rejection::Malformed));
        }
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        // Time and issuer are checked by the callers against their clock and our issuer.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<T>(token, key.material.decoding_key(), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => reject(Rejection::Signature),
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => reject(Rejection::Algorithm),
                _ => reject(Rejection::Malformed),
            })?;
        Ok(data.claims)
    }

    /// The JWKS document as pre-serialized bytes, rebuilt only when the published keys change.
    pub fn jwks_json(&self) -> Bytes {
        self.snapshot().jwks.clone()
    }

    /// The kid that `sign` uses at this moment, if any.
    pub fn signing_kid(&self) -> Option<String> {
        self.signing(self.0.clock.now()).map(|(kid, _)| kid)
    }

    /// The kid and schedule of the key that signs at `now`.
    pub fn signing(&self, now: i64) -> Option<(String, Schedule)> {
        self.snapshot()
            .signing_key(now)
            .map(|k| (k.material.kid().to_owned(), k.schedule))
    }

    /// The kid and schedule of the next key to sign after `now`, if one is published.
    pub fn pending(&self, now: i64) -> Option<(String, Schedule)> {
        self.snapshot()
            .pending_key(now)
            .map(|k| (k.material.kid().to_owned(), k.schedule))
    }

    /// The kids in the JWKS, by generation.
    pub fn published_kids(&self) -> Vec<String> {
        self.snapshot()
            .keys
            .iter()
            .map(|k| k.material.kid().to_owned())
            .collect()
    }

    /// The parsed key of `kid`, if held: reloading reuses it instead of decrypting again.
    pub fn material(&self, kid: &str) -> Option<Arc<KeyMaterial>> {
        self.snapshot()
            .keys
            .iter()
            .find(|k| k.material.kid() == kid)
            .map(|k| k.material.clone())
    }

    /// Holds `keys` from now on, rebuilding the JWKS only when the set of kids changed.
    pub fn replace(&self, keys: Vec<LiveKey>) {
        let old = self.snapshot();
        let same_keys = keys.len() == old.keys.len()
            && keys
                .iter()
                .zip(&old.keys)
                .all(|(a, b)| a.material.kid() == b.material.kid());
        let jwks = if same_keys {
            old.jwks.clone()
        } else {
            let kids: Vec<&str> = keys.iter().map(|k| k.material.kid()).collect();
            tracing::info!(?kids, "published signing keys changed");
            build_jwks(&keys)
        };
        let fresh = Arc::new(Snapshot { keys, jwks });
        match self.0.snapshot.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.0.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// RFC 9068 section 4: `at+jwt`, or the full media type `application/at+jwt`.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn build_jwks(keys: &[LiveKey]) -> Bytes {
    let keys: Vec<&serde_json::Value> = keys.iter().map(|k| k.material.jwk()).collect();
    Bytes::from(serde_json::json!({ "keys": keys }).to_string())
}
