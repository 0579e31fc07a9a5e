//! `mcp-authd users …`: the people who can log in.

use super::Context;
use super::output::table;
use super::password_input::read_new_password;
use crate::store::{Profile, StoreError, User};
use crate::support::clock::format_utc as timestamp;
use crate::support::password;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

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
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Change what ID tokens and userinfo say of a person (OpenID Connect `profile` and
    /// `email`); what is not given stays as it is.
    Update {
        /// Login name.
        username: String,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// List everyone, with the identity providers each is linked at.
    List,
    /// Link a person to their account at an identity provider, so signing in there signs
    /// them in here (needed first when the provider has `auto_create = false`).
    Link {
        /// Login name.
        username: String,
        /// The provider's `id` in `[[identity_providers]]`.
        #[arg(long)]
        provider: String,
        /// Their subject at the provider (the ID token's `sub`; the sign-in page names it
        /// to a person who is not linked yet).
        #[arg(long)]
        subject: String,
    },
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

/// What ID tokens and userinfo say of a person.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The name shown with the `profile` scope (the username when unset; "" unsets it).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The address shown with the `email` scope ("" unsets it).
    #[arg(long, value_name = "ADDRESS")]
    email: Option<String>,
    /// The address was checked: `email_verified` is true (otherwise false).
    #[arg(long)]
    email_verified: bool,
}

impl ProfileArgs {
    /// `current` with these changes, or why they cannot be made.
    fn apply(self, mut current: Profile) -> anyhow::Result<Profile> {
        if let Some(name) = self.name {
            let name = name.trim();
            if name.chars().count() > 128 || name.chars().any(char::is_control) {
                bail!("names are at most 128 characters without control characters");
            }
            current.display_name = (!name.is_empty()).then(|| name.to_owned());
        }
        match self.email {
            Some(email) if email.is_empty() => {
                if self.email_verified {
                    bail!("--email-verified needs an address: give --email too");
                }
                current.email = None;
                current.email_verified = false;
            }
            Some(email) => {
                validate_email(&email)?;
                current.email = Some(email);
                current.email_verified = self.email_verified;
            }
            None if self.email_verified => {
                if current.email.is_none() {
                    bail!("--email-verified needs an address: give --email too");
                }
                current.email_verified = true;
            }
            None => {}
        }
        Ok(current)
    }
}

/// An address is one `@` between a non-empty local part and a domain, without spaces: the
/// check that catches typos without refusing real addresses.
fn validate_email(email: &str) -> anyhow::Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !ok {
        bail!("{email:?} is not an email address");
    }
    Ok(())
}

/// Runs one `users` subcommand.
pub async fn run(ctx: &Context, command: UsersCommand) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    match command {
        UsersCommand::Create {
            username,
            password_stdin,
            profile,
        } => {
            validate_username(&username)?;
            let profile = profile.apply(Profile::default())?;
            if ctx.store.find_user_by_username(&username).await?.is_some() {
                bail!("a user named {username:?} already exists");
            }
            let hash = hash_password(read_new_password(password_stdin, &username)?).await?;
            ctx.store.create_user(&username, &hash, now).await?;
            if profile != Profile::default() {
                ctx.store.set_user_profile(&username, &profile, now).await?;
            }
            let user = find(ctx, &username).await?;
            ctx.out.data(&user, || {
                format!("created user {} (id {})\n", user.username, user.id)
            })
        }
        UsersCommand::Update { username, profile } => {
            let user = find(ctx, &username).await?;
            let current = Profile {
                display_name: user.display_name,
                email: user.email,
                email_verified: user.email_verified,
            };
            let profile = profile.apply(current)?;
            ctx.store.set_user_profile(&username, &profile, now).await?;
            let user = find(ctx, &username).await?;
            ctx.out.data(&user, || format!("updated user {username}\n"))
        }
        UsersCommand::List => {
            let identities = ctx.store.list_federated_identities().await?;
            let users: Vec<Listed> = ctx
                .store
                .list_users()
                .await?
                .into_iter()
                .map(|user| Listed {
                    identities: identities
                        .iter()
                        .filter(|i| i.user_id == user.id)
                        .map(|i| Identity {
                            provider: i.provider.clone(),
                            subject: i.subject.clone(),
                        })
                        .collect(),
                    user,
                })
                .collect();
            ctx.out.data(&users, || {
                let rows = users
                    .iter()
                    .map(|listed| {
                        let mut cells = row(&listed.user);
                        let providers: Vec<&str> = listed
                            .identities
                            .iter()
                            .map(|i| i.provider.as_str())
                            .collect();
                        cells.push(if providers.is_empty() {
                            "-".to_owned()
                        } else {
                            providers.join(",")
                        });
                        cells
                    })
                    .collect::<Vec<_>>();
                table(&["USERNAME", "ID", "STATUS", "CREATED", "PROVIDERS"], &rows)
            })
        }
        UsersCommand::Link {
            username,
            provider,
            subject,
        } => {
            if !ctx
                .config
                .identity_providers
                .iter()
                .any(|p| p.id == provider)
            {
                bail!("no identity provider {provider:?} is configured ([[identity_providers]])");
            }
            if subject.is_empty() || subject.len() > 255 {
                bail!("the subject is 1 to 255 characters, as the provider's sub claim");
            }
            find(ctx, &username).await?;
            match ctx
                .store
                .link_federated_identity(&username, &provider, &subject, now)
                .await
            {
                Err(StoreError::Conflict(_)) => {
                    bail!("subject {subject:?} at {provider} is already linked to a person")
                }
                other => other?,
            }
            ctx.out.note(&format!(
                "linked {username} to subject {subject:?} at {provider}"
            ));
            Ok(())
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

/// A person as `users list` shows them.
#[derive(serde::Serialize)]
struct Listed {
    #[serde(flatten)]
    user: User,
    identities: Vec<Identity>,
}

/// Where a person is linked.
#[derive(serde::Serialize)]
struct Identity {
    provider: String,
    subject: String,
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
