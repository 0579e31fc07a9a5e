//! People's passwords: argon2id with OWASP parameters, always verified off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

/// Shortest password accepted (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the user does not exist, so timing does not reveal who does.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("mcp-authd dummy password").unwrap_or_default());

/// Why a password was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to resist guessing.
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// The hashing library failed, which only happens on resource exhaustion.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes a new password; call from a blocking thread or the CLI.
pub fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks a password against a stored hash, or against a dummy hash when there is no user.
pub fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    let Some(stored) = stored else {
        let _ = check(password, &DUMMY_HASH);
        return false;
    };
    check(password, stored)
}

fn check(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Verifies on tokio's blocking pool so argon2's ~20 ms of CPU never stalls request handling.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let stored = hash_blocking("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking("correct horse", Some(&stored)));
        assert!(!verify_blocking("wrong horse!", Some(&stored)));
        assert!(!verify_blocking("correct horse", None));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_blocking("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
