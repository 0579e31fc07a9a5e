//! Durations written as plain seconds or with a unit (`90s`, `15m`, `1h`, `30d`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A configured length of time, kept in whole seconds because every timestamp we store is
/// in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl Seconds {
    /// The duration for APIs that take `std::time::Duration`.
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    /// The duration as a signed offset for unix-second arithmetic.
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        let invalid = || {
            format!(
                "invalid duration {raw:?}: use seconds or a number with s, m, h or d (90s, 15m, 1h, 30d)"
            )
        };
        let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
            Some(at) => text.split_at(at),
            None => (text, "s"),
        };
        let number: u64 = digits.parse().map_err(|_| invalid())?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        number.checked_mul(scale).map(Seconds).ok_or_else(invalid)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s {
            0 => write!(f, "0s"),
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3_600) => write!(f, "{}h", s / 3_600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected seconds or a duration such as 15m"))?
        {
            Raw::Number(n) => Ok(Seconds(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Seconds;

    #[test]
    fn parses_seconds_and_units() {
        assert_eq!("90".parse::<Seconds>(), Ok(Seconds(90)));
        assert_eq!("90s".parse::<Seconds>(), Ok(Seconds(90)));
        assert_eq!("15m".parse::<Seconds>(), Ok(Seconds(900)));
        assert_eq!("1h".parse::<Seconds>(), Ok(Seconds(3600)));
        assert_eq!("30d".parse::<Seconds>(), Ok(Seconds(2_592_000)));
    }

    #[test]
    fn refuses_unknown_units_and_garbage() {
        for bad in ["", "1w", "m", "-5", "1.5h", "1 h x"] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Seconds(2_592_000).to_string(), "30d");
        assert_eq!(Seconds(90).to_string(), "90s");
        assert_eq!(Seconds(900).to_string(), "15m");
    }
}
