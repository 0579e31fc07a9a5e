//! `mcp-authd grants …`: what people have consented to, and revoking it for them.

use super::Context;
use super::output::table;
use crate::app::audit::{AuditEvent, AuditKind};
use crate::store::{GrantFilter, GrantListing};
use crate::support::clock::format_utc as timestamp;
use anyhow::{Context as _, bail};
use clap::Subcommand;

/// Subcommands of `grants`.
#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List grants, optionally of one person or one client.
    List(Selector),
    /// Revoke grants: their refresh tokens die at once, their access tokens introspect inactive.
    Revoke {
        /// Only the grant with this id.
        #[arg(long, value_name = "ID", conflicts_with_all = ["user", "client"])]
        grant: Option<String>,
        /// Which grants.
        #[command(flatten)]
        selector: Selector,
    },
}

/// Which person and client to select by.
#[derive(Debug, clap::Args)]
pub struct Selector {
    /// A username.
    #[arg(long, value_name = "USERNAME")]
    user: Option<String>,
    /// A client_id.
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
}

/// Runs one `grants` subcommand.
pub async fn run(ctx: &Context, command: GrantsCommand) -> anyhow::Result<()> {
    match command {
        GrantsCommand::List(selector) => {
            let grants = ctx
                .store
                .list_grants(&filter(ctx, &selector).await?)
                .await?;
            ctx.out.data(&grants, || {
                let rows: Vec<Vec<String>> = grants.iter().map(row).collect();
                table(
                    &[
                        "GRANT",
                        "USER",
                        "CLIENT",
                        "RESOURCE",
                        "SCOPE",
                        "GRANTED",
                        "LAST USED",
                    ],
                    &rows,
                )
            })
        }
        GrantsCommand::Revoke {
            grant: Some(id), ..
        } => {
            ctx.store
                .find_grant_by_id(&id)
                .await?
                .with_context(|| format!("no grant with id {id:?}"))?;
            let revoked = ctx
                .store
                .revoke_grants(std::slice::from_ref(&id), ctx.clock.now())
                .await?;
            ctx.audit(revoked_event(&[id], revoked, None, None)).await;
            report(ctx, revoked)
        }
        GrantsCommand::Revoke {
            grant: None,
            selector,
        } => {
            if selector.user.is_none() && selector.client.is_none() {
                bail!(
                    "say which grants to revoke: --grant ID, --user USERNAME and/or --client CLIENT_ID"
                );
            }
            let filter = filter(ctx, &selector).await?;
            let ids: Vec<String> = ctx
                .store
                .list_grants(&filter)
                .await?
                .into_iter()
                .map(|listing| listing.grant.id)
                .collect();
            let revoked = ctx.store.revoke_grants(&ids, ctx.clock.now()).await?;
            let (user, client) = (filter.user_id.as_deref(), filter.client_id.as_deref());
            ctx.audit(revoked_event(&ids, revoked, user, client)).await;
            report(ctx, revoked)
        }
    }
}

/// The audit event of an operator's revocation.
fn revoked_event(
    ids: &[String],
    revoked: u64,
    user_id: Option<&str>,
    client_id: Option<&str>,
) -> AuditEvent {
    let mut event = AuditEvent::new(AuditKind::GrantRevoked)
        .with("grants", ids.to_vec())
        .with("revoked", revoked);
    if let Some(user) = user_id {
        event = event.user(user);
    }
    if let Some(client) = client_id {
        event = event.client(client);
    }
    event
}

fn report(ctx: &Context, revoked: u64) -> anyhow::Result<()> {
    ctx.out.data(&serde_json::json!({ "revoked": revoked }), || {
        format!("revoked {revoked} grant(s); their refresh tokens no longer work and their access tokens introspect as inactive\n")
    })
}

async fn filter(ctx: &Context, selector: &Selector) -> anyhow::Result<GrantFilter> {
    let user_id = match &selector.user {
        Some(name) => Some(
            ctx.store
                .find_user_by_username(name)
                .await?
                .with_context(|| format!("no user named {name:?}"))?
                .id,
        ),
        None => None,
    };
    if let Some(client) = &selector.client {
        ctx.store
            .find_client(client)
            .await?
            .with_context(|| format!("no client with id {client:?}"))?;
    }
    Ok(GrantFilter {
        user_id,
        client_id: selector.client.clone(),
    })
}

fn row(listing: &GrantListing) -> Vec<String> {
    let g = &listing.grant;
    vec![
        g.id.clone(),
        listing.username.clone(),
        format!("{} ({})", listing.client_name, g.client_id),
        g.resource.clone(),
        g.scope.clone(),
        timestamp(g.created_at),
        g.last_used_at.map_or_else(|| "never".to_owned(), timestamp),
    ]
}
