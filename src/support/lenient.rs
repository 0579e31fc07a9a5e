//! Deserializers that also take the string forms environment variables arrive in.

use serde::{Deserialize, Deserializer, de::Error};
use std::fmt::Display;
use std::str::FromStr;

/// A value given natively in TOML (`20`, `true`) or as text from the environment (`"20"`).
pub fn from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
    T::Err: Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<T> {
        Native(T),
        Text(String),
    }
    match Raw::<T>::deserialize(deserializer)
        .map_err(|_| D::Error::custom(format!("expected {}", std::any::type_name::<T>())))?
    {
        Raw::Native(value) => Ok(value),
        Raw::Text(text) => text
            .trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("invalid value {text:?}: {e}"))),
    }
}

/// A list given as a TOML array or as a comma-separated string.
pub fn list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    match Raw::deserialize(deserializer)
        .map_err(|_| D::Error::custom("expected a list of strings or a comma-separated string"))?
    {
        Raw::List(items) => Ok(items),
        Raw::Text(text) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()),
    }
}
