//! Reading a new password: from stdin with `--password-stdin`, else a hidden prompt.

use anyhow::{Context, bail};
use std::io::{IsTerminal, Read};

/// Reads a password: all of stdin minus one trailing newline, or twice from a hidden prompt.
pub fn read_new_password(from_stdin: bool, username: &str) -> anyhow::Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        let trimmed = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t));
        return Ok(trimmed.unwrap_or(&text).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pipe it in with --password-stdin");
    }
    let first = rpassword::prompt_password(format!("New password for {username}: "))?;
    let second = rpassword::prompt_password("Repeat the password: ")?;
    if first != second {
        bail!("the passwords do not match; nothing was changed");
    }
    Ok(first)
}
