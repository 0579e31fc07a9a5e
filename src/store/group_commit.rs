//! Group commit for SQLite's one writer: the writes of concurrent requests (refresh-token
//! rotations, code redemptions) queue here, and one task applies whatever is queued as one
//! batch, with one statement for all of it instead of one per request. Each caller still
//! gets its own answer, and the single-use rules hold as before: the batch runs on the one
//! writer connection, so batches never overlap, and a batch holds at most one write per key
//! (per parent token, per code), so two racing presentations of one token land in
//! different batches and the second finds the first's result.
//!
//! What it saves: every statement is a round trip to the connection's thread and every
//! commit appends the pages it touched to the WAL; a batch of N makes one round trip and
//! writes the shared index pages once.

use super::sqlite_connections::SqliteConnections;
use super::{StoreError, StoreResult};
use sqlx::sqlite::SqliteConnection;
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes applied in one batch: keeps each statement's parameters well under SQLite's
/// limit (32,766) and a batch's time on the writer short.
const MAX_BATCH: usize = 128;

/// Writes waiting at most; past that a request waits to queue.
const QUEUE_DEPTH: usize = 4_096;

/// One kind of write that can be applied many at a time.
pub(super) trait GroupWrite: Send + Sync + Sized + 'static {
    /// Two writes with the same key must not share a batch (one parent token, one code).
    fn key(&self) -> &str;

    /// Applies all of `writes` (distinct keys) atomically; says for each whether it took
    /// effect (the token was live, the code unused).
    fn apply_all<'c>(
        connection: &'c mut SqliteConnection,
        writes: &'c [Self],
    ) -> impl Future<Output = sqlx::Result<Vec<bool>>> + Send + 'c;
}

struct Queued<W> {
    write: W,
    answer: oneshot::Sender<StoreResult<bool>>,
}

/// The queue of one kind of write, and the task applying it. Clones share the queue; the
/// task ends when the last clone is dropped.
pub(super) struct GroupCommit<W> {
    queue: mpsc::Sender<Queued<W>>,
}

impl<W> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<W: GroupWrite> GroupCommit<W> {
    /// Starts the task applying queued writes on `writer`.
    pub(super) fn start(writer: Arc<SqliteConnections>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(apply_queued(receiver, writer));
        Self { queue }
    }

    /// Queues `write` and waits for the batch that applies it to commit.
    pub(super) async fn apply(&self, write: W) -> StoreResult<bool> {
        let (answer, answered) = oneshot::channel();
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.queue
            .send(Queued { write, answer })
            .await
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

async fn apply_queued<W: GroupWrite>(
    mut receiver: mpsc::Receiver<Queued<W>>,
    writer: Arc<SqliteConnections>,
) {
    let mut deferred: VecDeque<Queued<W>> = VecDeque::new();
    loop {
        if deferred.is_empty() {
            match receiver.recv().await {
                Some(first) => deferred.push_back(first),
                None => return,
            }
        }
        let (writes, answers): (Vec<W>, Vec<_>) = next_batch(&mut deferred, &mut receiver)
            .into_iter()
            .map(|q| (q.write, q.answer))
            .unzip();
        let outcome = match writer.hold().await {
            Ok(mut connection) => W::apply_all(&mut connection, &writes).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(applied) => {
                for (answer, applied) in answers.into_iter().zip(applied) {
                    let _ = answer.send(Ok(applied));
                }
            }
            // Nothing of the batch was applied (it is atomic): each caller gets the error
            // and may retry, as after a failed statement of its own.
            Err(error) => {
                let error = Arc::new(error);
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Batch(Arc::clone(&error))));
                }
            }
        }
    }
}

/// The writes to apply next: those deferred first, then whatever else is queued, up to
/// [`MAX_BATCH`], leaving a write whose key is already in the batch for a later one.
fn next_batch<W: GroupWrite>(
    deferred: &mut VecDeque<Queued<W>>,
    receiver: &mut mpsc::Receiver<Queued<W>>,
) -> Vec<Queued<W>> {
    let mut batch: Vec<Queued<W>> = Vec::new();
    let mut later = VecDeque::new();
    let mut keys = HashSet::new();
    while batch.len() < MAX_BATCH {
        let Some(next) = deferred.pop_front().or_else(|| receiver.try_recv().ok()) else {
            break;
        };
        if keys.insert(next.write.key().to_owned()) {
            batch.push(next);
        } else {
            later.push_back(next);
        }
    }
    later.append(deferred);
    *deferred = later;
    batch
}
