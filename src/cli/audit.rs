//! `mcp-authd audit`: read the stored security events; and how CLI commands record theirs.

use super::Context;
use super::output::table;
use crate::app::audit::AuditEvent;
use crate::config::Seconds;
use crate::store::{AuditFilter, AuditRecord};
use crate::support::clock::format_utc as timestamp;
use anyhow::{Context as _, bail};
use serde::Serialize;

/// Flags of `audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only events since a duration ago (`24h`, `7d`) or a UTC time (`2025-06-01`,
    /// `2025-06-01T12:00:00Z`, `2025-06-01 12:00:00`).
    #[arg(long, value_name = "DURATION|TIMESTAMP")]
    since: Option<String>,
    /// Only events about this person (username, or user id for deleted people).
    #[arg(long, value_name = "USERNAME")]
    user: Option<String>,
    /// Only events about this client_id.
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
    /// At most this many events, the newest (printed oldest first).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit: u32,
}

/// One event as printed: the detail is a JSON object, not a string.
#[derive(Serialize)]
struct EventView<'a> {
    id: i64,
    at: i64,
    time: String,
    kind: &'a str,
    user_id: Option<&'a str>,
    username: Option<String>,
    client_id: Option<&'a str>,
    ip: Option<&'a str>,
    detail: serde_json::Value,
}

impl Context {
    /// Stores an operator's action in the audit log, marked as done with the CLI (and by
    /// which OS user, when known). Never fails the command.
    pub async fn audit(&self, event: AuditEvent) {
        let mut event = event.with("via", "cli");
        if let Some(who) = std::env::var("SUDO_USER")
            .ok()
            .or_else(|| std::env::var("USER").ok())
        {
            event = event.with("os_user", who);
        }
        crate::app::audit::record(&self.store, &self.clock, &event).await;
    }
}

/// Runs `audit`.
pub async fn run(ctx: &Context, args: AuditArgs) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()?;
    let user_id = match &args.user {
        Some(name) => Some(match ctx.store.find_user_by_username(name).await? {
            Some(user) => user.id,
            None => name.clone(),
        }),
        None => None,
    };
    let filter = AuditFilter {
        since,
        user_id,
        client_id: args.client.clone(),
        limit: i64::from(args.limit),
    };
    let records = ctx.store.list_audit_events(&filter).await?;
    let mut names = std::collections::HashMap::new();
    for id in records.iter().filter_map(|r| r.user_id.as_deref()) {
        if !names.contains_key(id) {
            let name = ctx.store.find_user(id).await?.map(|u| u.username);
            names.insert(id.to_owned(), name);
        }
    }
    let views: Vec<EventView<'_>> = records
        .iter()
        .map(|r| {
            view(
                r,
                r.user_id
                    .as_ref()
                    .and_then(|id| names.get(id).cloned().flatten()),
            )
        })
        .collect();
    ctx.out.data(&views, || {
        let rows: Vec<Vec<String>> = views.iter().map(row).collect();
        table(
            &["TIME (UTC)", "EVENT", "USER", "CLIENT", "IP", "DETAIL"],
            &rows,
        )
    })
}

fn view(record: &AuditRecord, username: Option<String>) -> EventView<'_> {
    EventView {
        id: record.id,
        at: record.at,
        time: timestamp(record.at),
        kind: &record.kind,
        user_id: record.user_id.as_deref(),
        username,
        client_id: record.client_id.as_deref(),
        ip: record.ip.as_deref(),
        detail: serde_json::from_str(&record.detail)
            .unwrap_or_else(|_| serde_json::Value::String(record.detail.clone())),
    }
}

fn row(v: &EventView<'_>) -> Vec<String> {
    let detail = match &v.detail {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    vec![
        v.time.clone(),
        v.kind.to_owned(),
        v.username
            .clone()
            .or_else(|| v.user_id.map(str::to_owned))
            .unwrap_or_default(),
        v.client_id.unwrap_or_default().to_owned(),
        v.ip.unwrap_or_default().to_owned(),
        detail,
    ]
}

/// `--since`: a duration ago, or a UTC date or date-time.
fn parse_since(text: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(ago) = text.parse::<Seconds>() {
        return Ok(now.saturating_sub(ago.as_i64()));
    }
    parse_utc(text).with_context(|| {
        format!(
            "--since {text:?}: give a duration (24h, 7d) or a UTC time (2025-06-01, 2025-06-01T12:00:00Z)"
        )
    })
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS]`, optionally `Z`.
fn parse_utc(text: &str) -> anyhow::Result<i64> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let numbers = |s: &str, sep: char| -> anyhow::Result<Vec<i64>> {
        s.split(sep)
            .map(|n| n.parse::<i64>().context("not a number"))
            .collect()
    };
    let [year, month, day] = numbers(date, '-')?[..] else {
        bail!("the date is not YYYY-MM-DD");
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        bail!("no such date");
    }
    let seconds = match time.map(|t| numbers(t, ':')).transpose()?.as_deref() {
        None => 0,
        Some([h, m]) => h * 3_600 + m * 60,
        Some([h, m, s]) => h * 3_600 + m * 60 + s,
        Some(_) => bail!("the time is not HH:MM[:SS]"),
    };
    Ok(days_from_civil(year, month, day) * 86_400 + seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_utc_times() {
        assert_eq!(parse_since("1h", 10_000).unwrap(), 6_400);
        assert_eq!(parse_since("1970-01-02", 0).unwrap(), 86_400);
        for text in [
            "2026-11-26T00:00:00Z",
            "2026-11-26 00:00:00",
            "2026-11-26T00:00",
        ] {
            assert_eq!(parse_since(text, 0).unwrap(), 1_795_651_200, "{text}");
        }
        assert_eq!(
            timestamp(parse_utc("2024-02-29 13:14:15").unwrap()),
            "2024-02-29 13:14:15"
        );
        assert!(parse_since("yesterday", 0).is_err());
        assert!(parse_since("2025-13-01", 0).is_err());
    }
}
