//! The signing keys every instance shares through the database: which key signs now, which
//! keys the JWKS publishes, and the rotation steps that keep both safe across instances.
//!
//! Timeline of one key K (all times in the database, so every instance agrees):
//! `created_at` K is published; `activates_at = created_at + keys.prepublish` K signs, and the
//! key before it retires; `retires_at = activates_at of the next key` K stops signing;
//! `withdrawn_at = retires_at + tokens.access_token_ttl + RETIRED_KEY_MARGIN_SECONDS` K leaves
//! the JWKS. Every instance reloads keys when PostgreSQL announces a change (LISTEN/NOTIFY),
//! and polls every [`REFRESH_INTERVAL_SECONDS`] anyway (every [`SQLITE_POLL_INTERVAL`] on
//! SQLite, which announces nothing). The prepublish time exceeds the slowest of those plus
//! the JWKS cache lifetime, so no token carries a kid that a resource server could not have
//! fetched. `keys rotate --now` (with or without `--keep-old`) is the exception: its key
//! signs at once.

use super::access_token::AccessTokenClaims;
use super::key_encryption::KeyEncryptionKey;
use super::signing_key::{KeyMaterial, algorithm_name, jwt_algorithm, parse_algorithm};
use crate::app::audit::{AuditEvent, AuditKind};
use crate::config::{Config, SigningAlgorithm};
use crate::store::{KeyChanges, NewSigningKey, Store, StoreError, StoredSigningKey};
use crate::support::clock::Clock;
use bytes::Bytes;
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often every instance reloads the keys and performs due rotation steps: the bound on
/// how long instances may disagree about the keys.
pub const REFRESH_INTERVAL_SECONDS: u64 = 10;

/// How often instances on SQLite reload the keys: nothing announces a change there, and a
/// reload is one small read of a local file.
pub const SQLITE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a retired key stays published after the last token it signed expired, to absorb
/// clock differences between this server and resource servers.
pub const RETIRED_KEY_MARGIN_SECONDS: i64 = 300;

/// Attempts at the emergency rotation when other instances insert keys at the same moment.
const EMERGENCY_ATTEMPTS: usize = 3;

/// What can go wrong with signing keys or a presented token. Never carries key material or
/// token contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// The header's `typ` is not `at+jwt` (RFC 9068 section 4).
    #[error("not an access token (typ)")]
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

/// Where a key is in its life, as `keys list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Published and signing.
    Active,
    /// Published so its tokens verify until they expire; no longer signing.
    Retired,
    /// Out of the JWKS; its tokens no longer verify.
    Withdrawn,
}

/// One key as `keys list` shows it: dates, never key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Where the key is in its life now.
    pub state: KeyState,
    /// Rotation sequence number.
    pub generation: i64,
    /// Published from, unix seconds.
    pub created_at: i64,
    /// Signs from, unix seconds.
    pub activates_at: i64,
    /// Stops signing at, unix seconds.
    pub retires_at: Option<i64>,
    /// Leaves the JWKS at, unix seconds.
    pub withdrawn_at: Option<i64>,
}

impl KeyInfo {
    /// Describes a stored key as of `now`.
    pub fn of(row: &StoredSigningKey, now: i64) -> Self {
        let state = if row.withdrawn_at.is_some_and(|w| w <= now) {
            KeyState::Withdrawn
        } else if row.activates_at > now {
            KeyState::Next
        } else if row.retires_at.is_some_and(|r| r <= now) {
            KeyState::Retired
        } else {
            KeyState::Active
        };
        Self {
            kid: row.kid.clone(),
            alg: row.algorithm.clone(),
            state,
            generation: row.generation,
            created_at: row.created_at,
            activates_at: row.activates_at,
            retires_at: row.retires_at,
            withdrawn_at: row.withdrawn_at,
        }
    }
}

/// Which rotation an operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationKind {
    /// Publish a new key now; it signs after `keys.prepublish`. No token is disturbed.
    Prepublished,
    /// Emergency: a new key signs at once and every other key is withdrawn, so every token
    /// signed so far stops verifying.
    Immediate,
    /// A fresh key signs at once; the previous keys stay published until their tokens have
    /// expired, so no token is disturbed (resource servers fetch the new kid on first sight).
    ImmediateKeepingOld,
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotationOutcome {
    /// A new key is published and will sign from its `activates_at`.
    Scheduled(KeyInfo),
    /// A rotation was already under way (maybe started by another instance); this is its key.
    AlreadyScheduled(KeyInfo),
    /// The emergency rotation happened: this key signs now, every other key is withdrawn.
    Replaced(KeyInfo),
    /// This key signs now; the keys that signed before stay published for their tokens.
    Switched(KeyInfo),
}

/// The rotation schedule, from configuration.
#[derive(Clone, Copy, Debug)]
struct Policy {
    algorithm: SigningAlgorithm,
    rotation_interval: i64,
    prepublish: i64,
    access_token_ttl: i64,
}

/// A published key with its schedule.
#[derive(Clone)]
struct LiveKey {
    material: Arc<KeyMaterial>,
    generation: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    withdrawn_at: Option<i64>,
}

impl LiveKey {
    fn published_at(&self, now: i64) -> bool {
        self.withdrawn_at.is_none_or(|w| w > now)
    }

    fn signs_at(&self, now: i64) -> bool {
        self.activates_at <= now
            && self.retires_at.is_none_or(|r| r > now)
            && self.published_at(now)
    }
}

/// The keys as last loaded, and the JWKS document built from them.
struct Snapshot {
    keys: Vec<LiveKey>,
    jwks: Bytes,
}

impl Snapshot {
    fn signing_key(&self, now: i64) -> Option<&LiveKey> {
        self.keys
            .iter()
            .filter(|k| k.signs_at(now))
            .max_by_key(|k| (k.activates_at, k.generation))
    }

    fn pending_key(&self, now: i64) -> Option<&LiveKey> {
        self.keys
            .iter()
            .filter(|k| k.activates_at > now && k.published_at(now))
            .min_by_key(|k| (k.activates_at, k.generation))
    }
}

/// The access-token signing keys of this instance: cheap to clone, shared by every request.
/// `sign` and `verify` never touch the database; `refresh` (every 10 s) does.
#[derive(Clone)]
pub struct Keyring(Arc<Inner>);

struct Inner {
    store: Store,
    clock: Clock,
    kek: KeyEncryptionKey,
    issuer: String,
    policy: Policy,
    snapshot: RwLock<Arc<Snapshot>>,
    /// One refresh or rotation at a time within this instance; instances are coordinated by
    /// the database.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("published", &self.published_kids())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads keys from the store, creating the first key race-safely if none exists. Fails
    /// with a clear message when a stored key does not open with this instance's
    /// key-encryption key.
    pub async fn load(store: &Store, config: &Config, clock: &Clock) -> Result<Keyring, KeyError> {
        let kek = KeyEncryptionKey::from_config(config)?;
        let keyring = Keyring(Arc::new(Inner {
            store: store.clone(),
            clock: clock.clone(),
            kek,
            issuer: config.issuer.clone(),
            policy: Policy {
                algorithm: config.keys.algorithm,
                rotation_interval: config.keys.rotation_interval.as_i64(),
                prepublish: config.keys.prepublish.as_i64(),
                access_token_ttl: config.tokens.access_token_ttl.as_i64(),
            },
            snapshot: RwLock::new(Arc::new(Snapshot {
                keys: Vec::new(),
                jwks: build_jwks(&[]),
            })),
            refresh_lock: tokio::sync::Mutex::new(()),
        }));
        keyring.refresh().await?;
        Ok(keyring)
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

    /// Verifies against the currently published keys: known kid, alg equal to that key's alg
    /// (never `none`, never HS256 keyed with a public key), typ at+jwt, iss == issuer,
    /// exp > now. Does NOT check aud: that is the caller's business.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, KeyError> {
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
                    .find(|k| k.material.kid() == kid && k.published_at(now))
            })
            .ok_or(reject(Rejection::UnknownKey))?;
        let algorithm = jwt_algorithm(key.material.algorithm());
        if header.alg != algorithm {
            return Err(reject(Rejection::Algorithm));
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(reject(Rejection::Type));
        }
        if header.crit.is_some() {
            return Err(reject(Rejection::Malformed));
        }
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        // Time and issuer are checked below against the caller's clock and our issuer.
        validation.validate_exp = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<AccessTokenClaims>(
            token,
            key.material.decoding_key(),
            &validation,
        )
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => reject(Rejection::Signature),
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => reject(Rejection::Algorithm),
            _ => reject(Rejection::Malformed),
        })?;
        if data.claims.iss != self.0.issuer {
            return Err(reject(Rejection::Issuer));
        }
        if data.claims.exp <= now {
            return Err(reject(Rejection::Expired));
        }
        Ok(data.claims)
    }

    /// The server secret refresh-token successors are derived under (see `grants::refresh_token`).
    pub fn refresh_secret(&self) -> [u8; 32] {
        *self.0.kek.refresh_secret()
    }

    /// The JWKS document as pre-serialized bytes, rebuilt only when the published keys change.
    pub fn jwks_json(&self) -> Bytes {
        self.snapshot().jwks.clone()
    }

    /// The kid that `sign` uses at this moment, if any.
    pub fn signing_kid(&self) -> Option<String> {
        let now = self.0.clock.now();
        self.snapshot()
            .signing_key(now)
            .map(|k| k.material.kid().to_owned())
    }

    /// For metrics: how long the signing key has signed, and seconds until the next key
    /// signs (the published next key's start, else when the current key is due to hand over).
    pub fn schedule(&self, now: i64) -> Option<(i64, i64)> {
        let snapshot = self.snapshot();
        let current = snapshot.signing_key(now)?;
        let next = match snapshot.pending_key(now) {
            Some(pending) => pending.activates_at,
            None => current
                .retires_at
                .unwrap_or(current.activates_at + self.0.policy.rotation_interval),
        };
        Some((now - current.activates_at, next - now))
    }

    /// The kids in the JWKS, by generation.
    pub fn published_kids(&self) -> Vec<String> {
        self.snapshot()
            .keys
            .iter()
            .map(|k| k.material.kid().to_owned())
            .collect()
    }

    /// Performs any due rotation step (first key, publishing the next key) and reloads the
    /// keys from the database. Run by every instance every [`REFRESH_INTERVAL_SECONDS`].
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let _one_at_a_time = self.0.refresh_lock.lock().await;
        let now = self.0.clock.now();
        // Load (and so decrypt) first: an instance with the wrong key-encryption key must fail
        // before it writes a key that the other instances cannot open.
        self.reload(now).await?;
        if self.rotation_step(now).await? {
            self.reload(now).await?;
        }
        Ok(())
    }

    /// Starts a rotation now, on operator request (`mcp-authd keys rotate [--now]`).
    pub async fn rotate(&self, kind: RotationKind) -> Result<RotationOutcome, KeyError> {
        let _one_at_a_time = self.0.refresh_lock.lock().await;
        let now = self.0.clock.now();
        self.reload(now).await?;
        match kind {
            RotationKind::Prepublished => {
                let snapshot = self.snapshot();
                if let Some(pending) = snapshot.pending_key(now) {
                    return Ok(RotationOutcome::AlreadyScheduled(
                        self.info(pending.material.kid(), now).await?,
                    ));
                }
                let current = snapshot
                    .signing_key(now)
                    .ok_or(KeyError::NoActiveKey)?
                    .material
                    .kid()
                    .to_owned();
                let (scheduled, kid) = self.schedule_next(&current, now).await?;
                self.reload(now).await?;
                // Ours, or the key of another instance that rotated first.
                let pending = self
                    .snapshot()
                    .pending_key(now)
                    .map(|k| k.material.kid().to_owned())
                    .ok_or_else(|| KeyError::Corrupt("the next key is not published".into()))?;
                let info = self.info(&pending, now).await?;
                Ok(if scheduled && pending == kid {
                    RotationOutcome::Scheduled(info)
                } else {
                    RotationOutcome::AlreadyScheduled(info)
                })
            }
            RotationKind::Immediate | RotationKind::ImmediateKeepingOld => {
                let keep_old = kind == RotationKind::ImmediateKeepingOld;
                let withdraw_old_at = if keep_old {
                    now + self.0.policy.access_token_ttl + RETIRED_KEY_MARGIN_SECONDS
                } else {
                    now
                };
                let mut attempt = 0;
                let kid = loop {
                    attempt += 1;
                    let new = self.new_key(now).await?;
                    let stored = self
                        .0
                        .store
                        .replace_signing_keys(&new, withdraw_old_at, now)
                        .await;
                    match stored {
                        Ok(()) => break new.kid,
                        Err(StoreError::Conflict(_)) if attempt < EMERGENCY_ATTEMPTS => continue,
                        Err(e) => return Err(e.into()),
                    }
                };
                if keep_old {
                    tracing::info!(%kid, "immediate key switch: the new key signs now; the previous keys stay published until their tokens expire");
                    self.audit_rotation(&kid, "switch").await;
                } else {
                    tracing::warn!(%kid, "emergency key rotation: every previous signing key is withdrawn and its tokens no longer verify");
                    self.audit_rotation(&kid, "emergency").await;
                }
                self.reload(now).await?;
                let info = self.info(&kid, now).await?;
                Ok(if keep_old {
                    RotationOutcome::Switched(info)
                } else {
                    RotationOutcome::Replaced(info)
                })
            }
        }
    }

    /// How often this instance polls the keys: [`REFRESH_INTERVAL_SECONDS`] as the fallback
    /// where PostgreSQL announces changes, [`SQLITE_POLL_INTERVAL`] where nothing does.
    pub fn poll_interval(&self) -> Duration {
        if self.0.store.announces_key_changes() {
            Duration::from_secs(REFRESH_INTERVAL_SECONDS)
        } else {
            SQLITE_POLL_INTERVAL
        }
    }

    /// Reloads keys and performs due rotation steps whenever the database announces a key
    /// change (PostgreSQL), and every `interval` regardless, until the task is aborted.
    /// Returns once subscribed to the announcements, so no change committed after it returns
    /// is missed. Errors are logged and the keys loaded before stay in use; a lost listener
    /// is re-established at the next tick.
    pub async fn spawn_refresher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let keyring = self.clone();
        let mut changes = keyring.listen().await;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate, and `load` has just refreshed
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if changes.is_none() && keyring.0.store.announces_key_changes() {
                            changes = keyring.listen().await;
                        }
                    }
                    changed = next_change(&mut changes) => {
                        if let Err(error) = changed {
                            tracing::warn!(%error, "signing keys: lost the change notifications; polling until they are back");
                            changes = None;
                        }
                    }
                }
                if let Err(error) = keyring.refresh().await {
                    tracing::error!(%error, "signing keys: refresh failed; keeping the keys loaded before");
                }
            }
        })
    }

    /// Subscribes to key-change announcements, if the database makes any.
    async fn listen(&self) -> Option<KeyChanges> {
        match self.0.store.listen_for_key_changes().await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "signing keys: cannot listen for changes; polling instead");
                None
            }
        }
    }

    /// Records a key change in the audit log (`kind`: `first`, `scheduled`, `emergency`, `switch`).
    async fn audit_rotation(&self, kid: &str, kind: &str) {
        let event = AuditEvent::new(AuditKind::KeyRotated)
            .with("kid", kid)
            .with("rotation", kind);
        crate::app::audit::record(&self.0.store, &self.0.clock, &event).await;
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.0.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn info(&self, kid: &str, now: i64) -> Result<KeyInfo, KeyError> {
        let rows = self.0.store.list_signing_keys().await?;
        rows.iter()
            .find(|row| row.kid == kid)
            .map(|row| KeyInfo::of(row, now))
            .ok_or_else(|| KeyError::Corrupt(format!("key {kid} vanished")))
    }

    /// Creates the first key, or publishes the next one when the active key is due. Returns
    /// whether the database may have changed.
    async fn rotation_step(&self, now: i64) -> Result<bool, KeyError> {
        let snapshot = self.snapshot();
        let pending = snapshot.pending_key(now).is_some();
        match snapshot.signing_key(now) {
            None if pending => Ok(false),
            None => {
                // First start, or every key retired: a key that signs at once. No token exists
                // that could be disturbed, so no prepublication is needed.
                let first = self.new_key(now).await?;
                if self.0.store.insert_first_signing_key(&first, now).await? {
                    tracing::info!(kid = %first.kid, alg = %first.algorithm, "created a signing key");
                    self.audit_rotation(&first.kid, "first").await;
                }
                Ok(true)
            }
            Some(current) => {
                let p = self.0.policy;
                let due = current.activates_at + p.rotation_interval - p.prepublish;
                if pending || current.retires_at.is_some() || now < due {
                    return Ok(false);
                }
                let kid = current.material.kid().to_owned();
                self.schedule_next(&kid, now).await?;
                Ok(true)
            }
        }
    }

    /// Publishes a new key that signs after `keys.prepublish`, retiring `current_kid` then.
    /// Returns whether this call did it (false: another instance did) and the new kid.
    async fn schedule_next(&self, current_kid: &str, now: i64) -> Result<(bool, String), KeyError> {
        let p = self.0.policy;
        let next = self.new_key(now + p.prepublish).await?;
        let withdraw_current_at =
            next.activates_at + p.access_token_ttl + RETIRED_KEY_MARGIN_SECONDS;
        let scheduled = self
            .0
            .store
            .schedule_signing_key(current_kid, &next, withdraw_current_at, now)
            .await?;
        if scheduled {
            tracing::info!(
                kid = %next.kid,
                activates_at = next.activates_at,
                retiring = %current_kid,
                "published the next signing key"
            );
            self.audit_rotation(&next.kid, "scheduled").await;
        }
        Ok((scheduled, next.kid))
    }

    /// Generates a key of the configured algorithm, sealed for storage.
    async fn new_key(&self, activates_at: i64) -> Result<NewSigningKey, KeyError> {
        let algorithm = self.0.policy.algorithm;
        let generated = tokio::task::spawn_blocking(move || KeyMaterial::generate(algorithm))
            .await
            .map_err(|e| KeyError::Crypto(format!("key generation task failed: {e}")))??;
        let kid = generated.material.kid().to_owned();
        Ok(NewSigningKey {
            private_key: self.0.kek.seal(&kid, &generated.pkcs8)?,
            public_jwk: generated.material.jwk().to_string(),
            algorithm: algorithm_name(algorithm).to_owned(),
            kid,
            activates_at,
        })
    }

    /// Replaces the snapshot with the keys published at `now`, reusing parsed keys by kid.
    async fn reload(&self, now: i64) -> Result<(), KeyError> {
        let rows = self.0.store.published_signing_keys(now).await?;
        let old = self.snapshot();
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let material = match old.keys.iter().find(|k| k.material.kid() == row.kid) {
                Some(known) => known.material.clone(),
                None => Arc::new(self.open(row)?),
            };
            keys.push(LiveKey {
                material,
                generation: row.generation,
                activates_at: row.activates_at,
                retires_at: row.retires_at,
                withdrawn_at: row.withdrawn_at,
            });
        }
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
        Ok(())
    }

    /// Decrypts and parses a stored key, checking it is the key its row says it is.
    fn open(&self, row: &StoredSigningKey) -> Result<KeyMaterial, KeyError> {
        let algorithm = parse_algorithm(&row.algorithm).ok_or_else(|| {
            KeyError::Corrupt(format!(
                "key {} has unknown algorithm {:?}",
                row.kid, row.algorithm
            ))
        })?;
        let pkcs8 = self.0.kek.open(&row.kid, &row.private_key)?;
        let material = KeyMaterial::from_pkcs8(algorithm, &pkcs8)?;
        let stored_jwk: serde_json::Value = serde_json::from_str(&row.public_jwk)
            .map_err(|e| KeyError::Corrupt(format!("public JWK of {}: {e}", row.kid)))?;
        if material.kid() != row.kid || *material.jwk() != stored_jwk {
            return Err(KeyError::Corrupt(format!(
                "the private key stored for {} does not match its public key",
                row.kid
            )));
        }
        Ok(material)
    }
}

/// The next announced key change; never, without a listener.
async fn next_change(changes: &mut Option<KeyChanges>) -> Result<(), StoreError> {
    match changes {
        Some(changes) => changes.changed().await,
        None => std::future::pending().await,
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
