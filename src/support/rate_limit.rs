//! A keyed in-memory rate limiter with bounded memory, driven by the caller's clock: for
//! registrations per client network, sign-in attempts per username and per network, and
//! failed client authentication at `/token` per network and claimed client.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// How long to wait before the refused key may try again, in whole seconds (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// One key's window: when it started, how many events it has seen, and when the key was
/// added (its place in the eviction order).
#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    count: u32,
    added: u64,
}

/// A tracked key: the group it belongs to (a client network, a username) and, within it,
/// the member (a claimed client_id; empty for a group counted as a whole).
type Key = (String, String);

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<Key, Window>,
    /// Members of each group, oldest first, so a group over its cap drops its oldest.
    groups: HashMap<String, VecDeque<String>>,
    /// Every key with the `added` stamp it had when queued, oldest first; entries whose
    /// stamp no longer matches the live window are stale and skipped.
    order: VecDeque<(Key, u64)>,
    next_added: u64,
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        if self.windows.remove(key).is_none() {
            return;
        }
        if let Some(members) = self.groups.get_mut(&key.0) {
            members.retain(|m| *m != key.1);
            if members.is_empty() {
                self.groups.remove(&key.0);
            }
        }
    }

    /// Drops the oldest live key of the whole table.
    fn evict_oldest(&mut self) {
        while let Some((key, added)) = self.order.pop_front() {
            if self.windows.get(&key).is_some_and(|w| w.added == added) {
                self.remove(&key);
                return;
            }
        }
    }

    fn insert(&mut self, key: Key, start: i64, max_keys: usize, max_per_group: usize) {
        let members = self.groups.entry(key.0.clone()).or_default();
        let oldest_member = (members.len() >= max_per_group)
            .then(|| members.front().cloned())
            .flatten();
        if let Some(member) = oldest_member {
            self.remove(&(key.0.clone(), member));
        }
        if self.windows.len() >= max_keys {
            self.evict_oldest();
        }
        let added = self.next_added;
        self.next_added += 1;
        self.groups
            .entry(key.0.clone())
            .or_default()
            .push_back(key.1.clone());
        self.order.push_back((key.clone(), added));
        self.windows.insert(
            key,
            Window {
                start,
                count: 1,
                added,
            },
        );
        // Stale queue entries (from resets) never outnumber the live keys for long.
        if self.order.len() > 2 * max_keys {
            let windows = &self.windows;
            self.order
                .retain(|(key, added)| windows.get(key).is_some_and(|w| w.added == *added));
        }
    }
}

/// At most `limit` events per key in a fixed window that opens at the key's first event.
///
/// Memory is bounded: at most `max_keys` keys in all and `max_per_group` members in one
/// group. A full table or group forgets its oldest key to make room; it never refuses a new
/// one, so a flood of fresh keys (random client_ids, usernames) cannot lock anybody out. A
/// flood can make the limiter forget counts, which is the price of never locking out:
/// limits here slow guessing down, they are not what makes secrets unguessable.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: i64,
    max_keys: usize,
    max_per_group: usize,
    inner: Mutex<Inner>,
}

impl RateLimiter {
    /// A limiter allowing `limit` events per `window_seconds` for each of up to `max_keys`
    /// keys. A `limit` of 0 turns the limiter off: every check passes and nothing is stored.
    pub fn new(limit: u32, window_seconds: u64, max_keys: usize) -> Self {
        Self::with_group_cap(limit, window_seconds, max_keys, max_keys)
    }

    /// As [`RateLimiter::new`], with at most `max_per_group` members tracked per group.
    pub fn with_group_cap(
        limit: u32,
        window_seconds: u64,
        max_keys: usize,
        max_per_group: usize,
    ) -> Self {
        Self {
            limit,
            window: i64::try_from(window_seconds.max(1)).unwrap_or(i64::MAX),
            max_keys: max_keys.max(1),
            max_per_group: max_per_group.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Counts one event for `key` at `now` (unix seconds), refusing it when the key has
    /// already used its limit in the current window. Refused events are not counted.
    pub fn check(&self, key: &str, now: i64) -> Result<(), RetryAfter> {
        self.apply(key, "", now, true, true)
    }

    /// Whether `key` may act now, without counting anything.
    pub fn peek(&self, key: &str, now: i64) -> Result<(), RetryAfter> {
        self.apply(key, "", now, false, true)
    }

    /// Whether `member` of `group` may act now, without counting anything.
    pub fn peek_member(&self, group: &str, member: &str, now: i64) -> Result<(), RetryAfter> {
        self.apply(group, member, now, false, true)
    }

    /// Counts one event for `member` of `group` without refusing it (a failure seen).
    pub fn record_member(&self, group: &str, member: &str, now: i64) {
        let _ = self.apply(group, member, now, true, false);
    }

    /// Takes back one event counted for `key` (an attempt that turned out well), so that
    /// successes never use up the budget of failures.
    pub fn refund(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = inner.windows.get_mut(&(key.to_owned(), String::new())) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// Forgets `key` (e.g. after a successful login).
    pub fn reset(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.remove(&(key.to_owned(), String::new()));
    }

    /// Number of keys currently tracked, for tests and metrics.
    pub fn tracked_keys(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.windows.len()
    }

    fn apply(
        &self,
        group: &str,
        member: &str,
        now: i64,
        count: bool,
        refuse: bool,
    ) -> Result<(), RetryAfter> {
        if self.limit == 0 {
            return Ok(());
        }
        let window = self.window;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (group.to_owned(), member.to_owned());
        if let Some(current) = inner.windows.get_mut(&key) {
            if current.start + window <= now {
                current.start = now;
                current.count = 0;
            }
            if current.count >= self.limit && refuse {
                let wait = current.start + window - now;
                return Err(RetryAfter(u64::try_from(wait).unwrap_or(1).max(1)));
            }
            if count {
                current.count = current.count.saturating_add(1);
            }
            return Ok(());
        }
        if count {
            inner.insert(key, now, self.max_keys, self.max_per_group);
        }
        Ok(())
    }
}

/// What client addresses are counted under: the address, or its /64 for IPv6, since one
/// IPv6 host commonly holds a whole /64 and could otherwise count as billions of clients.
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
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
    fn peek_counts_nothing_and_reset_forgets() {
        let limiter = RateLimiter::new(2, 60, 100);
        assert_eq!(limiter.peek("alice", 0), Ok(()));
        assert_eq!(limiter.tracked_keys(), 0, "peek stores nothing");
        assert_eq!(limiter.check("alice", 0), Ok(()));
        assert_eq!(limiter.check("alice", 1), Ok(()));
        assert_eq!(limiter.peek("alice", 10), Err(RetryAfter(50)));
        limiter.reset("alice");
        assert_eq!(limiter.peek("alice", 10), Ok(()));
    }

    #[test]
    fn a_full_table_forgets_its_oldest_key_and_never_refuses_a_new_one() {
        let limiter = RateLimiter::new(1, 100, 2);
        assert_eq!(limiter.check("a", 0), Ok(()));
        assert_eq!(limiter.check("b", 10), Ok(()));
        assert_eq!(limiter.check("c", 20), Ok(()), "a new key always gets in");
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(
            limiter.check("a", 20),
            Ok(()),
            "the oldest key was forgotten"
        );
        assert_eq!(
            limiter.check("c", 20),
            Err(RetryAfter(100)),
            "others still count"
        );
    }

    #[test]
    fn a_group_over_its_cap_drops_its_own_oldest_member_not_other_groups() {
        let limiter = RateLimiter::with_group_cap(1, 100, 100, 3);
        limiter.record_member("203.0.113.9", "real-client", 0);
        limiter.record_member("198.51.100.1", "other-client", 0);
        for i in 0..50 {
            limiter.record_member("203.0.113.9", &format!("random-{i}"), 1);
        }
        assert_eq!(
            limiter.tracked_keys(),
            4,
            "one group holds at most 3 members"
        );
        assert!(
            limiter
                .peek_member("198.51.100.1", "other-client", 2)
                .is_err(),
            "another network's count is untouched"
        );
        assert_eq!(
            limiter.peek_member("203.0.113.9", "real-client", 2),
            Ok(()),
            "a flood of other ids never refuses the real client"
        );
    }

    #[test]
    fn refunds_give_back_an_attempt() {
        let limiter = RateLimiter::new(2, 60, 10);
        assert_eq!(limiter.check("ip", 0), Ok(()));
        assert_eq!(limiter.check("ip", 0), Ok(()));
        limiter.refund("ip");
        assert_eq!(limiter.check("ip", 0), Ok(()));
        assert!(limiter.check("ip", 0).is_err());
    }

    #[test]
    fn resets_and_reinsertions_keep_memory_bounded() {
        let limiter = RateLimiter::new(5, 60, 4);
        for i in 0..1_000 {
            let key = format!("k{}", i % 7);
            limiter.record_member(&key, "", 0);
            limiter.reset(&key);
            limiter.record_member(&key, "", 0);
        }
        assert!(limiter.tracked_keys() <= 4);
        let inner = limiter.inner.lock().unwrap();
        assert!(inner.order.len() <= 8, "stale order entries are compacted");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |ip: &str| network_key(ip.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
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
