//! The audit log: security events, appended as they happen and pruned after the retention.

use super::{Store, StoreResult, read_pool, write_pool};
use serde::Serialize;

/// A security event as stored.
#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct AuditRecord {
    /// Sequence number, increasing in insertion order.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// What happened (`login_failed`, `client_registered`, …).
    pub kind: String,
    /// The person concerned, when known.
    pub user_id: Option<String>,
    /// The client concerned, when known.
    pub client_id: Option<String>,
    /// The client IP the request came from, when it came over HTTP.
    pub ip: Option<String>,
    /// A JSON object with event-specific facts; never a secret.
    pub detail: String,
}

/// A new event to store.
#[derive(Clone, Debug, Default)]
pub struct NewAuditRecord<'a> {
    /// Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: &'a str,
    /// The person concerned.
    pub user_id: Option<&'a str>,
    /// The client concerned.
    pub client_id: Option<&'a str>,
    /// The client IP.
    pub ip: Option<&'a str>,
    /// A JSON object.
    pub detail: &'a str,
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events at or after this unix second.
    pub since: Option<i64>,
    /// Only this person's.
    pub user_id: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// At most this many, the newest.
    pub limit: i64,
}

impl Store {
    /// Appends one event.
    pub async fn insert_audit_event(&self, event: &NewAuditRecord<'_>) -> StoreResult<()> {
        write_pool!(self, |pool| sqlx::query(
            "INSERT INTO audit_events (at, kind, user_id, client_id, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(event.at)
        .bind(event.kind)
        .bind(event.user_id)
        .bind(event.client_id)
        .bind(event.ip)
        .bind(event.detail)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The newest events matching `filter`, oldest first.
    pub async fn list_audit_events(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut rows: Vec<AuditRecord> = read_pool!(self, |pool| sqlx::query_as(
            "SELECT id, at, kind, user_id, client_id, ip, detail FROM audit_events \
             WHERE at >= $1 AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $3) \
             ORDER BY id DESC LIMIT $4"
        )
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(&filter.user_id)
        .bind(&filter.client_id)
        .bind(filter.limit.max(0))
        .fetch_all(pool)
        .await)?;
        rows.reverse();
        Ok(rows)
    }

    /// Deletes events older than `before` (unix seconds); returns how many went.
    pub async fn delete_audit_events_before(&self, before: i64) -> StoreResult<u64> {
        Ok(write_pool!(self, |pool| sqlx::query(
            "DELETE FROM audit_events WHERE at < $1"
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
