//! The one source of wall-clock time, so tests can fix and advance it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix time in seconds, from the system or from a value tests control.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock stopped at `unix_seconds` until a test advances it.
    pub fn fixed(unix_seconds: i64) -> Self {
        Self {
            fixed: Some(Arc::new(AtomicI64::new(unix_seconds))),
        }
    }

    /// Seconds since the unix epoch.
    pub fn now(&self) -> i64 {
        match &self.fixed {
            Some(value) => value.load(Ordering::SeqCst),
            #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a fixed clock forward; the system clock ignores it.
    pub fn advance(&self, seconds: i64) {
        if let Some(value) = &self.fixed {
            value.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

/// A unix timestamp as UTC `YYYY-MM-DD HH:MM:SS`, for tables.
pub fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_795_651_200), "2026-11-26 00:00:00");
    }
}
