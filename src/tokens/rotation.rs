//! The key rotation policy, as pure functions of a key's schedule and the time: when a key
//! signs, when it is published, and which rotation step is due.
//!
//! Timeline of one key K (all times in the database, so every instance agrees):
//! `created_at` K is published; `activates_at = created_at + keys.prepublish` K signs, and the
//! key before it retires; `retires_at = activates_at of the next key` K stops signing;
//! `withdrawn_at = retires_at + tokens.access_token_ttl + RETIRED_KEY_MARGIN_SECONDS` K leaves
//! the JWKS. Every instance reloads keys when PostgreSQL announces a change (LISTEN/NOTIFY),
//! and polls every [`REFRESH_INTERVAL_SECONDS`] anyway (every [`SQLITE_POLL_INTERVAL`] on
//! SQLite, which announces nothing). The prepublish time exceeds the slowest of those plus
//! the JWKS cache lifetime, so no token carries a kid that a resource server could not have
//! fetched. `keys rotate --now` (with or without `--keep-old`) is the exception: its key
//! signs at once.

use crate::tokens::signing_key::SigningAlgorithm;
use serde::Serialize;
use std::time::Duration;

/// How often every instance reloads the keys and performs due rotation steps: the bound on
/// how long instances may disagree about the keys.
pub const REFRESH_INTERVAL_SECONDS: u64 = 10;

/// How often instances on SQLite reload the keys: nothing announces a change there, and a
/// reload is one small read of a local file.
pub const SQLITE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a retired key stays published after the last token it signed expired, to absorb
/// clock differences between this server and resource servers.
pub const RETIRED_KEY_MARGIN_SECONDS: i64 = 300;

/// The rotation schedule, from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The algorithm new keys use.
    pub algorithm: SigningAlgorithm,
    /// `keys.rotation_interval`: how long a key signs.
    pub rotation_interval: i64,
    /// `keys.prepublish`: how long the next key is published before it signs.
    pub prepublish: i64,
    /// `tokens.access_token_ttl`: how long a retired key's tokens live.
    pub access_token_ttl: i64,
}

impl Policy {
    /// When a key that stops signing at `retires_at` may leave the JWKS: after the last token
    /// it signed has expired, plus the margin.
    pub fn withdrawal_after(&self, retires_at: i64) -> i64 {
        retires_at + self.access_token_ttl + RETIRED_KEY_MARGIN_SECONDS
    }

    /// When the key that signs now should publish its successor.
    pub fn successor_due(&self, current: &Schedule) -> i64 {
        current.activates_at + self.rotation_interval - self.prepublish
    }

    /// When the keys that signed before an immediate rotation leave the JWKS: at once for the
    /// emergency, after their tokens have expired when keeping them.
    pub fn withdrawal_of_old_keys(&self, kind: RotationKind, now: i64) -> i64 {
        match kind {
            RotationKind::ImmediateKeepingOld => self.withdrawal_after(now),
            RotationKind::Immediate | RotationKind::Prepublished => now,
        }
    }

    /// The rotation step due at `now`, given the key that signs (if any) and whether a next
    /// key is already published.
    pub fn due_step(&self, signing: Option<&Schedule>, pending: bool, now: i64) -> Step {
        match signing {
            None if pending => Step::Nothing,
            // First start, or every key retired: a key that signs at once. No token exists
            // that could be disturbed, so no prepublication is needed.
            None => Step::CreateFirst,
            Some(current) => {
                if pending || current.retires_at.is_some() || now < self.successor_due(current) {
                    Step::Nothing
                } else {
                    Step::PublishNext
                }
            }
        }
    }

    /// Seconds until the next key signs: the published next key's start, else when the
    /// current key is due to hand over.
    pub fn next_handover(&self, current: &Schedule, pending: Option<&Schedule>) -> i64 {
        match pending {
            Some(pending) => pending.activates_at,
            None => current
                .retires_at
                .unwrap_or(current.activates_at + self.rotation_interval),
        }
    }
}

/// What a refresh should do to the stored keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing is due.
    Nothing,
    /// No key signs and none is coming: create one that signs at once.
    CreateFirst,
    /// The signing key is due to hand over: publish the next key, signing after prepublish.
    PublishNext,
}

/// Which rotation an operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationKind {
    /// Publish a new key now; it signs after `keys.prepublish`. No token is disturbed.
    Prepublished,
    /// Emergency: a new key signs at once and every other key is withdrawn, so every token
    /// signed so far stops verifying.
    Immediate,
    /// A fresh key signs at once; the previous keys stay published until their tokens have
    /// expired, so no token is disturbed (resource servers fetch the new kid on first sight).
    ImmediateKeepingOld,
}

/// Where a key is in its life, as `keys list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Published and signing.
    Active,
    /// Published so its tokens verify until they expire; no longer signing.
    Retired,
    /// Out of the JWKS; its tokens no longer verify.
    Withdrawn,
}

/// One key's times, unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Rotation sequence number (breaks ties between keys activating at once).
    pub generation: i64,
    /// Signs from.
    pub activates_at: i64,
    /// Stops signing at.
    pub retires_at: Option<i64>,
    /// Leaves the JWKS at.
    pub withdrawn_at: Option<i64>,
}

impl Schedule {
    /// Whether the key is in the JWKS at `now`.
    pub fn published_at(&self, now: i64) -> bool {
        self.withdrawn_at.is_none_or(|w| w > now)
    }

    /// Whether the key may sign at `now`.
    pub fn signs_at(&self, now: i64) -> bool {
        self.activates_at <= now
            && self.retires_at.is_none_or(|r| r > now)
            && self.published_at(now)
    }

    /// Whether the key is published and waiting to sign at `now`.
    pub fn pending_at(&self, now: i64) -> bool {
        self.activates_at > now && self.published_at(now)
    }

    /// Where the key is in its life at `now`.
    pub fn state(&self, now: i64) -> KeyState {
        if !self.published_at(now) {
            KeyState::Withdrawn
        } else if self.activates_at > now {
            KeyState::Next
        } else if self.retires_at.is_some_and(|r| r <= now) {
            KeyState::Retired
        } else {
            KeyState::Active
        }
    }
}

/// Of several keys, the one that signs at `now`: the latest to activate.
pub fn signing<'a, T>(
    keys: impl IntoIterator<Item = (&'a Schedule, T)>,
    now: i64,
) -> Option<(&'a Schedule, T)> {
    keys.into_iter()
        .filter(|(s, _)| s.signs_at(now))
        .max_by_key(|(s, _)| (s.activates_at, s.generation))
}

/// Of several keys, the next to sign after `now`: the earliest still waiting.
pub fn pending<'a, T>(
    keys: impl IntoIterator<Item = (&'a Schedule, T)>,
    now: i64,
) -> Option<(&'a Schedule, T)> {
    keys.into_iter()
        .filter(|(s, _)| s.pending_at(now))
        .min_by_key(|(s, _)| (s.activates_at, s.generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn policy() -> Policy {
        Policy {
            algorithm: SigningAlgorithm::ES256,
            rotation_interval: 30 * DAY,
            prepublish: DAY,
            access_token_ttl: 3_600,
        }
    }

    fn key(generation: i64, activates_at: i64) -> Schedule {
        Schedule {
            generation,
            activates_at,
            retires_at: None,
            withdrawn_at: None,
        }
    }

    #[test]
    fn a_key_is_next_then_active_then_retired_then_withdrawn() {
        let k = Schedule {
            retires_at: Some(200),
            withdrawn_at: Some(300),
            ..key(1, 100)
        };
        assert_eq!(k.state(99), KeyState::Next);
        assert!(k.pending_at(99) && !k.signs_at(99));
        assert_eq!(k.state(100), KeyState::Active);
        assert!(k.signs_at(199));
        assert_eq!(k.state(200), KeyState::Retired);
        assert!(!k.signs_at(200) && k.published_at(299));
        assert_eq!(k.state(300), KeyState::Withdrawn);
        assert!(!k.published_at(300) && !k.pending_at(300));
    }

    #[test]
    fn the_latest_active_key_signs_and_the_earliest_waiting_key_is_next() {
        let keys = [key(1, 0), key(2, 50), key(3, 200), key(4, 300)];
        let at = |now| {
            (
                signing(keys.iter().map(|k| (k, k.generation)), now).map(|(_, g)| g),
                pending(keys.iter().map(|k| (k, k.generation)), now).map(|(_, g)| g),
            )
        };
        assert_eq!(at(10), (Some(1), Some(2)));
        assert_eq!(at(100), (Some(2), Some(3)));
        assert_eq!(at(250), (Some(3), Some(4)));
        assert_eq!(at(400), (Some(4), None));
        // Two keys activating at once (an immediate rotation racing): the later generation.
        let tied = [key(5, 10), key(6, 10)];
        let winner = signing(tied.iter().map(|k| (k, k.generation)), 10);
        assert_eq!(winner.map(|(_, g)| g), Some(6));
    }

    #[test]
    fn the_first_key_is_created_only_when_none_signs_or_waits() {
        let p = policy();
        assert_eq!(p.due_step(None, false, 0), Step::CreateFirst);
        assert_eq!(p.due_step(None, true, 0), Step::Nothing);
    }

    #[test]
    fn the_next_key_is_published_prepublish_before_the_interval_ends() {
        let p = policy();
        let current = key(1, 1_000);
        let due = 1_000 + 30 * DAY - DAY;
        assert_eq!(p.successor_due(&current), due);
        assert_eq!(p.due_step(Some(&current), false, due - 1), Step::Nothing);
        assert_eq!(p.due_step(Some(&current), false, due), Step::PublishNext);
        // Once a successor is published (or the key has a retirement date), nothing more.
        assert_eq!(p.due_step(Some(&current), true, due), Step::Nothing);
        let retiring = Schedule {
            retires_at: Some(due + DAY),
            ..current
        };
        assert_eq!(p.due_step(Some(&retiring), false, due), Step::Nothing);
    }

    #[test]
    fn a_retired_key_stays_published_until_its_last_token_expired_plus_the_margin() {
        let p = policy();
        assert_eq!(
            p.withdrawal_after(10_000),
            10_000 + 3_600 + RETIRED_KEY_MARGIN_SECONDS
        );
        assert_eq!(p.withdrawal_of_old_keys(RotationKind::Immediate, 50), 50);
        assert_eq!(
            p.withdrawal_of_old_keys(RotationKind::ImmediateKeepingOld, 50),
            50 + 3_600 + RETIRED_KEY_MARGIN_SECONDS
        );
    }

    #[test]
    fn the_next_handover_is_the_waiting_keys_start_or_the_end_of_the_interval() {
        let p = policy();
        let current = key(1, 1_000);
        assert_eq!(p.next_handover(&current, None), 1_000 + 30 * DAY);
        let next = key(2, 5_000);
        assert_eq!(p.next_handover(&current, Some(&next)), 5_000);
        let retiring = Schedule {
            retires_at: Some(4_000),
            ..current
        };
        assert_eq!(p.next_handover(&retiring, None), 4_000);
    }
}
