//! `AppState`: what every request handler shares, built once by `server::build_state`.

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
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
}

impl AppState {
    /// Wraps the parts into shared state.
    pub fn new(config: Config, store: Store, clock: Clock) -> Self {
        Self(Arc::new(App {
            config,
            store,
            clock,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
