//! `AppState`: what every request handler shares, built once by `server::build_state`.

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
use crate::tokens::keyring::Keyring;
use std::sync::Arc;

/// Shared, immutable-after-start application state; cloning is one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct App {
    /// Validated configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Wall-clock time.
    pub clock: Clock,
    /// Access-token signing keys, kept current by a background refresh.
    pub keys: Keyring,
}

impl AppState {
    /// Wraps the parts into shared state.
    pub fn new(config: Config, store: Store, clock: Clock, keys: Keyring) -> Self {
        Self(Arc::new(App {
            config,
            store,
            clock,
            keys,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
