//! `mcp-authd users …`: the people who can log in.

use super::Context;
use super::output::table;
use super::password_input::read_new_password;
use crate::store::User;
use crate::support::clock::format_utc as timestamp;
use crate::support::password;
use anyhow::{Context as _, bail};
use clap::Subcommand;

/// Subcommands of `users`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a person; asks for the password (or reads it with --password-stdin).
    Create {
        /// Login name.
        username: String,
        /// Read the password from stdin (one trailing newline is removed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List everyone.
    List,
    /// Show one person.
    Show {
        /// Login name.
        username: String,
    },
    /// Replace a person's password.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from stdin (one trailing newline is removed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Stop a person from logging in and end their sessions; their tokens are inactive while
    /// they stay disabled (`tokens revoke --user` ends them for good).
    Disable {
        /// Login name.
        username: String,
    },
    /// Let a disabled person log in again.
    Enable {
        /// Login name.
        username: String,
    },
    /// Delete a person with their sessions, grants and tokens.
    Delete {
        /// Login name.
        username: String,
    },
}

/// Runs one `users` subcommand.
pub async fn run(ctx: &Context, command: UsersCommand) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    match command {
        UsersCommand::Create {
            username,
            password_stdin,
        } => {
            validate_username(&username)?;
            if ctx.store.find_user_by_username(&username).await?.is_some() {
                bail!("a user named {username:?} already exists");
            }
            let hash = hash_password(read_new_password(password_stdin, &username)?).await?;
            let user = ctx.store.create_user(&username, &hash, now).await?;
            ctx.out.data(&user, || {
                format!("created user {} (id {})\n", user.username, user.id)
            })
        }
        UsersCommand::List => {
            let users = ctx.store.list_users().await?;
            ctx.out.data(&users, || {
                let rows = users.iter().map(row).collect::<Vec<_>>();
                table(&["USERNAME", "ID", "STATUS", "CREATED"], &rows)
            })
        }
        UsersCommand::Show { username } => {
            let user = find(ctx, &username).await?;
            ctx.out.data(&user, || {
                table(&["USERNAME", "ID", "STATUS", "CREATED"], &[row(&user)])
            })
        }
        UsersCommand::SetPassword {
            username,
            password_stdin,
        } => {
            find(ctx, &username).await?;
            let hash = hash_password(read_new_password(password_stdin, &username)?).await?;
            ctx.store.set_user_password(&username, &hash, now).await?;
            ctx.out.note(&format!("password changed for {username}"));
            Ok(())
        }
        UsersCommand::Disable { username } => set_disabled(ctx, &username, true).await,
        UsersCommand::Enable { username } => set_disabled(ctx, &username, false).await,
        UsersCommand::Delete { username } => {
            find(ctx, &username).await?;
            ctx.store.delete_user(&username, now).await?;
            ctx.out.note(&format!(
                "deleted user {username} with their sessions, grants and tokens"
            ));
            Ok(())
        }
    }
}

async fn set_disabled(ctx: &Context, username: &str, disabled: bool) -> anyhow::Result<()> {
    find(ctx, username).await?;
    ctx.store
        .set_user_disabled(username, disabled, ctx.clock.now())
        .await?;
    let what = if disabled {
        "disabled (sessions ended)"
    } else {
        "enabled"
    };
    ctx.out.note(&format!("user {username} {what}"));
    Ok(())
}

async fn find(ctx: &Context, username: &str) -> anyhow::Result<User> {
    ctx.store
        .find_user_by_username(username)
        .await?
        .with_context(|| format!("no user named {username:?}"))
}

async fn hash_password(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password::hash_blocking(&password)).await??)
}

fn row(user: &User) -> Vec<String> {
    let status = if user.disabled { "disabled" } else { "active" };
    vec![
        user.username.clone(),
        user.id.clone(),
        status.to_owned(),
        timestamp(user.created_at),
    ]
}

/// Usernames are what people type: 1–64 printable characters without spaces.
fn validate_username(username: &str) -> anyhow::Result<()> {
    let ok = !username.is_empty()
        && username.chars().count() <= 64
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        bail!("usernames are 1 to 64 characters without spaces or control characters");
    }
    Ok(())
}
