//! Log output: human-readable or JSON lines on stderr, so stdout stays clean for `--json`.
//! Lines are formatted on the request's thread and written by one background thread, so no
//! request waits for a write to stderr (a pipe to a slow log collector included).

use std::io::IsTerminal;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

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
    // Colours only for a person at a terminal: escape codes in a log file or collector are
    // noise, and painting every field was a fifth of a small request's instructions.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    // A second init (tests, or the CLI after a failed config load) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}
