//! Log output: human-readable or JSON lines on stderr, so stdout stays clean for `--json`.
//! Lines are formatted on the request's thread and written by one background thread, so no
//! request waits for a write to stderr (a pipe to a slow log collector included).

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_log::NormalizeEvent;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
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
        SystemTime.format_time(&mut writer)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
