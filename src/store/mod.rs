//! The only place with SQL: one `Store` over PostgreSQL or an embedded SQLite file.

mod audit;
mod client_assertions;
mod clients;
mod codes;
mod federation;
mod grants;
mod group_commit;
mod ops;
mod refresh_tokens;
mod revocations;
mod sessions;
mod signing_keys;
mod sqlite_connections;
mod sweeps;
mod upstream_tokens;
mod users;

pub use audit::{AuditFilter, AuditRecord, NewAuditRecord};
pub use clients::{ClientUpdate, NewClient};
pub use codes::{AuthorizationCode, CodeRedemption, NewAuthorizationCode};
pub use federation::{FederatedIdentity, FederatedSignIn};
pub use grants::{Grant, GrantFilter, GrantListing};
pub use refresh_tokens::{NewRefreshToken, RefreshToken};
pub use revocations::{RevocationCounts, RevokedAccessToken};
pub use sessions::Session;
pub use signing_keys::{KeyChanges, NewSigningKey, StoredSigningKey};
pub use upstream_tokens::UpstreamTokens;
pub use users::{Profile, User};

use crate::support::secret::{Secret, redact_database_url};
use group_commit::GroupCommit;
use sqlite_connections::SqliteConnections;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// How long a statement waits for a locked SQLite file or a free PostgreSQL connection, and
/// (PostgreSQL `lock_timeout`) for a row or table lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite page cache per connection, in KiB.
const PAGE_CACHE_KIB: u32 = 512;

/// PostgreSQL `statement_timeout` while serving: a stalled database fails requests with a
/// retryable error instead of holding connections until the request timeout.
const STATEMENT_TIMEOUT: &str = "15s";

/// Storage failures, phrased for the operator; never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (e.g. a duplicate username).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database could not be opened.
    #[error("{0}")]
    Connect(String),
    /// A stored value could not be read back (hand-edited row, newer schema).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A database error that failed a whole group-committed batch, shared by its callers.
    #[error("database error: {0}")]
    Batch(Arc<sqlx::Error>),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Database`.
    fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Whether the database is unreachable, restarting, overloaded or stalled rather than
    /// refusing this operation: the client may retry, so it deserves 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect(_) => true,
            StoreError::Database(error) => unavailable(error),
            StoreError::Batch(error) => unavailable(error),
            _ => false,
        }
    }
}

/// Whether a database error means the database is unreachable, restarting, overloaded or
/// stalled, rather than refusing the operation.
fn unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                // PostgreSQL: statement or lock timeout, shutdown, cannot connect now,
                // too many connections, any connection exception.
                "57014" | "55P03" | "57P01" | "57P02" | "57P03" | "53300"
                // SQLite: busy, locked, busy snapshot (after the busy timeout).
                | "5" | "6" | "517" | "261" | "262"
            ) || code.starts_with("08")
        }),
        _ => false,
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database behind the server and the CLI. Cheap to clone: pools are shared.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Client changes this process has committed, for the in-memory client cache.
    client_writes: Arc<AtomicU64>,
}

#[derive(Clone)]
enum Backend {
    Postgres(PgPool),
    /// SQLite allows one writer at a time, so writes go through one connection and never
    /// fight over the lock; reads use their own connections and see WAL snapshots.
    Sqlite {
        writer: Arc<SqliteConnections>,
        reader: Arc<SqliteConnections>,
        /// Refresh-token rotations, group-committed on `writer`.
        rotations: GroupCommit<NewRefreshToken>,
        /// Code redemptions, group-committed on `writer`.
        redemptions: GroupCommit<codes::QueuedRedemption>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.backend {
            Backend::Postgres(_) => "Store(postgres)",
            Backend::Sqlite { .. } => "Store(sqlite)",
        })
    }
}

/// Runs `$body` with `$pool` bound to the pool for reads on whichever backend is in use.
macro_rules! read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Postgres($pool) => $body,
            $crate::store::Backend::Sqlite { reader, .. } => match reader.hold().await {
                Ok(mut held) => {
                    let $pool = &mut *held;
                    $body
                }
                Err(error) => Err(error),
            },
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool (PostgreSQL) or the connection (SQLite) for
/// writes.
macro_rules! write_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Postgres($pool) => $body,
            $crate::store::Backend::Sqlite { writer, .. } => match writer.hold().await {
                Ok(mut held) => {
                    let $pool = &mut *held;
                    $body
                }
                Err(error) => Err(error),
            },
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx`, committing when it returns `Ok`.
/// SQLite transactions start `IMMEDIATE` so a second process waits for the lock up front
/// instead of failing when it upgrades from reading to writing.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Sqlite { writer, .. } => {
                let mut held = writer.hold().await?;
                let mut $tx = sqlx::Connection::begin_with(&mut *held, "BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use {read_pool, transaction, write_pool};

impl Store {
    /// Opens the database named by `url` (`sqlite://PATH` or `postgres://…`).
    pub async fn connect(url: &Secret) -> StoreResult<Self> {
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Self::connect_postgres(raw).await
        } else if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            Self::connect_sqlite(path).await
        } else {
            Err(StoreError::Connect(format!(
                "unsupported database URL {}: use sqlite://PATH or postgres://…",
                redact_database_url(raw)
            )))
        }
    }

    async fn connect_postgres(raw: &str) -> StoreResult<Self> {
        let shown = redact_database_url(raw);
        let options = PgConnectOptions::from_str(raw)
            .map_err(|e| StoreError::Connect(format!("invalid database URL {shown}: {e}")))?
            .options([
                ("lock_timeout", format!("{}s", BUSY_TIMEOUT.as_secs())),
                ("statement_timeout", STATEMENT_TIMEOUT.to_owned()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Connect(format!("cannot connect to PostgreSQL at {shown}: {e}"))
            })?;
        Ok(Self {
            backend: Backend::Postgres(pool),
            client_writes: Arc::default(),
        })
    }

    async fn connect_sqlite(path: &str) -> StoreResult<Self> {
        let file = Path::new(path);
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Connect(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Each connection keeps its own page cache (2 MiB by default, five connections);
            // the file's pages are in the OS page cache anyway, so a small cache that holds
            // the B-trees' upper levels costs a pread now and then and saves memory.
            .pragma("cache_size", format!("-{}", PAGE_CACHE_KIB));
        let open_error = |e: sqlx::Error| {
            StoreError::Connect(format!(
                "cannot open SQLite database {}: {e}",
                file.display()
            ))
        };
        let writer = SqliteConnections::open(&options, 1)
            .await
            .map_err(open_error)?;
        let reader = SqliteConnections::open(&options, 4)
            .await
            .map_err(open_error)?;
        let writer = Arc::new(writer);
        Ok(Self {
            client_writes: Arc::default(),
            backend: Backend::Sqlite {
                rotations: GroupCommit::start(Arc::clone(&writer)),
                redemptions: GroupCommit::start(Arc::clone(&writer)),
                writer,
                reader: Arc::new(reader),
            },
        })
    }

    /// Brings the schema up to date; safe to call from several processes at once (PostgreSQL:
    /// sqlx's advisory lock; SQLite: the write lock held throughout).
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Postgres(pool) => {
                // Migrations may wait for another instance's migration lock and may run
                // long: no serving timeouts on the connection that applies them.
                let mut conn = pool.acquire().await?;
                for set in ["SET lock_timeout = 0", "SET statement_timeout = 0"] {
                    sqlx::query(set).execute(&mut *conn).await?;
                }
                let migrated = sqlx::migrate!("migrations/postgres").run(&mut *conn).await;
                for reset in ["RESET lock_timeout", "RESET statement_timeout"] {
                    sqlx::query(reset).execute(&mut *conn).await?;
                }
                migrated?
            }
            Backend::Sqlite { writer, .. } => {
                // sqlx takes no lock on SQLite: hold the write lock for the whole migration,
                // so a second process starting at the same moment waits (busy timeout) and
                // then finds the schema up to date instead of applying it twice.
                let mut held = writer.hold().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *held, "BEGIN IMMEDIATE").await?;
                sqlx::migrate!("migrations/sqlite").run(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Whether the database answers, for readiness checks.
    pub async fn ping(&self) -> bool {
        let probe = read_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()));
        probe.is_ok()
    }

    /// Which backend this is, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite { .. } => "sqlite",
        }
    }

    /// Closes every connection, letting SQLite checkpoint its WAL.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
        }
    }
}

/// The rows a batch statement is written for: the batch rounded up to a power of two. sqlx
/// keeps every distinct statement text prepared on its connection, and one text per batch
/// size (up to 128) held megabytes of SQLite statement memory on the writer; this way each
/// batch statement has at most eight shapes. The rows past the batch are NULL
/// ([`bind_padding`]), and every batch statement skips a row whose key is NULL.
fn batch_rows(rows: usize) -> usize {
    rows.next_power_of_two()
}

/// SQLite `VALUES` rows of `columns` placeholders each, for a batch of `rows` padded to
/// [`batch_rows`].
fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; batch_rows(rows)].join(", ")
}

/// Binds the NULL rows that pad a batch of `$rows` rows of `$columns` to [`batch_rows`].
macro_rules! bind_padding {
    ($query:expr, $rows:expr, $columns:expr) => {{
        let mut query = $query;
        for _ in 0..($crate::store::batch_rows($rows) - $rows) * $columns {
            query = query.bind(None::<String>);
        }
        query
    }};
}

pub(crate) use bind_padding;

/// Decodes a JSON array of strings stored in a text column.
fn decode_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list column: {e}")))
}

/// Encodes a list of strings for a text column.
fn encode_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
