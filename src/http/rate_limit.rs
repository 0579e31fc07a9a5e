//! A keyed in-memory rate limiter with bounded memory, driven by the caller's clock, for
//! registration per client IP and (later) login failures per username and per IP.

use crate::oauth::error::{ErrorCode, OAuthError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How long to wait before the refused key may try again, in whole seconds (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    /// A JSON 429 answer with `Retry-After`, saying what was limited (`what` is client-safe).
    pub fn into_json_response(self, what: &str) -> Response {
        let error = OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!("{what}; retry after {} seconds", self.0),
        );
        let mut response = crate::http::error::ApiError::from(error).into_response();
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(self.0));
        response
    }
}

/// One key's window: when it started and how many events it has seen.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    count: u32,
}

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<String, Window>,
    /// While the table is full of live windows, the earliest moment one of them ends; no
    /// pruning scan is worth doing before then.
    full_until: Option<i64>,
}

/// At most `limit` events per key in a fixed window that opens at the key's first event.
///
/// Memory is bounded by `max_keys`. When the table is full of live windows, unknown keys are
/// refused (fail closed) until the oldest window ends: a flood of fresh keys can neither grow
/// memory nor reset the counts of keys already tracked.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: i64,
    max_keys: usize,
    inner: Mutex<Inner>,
}

impl RateLimiter {
    /// A limiter allowing `limit` events per `window_seconds` for each of up to `max_keys` keys.
    /// A `limit` of 0 turns the limiter off: every check passes and nothing is stored.
    pub fn new(limit: u32, window_seconds: u64, max_keys: usize) -> Self {
        Self {
            limit,
            window: i64::try_from(window_seconds.max(1)).unwrap_or(i64::MAX),
            max_keys: max_keys.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Counts one event for `key` at `now` (unix seconds), refusing it when the key has
    /// already used its limit in the current window. Refused events are not counted.
    pub fn check(&self, key: &str, now: i64) -> Result<(), RetryAfter> {
        self.apply(key, now, true, true)
    }

    /// Whether `key` may act now, without counting anything (e.g. before checking a password).
    pub fn peek(&self, key: &str, now: i64) -> Result<(), RetryAfter> {
        self.apply(key, now, false, true)
    }

    /// Counts one event for `key` without refusing it (e.g. a failed login).
    pub fn record(&self, key: &str, now: i64) {
        let _ = self.apply(key, now, true, false);
    }

    /// Forgets `key` (e.g. after a successful login).
    pub fn reset(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.windows.remove(key);
        inner.full_until = None;
    }

    /// Number of keys currently tracked, for tests and metrics.
    pub fn tracked_keys(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.windows.len()
    }

    fn apply(&self, key: &str, now: i64, count: bool, refuse: bool) -> Result<(), RetryAfter> {
        if self.limit == 0 {
            return Ok(());
        }
        let window = self.window;
        let retry_after =
            |start: i64| RetryAfter(u64::try_from(start + window - now).unwrap_or(1).max(1));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = inner.windows.get_mut(key) {
            if current.start + window <= now {
                *current = Window {
                    start: now,
                    count: 0,
                };
            }
            if current.count >= self.limit && refuse {
                return Err(retry_after(current.start));
            }
            if count {
                current.count = current.count.saturating_add(1);
            }
            return Ok(());
        }
        if inner.windows.len() >= self.max_keys {
            let skip_scan = inner.full_until.is_some_and(|until| now < until);
            if !skip_scan {
                inner.windows.retain(|_, w| w.start + window > now);
                inner.full_until = None;
            }
            if inner.windows.len() >= self.max_keys {
                let earliest = match inner.full_until {
                    Some(until) => until,
                    None => {
                        let until = inner
                            .windows
                            .values()
                            .map(|w| w.start + window)
                            .min()
                            .unwrap_or(now + window);
                        inner.full_until = Some(until);
                        tracing::warn!(
                            keys = self.max_keys,
                            "rate limiter table is full; refusing new keys until a window ends"
                        );
                        until
                    }
                };
                return if refuse {
                    Err(RetryAfter(
                        u64::try_from(earliest - now).unwrap_or(1).max(1),
                    ))
                } else {
                    Ok(())
                };
            }
        }
        if count {
            inner.windows.insert(
                key.to_owned(),
                Window {
                    start: now,
                    count: 1,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_ends() {
        let limiter = RateLimiter::new(3, 3_600, 100);
        for _ in 0..3 {
            assert_eq!(limiter.check("1.2.3.4", 1_000), Ok(()));
        }
        assert_eq!(limiter.check("1.2.3.4", 1_000), Err(RetryAfter(3_600)));
        assert_eq!(limiter.check("1.2.3.4", 4_599), Err(RetryAfter(1)));
        assert_eq!(limiter.check("5.6.7.8", 1_000), Ok(()), "keys are separate");
        assert_eq!(limiter.check("1.2.3.4", 4_600), Ok(()), "a new window");
    }

    #[test]
    fn peek_record_and_reset_serve_failure_counting() {
        let limiter = RateLimiter::new(2, 60, 100);
        assert_eq!(limiter.peek("alice", 0), Ok(()));
        limiter.record("alice", 0);
        limiter.record("alice", 1);
        limiter.record("alice", 2);
        assert_eq!(limiter.peek("alice", 10), Err(RetryAfter(50)));
        limiter.reset("alice");
        assert_eq!(limiter.peek("alice", 10), Ok(()));
        assert_eq!(limiter.tracked_keys(), 0, "peek stores nothing");
    }

    #[test]
    fn memory_is_bounded_and_a_full_table_refuses_new_keys() {
        let limiter = RateLimiter::new(5, 100, 2);
        assert_eq!(limiter.check("a", 0), Ok(()));
        assert_eq!(limiter.check("b", 10), Ok(()));
        assert_eq!(limiter.check("c", 20), Err(RetryAfter(80)));
        assert_eq!(limiter.check("a", 20), Ok(()), "known keys still count");
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(
            limiter.check("c", 100),
            Ok(()),
            "expired windows are pruned"
        );
        assert_eq!(limiter.tracked_keys(), 2);
    }

    #[test]
    fn a_zero_limit_turns_limiting_off() {
        let limiter = RateLimiter::new(0, 60, 1);
        for i in 0..10 {
            assert_eq!(limiter.check(&i.to_string(), 0), Ok(()));
        }
        assert_eq!(limiter.tracked_keys(), 0);
    }
}
