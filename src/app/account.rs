//! A signed-in person's own grants: listing them and revoking them, per MCP server or per
//! application, without an operator.

use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::state::AppState;
use crate::store::{GrantFilter, GrantListing, Session, StoreError};
use std::net::IpAddr;

/// Which of the person's grants to revoke.
#[derive(Clone, Copy, Debug)]
pub enum Selection<'a> {
    /// One grant: one application's access to one MCP server.
    Grant(&'a str),
    /// Every grant of one application.
    Application(&'a str),
}

/// The person's grants, with the names of the applications holding them.
pub async fn grants(state: &AppState, user_id: &str) -> Result<Vec<GrantListing>, StoreError> {
    let filter = GrantFilter {
        user_id: Some(user_id.to_owned()),
        client_id: None,
    };
    state.store.list_grants(&filter).await
}

/// Revokes the selected grants of this person (never another person's) and every token
/// issued under them; returns how many were revoked.
pub async fn revoke(
    state: &AppState,
    ip: IpAddr,
    session: &Session,
    selection: Selection<'_>,
) -> Result<u64, StoreError> {
    let user_id = &session.user.id;
    let ids: Vec<String> = match selection {
        Selection::Grant(grant_id) => state
            .store
            .find_grant_by_id(grant_id)
            .await?
            .filter(|g| g.user_id == *user_id)
            .map(|g| vec![g.id])
            .unwrap_or_default(),
        Selection::Application(client_id) => {
            let filter = GrantFilter {
                user_id: Some(user_id.clone()),
                client_id: Some(client_id.to_owned()),
            };
            state
                .store
                .list_grants(&filter)
                .await?
                .into_iter()
                .map(|l| l.grant.id)
                .collect()
        }
    };
    let revoked = state.store.revoke_grants(&ids, state.clock.now()).await?;
    state.revoked.invalidate();
    tracing::info!(%user_id, revoked, "grants revoked by their owner");
    let event = AuditEvent::new(AuditKind::ConsentRevoked).user(user_id);
    let event = match selection {
        Selection::Application(client_id) => event.client(client_id),
        Selection::Grant(_) => event,
    };
    state
        .audit(event.ip(ip).with("grants", ids).with("revoked", revoked))
        .await;
    Ok(revoked)
}

/// Ends a session.
pub async fn sign_out(state: &AppState, session: &Session) -> Result<(), StoreError> {
    state.store.delete_session(&session.id_hash).await
}
