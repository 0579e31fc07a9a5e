//! The one source of wall-clock time, so tests can fix and advance it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix time in seconds, from the system or from a value tests control.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock stopped at `unix_seconds` until a test advances it.
    pub fn fixed(unix_seconds: i64) -> Self {
        Self {
            fixed: Some(Arc::new(AtomicI64::new(unix_seconds))),
        }
    }

    /// Seconds since the unix epoch.
    pub fn now(&self) -> i64 {
        match &self.fixed {
            Some(value) => value.load(Ordering::SeqCst),
            #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a fixed clock forward; the system clock ignores it.
    pub fn advance(&self, seconds: i64) {
        if let Some(value) = &self.fixed {
            value.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}
