//! A form-body extractor whose every failure is an RFC 6749 JSON error, never plain text.

use super::error::ApiError;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

/// `application/x-www-form-urlencoded` parameters, strictly parsed. A request whose URL
/// query carries client credentials is refused (RFC 6749 2.3.1: they "MUST NOT be included
/// in the request URI"), since a secret there ends up in proxy and server logs.
pub struct FormParams(pub Params);

/// Whether a URL query names a client credential.
fn leaks_credentials(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(name, _)| matches!(name.as_ref(), "client_secret" | "client_assertion"))
}

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if leaks_credentials(request.uri().query()) {
            return Err(OAuthError::invalid_request(
                "client credentials must be sent in the body or the Authorization header, never in the URL",
            )
            .into());
        }
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                OAuthError::invalid_request(format!(
                    "the request body could not be read: {rejection}"
                ))
            })?;
        let params = Params::parse(&body)?;
        params.refuse_repeats(&["resource"])?;
        Ok(Self(params))
    }
}

#[cfg(test)]
pub(crate) mod properties {
    //! Any content type and any body: the extractor agrees with [`Params`], refuses repeats
    //! (but of `resource`), and every refusal is `invalid_request`.

    use super::*;
    use crate::oauth::error::ErrorCode;
    use crate::testing::proptest_config;
    use axum::body::Body;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Runs the extractor on one request, the way axum would.
    pub(crate) fn extract<T: FromRequest<(), Rejection = ApiError>>(
        content_type: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<T, ApiError> {
        let mut request = Request::new(Body::from(body));
        if let Some(value) = content_type.and_then(|v| header::HeaderValue::from_bytes(v).ok()) {
            request.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(T::from_request(request, &()))
    }

    /// Content types near and far from the expected one, and arbitrary bytes.
    pub(crate) fn content_type(expected: &'static str) -> impl Strategy<Value = Option<Vec<u8>>> {
        proptest::option::of(prop_oneof![
            Just(expected.as_bytes().to_vec()),
            Just(format!("{expected}; charset=utf-8").into_bytes()),
            Just(expected.to_uppercase().into_bytes()),
            prop::sample::select(vec![
                "text/plain",
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                ";",
                "",
                "application/x-www-form-urlencodedx",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            vec(any::<u8>(), 0..40),
        ])
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..200),
            "((grant_type|code|resource|scope|client_id|%[0-9A-Fa-f]{0,2}|[a-z+%]{0,5})=[a-zA-Z0-9%+&=]{0,12}&?){0,6}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn the_form_extractor_agrees_with_the_parser_and_only_refuses_as_invalid_request(
            content_type in content_type("application/x-www-form-urlencoded"),
            body in body(),
        ) {
            let result = extract::<FormParams>(content_type.as_deref(), body.clone());
            let is_form = content_type
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
                .is_some_and(|m| m == "application/x-www-form-urlencoded");
            let parsed = Params::parse(&body);
            match result {
                Ok(FormParams(params)) => {
                    prop_assert!(is_form);
                    prop_assert_eq!(Ok(&params), parsed.as_ref());
                    prop_assert_eq!(params.refuse_repeats(&["resource"]), Ok(()));
                }
                Err(e) => {
                    prop_assert_eq!(e.error.code, ErrorCode::InvalidRequest);
                    let acceptable = parsed.is_ok_and(|p| p.refuse_repeats(&["resource"]).is_ok());
                    prop_assert!(!(is_form && acceptable), "refused a good form: {e:?}");
                }
            }
        }
    }
}
