//! JSON as untrusted clients send it: a document with a repeated member name, or nested
//! deeper than any client metadata needs, is refused rather than read.
//!
//! `serde_json` keeps the last of two members with one name, so `{"redirect_uris": [good],
//! "redirect_uris": [evil]}` means something different to a parser that keeps the first
//! (RFC 8259 4 leaves it open). Client metadata is shown to people and trusted for
//! redirects, so an ambiguous document is an error, not a guess.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Deepest nesting of arrays and objects accepted; client metadata needs three or four
/// (a JWKS inside a document is `{"jwks": {"keys": [{...}]}}`).
pub const MAX_DEPTH: usize = 16;

/// Parses `bytes` as one JSON value, refusing repeated member names and nesting deeper
/// than [`MAX_DEPTH`]. The error is client-safe text.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Depth(0)
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// A value at nesting `self.0`.
#[derive(Clone, Copy)]
struct Depth(usize);

impl Depth {
    fn inner<E: de::Error>(self) -> Result<Self, E> {
        if self.0 >= MAX_DEPTH {
            return Err(E::custom(format!(
                "JSON is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Self(self.0 + 1))
    }
}

impl<'de> DeserializeSeed<'de> for Depth {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Depth {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "the member {name:?} appears more than once"
                )));
            }
            let value = map.next_value_seed(inner)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// Whether the `Content-Type` names JSON, parameters such as `charset` allowed.
pub fn is_json_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
        assert!(!is_json_media_type(""));
    }

    #[test]
    fn ordinary_documents_parse_as_serde_json_does() {
        let text = br#"{"a": [1, 2.5, "x", null, true], "b": {"c": {}}, "d": -3}"#;
        assert_eq!(
            parse(text),
            Ok(serde_json::from_slice::<Value>(text).unwrap())
        );
        assert_eq!(parse(b" [] "), Ok(json!([])));
    }

    #[test]
    fn a_repeated_member_name_is_refused_at_any_depth() {
        let error = parse(br#"{"redirect_uris": ["a"], "redirect_uris": ["b"]}"#).unwrap_err();
        assert!(error.contains("redirect_uris"), "{error}");
        assert!(parse(br#"{"x": {"k": 1, "k": 2}}"#).is_err());
        assert!(
            parse(br#"[{"k": 1}, {"k": 2}]"#).is_ok(),
            "siblings may share names"
        );
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert!(parse(nested(MAX_DEPTH + 1).as_bytes()).is_err());
        assert!(
            parse(nested(100_000).as_bytes()).is_err(),
            "no stack overflow"
        );
    }

    #[test]
    fn trailing_data_and_bad_json_are_refused() {
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"{").is_err());
        assert!(parse(b"").is_err());
    }
}
