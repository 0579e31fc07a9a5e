//! One piece of work in flight per key: callers that ask for a key already being worked on
//! wait for that work and share its result, so a burst of requests naming one client ID
//! metadata document costs one fetch. The table holds only keys with a caller waiting.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// The work for one key and how many callers are waiting on it.
struct Flight<T> {
    result: Arc<OnceCell<T>>,
    waiting: usize,
}

/// Deduplicates concurrent work by key.
pub struct SingleFlight<T> {
    flights: Mutex<HashMap<String, Flight<T>>>,
}

impl<T> std::fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// Runs `work` for `key` unless it is already running, and returns its result either
    /// way. If the caller running it goes away (its request was dropped), a waiting caller
    /// takes the work over; the key is forgotten once its result is out or nobody waits.
    pub async fn run<F, Fut>(&self, key: &str, work: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let result = {
            let mut flights = self.lock();
            let flight = flights.entry(key.to_owned()).or_insert_with(|| Flight {
                result: Arc::new(OnceCell::new()),
                waiting: 0,
            });
            flight.waiting += 1;
            flight.result.clone()
        };
        let _leave = Leave { owner: self, key };
        result.get_or_init(work).await.clone()
    }

    /// Keys with work in flight, for tests.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight<T>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a caller out when it returns or is dropped, forgetting the key with the last one,
/// or as soon as the result exists (later callers see what the work stored).
struct Leave<'a, T> {
    owner: &'a SingleFlight<T>,
    key: &'a str,
}

impl<T> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        let mut flights = self
            .owner
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get_mut(self.key) {
            flight.waiting -= 1;
            if flight.waiting == 0 || flight.result.initialized() {
                flights.remove(self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_run() {
        let flights = Arc::new(SingleFlight::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let callers: Vec<_> = (0..10)
            .map(|_| {
                let (flights, runs, release) = (flights.clone(), runs.clone(), release.clone());
                tokio::spawn(async move {
                    flights
                        .run("doc", || async move {
                            release.notified().await;
                            runs.fetch_add(1, Ordering::SeqCst) + 41
                        })
                        .await
                })
            })
            .collect();
        while flights.lock().get("doc").map(|f| f.waiting) != Some(10) {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), 41);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0, "nothing is kept once done");
    }

    #[tokio::test]
    async fn a_dropped_caller_leaves_nothing_behind_and_the_next_one_runs_again() {
        let flights = SingleFlight::<u8>::default();
        let never = flights.run("doc", std::future::pending::<u8>);
        let dropped = tokio::time::timeout(std::time::Duration::from_millis(1), never).await;
        assert!(dropped.is_err());
        assert_eq!(flights.in_flight(), 0);
        assert_eq!(flights.run("doc", || async { 7 }).await, 7);
    }
}
