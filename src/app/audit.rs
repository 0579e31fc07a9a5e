//! Security events worth keeping beside the logs: who signed in or failed to, who consented
//! or revoked, which clients and keys changed, which tokens were replayed. Stored in the
//! `audit_events` table, read with `mcp-authd audit`, pruned after `audit.retention`.
//!
//! Writing an event never fails the action it records: a storage failure is logged with the
//! event instead. Only the events below are written; a successful `/token` writes none.

use crate::store::{NewAuditRecord, Store};
use crate::support::clock::Clock;
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// How long an audit write may take before it is given up (and logged instead).
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest attempted username kept with a failed sign-in.
const MAX_USERNAME_CHARS: usize = 64;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A person signed in.
    LoginSucceeded,
    /// A sign-in failed: unknown user, wrong password, or disabled person.
    LoginFailed,
    /// A person approved an application's request.
    ConsentGiven,
    /// A person denied an application's request.
    ConsentDenied,
    /// A person revoked an application's access on the account page.
    ConsentRevoked,
    /// An operator revoked grants with `mcp-authd grants revoke`.
    GrantRevoked,
    /// An operator revoked every token of a person or a client with `mcp-authd tokens revoke`.
    TokensRevoked,
    /// A client was registered (dynamic registration or the CLI).
    ClientRegistered,
    /// A client's settings or secret changed.
    ClientUpdated,
    /// A client was deleted.
    ClientDeleted,
    /// A signing key was created, scheduled or swapped in an emergency.
    KeyRotated,
    /// A rotated refresh token came back outside the reuse window; its family was revoked.
    RefreshReuseDetected,
    /// A used authorization code came back; the tokens it bought were revoked.
    CodeReuseDetected,
}

impl AuditKind {
    /// Every kind, for validating `--kind` style input and for documentation.
    pub const ALL: [AuditKind; 13] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::ConsentGiven,
        Self::ConsentDenied,
        Self::ConsentRevoked,
        Self::GrantRevoked,
        Self::TokensRevoked,
        Self::ClientRegistered,
        Self::ClientUpdated,
        Self::ClientDeleted,
        Self::KeyRotated,
        Self::RefreshReuseDetected,
        Self::CodeReuseDetected,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::ConsentGiven => "consent_given",
            Self::ConsentDenied => "consent_denied",
            Self::ConsentRevoked => "consent_revoked",
            Self::GrantRevoked => "grant_revoked",
            Self::TokensRevoked => "tokens_revoked",
            Self::ClientRegistered => "client_registered",
            Self::ClientUpdated => "client_updated",
            Self::ClientDeleted => "client_deleted",
            Self::KeyRotated => "key_rotated",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::CodeReuseDetected => "code_reuse_detected",
        }
    }
}

/// One event, built with the chained setters: `AuditEvent::new(kind).user(id).ip(ip)`.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// The person concerned.
    pub user_id: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The client IP, for events caused by an HTTP request.
    pub ip: Option<IpAddr>,
    /// Event-specific facts (a JSON object); never a secret, token or password.
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event of `kind` with nothing else known yet.
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            user_id: None,
            client_id: None,
            ip: None,
            detail: serde_json::Map::new(),
        }
    }

    /// The person concerned.
    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    /// The client concerned.
    pub fn client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// The client IP of the request that caused it.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Adds one fact to the detail object.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// A failed sign-in's attempted username, cut short: it is not a secret, but a
    /// password typed into the wrong field should not survive whole.
    pub fn attempted_username(self, username: &str) -> Self {
        let cut: String = username.chars().take(MAX_USERNAME_CHARS).collect();
        self.with("username", cut)
    }
}

/// Stores `event`; returns whether it was stored. Failures are logged with the event and
/// never propagate, so auditing cannot break the action it records.
pub async fn record(store: &Store, clock: &Clock, event: &AuditEvent) -> bool {
    let detail = serde_json::Value::Object(event.detail.clone()).to_string();
    let ip = event.ip.map(|ip| ip.to_string());
    let row = NewAuditRecord {
        at: clock.now(),
        kind: event.kind.as_str(),
        user_id: event.user_id.as_deref(),
        client_id: event.client_id.as_deref(),
        ip: ip.as_deref(),
        detail: &detail,
    };
    match tokio::time::timeout(WRITE_TIMEOUT, store.insert_audit_event(&row)).await {
        Ok(Ok(())) => true,
        outcome => {
            let error = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::error!(
                kind = row.kind,
                user_id = row.user_id,
                client_id = row.client_id,
                ip = row.ip,
                detail = %detail,
                %error,
                "could not store an audit event"
            );
            false
        }
    }
}

/// Deletes events older than `audit.retention`; returns how many went.
pub async fn prune(
    store: &Store,
    clock: &Clock,
    retention_seconds: i64,
) -> crate::store::StoreResult<u64> {
    let cutoff = clock.now().saturating_sub(retention_seconds);
    store.delete_audit_events_before(cutoff).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_snake_case_names() {
        let names: std::collections::HashSet<&str> =
            AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), AuditKind::ALL.len());
        for kind in AuditKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
    }

    #[test]
    fn attempted_usernames_are_cut_short() {
        let event = AuditEvent::new(AuditKind::LoginFailed).attempted_username(&"x".repeat(500));
        assert_eq!(
            event.detail["username"].as_str().map(str::len),
            Some(MAX_USERNAME_CHARS)
        );
    }
}
