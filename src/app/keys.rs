//! The signing keys every instance shares through the database: loading them into the
//! in-memory [`Keyring`], the rotation steps the policy (`tokens::rotation`) calls for, the
//! operator's rotations, and the refresher that keeps every instance current.

use crate::app::audit::{self, AuditEvent, AuditKind};
use crate::config::Config;
use crate::store::{KeyChanges, NewSigningKey, Store, StoreError, StoredSigningKey};
use crate::support::clock::Clock;
use crate::tokens::key_encryption::KeyEncryptionKey;
use crate::tokens::keyring::{KeyError, Keyring, LiveKey};
use crate::tokens::rotation::{
    KeyState, Policy, REFRESH_INTERVAL_SECONDS, RotationKind, SQLITE_POLL_INTERVAL, Schedule, Step,
};
use crate::tokens::signing_key::{KeyMaterial, algorithm_name, parse_algorithm};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Attempts at the emergency rotation when other instances insert keys at the same moment.
const EMERGENCY_ATTEMPTS: usize = 3;

impl From<StoreError> for KeyError {
    fn from(error: StoreError) -> Self {
        KeyError::Storage(Box::new(error))
    }
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
        Self {
            kid: row.kid.clone(),
            alg: row.algorithm.clone(),
            state: schedule_of(row).state(now),
            generation: row.generation,
            created_at: row.created_at,
            activates_at: row.activates_at,
            retires_at: row.retires_at,
            withdrawn_at: row.withdrawn_at,
        }
    }
}

fn schedule_of(row: &StoredSigningKey) -> Schedule {
    Schedule {
        generation: row.generation,
        activates_at: row.activates_at,
        retires_at: row.retires_at,
        withdrawn_at: row.withdrawn_at,
    }
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

/// The signing keys of this instance with what keeps them current. Signing and verifying
/// go straight to the in-memory [`Keyring`] (`Deref`); `refresh` (every few seconds) and
/// `rotate` touch the database.
#[derive(Clone)]
pub struct Keys(Arc<Inner>);

struct Inner {
    ring: Keyring,
    store: Store,
    clock: Clock,
    kek: KeyEncryptionKey,
    policy: Policy,
    /// One refresh or rotation at a time within this instance; instances are coordinated by
    /// the database.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for Keys {
    type Target = Keyring;
    fn deref(&self) -> &Keyring {
        &self.0.ring
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.ring.fmt(f)
    }
}

impl Keys {
    /// Loads keys from the store, creating the first key race-safely if none exists. Fails
    /// with a clear message when a stored key does not open with this instance's
    /// key-encryption key.
    pub async fn load(store: &Store, config: &Config, clock: &Clock) -> Result<Keys, KeyError> {
        let kek = KeyEncryptionKey::load(config.keys.encryption_key.as_ref(), &config.data_dir)?;
        let keys = Keys(Arc::new(Inner {
            ring: Keyring::new(&config.issuer, clock),
            store: store.clone(),
            clock: clock.clone(),
            kek,
            policy: Policy {
                algorithm: config.keys.algorithm,
                rotation_interval: config.keys.rotation_interval.as_i64(),
                prepublish: config.keys.prepublish.as_i64(),
                access_token_ttl: config.tokens.access_token_ttl.as_i64(),
            },
            refresh_lock: tokio::sync::Mutex::new(()),
        }));
        keys.refresh().await?;
        Ok(keys)
    }

    /// The server secret refresh-token successors are derived under (see `app::token::refresh_token`).
    pub fn refresh_secret(&self) -> [u8; 32] {
        *self.0.kek.refresh_secret()
    }

    /// Seals a secret that is not a signing key (an upstream provider's token) under the
    /// key-encryption key, bound to `context` so it opens only where it was stored.
    pub fn seal_secret(&self, context: &str, plaintext: &str) -> Result<String, KeyError> {
        self.0.kek.seal(context, plaintext.as_bytes())
    }

    /// Opens what [`seal_secret`](Self::seal_secret) sealed for `context`.
    pub fn open_secret(&self, context: &str, sealed: &str) -> Result<String, KeyError> {
        let bytes = self.0.kek.open(context, sealed)?;
        String::from_utf8(bytes).map_err(|_| KeyError::Corrupt(format!("{context} is not text")))
    }

    /// For metrics: how long the signing key has signed, and seconds until the next key signs.
    pub fn schedule(&self, now: i64) -> Option<(i64, i64)> {
        let (_, current) = self.0.ring.signing(now)?;
        let pending = self.0.ring.pending(now).map(|(_, s)| s);
        let next = self.0.policy.next_handover(&current, pending.as_ref());
        Some((now - current.activates_at, next - now))
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
        if kind == RotationKind::Prepublished {
            return self.prepublish(now).await;
        }
        let keep_old = kind == RotationKind::ImmediateKeepingOld;
        let withdraw_old_at = self.0.policy.withdrawal_of_old_keys(kind, now);
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

    /// `keys rotate`: publishes the next key now (unless one is already coming).
    async fn prepublish(&self, now: i64) -> Result<RotationOutcome, KeyError> {
        if let Some((pending, _)) = self.0.ring.pending(now) {
            return Ok(RotationOutcome::AlreadyScheduled(
                self.info(&pending, now).await?,
            ));
        }
        let (current, _) = self.0.ring.signing(now).ok_or(KeyError::NoActiveKey)?;
        let (scheduled, kid) = self.publish_next(&current, now).await?;
        self.reload(now).await?;
        // Ours, or the key of another instance that rotated first.
        let (pending, _) = self
            .0
            .ring
            .pending(now)
            .ok_or_else(|| KeyError::Corrupt("the next key is not published".into()))?;
        let info = self.info(&pending, now).await?;
        Ok(if scheduled && pending == kid {
            RotationOutcome::Scheduled(info)
        } else {
            RotationOutcome::AlreadyScheduled(info)
        })
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
        let keys = self.clone();
        let mut changes = keys.listen().await;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate, and `load` has just refreshed
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if changes.is_none() && keys.0.store.announces_key_changes() {
                            changes = keys.listen().await;
                        }
                    }
                    changed = next_change(&mut changes) => {
                        if let Err(error) = changed {
                            tracing::warn!(%error, "signing keys: lost the change notifications; polling until they are back");
                            changes = None;
                        }
                    }
                }
                if let Err(error) = keys.refresh().await {
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
        audit::record(&self.0.store, &self.0.clock, &event).await;
    }

    async fn info(&self, kid: &str, now: i64) -> Result<KeyInfo, KeyError> {
        let rows = self.0.store.list_signing_keys().await?;
        rows.iter()
            .find(|row| row.kid == kid)
            .map(|row| KeyInfo::of(row, now))
            .ok_or_else(|| KeyError::Corrupt(format!("key {kid} vanished")))
    }

    /// Performs the step the policy says is due. Returns whether the database may have changed.
    async fn rotation_step(&self, now: i64) -> Result<bool, KeyError> {
        let signing = self.0.ring.signing(now);
        let pending = self.0.ring.pending(now).is_some();
        let step = self
            .0
            .policy
            .due_step(signing.as_ref().map(|(_, s)| s), pending, now);
        match (step, signing) {
            (Step::Nothing, _) => Ok(false),
            (Step::CreateFirst, _) => {
                let first = self.new_key(now).await?;
                if self.0.store.insert_first_signing_key(&first, now).await? {
                    tracing::info!(kid = %first.kid, alg = %first.algorithm, "created a signing key");
                    self.audit_rotation(&first.kid, "first").await;
                }
                Ok(true)
            }
            (Step::PublishNext, Some((current, _))) => {
                self.publish_next(&current, now).await?;
                Ok(true)
            }
            (Step::PublishNext, None) => Ok(false),
        }
    }

    /// Publishes a new key that signs after `keys.prepublish`, retiring `current_kid` then.
    /// Returns whether this call did it (false: another instance did) and the new kid.
    async fn publish_next(&self, current_kid: &str, now: i64) -> Result<(bool, String), KeyError> {
        let p = self.0.policy;
        let next = self.new_key(now + p.prepublish).await?;
        let withdraw_current_at = p.withdrawal_after(next.activates_at);
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

    /// Replaces the keyring's keys with those published at `now`, reusing parsed keys by kid.
    async fn reload(&self, now: i64) -> Result<(), KeyError> {
        let rows = self.0.store.published_signing_keys(now).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let material = match self.0.ring.material(&row.kid) {
                Some(known) => known,
                None => Arc::new(self.open(row)?),
            };
            keys.push(LiveKey {
                material,
                schedule: schedule_of(row),
            });
        }
        self.0.ring.replace(keys);
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
