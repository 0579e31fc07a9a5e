//! RFC 7591 client metadata: what a dynamic registration may ask for, checked without HTTP
//! or SQL, reusing the client rules every client follows.

use super::client::{
    AuthMethod, ClientKeys, ClientSettings, ClientSettingsError, GrantType, check_keys,
    is_deceptive_char,
};
use super::error::{ErrorCode, OAuthError};
use serde_json::{Map, Value};

/// Largest registration body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most contacts one registration may list.
pub const MAX_CONTACTS: usize = 10;
/// Longest URI-valued metadata field (client_uri, logo_uri, ...).
const MAX_URI_CHARS: usize = 2_000;
/// Longest short text field (software_id, software_version, one contact).
const MAX_TEXT_CHARS: usize = 200;
/// The name used when a registration gives none; shown on the consent page.
pub const UNNAMED_CLIENT: &str = "Unnamed application";

/// Optional URI-valued fields stored and echoed when given.
const URI_FIELDS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];
/// Optional short text fields stored and echoed when given.
const TEXT_FIELDS: &[&str] = &["software_id", "software_version"];

/// A registration that passed every rule: the client's settings, and the descriptive fields
/// stored to echo back (RFC 7591 3.2.1) beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// What the client may do.
    pub settings: ClientSettings,
    /// `client_name` (when given), `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`,
    /// `contacts`, `software_id`, `software_version`, `application_type`.
    pub descriptive: Map<String, Value>,
    /// The public keys of a `private_key_jwt` client (`jwks` or `jwks_uri`); `None` for
    /// every other method, whose published keys, if any, are not used.
    pub keys: Option<ClientKeys>,
}

fn metadata_error(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// Maps the shared client rules' verdict onto the RFC 7591 error codes.
pub fn settings_error(error: ClientSettingsError) -> OAuthError {
    match error {
        ClientSettingsError::RedirectUri(e) => {
            OAuthError::new(ErrorCode::InvalidRedirectUri, e.to_string())
        }
        ClientSettingsError::Metadata(m) => metadata_error(m),
    }
}

/// A field as an optional string; `null` counts as absent, any other type is an error.
fn opt_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, OAuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(metadata_error(format!("{field} must be a string"))),
    }
}

/// A field as an optional array of strings; `null` counts as absent.
fn opt_list(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| metadata_error(format!("{field} must be an array of strings"))),
        Some(_) => Err(metadata_error(format!(
            "{field} must be an array of strings"
        ))),
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn plain_text(field: &str, value: &str, max: usize) -> Result<(), OAuthError> {
    if value.chars().count() > max || value.chars().any(is_deceptive_char) {
        return Err(metadata_error(format!(
            "{field} must be at most {max} characters without control, bidirectional or invisible characters"
        )));
    }
    Ok(())
}

fn web_uri(field: &str, value: &str) -> Result<(), OAuthError> {
    plain_text(field, value, MAX_URI_CHARS)?;
    // Shown to people as links and images on the consent page: https only, so a network
    // attacker cannot swap what they show.
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(()),
        _ => Err(metadata_error(format!(
            "{field} must be an absolute https URL"
        ))),
    }
}

/// Refuses `client_credentials` in a registration unless the operator allowed machine
/// clients (`registration.allow_client_credentials` with an initial access token): such a
/// client mints access tokens with no person involved, so it must never be anonymous.
pub fn refuse_unapproved_machine_grant(
    settings: &ClientSettings,
    machine_clients_allowed: bool,
) -> Result<(), OAuthError> {
    if settings.grant_types.contains(&GrantType::ClientCredentials) && !machine_clients_allowed {
        return Err(metadata_error(
            "client_credentials cannot be registered here: machine clients are created by the operator",
        ));
    }
    Ok(())
}

/// Checks an RFC 7591 registration request body (or an RFC 7592 update) and decides the
/// client's settings. Unknown fields are ignored; grant types the server does not offer are
/// dropped; `token_endpoint_auth_method` defaults to `client_secret_basic` (RFC 7591 2).
pub fn parse_registration(
    body: &Value,
    allowed_private_schemes: &[String],
) -> Result<Registration, OAuthError> {
    let Some(body) = body.as_object() else {
        return Err(metadata_error("the registration must be a JSON object"));
    };

    let redirect_uris = opt_list(body, "redirect_uris")?
        .map(dedup)
        .unwrap_or_default();

    let auth_method = match opt_str(body, "token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some(text) => text.parse::<AuthMethod>().map_err(metadata_error)?,
    };

    // Absent: the code grant with refresh, what every MCP client needs. Present: the grants
    // we offer, in the order asked; others (device code, implicit, ...) are dropped.
    let grant_types = match opt_list(body, "grant_types")? {
        None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        Some(asked) => {
            let mut offered: Vec<GrantType> = Vec::new();
            for grant in asked.iter().filter_map(|g| g.parse::<GrantType>().ok()) {
                if !offered.contains(&grant) {
                    offered.push(grant);
                }
            }
            if offered.is_empty() && !asked.is_empty() {
                return Err(metadata_error(
                    "none of the grant types is supported: use authorization_code, refresh_token or client_credentials",
                ));
            }
            offered
        }
    };

    let response_types = opt_list(body, "response_types")?.unwrap_or_default();
    if let Some(other) = response_types.iter().find(|t| t.as_str() != "code") {
        return Err(metadata_error(format!(
            "response type {other:?} is not supported: only code"
        )));
    }

    let scope = opt_str(body, "scope")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);

    let mut descriptive = Map::new();
    let client_name = opt_str(body, "client_name")?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(name) = client_name {
        descriptive.insert("client_name".into(), name.into());
    }
    for field in URI_FIELDS {
        if let Some(value) = opt_str(body, field)? {
            web_uri(field, value)?;
            descriptive.insert((*field).into(), value.into());
        }
    }
    for field in TEXT_FIELDS {
        if let Some(value) = opt_str(body, field)? {
            plain_text(field, value, MAX_TEXT_CHARS)?;
            descriptive.insert((*field).into(), value.into());
        }
    }
    if let Some(application_type) = opt_str(body, "application_type")? {
        if !matches!(application_type, "web" | "native") {
            return Err(metadata_error("application_type must be web or native"));
        }
        descriptive.insert("application_type".into(), application_type.into());
    }
    if let Some(contacts) = opt_list(body, "contacts")? {
        if contacts.len() > MAX_CONTACTS {
            return Err(metadata_error(format!(
                "at most {MAX_CONTACTS} contacts may be registered"
            )));
        }
        for contact in &contacts {
            plain_text("contacts", contact, MAX_TEXT_CHARS)?;
        }
        descriptive.insert("contacts".into(), contacts.into());
    }

    // Keys published beside another method are not used, so they are not checked either.
    let keys = if auth_method == AuthMethod::PrivateKeyJwt {
        let jwks = body.get("jwks").filter(|v| !v.is_null());
        ClientKeys::from_metadata(jwks, opt_str(body, "jwks_uri")?).map_err(metadata_error)?
    } else {
        None
    };
    check_keys(auth_method, keys.as_ref()).map_err(metadata_error)?;

    let settings = ClientSettings {
        name: client_name.unwrap_or(UNNAMED_CLIENT).to_owned(),
        redirect_uris,
        grant_types,
        scope,
        auth_method,
    };
    settings
        .validate(allowed_private_schemes)
        .map_err(settings_error)?;
    Ok(Registration {
        settings,
        descriptive,
        keys,
    })
}

/// How clients may register themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone may register (rate-limited).
    Open,
    /// Registration needs the initial access token.
    Token,
    /// No dynamic registration.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<Registration, OAuthError> {
        parse_registration(&body, &["cursor".to_owned()])
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let r =
            parse(json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]})).unwrap();
        assert_eq!(r.settings.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(
            r.settings.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(r.settings.name, UNNAMED_CLIENT);
        assert!(r.descriptive.is_empty());
    }

    #[test]
    fn unoffered_grant_types_are_dropped_and_unknown_fields_ignored() {
        let r = parse(json!({
            "redirect_uris": ["http://127.0.0.1/"],
            "grant_types": ["authorization_code", "refresh_token",
                            "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "jwks": {"keys": []},
            "scope": "",
        }))
        .unwrap();
        assert_eq!(r.settings.grant_types.len(), 2);
        assert_eq!(r.settings.scope, None);
        assert_eq!(
            r.descriptive,
            json!({"application_type": "native"})
                .as_object()
                .cloned()
                .unwrap()
        );
    }

    #[test]
    fn private_key_jwt_clients_register_their_keys() {
        let r = parse(json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/.well-known/jwks.json",
        }))
        .unwrap();
        assert_eq!(r.settings.auth_method, AuthMethod::PrivateKeyJwt);
        assert_eq!(
            r.keys,
            Some(ClientKeys::JwksUri(
                "https://app.example/.well-known/jwks.json".into()
            ))
        );
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]});
        let r = parse(json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
        }))
        .unwrap();
        assert_eq!(r.keys, Some(ClientKeys::Jwks(jwks)));
    }

    #[test]
    fn refusals_carry_the_rfc_7591_codes() {
        let code = |body| parse(body).unwrap_err().code;
        let uri = json!(["http://localhost/cb"]);
        assert_eq!(code(json!([1])), ErrorCode::InvalidClientMetadata);
        assert_eq!(
            code(json!({"redirect_uris": uri, "response_types": ["token"]})),
            ErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"redirect_uris": uri, "token_endpoint_auth_method": "private_key_jwt"})),
            ErrorCode::InvalidClientMetadata,
            "private_key_jwt without keys"
        );
        assert_eq!(
            code(
                json!({"redirect_uris": uri, "token_endpoint_auth_method": "private_key_jwt",
                        "jwks_uri": "http://app.example/jwks"})
            ),
            ErrorCode::InvalidClientMetadata,
            "a jwks_uri over http"
        );
        assert_eq!(
            code(
                json!({"redirect_uris": uri, "token_endpoint_auth_method": "private_key_jwt",
                        "jwks_uri": "https://app.example/jwks", "jwks": {"keys": [{}]}})
            ),
            ErrorCode::InvalidClientMetadata,
            "both jwks and jwks_uri"
        );
        assert_eq!(
            code(json!({"redirect_uris": uri, "grant_types": ["implicit"]})),
            ErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"redirect_uris": "http://localhost/cb"})),
            ErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            code(json!({"redirect_uris": ["https://a.example/cb#x"]})),
            ErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            code(json!({"redirect_uris": uri, "logo_uri": "javascript:alert(1)"})),
            ErrorCode::InvalidClientMetadata
        );
    }
}

#[cfg(test)]
mod properties {
    //! Any JSON value, and RFC 7591-shaped objects with odd members: a registration either
    //! yields settings every client rule accepts, or a metadata or redirect URI error.

    use super::*;
    use crate::oauth::redirect_uri::validate_for_registration;
    use crate::testing::proptest_config;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any JSON: scalars, odd URIs, and arrays and objects of them a few levels deep.
    fn json() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "(https?|cursor|javascript)://[a-z0-9.:@\\[\\]-]{0,12}(/[a-z#?*]{0,5})?"
                .prop_map(Value::String),
        ];
        scalar.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec((".{0,8}", inner), 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects whose members are the ones this module reads, with values right or wrong.
    fn metadata() -> impl Strategy<Value = Value> {
        let mut names = vec![
            "grant_types",
            "redirect_uris",
            "contacts",
            "client_name",
            "scope",
        ];
        names.extend(URI_FIELDS.iter().chain(TEXT_FIELDS));
        names.push("token_endpoint_auth_method");
        let value = prop_oneof![
            json(),
            prop::sample::select(vec![
                "none",
                "client_secret_post",
                "client_secret_basic",
                "authorization_code",
                "client_credentials",
                "refresh_token",
            ])
            .prop_map(Value::from),
            vec(
                "(https://[a-z]{1,8}\\.example|http://127\\.0\\.0\\.1:[0-9]{1,5})/cb",
                1..3
            )
            .prop_map(Value::from),
        ];
        vec((prop::sample::select(names), value), 0..8).prop_map(|members| {
            Value::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        })
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn any_registration_gives_valid_settings_or_an_rfc_7591_error(
            body in prop_oneof![json(), metadata()],
        ) {
            let schemes = ["cursor".to_owned()];
            match parse_registration(&body, &schemes) {
                Ok(registration) => {
                    let settings = registration.settings;
                    prop_assert!(body.is_object());
                    prop_assert!(!settings.grant_types.is_empty());
                    for uri in &settings.redirect_uris {
                        prop_assert_eq!(validate_for_registration(uri, &schemes), Ok(()));
                    }
                    if settings.grant_types.contains(&GrantType::AuthorizationCode) {
                        prop_assert!(!settings.redirect_uris.is_empty());
                    }
                }
                Err(e) => prop_assert!(
                    matches!(e.code, ErrorCode::InvalidClientMetadata | ErrorCode::InvalidRedirectUri),
                    "{e}"
                ),
            }
        }
    }
}
