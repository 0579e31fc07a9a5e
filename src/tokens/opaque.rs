//! 256-bit random secrets (codes, refresh tokens, client secrets) and their SHA-256 hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new 256-bit random secret in base64url, 43 characters, safe in URLs and form bodies.
pub fn new_secret() -> String {
    random_base64url(32)
}

/// A random identifier of `bytes` bytes in base64url, for ids that need not be secret.
pub fn random_base64url(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The form a secret is stored in: high-entropy secrets need no slow hash, only a one-way one.
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn verify(secret: &str, stored: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_verify_against_their_hash() {
        let a = new_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_secret());
        assert!(verify(&a, &hash(&a)));
        assert!(!verify(&new_secret(), &hash(&a)));
    }
}
