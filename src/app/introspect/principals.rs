//! What introspection needs to know about a token's person and client, remembered for at most
//! [`TTL`] so that introspecting a JWT needs no database round trip: whether the person still
//! exists and is enabled (and their username and profile, for ID tokens and userinfo), and whether the client still exists and since
//! when its tokens are revoked. A person disabled or a client deleted by any instance or by the
//! CLI is therefore seen within [`TTL`].

use crate::store::{Profile, Store, StoreResult};
use crate::tokens::id_token::Person;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long a looked-up person or client is trusted before it is read again.
pub const TTL: Duration = Duration::from_secs(2);

/// People and clients remembered at most, each; when full, expired entries are dropped, and
/// if none has expired, everything is.
pub const DEFAULT_CAPACITY: usize = 50_000;

/// A person as introspection sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonStatus {
    /// Reported as `username`.
    pub username: String,
    /// A disabled person's tokens are inactive while they stay disabled.
    pub disabled: bool,
    /// What ID tokens and userinfo say of them.
    pub profile: Profile,
}

impl PersonStatus {
    /// What ID tokens and userinfo may say of this person.
    pub fn claims_source(&self) -> Person<'_> {
        Person {
            username: &self.username,
            name: self.profile.display_name.as_deref(),
            email: self
                .profile
                .email
                .as_deref()
                .map(|address| (address, self.profile.email_verified)),
        }
    }
}

/// A client as introspection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientStatus {
    /// Tokens issued (`iat`) before this unix second are revoked (`tokens revoke --client`).
    pub tokens_revoked_before: Option<i64>,
}

impl ClientStatus {
    /// Whether a token issued at `iat` was revoked with every token of the client.
    pub fn revoked_at_issue(&self, iat: i64) -> bool {
        self.tokens_revoked_before
            .is_some_and(|cutoff| iat < cutoff)
    }
}

/// Short-lived memory of people and clients, `None` meaning "does not exist".
#[derive(Debug)]
pub struct Principals {
    store: Store,
    people: TtlMap<String, Option<PersonStatus>>,
    clients: TtlMap<String, Option<ClientStatus>>,
}

impl Principals {
    /// Empty memory holding at most `capacity` people and as many clients.
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            store,
            people: TtlMap::new(capacity),
            clients: TtlMap::new(capacity),
        }
    }

    /// The person with this id, `None` if there is none.
    pub async fn person(&self, id: &str) -> StoreResult<Option<PersonStatus>> {
        if let Some(known) = self.people.get(id) {
            return Ok(known);
        }
        let asked = Instant::now();
        let person = self.store.find_user(id).await?.map(|u| PersonStatus {
            username: u.username,
            disabled: u.disabled,
            profile: Profile {
                display_name: u.display_name,
                email: u.email,
                email_verified: u.email_verified,
            },
        });
        self.people.insert(id.to_owned(), person.clone(), asked);
        Ok(person)
    }

    /// The client with this id, `None` if there is none.
    pub async fn client(&self, id: &str) -> StoreResult<Option<ClientStatus>> {
        if let Some(known) = self.clients.get(id) {
            return Ok(known);
        }
        let asked = Instant::now();
        let client = self.store.find_client(id).await?.map(|c| ClientStatus {
            tokens_revoked_before: c.tokens_revoked_before,
        });
        self.clients.insert(id.to_owned(), client, asked);
        Ok(client)
    }

    /// Forgets a client this instance has just changed or deleted, so it is read again.
    pub fn forget_client(&self, id: &str) {
        self.clients.remove(id);
    }
}

/// A bounded map whose entries are trusted for [`TTL`].
#[derive(Debug)]
struct TtlMap<K, V> {
    capacity: usize,
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + std::borrow::Borrow<str>, V: Clone> TtlMap<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| value.clone())
    }

    /// Remembers `value`, read from the database at `asked`: its age counts from then.
    fn insert(&self, key: K, value: V, asked: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (asked, value));
    }

    fn remove(&self, key: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}
