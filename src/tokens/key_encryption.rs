//! The key-encryption key that seals signing keys at rest (AES-256-GCM): from
//! `keys.encryption_key`, or else from a key file generated once in `data_dir`.

use super::keyring::KeyError;
use crate::support::secret::Secret;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the generated key file inside `data_dir`.
pub const KEY_FILE_NAME: &str = "key-encryption.key";
/// Prefix of a sealed value, so a future format can be told apart.
const SEALED_PREFIX: &str = "v1:";
/// AES-GCM nonce length.
const NONCE_LEN: usize = 12;

/// Where the key-encryption key came from, for error messages that tell the operator what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `keys.encryption_key`.
    Configured,
    /// A file generated in `data_dir` because nothing was configured.
    File(PathBuf),
}

/// The AES-256-GCM key sealing private signing keys. Debug never shows it.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    cipher: Aes256Gcm,
    /// A second secret derived from the same key, for HMACs every instance must agree on.
    refresh_secret: [u8; 32],
    source: KeySource,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyEncryptionKey {
    /// The configured key, else the key file in `data_dir`, generated (0600, with a warning)
    /// the first time.
    pub fn load(configured: Option<&Secret>, data_dir: &Path) -> Result<Self, KeyError> {
        match configured {
            Some(configured) => {
                let bytes = decode_key(configured.expose()).ok_or_else(|| {
                    KeyError::KeyFile("keys.encryption_key must be 32 bytes in base64".into())
                })?;
                Ok(Self::from_bytes(&bytes, KeySource::Configured))
            }
            None => {
                let path = data_dir.join(KEY_FILE_NAME);
                let bytes = read_or_generate(&path)?;
                Ok(Self::from_bytes(&bytes, KeySource::File(path)))
            }
        }
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32], source: KeySource) -> Self {
        let mut derivation = Sha256::new();
        derivation.update(b"mcp-authd refresh successor secret v1\0");
        derivation.update(bytes);
        Self {
            cipher: Aes256Gcm::new(bytes.into()),
            refresh_secret: derivation.finalize().into(),
            source,
        }
    }

    /// The secret refresh-token successors are derived under: shared by every instance that
    /// shares this key, and never the encryption key itself.
    pub fn refresh_secret(&self) -> &[u8; 32] {
        &self.refresh_secret
    }

    /// Where this key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Seals `plaintext` for the row of `kid`; the kid is authenticated too, so a sealed key
    /// moved to another row does not open.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Crypto("AES-256-GCM sealing failed".into()))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(blob)))
    }

    /// Opens what [`seal`](Self::seal) wrote for `kid`. A wrong key-encryption key is the
    /// likely cause of a failure, and the error says how to fix it.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let blob = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|blob| blob.len() > NONCE_LEN)
            .ok_or_else(|| {
                KeyError::Corrupt(format!("sealed private key of {kid} is malformed"))
            })?;
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Decrypt {
                kid: kid.to_owned(),
                source_hint: self.hint(),
            })
    }

    fn hint(&self) -> String {
        match &self.source {
            KeySource::Configured => "the configured keys.encryption_key is not the one that \
                 sealed it"
                .to_owned(),
            KeySource::File(path) => format!(
                "keys.encryption_key is not set, and the generated key file {} is not the one \
                 that sealed it (another instance generated its own?)",
                path.display()
            ),
        }
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

/// Reads the key file, or creates it without ever overwriting one another process made.
fn read_or_generate(path: &Path) -> Result<[u8; 32], KeyError> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            return decode_key(&text).ok_or_else(|| {
                KeyError::KeyFile(format!("{shown} does not hold 32 bytes in base64"))
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(KeyError::KeyFile(format!("cannot read {shown}: {e}"))),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| KeyError::KeyFile(format!("cannot create {}: {e}", dir.display())))?;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    // Write a private temporary file, then link it into place: the link fails if another
    // process got there first, and nobody ever reads a half-written key.
    let temp = dir.join(format!(
        ".{KEY_FILE_NAME}.{}",
        crate::tokens::opaque::new_id()
    ));
    let written =
        write_private(&temp, &STANDARD.encode(key)).and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {
            tracing::warn!(
                path = %shown,
                "keys.encryption_key is not set: generated a key-encryption key file for the \
                 signing keys. Back it up; for several instances on one database, set \
                 keys.encryption_key to its contents on every instance"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_generate(path),
        Err(e) => Err(KeyError::KeyFile(format!("cannot write {shown}: {e}"))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the key-encryption key file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_kid() {
        let kek = KeyEncryptionKey::from_bytes(&[7; 32], KeySource::Configured);
        let sealed = kek.seal("kid-1", b"private der").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("private der"));
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private der");
        assert!(matches!(
            kek.open("kid-2", &sealed),
            Err(KeyError::Decrypt { .. })
        ));
        let other = KeyEncryptionKey::from_bytes(&[8; 32], KeySource::Configured);
        assert!(matches!(
            other.open("kid-1", &sealed),
            Err(KeyError::Decrypt { .. })
        ));
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE_NAME);
        let first = read_or_generate(&path).unwrap();
        assert_eq!(read_or_generate(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
