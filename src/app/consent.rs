//! The person's decision on the consent page: remembered as a grant when they approve, and
//! answered to the client either way.

use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::authorize::issue_code;
use crate::app::state::AppState;
use crate::oauth::authorize::{self, AuthorizationRequest};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::store::{Session, StoreError};
use std::net::IpAddr;

/// What the person chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allow: the grant is stored and a code issued.
    Approve,
    /// Deny: the client gets `access_denied`.
    Deny,
}

/// Records the decision on a pending request (already consumed, so made once) and returns
/// where the browser goes: the client's redirect URI with a code, or with `access_denied`.
pub async fn decide(
    state: &AppState,
    ip: IpAddr,
    session: &Session,
    request: &AuthorizationRequest,
    decision: Decision,
) -> Result<String, StoreError> {
    if decision == Decision::Deny {
        tracing::info!(client_id = %request.client_id, "consent denied");
        state
            .audit(event(AuditKind::ConsentDenied, session, request).ip(ip))
            .await;
        let error = OAuthError::new(ErrorCode::AccessDenied, "the person denied the request");
        return Ok(authorize::error_for(request, error).location(&state.config.issuer));
    }
    let grant = state
        .store
        .upsert_grant(
            &session.user.id,
            &request.client_id,
            &request.target.uri,
            &request.scopes.token_scopes(),
            state.clock.now(),
        )
        .await?;
    tracing::info!(client_id = %request.client_id, user_id = %session.user.id, "consent given");
    state
        .audit(event(AuditKind::ConsentGiven, session, request).ip(ip))
        .await;
    issue_code(state, session, request, grant).await
}

/// The audit event of a consent decision: who, which application, which MCP server and scopes.
fn event(kind: AuditKind, session: &Session, request: &AuthorizationRequest) -> AuditEvent {
    AuditEvent::new(kind)
        .user(&session.user.id)
        .client(&request.client_id)
        .with("resource", request.target.uri.as_str())
        .with("scope", request.scopes.token_scopes().join(" "))
}
