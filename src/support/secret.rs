//! A wrapper that keeps secrets out of logs and Debug output.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret value (password, key, token, database URL) whose `Debug` never prints it, so a
/// stray `{:?}` or `tracing` field cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it; the name makes every use greppable.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A database URL with the password removed, for messages and logs.
pub fn redact_database_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one, which we just ruled out.
            let _ = url.set_password(Some("<redacted>"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable database URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }

    #[test]
    fn database_url_password_is_redacted() {
        let shown = redact_database_url("postgres://app:s3cret@db.example:5432/authd");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("db.example"));
    }
}
