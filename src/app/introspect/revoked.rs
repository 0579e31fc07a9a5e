//! The revoked access-token ids of every instance, mirrored in memory so that introspecting a
//! JWT needs no database round trip.
//!
//! Bounded staleness: a background task ([`RevokedTokens::spawn_refresher`]) reads new
//! revocations every [`REFRESH_INTERVAL`]. The mirror answers "not revoked" only while its last
//! successful read *began* at most [`MAX_STALENESS`] ago, after the last revocation this
//! instance made itself, and while it holds every revocation (at most `capacity` ids).
//! Otherwise, including before the first read and while the database is unreachable, each
//! lookup asks the database. A revocation made on this instance is therefore visible here at
//! once, and one made on another instance sharing the database within [`MAX_STALENESS`].
//! A hit is always right: a revocation is never undone, only forgotten once the token expired.

use crate::store::{Store, StoreResult};
use crate::support::clock::Clock;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How often each instance reads the revocations recorded since its last read.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a "not revoked" answer from memory can lag behind the database.
pub const MAX_STALENESS: Duration = Duration::from_secs(2);

/// Revoked ids kept in memory at most; beyond that, lookups of ids not held ask the database.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// How far back each incremental read looks before the newest revocation already seen, so a
/// revocation committed late, or stamped by an instance whose clock is a little behind, is not
/// missed. Instances' clocks must agree within this (they must anyway, for token expiry).
const OVERLAP_SECONDS: i64 = 60;

/// While the mirror overflows, how often it tries a full reload (lookups ask the database).
const FULL_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// The in-memory mirror of `revoked_access_tokens`. Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct RevokedTokens(Arc<Inner>);

struct Inner {
    store: Store,
    clock: Clock,
    capacity: usize,
    view: RwLock<View>,
    /// One database read at a time.
    sync_lock: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct View {
    /// jti → the token's expiry.
    jtis: HashMap<String, i64>,
    /// Whether `jtis` holds every revocation read so far (false after an overflow).
    complete: bool,
    /// The newest `revoked_at` read; `None` before the first full read.
    cursor: Option<i64>,
    /// When the last successful read began.
    synced_from: Option<Instant>,
    /// When the last full read began.
    full_from: Option<Instant>,
    /// When this instance last revoked something it could not add here itself.
    invalidated_at: Option<Instant>,
}

impl View {
    /// Whether an id absent from `jtis` is known not to be revoked.
    fn fresh(&self, now: Instant) -> bool {
        self.complete
            && self.synced_from.is_some_and(|from| {
                now.saturating_duration_since(from) <= MAX_STALENESS
                    && self.invalidated_at.is_none_or(|at| from > at)
            })
    }
}

impl std::fmt::Debug for RevokedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.read();
        f.debug_struct("RevokedTokens")
            .field("held", &view.jtis.len())
            .field("complete", &view.complete)
            .finish_non_exhaustive()
    }
}

impl RevokedTokens {
    /// An empty mirror holding at most `capacity` ids; until its first read every lookup asks
    /// the database.
    pub fn new(store: Store, clock: Clock, capacity: usize) -> Self {
        Self(Arc::new(Inner {
            store,
            clock,
            capacity: capacity.max(1),
            view: RwLock::new(View::default()),
            sync_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Whether the access token `jti` has been revoked: from memory while the mirror is fresh,
    /// from the database otherwise.
    pub async fn is_revoked(&self, jti: &str) -> StoreResult<bool> {
        {
            let view = self.read();
            if view.jtis.contains_key(jti) {
                return Ok(true);
            }
            if view.fresh(Instant::now()) {
                return Ok(false);
            }
        }
        self.0.store.is_access_token_revoked(jti).await
    }

    /// Whether lookups are being answered from memory right now.
    pub fn is_fresh(&self) -> bool {
        self.read().fresh(Instant::now())
    }

    /// Adds a revocation this instance has just committed, so it is visible here at once.
    pub fn note_revoked(&self, jti: &str, expires_at: i64) {
        let mut view = self.write();
        if view.jtis.len() < self.0.capacity {
            view.jtis.insert(jti.to_owned(), expires_at);
        } else {
            view.invalidated_at = Some(Instant::now());
        }
    }

    /// Says this instance has just committed revocations it cannot list (a refresh family, a
    /// grant, a person's tokens): lookups ask the database until the next read has begun.
    /// Call it after the commit.
    pub fn invalidate(&self) {
        self.write().invalidated_at = Some(Instant::now());
    }

    /// Reads the revocations recorded since the last read (all of them the first time, or
    /// after an overflow) and forgets the ones whose tokens expired.
    pub async fn refresh(&self) -> StoreResult<()> {
        let _one_at_a_time = self.0.sync_lock.lock().await;
        let started = Instant::now();
        let now = self.0.clock.now();
        let (cursor, complete, full_from) = {
            let view = self.read();
            (view.cursor, view.complete, view.full_from)
        };
        let incremental = cursor.filter(|_| complete);
        if incremental.is_none()
            && full_from.is_some_and(|at| started.duration_since(at) < FULL_RELOAD_INTERVAL)
        {
            // Overflowing: lookups of ids not held already ask the database.
            return Ok(());
        }
        let since = incremental.map_or(i64::MIN, |c| c.min(now).saturating_sub(OVERLAP_SECONDS));
        let limit = i64::try_from(self.0.capacity).unwrap_or(i64::MAX - 1) + 1;
        let rows = self
            .0
            .store
            .revoked_access_tokens_since(since, now, limit)
            .await?;
        let overflowed = rows.len() > self.0.capacity;
        let mut view = self.write();
        if incremental.is_none() {
            view.full_from = Some(started);
        }
        view.jtis.retain(|_, expires_at| *expires_at > now);
        let mut newest = cursor;
        let mut fits = !overflowed;
        for row in rows {
            newest = newest.max(Some(row.revoked_at));
            if view.jtis.len() < self.0.capacity || view.jtis.contains_key(&row.jti) {
                view.jtis.insert(row.jti, row.expires_at);
            } else {
                fits = false;
            }
        }
        if !fits && view.complete {
            tracing::warn!(
                capacity = self.0.capacity,
                "more revoked access tokens than the in-memory list holds; introspection asks the database for the rest"
            );
        }
        view.complete = fits;
        view.cursor = newest.or(Some(i64::MIN));
        view.synced_from = Some(started);
        Ok(())
    }

    /// Reads new revocations every `interval` until the task is aborted; failures are logged
    /// and lookups fall back to the database meanwhile.
    pub fn spawn_refresher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let revoked = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = revoked.refresh().await {
                    tracing::warn!(%error, "revoked access tokens: refresh failed; introspection asks the database meanwhile");
                }
            }
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.0.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.0.view.write().unwrap_or_else(PoisonError::into_inner)
    }
}
