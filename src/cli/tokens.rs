//! `mcp-authd tokens …`: what introspection says about a token, and revoking every token of
//! a person or a client.

use super::Context;
use crate::app::audit::{AuditEvent, AuditKind};
use crate::app::introspect::{self, Caller, Introspection};
use crate::app::keys::Keys;
use crate::app::state::AppState;
use crate::store::RevocationCounts;
use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::Serialize;
use std::io::Read;

/// Subcommands of `tokens`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Print what POST /introspect tells a resource server about a token (`-` reads the
    /// token from stdin, which keeps it out of the shell history).
    Introspect {
        /// An access token (JWT) or a refresh token, or `-`. Refresh tokens are base64url
        /// and may start with `-`, so that is never read as a flag.
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
    /// Revoke every refresh-token family and every outstanding access token of one person or
    /// one client.
    Revoke(RevokeArgs),
}

/// Whose tokens `tokens revoke` revokes.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// A username.
    #[arg(long, value_name = "USERNAME")]
    user: Option<String>,
    /// A client_id. Also revokes the tokens it obtained for itself (client_credentials).
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
}

/// What `tokens revoke` prints with `--json`.
#[derive(Serialize)]
struct RevokeReport<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(flatten)]
    counts: RevocationCounts,
}

/// The audit event of an operator's `tokens revoke`.
fn revoked_event(counts: RevocationCounts) -> AuditEvent {
    AuditEvent::new(AuditKind::TokensRevoked)
        .with("refresh_families", counts.refresh_families)
        .with("access_tokens", counts.access_tokens)
}

/// Runs one `tokens` subcommand.
pub async fn run(ctx: &Context, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Introspect { token } => {
            let token = if token == "-" {
                read_token_from_stdin()?
            } else {
                token
            };
            let keys = Keys::load(&ctx.store, &ctx.config, &ctx.clock)
                .await
                .context("loading the signing keys")?;
            let state = AppState::new(
                ctx.config.clone(),
                ctx.store.clone(),
                ctx.clock.clone(),
                keys,
            )?;
            // A fresh state has read no revocations yet, so every check asks the database.
            let answer = introspect::introspect(&state, Caller::Operator, &token).await?;
            ctx.out.data(&answer, || text(&answer))
        }
        TokensCommand::Revoke(RevokeArgs {
            user: Some(username),
            ..
        }) => {
            let user = ctx
                .store
                .find_user_by_username(&username)
                .await?
                .with_context(|| format!("no user named {username:?}"))?;
            let counts = ctx
                .store
                .revoke_user_tokens(&user.id, ctx.clock.now())
                .await?;
            ctx.audit(revoked_event(counts).user(&user.id)).await;
            let report = RevokeReport {
                user: Some(&username),
                client: None,
                counts,
            };
            ctx.out.data(&report, || {
                format!(
                    "revoked {} refresh token famil{} and {} access token(s) of user {username}\n",
                    counts.refresh_families,
                    plural_y(counts.refresh_families),
                    counts.access_tokens
                )
            })
        }
        TokensCommand::Revoke(RevokeArgs {
            client: Some(client_id),
            ..
        }) => {
            ctx.store
                .find_client(&client_id)
                .await?
                .with_context(|| format!("no client with id {client_id:?}"))?;
            let counts = ctx
                .store
                .revoke_client_tokens(&client_id, ctx.clock.now())
                .await?;
            ctx.audit(revoked_event(counts).client(&client_id)).await;
            let report = RevokeReport {
                user: None,
                client: Some(&client_id),
                counts,
            };
            ctx.out.data(&report, || {
                format!(
                    "revoked {} refresh token famil{} and {} access token(s) of client {client_id}; \
                     every other token it was issued until now (client_credentials) is revoked too\n",
                    counts.refresh_families,
                    plural_y(counts.refresh_families),
                    counts.access_tokens
                )
            })
        }
        TokensCommand::Revoke(_) => {
            bail!("say whose tokens to revoke: --user USERNAME or --client CLIENT_ID")
        }
    }
}

fn plural_y(n: u64) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

/// One token from stdin, surrounding whitespace removed.
fn read_token_from_stdin() -> anyhow::Result<String> {
    let mut raw = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut raw)
        .context("reading the token from stdin")?;
    let token = raw.trim();
    if token.is_empty() {
        bail!("no token on stdin");
    }
    Ok(token.to_owned())
}

/// The answer as `member  value` lines, in RFC 7662 order.
fn text(answer: &Introspection) -> String {
    let mut lines = vec![("active", answer.active.to_string())];
    let mut add = |name: &'static str, value: Option<String>| {
        if let Some(value) = value {
            lines.push((name, value));
        }
    };
    add("scope", answer.scope.clone());
    add("client_id", answer.client_id.clone());
    add("username", answer.username.clone());
    add("token_type", answer.token_type.map(str::to_owned));
    add(
        "exp",
        answer
            .exp
            .map(|t| format!("{t} ({} UTC)", crate::support::clock::format_utc(t))),
    );
    add(
        "iat",
        answer
            .iat
            .map(|t| format!("{t} ({} UTC)", crate::support::clock::format_utc(t))),
    );
    add("sub", answer.sub.clone());
    add("aud", answer.aud.clone());
    add("iss", answer.iss.clone());
    add("jti", answer.jti.clone());
    lines
        .iter()
        .map(|(name, value)| format!("{name:<10}  {value}\n"))
        .collect()
}
