//! Reading client credentials at `/token`, `/introspect` and `/revoke` (RFC 6749 2.3.1):
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523 2.2), or a
//! public `client_id`; `app::clients::authenticate` checks them.

use super::error::ApiError;
use crate::app::clients::authenticate::{
    AuthFailure, Lookup, Presented, authenticate as authenticate_client,
};
use crate::app::state::AppState;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::tokens::client_assertion::{self, ASSERTION_TYPE};
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The one answer for every authentication failure, so an unknown client and a wrong
/// secret cannot be told apart.
fn failed(basic: bool) -> ApiError {
    let error: ApiError =
        OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").into();
    if basic {
        error.with_basic_challenge()
    } else {
        error
    }
}

/// Authenticates the calling client from the `Authorization` header and the form body.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    lookup: Lookup,
) -> Result<Client, ApiError> {
    let presented = presented(headers, params)?;
    let basic = matches!(presented, Presented::Basic { .. });
    authenticate_client(state, &presented, lookup)
        .await
        .map_err(|refused| match refused {
            AuthFailure::Failed => failed(basic),
            AuthFailure::Unavailable(error) => error.into(),
        })
}

/// The client_id a request names, authenticated or not (Basic user, else the body's), for
/// counting failures per client.
pub fn claimed_client_id(headers: &HeaderMap, params: &Params) -> Option<String> {
    presented(headers, params)
        .ok()
        .map(|presented| presented.client_id().to_owned())
}

/// Whether the request carries a credential (a secret, Basic, or an assertion), not just a
/// client_id that anyone could send.
pub fn presents_credentials(headers: &HeaderMap, params: &Params) -> bool {
    !matches!(presented(headers, params), Ok(Presented::Public { .. }))
}

/// A `client_assertion` (RFC 7523 2.2): its type must be the JWT bearer one, and it must
/// be the only credential.
fn presented_assertion(
    headers: &HeaderMap,
    params: &Params,
    assertion_type: Option<&str>,
) -> Result<Presented, ApiError> {
    if headers.get(header::AUTHORIZATION).is_some() || params.get("client_secret").is_some() {
        return Err(
            OAuthError::invalid_request("use one client authentication method, not two").into(),
        );
    }
    let (Some(ASSERTION_TYPE), Some(assertion)) = (assertion_type, params.get("client_assertion"))
    else {
        return Err(failed(false));
    };
    let id = params
        .get("client_id")
        .map(str::to_owned)
        .or_else(|| client_assertion::claimed_client_id(assertion))
        .ok_or_else(|| failed(false))?;
    Ok(Presented::Assertion {
        id,
        assertion: assertion.to_owned(),
    })
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, ApiError> {
    let assertion_type = params.get("client_assertion_type");
    if assertion_type.is_some() || params.get("client_assertion").is_some() {
        return presented_assertion(headers, params, assertion_type);
    }
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next();
    if authorizations.next().is_some() {
        return Err(OAuthError::invalid_request("the Authorization header is repeated").into());
    }
    let Some(authorization) = authorization else {
        return match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Presented::Post {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (Some(id), None) => Ok(Presented::Public { id: id.to_owned() }),
            (None, _) => Err(failed(false)),
        };
    };
    let value = authorization.to_str().unwrap_or("");
    let Some(encoded) = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
        .and_then(|_| value.get(6..))
    else {
        return Err(failed(false));
    };
    if body_secret.is_some() {
        // RFC 6749 2.3: a client must not use more than one authentication method.
        return Err(
            OAuthError::invalid_request("use one client authentication method, not two").into(),
        );
    }
    let (id, secret) = parse_basic(encoded).ok_or_else(|| failed(true))?;
    if body_id.is_some_and(|body_id| body_id != id) {
        return Err(failed(true));
    }
    Ok(Presented::Basic { id, secret })
}

/// Decodes `base64(urlencode(id) ":" urlencode(secret))`; un-encoded values are accepted too,
/// since decoding text without `%` or `+` leaves it unchanged.
fn parse_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |raw: &str| -> String {
        let spaced = raw.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map_or_else(|_| raw.to_owned(), |s| s.into_owned())
    };
    let (id, secret) = (unescape(id), unescape(secret));
    (!id.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::parse_basic;
    use base64::Engine;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%3Aclient:s%2Bcret");
        assert_eq!(
            parse_basic(&encoded),
            Some(("my:client".into(), "s+cret".into()))
        );
        let plain = base64::engine::general_purpose::STANDARD.encode("client:abc-DEF_123");
        assert_eq!(
            parse_basic(&plain),
            Some(("client".into(), "abc-DEF_123".into()))
        );
        assert_eq!(parse_basic("!!!"), None);
    }
}

#[cfg(test)]
mod properties {
    //! Any `Authorization` header and body credentials: decoding never panics, Basic
    //! credentials round-trip, and every refusal is `invalid_client` (`invalid_request` for a
    //! repeated header or two methods at once).

    use super::*;
    use crate::testing::proptest_config;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn form_encode(text: &str) -> String {
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn basic_credentials_round_trip_through_encoding(id in ".+", secret in ".*") {
            let encoded = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
            prop_assert_eq!(parse_basic(&encoded), Some((id, secret)));
        }

        #[test]
        fn any_authorization_header_and_body_give_one_client_or_invalid_client(
            header_value in prop_oneof![
                "(Basic|basic|BASIC|Bearer|Digest)? ?[A-Za-z0-9+/=: %-]{0,30}",
                "[ -~]{0,40}",
            ],
            id in proptest::option::of("[a-z:+]{1,8}"),
            secret in proptest::option::of("[a-z]{1,8}"),
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&header_value) {
                headers.insert(header::AUTHORIZATION, value);
            }
            let mut body = String::new();
            if let Some(id) = &id {
                body.push_str(&format!("client_id={id}&"));
            }
            if let Some(secret) = &secret {
                body.push_str(&format!("client_secret={secret}"));
            }
            let params = Params::parse(body.as_bytes()).expect("ASCII parses");
            match presented(&headers, &params) {
                Ok(Presented::Basic { id: basic_id, .. }) => {
                    prop_assert!(secret.is_none());
                    prop_assert!(!basic_id.is_empty());
                    if let Some(body_id) = params.get("client_id") {
                        prop_assert_eq!(body_id, basic_id.as_str());
                    }
                }
                Ok(Presented::Assertion { .. }) => prop_assert!(false, "no assertion was sent"),
                Ok(Presented::Post { id, .. } | Presented::Public { id }) => {
                    prop_assert!(headers.get(header::AUTHORIZATION).is_none());
                    prop_assert_eq!(params.get("client_id"), Some(id.as_str()));
                }
                Err(e) => prop_assert!(matches!(
                    e.error.code,
                    ErrorCode::InvalidClient | ErrorCode::InvalidRequest
                )),
            }
        }
    }
}
