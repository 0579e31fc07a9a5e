//! The provider's tokens kept for a person (`store_upstream_tokens = true`), sealed under the
//! key-encryption key, and the fresh upstream access token an MCP server gets for them by
//! token exchange: refreshed at the provider when it has expired.

use super::upstream::{IssuedTokens, Upstream, UpstreamError};
use crate::app::state::AppState;
use crate::store::{StoreError, UpstreamTokens};

/// A token this close to its expiry is refreshed first, so the MCP server can still use it.
const REFRESH_MARGIN: i64 = 60;

/// The upstream access token handed to an MCP server.
pub struct UpstreamAccessToken {
    /// The provider's access token.
    pub access_token: String,
    /// Its `token_type`.
    pub token_type: String,
    /// Seconds it still lasts, when the provider said.
    pub expires_in: Option<i64>,
    /// The scopes the provider granted, when it said.
    pub scope: Option<String>,
}

/// Why no upstream token can be handed out.
#[derive(Debug)]
pub enum Unobtainable {
    /// None is stored or it cannot be renewed: the person must sign in with the provider
    /// again. The words are for the `invalid_grant` answer.
    Missing(&'static str),
    /// The provider cannot be reached to refresh it; the next attempt may succeed.
    ProviderDown,
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for Unobtainable {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

fn context(row: (&str, &str), which: &str) -> String {
    let (user_id, provider) = row;
    format!("upstream {which} token of {user_id} at {provider}")
}

/// Keeps the tokens a sign-in (or refresh) brought, sealed, replacing what was kept.
pub async fn keep(
    state: &AppState,
    provider: &str,
    user_id: &str,
    tokens: &IssuedTokens,
    now: i64,
) -> Result<(), StoreError> {
    let row = (user_id, provider);
    let seal = |which: &str, token: &str| state.keys.seal_secret(&context(row, which), token);
    let sealed = seal("access", &tokens.access_token).and_then(|access| {
        let refresh = tokens
            .refresh_token
            .as_deref()
            .map(|t| seal("refresh", t))
            .transpose()?;
        Ok((access, refresh))
    });
    let (access_token, refresh_token) = match sealed {
        Ok(sealed) => sealed,
        Err(error) => {
            tracing::error!(%provider, %user_id, %error, "sealing an upstream token failed; not kept");
            return Ok(());
        }
    };
    let sealed = UpstreamTokens {
        user_id: user_id.to_owned(),
        provider: provider.to_owned(),
        access_token,
        refresh_token,
        token_type: tokens.token_type.clone(),
        scope: tokens.scope.clone(),
        expires_at: tokens.expires_in.map(|s| now + s),
        updated_at: now,
    };
    state.store.save_upstream_tokens(&sealed).await
}

/// The person's live access token at `upstream`, refreshed there first when it has (nearly)
/// expired; why there is none otherwise.
pub async fn access_token_for(
    state: &AppState,
    upstream: &Upstream,
    user_id: &str,
    now: i64,
) -> Result<UpstreamAccessToken, Unobtainable> {
    let provider = upstream.config.id.as_str();
    let Some(row) = state.store.find_upstream_tokens(user_id, provider).await? else {
        return Err(Unobtainable::Missing(
            "no upstream token is stored for this person at this provider: they must sign in \
             with it again",
        ));
    };
    if let Some(live) = live(state, &row, now) {
        return Ok(live);
    }
    let Some(refresh_token) = open(state, &row, "refresh", row.refresh_token.as_deref()) else {
        return Err(Unobtainable::Missing(
            "the upstream token expired and the provider issued no refresh token: the person \
             must sign in with it again",
        ));
    };
    match upstream.refresh(&refresh_token, now).await {
        Ok(tokens) => {
            keep(state, provider, user_id, &tokens, now).await?;
            Ok(UpstreamAccessToken {
                access_token: tokens.access_token,
                token_type: tokens.token_type,
                expires_in: tokens.expires_in,
                scope: tokens.scope,
            })
        }
        Err(UpstreamError::Refused(_)) => {
            // Another instance may have refreshed first with the same (now rotated) token.
            if let Some(newer) = state.store.find_upstream_tokens(user_id, provider).await?
                && newer.updated_at > row.updated_at
                && let Some(live) = live(state, &newer, now)
            {
                return Ok(live);
            }
            state
                .store
                .forget_upstream_tokens(user_id, provider, row.updated_at)
                .await?;
            Err(Unobtainable::Missing(
                "the provider refused to refresh the upstream token: the person must sign in \
                 with it again",
            ))
        }
        Err(UpstreamError::Unavailable(_)) => Err(Unobtainable::ProviderDown),
    }
}

/// The stored access token if it is not about to expire (and opens).
fn live(state: &AppState, row: &UpstreamTokens, now: i64) -> Option<UpstreamAccessToken> {
    let expires_in = row.expires_at.map(|at| at - now);
    if expires_in.is_some_and(|left| left <= REFRESH_MARGIN) {
        return None;
    }
    let access_token = open(state, row, "access", Some(&row.access_token))?;
    Some(UpstreamAccessToken {
        access_token,
        token_type: row.token_type.clone(),
        expires_in,
        scope: row.scope.clone(),
    })
}

/// Opens one sealed token of `row`; one that does not open (the key-encryption key changed)
/// is logged and treated as absent.
fn open(
    state: &AppState,
    row: &UpstreamTokens,
    which: &str,
    sealed: Option<&str>,
) -> Option<String> {
    let context = context((&row.user_id, &row.provider), which);
    match state.keys.open_secret(&context, sealed?) {
        Ok(token) => Some(token),
        Err(error) => {
            tracing::error!(provider = %row.provider, user_id = %row.user_id, %error, "a stored upstream token does not open");
            None
        }
    }
}
