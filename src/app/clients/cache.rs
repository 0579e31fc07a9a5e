//! Stored clients (with their secret hashes) kept in memory, so client authentication and
//! `client_credentials` touch no database.
//!
//! Bounded staleness: a background task ([`ClientCache::spawn_refresher`]) reads the
//! clients' change counter (migration 0012: every change to a client by any instance or by
//! the CLI bumps it) every [`POLL_INTERVAL`] and empties the cache when it moved. The cache
//! answers only while its last successful read *began* at most [`MAX_STALENESS`] ago, so a
//! change anywhere is seen within a second, and before the first read or while the
//! database is unreachable every lookup asks the database. A change committed by this
//! process is seen at once: the store counts them and the cache compares on every lookup.
//! A lookup that read the database before a change never caches what it read after it.

use crate::oauth::client::Client;
use crate::store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How often each instance reads the clients' change counter.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The longest an answer from memory can lag behind a change committed anywhere.
pub const MAX_STALENESS: Duration = Duration::from_secs(1);

/// Clients kept at most (about 1 KiB each); lookups of others ask the database.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The in-memory clients. Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct ClientCache(Arc<Inner>);

struct Inner {
    store: Store,
    capacity: usize,
    view: RwLock<View>,
}

#[derive(Default)]
struct View {
    clients: HashMap<String, Client>,
    /// The change counter last read, and when that read began.
    version: Option<(i64, Instant)>,
    /// [`Store::local_client_changes`] when `clients` was last emptied.
    local_changes: u64,
    /// Bumped whenever `clients` is emptied, so a lookup that began before cannot refill it.
    epoch: u64,
}

/// Where a lookup began, to tell whether what it read may still be cached.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl View {
    fn fresh(&self, now: Instant) -> bool {
        self.version
            .is_some_and(|(_, read_at)| now.saturating_duration_since(read_at) <= MAX_STALENESS)
    }

    fn empty(&mut self) {
        self.clients.clear();
        self.epoch += 1;
    }
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("held", &self.read().clients.len())
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// An empty cache holding at most `capacity` clients; it answers nothing until its first
    /// read of the change counter.
    pub fn new(store: Store, capacity: usize) -> Self {
        Self(Arc::new(Inner {
            store,
            capacity,
            view: RwLock::new(View::default()),
        }))
    }

    /// The client from memory, if held and fresh; otherwise `Err` with the ticket to hand
    /// [`ClientCache::keep`] along with what the database says.
    pub fn get(&self, id: &str) -> Result<Client, Ticket> {
        let local = self.0.store.local_client_changes();
        {
            let view = self.read();
            if view.local_changes == local {
                if let Some(client) = view.clients.get(id).filter(|_| view.fresh(Instant::now())) {
                    return Ok(client.clone());
                }
                return Err(Ticket(view.epoch));
            }
        }
        let mut view = self.write();
        if view.local_changes != local {
            view.local_changes = local;
            view.empty();
        }
        Err(Ticket(view.epoch))
    }

    /// Keeps `client` as read from the database by the lookup holding `ticket`, unless the
    /// cache was emptied since the lookup began, or is full.
    pub fn keep(&self, ticket: Ticket, client: &Client) {
        let local = self.0.store.local_client_changes();
        let mut view = self.write();
        if view.epoch == ticket.0
            && view.local_changes == local
            && view.fresh(Instant::now())
            && (view.clients.len() < self.0.capacity || view.clients.contains_key(&client.id))
        {
            view.clients.insert(client.id.clone(), client.clone());
        }
    }

    /// Notes the "last used" mark this instance just wrote (it does not count as a change).
    pub fn note_used(&self, id: &str, at: i64) {
        if let Some(client) = self.write().clients.get_mut(id) {
            client.last_used_at = Some(at);
        }
    }

    /// Reads the change counter once and empties the cache if it moved.
    pub async fn refresh(&self) -> StoreResult<()> {
        let started = Instant::now();
        let version = self.0.store.clients_version().await?;
        let mut view = self.write();
        if view.version.is_none_or(|(seen, _)| seen != version) {
            view.empty();
        }
        view.version = Some((version, started));
        Ok(())
    }

    /// Reads the change counter every [`POLL_INTERVAL`] until aborted. A failed read is
    /// logged; the cache stops answering once its last read is [`MAX_STALENESS`] old.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticks.tick().await;
                match cache.refresh().await {
                    Ok(()) => failing = false,
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "client cache: cannot read the change counter; lookups ask the database");
                    }
                    Err(_) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_view_answers_nothing() {
        let mut view = View::default();
        let now = Instant::now();
        assert!(!view.fresh(now), "before the first read");
        view.version = Some((3, now));
        assert!(view.fresh(now + MAX_STALENESS));
        assert!(!view.fresh(now + MAX_STALENESS + Duration::from_millis(1)));
    }
}
