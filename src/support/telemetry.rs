//! Log output: human-readable or JSON lines on stderr, so stdout stays clean for `--json`.
//! Lines are formatted on the request's thread and written by one background thread, so no
//! request waits for a write to stderr (a pipe to a slow log collector included).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_log::NormalizeEvent;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Lines queued for the writer thread at most; past that a request waits rather than a line
/// being lost. The queue is allocated whole at start (32 bytes a line): 8,192 lines hold
/// over 100 ms of the busiest load this server takes while the log collector stalls.
const QUEUED_LINES: usize = 8_192;

/// The writer thread's output: lines gather in a buffer that the thread flushes whenever the
/// queue runs empty, so a burst of lines costs one `write` to stderr instead of one each,
/// and no line waits once the burst is over.
type LineBatches = std::io::BufWriter<std::io::Stderr>;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber at `level` (`log.level`), which `RUST_LOG` overrides. Keep
/// the returned guard until the process ends: dropping it writes out the queued lines.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat, level: &str) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("mcp-authd-log")
        .finish(LineBatches::with_capacity(64 * 1024, std::io::stderr()));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_timer(LineTime)
        .with_writer(writer);
    // A second init (tests, or the CLI after a failed config load) keeps the first subscriber.
    let _ = match format {
        // Colours only for a person at a terminal; everywhere else the same line, plain.
        LogFormat::Text if terminal => builder.try_init(),
        LogFormat::Text => builder
            .fmt_fields(plain_fields())
            .event_format(PlainLine)
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

/// Fields as `name=value`, space-separated, the message bare: what the default format writes
/// without colours, minus painting every name and `=` in an empty style (a third of a small
/// request's log line).
fn plain_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|writer, field, value| match field.name() {
        "message" => write!(Escaped(writer), "{value:?}"),
        // What `log` records carry about themselves; `PlainLine` already names the target.
        name if name.starts_with("log.") => Ok(()),
        name => write!(Escaped(writer), "{name}={value:?}"),
    })
    .delimited(" ")
}

/// Writes through to the line with control characters escaped (`\u{1b}`), as
/// tracing-subscriber's own format does: a value that came with a request must not move the
/// cursor or recolour the terminal of whoever reads the log.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, mut text: &str) -> fmt::Result {
        // Almost every piece is plain: C0 controls and DEL are bytes below 0x20 and 0x7f, C1
        // controls start with 0xc2; without any of those bytes there is nothing to escape.
        if !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
            return self.0.write_str(text);
        }
        while let Some((at, control)) = text.char_indices().find(|(_, c)| c.is_control()) {
            self.0.write_str(&text[..at])?;
            write!(self.0, "{}", control.escape_unicode())?;
            text = &text[at + control.len_utf8()..];
        }
        self.0.write_str(text)
    }
}

/// The default full line (time, level, spans with their fields, target, fields) for a log
/// file or collector, written straight out instead of through terminal styles.
struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` record names its own target and level.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        LineTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", meta.level())?;
        if let Some(scope) = ctx.event_scope() {
            let mut any = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
                any = true;
            }
            if any {
                writer.write_char(' ')?;
            }
        }
        write!(writer, "{}: ", meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The time that starts a line, as tracing-subscriber's `SystemTime` writes it (RFC 3339 in
/// UTC, microseconds), with the calendar worked out once a second per thread rather than
/// for every line, where it was a quarter of a small request's log line.
#[derive(Clone, Copy, Debug, Default)]
struct LineTime;

thread_local! {
    /// The last whole second this thread wrote, and its text up to the fraction.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for LineTime {
    // A log line carries the real time even where a test fixes the server's clock.
    #[allow(clippy::disallowed_methods)]
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        SECOND.with_borrow_mut(|(second, text)| {
            if *second != now.as_secs() {
                *second = now.as_secs();
                *text = second_text(*second);
            }
            w.write_str(text)
        })?;
        let mut fraction = *b"000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[..6].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` for a Unix time in seconds: the proleptic Gregorian calendar from
/// the day count (Howard Hinnant's `civil_from_days`, for days since 1970 only).
fn second_text(unix: u64) -> String {
    let (days, time) = (unix / 86_400, unix % 86_400);
    let shifted = days + 719_468; // days since 0000-03-01
    let (era, day_of_era) = (shifted / 146_097, shifted % 146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 is March
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_is_written_as_rfc_3339_in_utc() {
        assert_eq!(second_text(0), "1970-01-01T00:00:00.");
        assert_eq!(second_text(951_782_399), "2000-02-28T23:59:59.");
        assert_eq!(second_text(951_782_400), "2000-02-29T00:00:00.");
        assert_eq!(second_text(1_709_251_199), "2024-02-29T23:59:59.");
        assert_eq!(second_text(1_800_000_000), "2027-01-15T08:00:00.");
        assert_eq!(second_text(4_107_542_400), "2100-03-01T00:00:00.");
        assert_eq!(second_text(253_402_300_799), "9999-12-31T23:59:59.");
    }

    #[test]
    fn a_line_time_matches_tracing_subscribers_own() {
        let ours = |line: &mut String| LineTime.format_time(&mut Writer::new(line)).unwrap();
        let theirs = |line: &mut String| {
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(line))
                .unwrap()
        };
        let (mut before, mut line, mut after) = (String::new(), String::new(), String::new());
        theirs(&mut before);
        ours(&mut line);
        theirs(&mut after);
        assert_eq!(line.len(), before.len(), "{line} beside {before}");
        assert!(
            before <= line && line <= after,
            "{before} <= {line} <= {after}"
        );
    }

    #[test]
    fn control_characters_in_a_value_are_escaped() {
        let mut line = String::new();
        write!(
            Escaped(&mut Writer::new(&mut line)),
            "a\u{1b}[31mb\u{7}c é\u{85}d\u{7f} ü"
        )
        .unwrap();
        assert_eq!(line, "a\\u{1b}[31mb\\u{7}c é\\u{85}d\\u{7f} ü");
    }
}
