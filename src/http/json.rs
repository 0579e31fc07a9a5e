//! A JSON-body extractor whose every failure is an RFC 6749 JSON error, never axum's plain text.
//! Bodies are read strictly (`oauth::strict_json`): repeated member names and deep nesting are refused.

use super::error::ApiError;
use crate::oauth::error::OAuthError;
use crate::oauth::strict_json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A request body of media type `application/json` (or `application/*+json`), deserialized.
/// Failures are `invalid_request`; an endpoint with its own code (e.g. `/register`, which
/// answers `invalid_client_metadata`) takes `Result<JsonBody<T>, ApiError>` and recodes it.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !strict_json::is_json_media_type(content_type) {
            return Err(OAuthError::invalid_request("the body must be application/json").into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    OAuthError::invalid_request("the request body is too large")
                } else {
                    OAuthError::invalid_request("the request body could not be read")
                }
            })?;
        let value = strict_json::parse(&body).map_err(|reason| {
            ApiError::from(OAuthError::invalid_request(format!(
                "the body is not valid JSON: {reason}"
            )))
        })?;
        serde_json::from_value(value).map(Self).map_err(|e| {
            OAuthError::invalid_request(format!("the body does not have the expected shape: {e}"))
                .into()
        })
    }
}

#[cfg(test)]
mod properties {
    //! Any content type and any body: JSON is accepted exactly when it is JSON under a JSON
    //! media type, and every refusal is `invalid_request`.

    use super::JsonBody;
    use crate::http::form::properties::{content_type, extract};
    use crate::oauth::error::ErrorCode;
    use crate::oauth::strict_json::is_json_media_type as is_json;
    use crate::testing::proptest_config;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::Value;

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn the_json_extractor_accepts_exactly_json_under_a_json_media_type(
            content_type in content_type("application/json"),
            body in prop_oneof![
                vec(any::<u8>(), 0..200),
                "[\\[\\]{}\",:0-9a-z \\\\ue-]{0,40}".prop_map(String::into_bytes),
            ],
        ) {
            let result = extract::<JsonBody<Value>>(content_type.as_deref(), body.clone());
            let json_type = content_type
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .is_some_and(is_json);
            let parsed = crate::oauth::strict_json::parse(&body);
            match result {
                Ok(JsonBody(value)) => {
                    prop_assert!(json_type);
                    prop_assert_eq!(Some(value), parsed.ok());
                }
                Err(e) => {
                    prop_assert_eq!(e.error.code, ErrorCode::InvalidRequest);
                    prop_assert!(!(json_type && parsed.is_ok()));
                }
            }
        }
    }
}
