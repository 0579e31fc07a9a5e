//! 256-bit random secrets (codes, refresh tokens, client secrets) and their SHA-256 hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new 256-bit random secret in base64url, 43 characters, safe in URLs and form bodies.
pub fn new_secret() -> String {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new random identifier (client, user, grant, token id): 22 letters and digits, about
/// 131 bits. Only alphanumerics, so an id never starts with `-` and reads as a CLI flag.
pub fn new_id() -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const LEN: usize = 22;
    // Random bytes below 248 (4 x 62) fall evenly on the alphabet; the rest are skipped.
    // One draw of 32 bytes almost always suffices, instead of a draw for each letter.
    const EVEN: u8 = 248;
    let mut rng = rand::rng();
    let mut id = String::with_capacity(LEN);
    let mut random = [0u8; 32];
    while id.len() < LEN {
        rand::RngCore::fill_bytes(&mut rng, &mut random);
        let letters = random.iter().filter(|&&b| b < EVEN);
        for &b in letters.take(LEN - id.len()) {
            id.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    id
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
    fn ids_are_alphanumeric_and_unique() {
        let id = new_id();
        assert_eq!(id.len(), 22);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, new_id());
    }

    #[test]
    fn secrets_are_unique_and_verify_against_their_hash() {
        let a = new_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_secret());
        assert!(verify(&a, &hash(&a)));
        assert!(!verify(&new_secret(), &hash(&a)));
    }
}
