//! SQLite connections held by the store itself rather than by sqlx's pool. sqlx runs every
//! SQLite connection on its own thread, and its pool pings a connection (one more round
//! trip to that thread) each time it is returned; a file connection never goes stale, so
//! holding connections behind plain locks saves that round trip on every statement.

use super::BUSY_TIMEOUT;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// A fixed set of open connections to one SQLite file.
pub(super) struct SqliteConnections {
    slots: Box<[Mutex<Option<SqliteConnection>>]>,
    next: AtomicUsize,
}

/// One connection, held until dropped.
pub(super) type HeldConnection<'a> = MappedMutexGuard<'a, SqliteConnection>;

impl SqliteConnections {
    /// Opens `count` connections.
    pub(super) async fn open(options: &SqliteConnectOptions, count: usize) -> sqlx::Result<Self> {
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            slots.push(Mutex::new(Some(open_connection(options).await?)));
        }
        Ok(Self {
            slots: slots.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// A free connection, or the next one to come free within the busy timeout
    /// (`PoolTimedOut` after it, like sqlx's pool, so callers answer 503).
    pub(super) async fn hold(&self) -> sqlx::Result<HeldConnection<'_>> {
        let count = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..count).find_map(|i| self.slots[(start + i) % count].try_lock().ok());
        let guard = match free {
            Some(guard) => guard,
            None => tokio::time::timeout(BUSY_TIMEOUT, self.slots[start % count].lock())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?,
        };
        MutexGuard::try_map(guard, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)
    }

    /// How many connections there are and how many are free, for the metrics.
    pub(super) fn usage(&self) -> (u32, usize) {
        let free = self.slots.iter().filter(|s| s.try_lock().is_ok()).count();
        (u32::try_from(self.slots.len()).unwrap_or(u32::MAX), free)
    }

    /// Closes every connection once its current holder is done; later calls get `PoolClosed`.
    pub(super) async fn close(&self) {
        for slot in &self.slots {
            if let Some(connection) = slot.lock().await.take() {
                let _ = connection.close().await;
            }
        }
    }
}

/// Opens one connection, retrying while another process holds the file's lock: switching
/// a new file to WAL needs an exclusive lock, and SQLite answers `SQLITE_BUSY` at once (no
/// busy handler) when two processes create the same database at the same moment.
async fn open_connection(options: &SqliteConnectOptions) -> sqlx::Result<SqliteConnection> {
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match options.connect().await {
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("5" | "6"))
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => return other,
        }
    }
}
