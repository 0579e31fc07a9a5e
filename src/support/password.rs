//! People's passwords: argon2id with OWASP parameters, always verified off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Shortest password accepted (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// argon2id working memory, KiB. OWASP's password storage cheat sheet lists 12 MiB with 3
/// passes as equal in defence to 19 MiB with 2 (round one's): the same work for a guesser,
/// 7 MiB less for the server to hold while one sign-in is checked.
const MEMORY_KIB: u32 = 12 * 1024;
/// argon2id passes over the memory.
const PASSES: u32 = 3;
/// argon2id lanes (one: a check runs on one blocking thread).
const LANES: u32 = 1;

/// argon2id with today's parameters.
fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `stored` was made with today's algorithm and parameters. A hash made with others
/// still verifies, and is replaced at the person's next sign-in.
pub fn is_current(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Algorithm::try_from(parsed.algorithm) == Ok(Algorithm::Argon2id)
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|params| {
            (params.m_cost(), params.t_cost(), params.p_cost()) == (MEMORY_KIB, PASSES, LANES)
        })
}

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

/// Whether `password` is the one `stored` hashes, for the CLI and tests; sign-in goes
/// through [`Passwords::verify`].
pub fn matches(password: &str, stored: &str) -> bool {
    check(password, stored, &mut Vec::new())
}

/// Checks against a stored argon2 hash (any parameters), in `memory`, grown as needed.
fn check(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
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
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut computed,
        &mut memory[..blocks],
    );
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

/// Checks people's passwords for sign-in: at most a few at once, each on tokio's blocking
/// pool, in argon2 working memory kept for the next check. One per server, in `App`.
///
/// The working-memory blocks (12 MiB with today's parameters) are kept instead of freed: the allocator would keep freed blocks in
/// per-thread arenas anyway (hundreds of MiB after a burst of sign-ins on a few blocking
/// threads), and a warm block saves the page faults. There are never more of them than
/// checks run at once.
#[derive(Clone)]
pub struct Passwords(Arc<Inner>);

struct Inner {
    /// Checks that may run at once.
    slots: Arc<Semaphore>,
    /// Working memory of finished checks.
    spare: Mutex<Vec<Vec<Block>>>,
    /// A hash to verify against when the user does not exist, so timing does not reveal
    /// who does; made on first use.
    dummy_hash: OnceLock<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("free_slots", &self.0.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// At most `at_once` checks at a time (at least one).
    pub fn new(at_once: usize) -> Self {
        Passwords(Arc::new(Inner {
            slots: Arc::new(Semaphore::new(at_once.max(1))),
            spare: Mutex::new(Vec::new()),
            dummy_hash: OnceLock::new(),
        }))
    }

    /// All cores but one (at least one), so a burst of sign-ins queues here instead of
    /// starting a blocking thread each, and one core (with the memory of all those 12 MiB
    /// checks) stays with the token endpoint.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores.saturating_sub(1))
    }

    /// Verifies on tokio's blocking pool so argon2's ~20 ms of CPU never stalls request
    /// handling; without a stored hash, checks a dummy one and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(slot) = self.0.slots.clone().acquire_owned().await else {
            return false;
        };
        let passwords = self.clone();
        // The slot moves into the check: a request that goes away while it runs (client
        // gone, timeout) must not free the slot before argon2 is done with the core and
        // the memory.
        tokio::task::spawn_blocking(move || {
            let verified = passwords.verify_blocking(&password, stored.as_deref());
            drop(slot);
            verified
        })
        .await
        .unwrap_or(false)
    }

    /// A hash of `password` with today's parameters, made on the blocking pool within the
    /// same bound as the checks; `None` if it could not be made.
    pub async fn hash(&self, password: String) -> Option<String> {
        let slot = self.0.slots.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || {
            let hashed = hash_blocking(&password).ok();
            drop(slot);
            hashed
        })
        .await
        .ok()
        .flatten()
    }

    /// [`Passwords::verify`] on the calling thread, outside the concurrency bound.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> bool {
        let mut memory = self
            .0
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let verified = match stored {
            Some(stored) => check(password, stored, &mut memory),
            None => {
                let dummy = self
                    .0
                    .dummy_hash
                    .get_or_init(|| hash_blocking("mcp-authd dummy password").unwrap_or_default());
                let _ = check(password, dummy, &mut memory);
                false
            }
        };
        // Kept whatever its size, also when an older hash grew it: growing a block again for
        // every check of such a hash would make those checks slower than the dummy one, and
        // so tell who has an account that has not signed in since the parameters changed.
        self.0
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let stored = hash_blocking("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"));
        assert!(is_current(&stored));
        let passwords = Passwords::new(1);
        assert!(passwords.verify_blocking("correct horse", Some(&stored)));
        assert!(!passwords.verify_blocking("wrong horse!", Some(&stored)));
        assert!(!passwords.verify_blocking("correct horse", None));
        // Again, on working memory a previous check left behind.
        assert!(passwords.verify_blocking("correct horse", Some(&stored)));
        assert!(matches("correct horse", &stored));
    }

    #[test]
    fn hashes_with_other_parameters_still_verify() {
        let light = Params::new(8 * 1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(&[7; 16]).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, light)
            .hash_password(b"older settings", &salt)
            .unwrap()
            .to_string();
        assert!(matches("older settings", &stored));
        assert!(!matches("other settings", &stored));
        assert!(!is_current(&stored));
        assert!(!is_current("$argon2id$garbage"));
        assert!(!matches("older settings", "$argon2id$garbage"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_blocking("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
