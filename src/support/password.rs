//! People's passwords: argon2id with OWASP parameters, always verified off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{LazyLock, Mutex, PoisonError};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

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
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else {
        return false;
    };
    let mut salt_buffer = [0; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let mut computed = vec![0; expected.len()];
    let blocks = params.block_count();
    let mut memory = WorkMemory::take(blocks);
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut computed,
        &mut memory.0[..blocks],
    );
    memory.give_back();
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

/// argon2's 19 MiB of working memory, kept for the next check instead of freed: the
/// allocator would keep freed blocks in per-thread arenas anyway (hundreds of MiB after a
/// burst of sign-ins on a few blocking threads), and a warm block saves the page faults.
/// There are never more of them than checks run at once ([`VERIFY_SLOTS`]).
struct WorkMemory(Vec<Block>);

static SPARE_MEMORY: Mutex<Vec<WorkMemory>> = Mutex::new(Vec::new());

impl WorkMemory {
    fn take(blocks: usize) -> Self {
        let spare = SPARE_MEMORY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut memory = spare.unwrap_or(WorkMemory(Vec::new()));
        if memory.0.len() < blocks {
            memory.0.resize(blocks, Block::default());
        }
        memory
    }

    fn give_back(self) {
        SPARE_MEMORY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self);
    }
}

/// Argon2 checks that run at once: all cores but one (at least one), so a burst of sign-ins
/// queues here instead of starting a blocking thread each, and one core (with the memory of
/// all those 19 MiB checks) stays with the token endpoint.
static VERIFY_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    Semaphore::new(cores.saturating_sub(1).max(1))
});

/// Verifies on tokio's blocking pool so argon2's ~20 ms of CPU never stalls request handling.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(slot) = VERIFY_SLOTS.acquire().await else {
        return false;
    };
    // The slot moves into the check: a request that goes away while it runs (client gone,
    // timeout) must not free the slot before argon2 is done with the core and the memory.
    tokio::task::spawn_blocking(move || {
        let verified = verify_blocking(&password, stored.as_deref());
        drop(slot);
        verified
    })
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
        // Again, on working memory a previous check left behind.
        assert!(verify_blocking("correct horse", Some(&stored)));
    }

    #[test]
    fn hashes_with_other_parameters_still_verify() {
        let light = Params::new(8 * 1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(&[7; 16]).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, light)
            .hash_password(b"older settings", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking("older settings", Some(&stored)));
        assert!(!verify_blocking("other settings", Some(&stored)));
        assert!(!verify_blocking(
            "older settings",
            Some("$argon2id$garbage")
        ));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_blocking("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
