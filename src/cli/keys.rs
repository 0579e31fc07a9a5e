//! `mcp-authd keys …`: the access-token signing keys and their rotation.

use super::Context;
use super::output::table;
use crate::app::keys::{KeyInfo, Keys, RotationOutcome};
use crate::config::JWKS_MAX_AGE_SECONDS;
use crate::support::clock::format_utc as timestamp;
use crate::tokens::rotation::{REFRESH_INTERVAL_SECONDS, RotationKind};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::Serialize;
use std::io::{BufRead, IsTerminal};

/// Subcommands of `keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every signing key: kid, algorithm, state (next, active, retired, withdrawn), dates.
    List,
    /// Publish a new key now; it signs once keys.prepublish has passed, and no token is disturbed.
    Rotate {
        /// Emergency: the new key signs at once and every other key is withdrawn, so every
        /// access token issued so far stops verifying.
        #[arg(long)]
        now: bool,
        /// With --now: not an emergency. The new key signs at once, and the previous keys stay
        /// published until their tokens expire, so no issued token stops verifying.
        #[arg(long, requires = "now")]
        keep_old: bool,
        /// Do not ask before --now (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// What `keys rotate` prints with `--json`.
#[derive(Serialize)]
struct RotationReport<'a> {
    /// `scheduled`, `already_scheduled`, `replaced` or `switched`.
    outcome: &'static str,
    key: &'a KeyInfo,
}

/// Runs one `keys` subcommand.
pub async fn run(ctx: &Context, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => {
            let now = ctx.clock.now();
            let keys: Vec<KeyInfo> = ctx
                .store
                .list_signing_keys()
                .await?
                .iter()
                .map(|row| KeyInfo::of(row, now))
                .collect();
            ctx.out.data(&keys, || {
                let rows = keys.iter().map(row).collect::<Vec<_>>();
                table(
                    &[
                        "KID",
                        "ALG",
                        "STATE",
                        "CREATED",
                        "SIGNS FROM",
                        "SIGNS UNTIL",
                        "WITHDRAWN",
                    ],
                    &rows,
                )
            })
        }
        KeysCommand::Rotate { now: false, .. } => {
            let outcome = keyring(ctx)
                .await?
                .rotate(RotationKind::Prepublished)
                .await?;
            report(ctx, &outcome)
        }
        KeysCommand::Rotate {
            now: true,
            keep_old: true,
            ..
        } => {
            eprintln!(
                "note: the new key signs at once. Tokens issued so far stay valid; resource \
                 servers that cached the JWKS (up to {JWKS_MAX_AGE_SECONDS}s) and do not refetch \
                 on an unknown kid reject the new key's tokens until they fetch it. Running \
                 servers switch within a second ({REFRESH_INTERVAL_SECONDS}s at most)."
            );
            let outcome = keyring(ctx)
                .await?
                .rotate(RotationKind::ImmediateKeepingOld)
                .await?;
            report(ctx, &outcome)
        }
        KeysCommand::Rotate { now: true, yes, .. } => {
            eprintln!(
                "WARNING: emergency key rotation. The new key signs at once and every other key \
                 leaves the JWKS now: every access token issued so far stops verifying, and \
                 clients must refresh or log in again. Running servers switch within a second \
                 ({REFRESH_INTERVAL_SECONDS}s at most); resource servers that cached the JWKS (up to \
                 {JWKS_MAX_AGE_SECONDS}s) reject the new key's tokens until they fetch it again."
            );
            confirm(yes)?;
            let outcome = keyring(ctx).await?.rotate(RotationKind::Immediate).await?;
            report(ctx, &outcome)
        }
    }
}

/// Prints what a rotation did: the key, and for people when it will sign.
fn report(ctx: &Context, outcome: &RotationOutcome) -> anyhow::Result<()> {
    let (name, key) = match outcome {
        RotationOutcome::Scheduled(key) => ("scheduled", key),
        RotationOutcome::AlreadyScheduled(key) => ("already_scheduled", key),
        RotationOutcome::Replaced(key) => ("replaced", key),
        RotationOutcome::Switched(key) => ("switched", key),
    };
    let text = || match outcome {
        RotationOutcome::Scheduled(_) => format!(
            "published key {} ({}); it signs from {} UTC. Running servers publish it within \
             {REFRESH_INTERVAL_SECONDS}s; tokens signed so far stay valid.\n",
            key.kid,
            key.alg,
            timestamp(key.activates_at)
        ),
        RotationOutcome::AlreadyScheduled(_) => format!(
            "a rotation is already under way: key {} signs from {} UTC; nothing changed\n",
            key.kid,
            timestamp(key.activates_at)
        ),
        RotationOutcome::Replaced(_) => format!(
            "key {} ({}) signs now; every other key is withdrawn\n",
            key.kid, key.alg
        ),
        RotationOutcome::Switched(_) => format!(
            "key {} ({}) signs now; the previous keys stay published until their tokens expire\n",
            key.kid, key.alg
        ),
    };
    ctx.out.data(&RotationReport { outcome: name, key }, text)
}

async fn keyring(ctx: &Context) -> anyhow::Result<Keys> {
    Keys::load(&ctx.store, &ctx.config, &ctx.clock)
        .await
        .context("loading the signing keys")
}

/// Asks for "yes" on a terminal; without one, only `--yes` proceeds.
fn confirm(yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing the emergency rotation without --yes (stdin is not a terminal); nothing changed"
        );
    }
    eprint!("Type \"yes\" to rotate now: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != "yes" {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}

fn row(key: &KeyInfo) -> Vec<String> {
    let date = |t: Option<i64>| t.map(timestamp).unwrap_or_else(|| "-".to_owned());
    let state = serde_json::to_value(key.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    vec![
        key.kid.clone(),
        key.alg.clone(),
        state,
        timestamp(key.created_at),
        timestamp(key.activates_at),
        date(key.retires_at),
        date(key.withdrawn_at),
    ]
}
