//! Validating an authorization request (RFC 6749 4.1.1, RFC 9700 4.11) in the order that
//! keeps open redirects impossible: client and redirect URI first, and only then errors
//! that may travel back by redirect.

use super::client::GrantType;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::resource::{self, ScopeDecision, Target};
use super::{pkce, redirect_uri};
use crate::oauth::audiences::Audiences;
use crate::oauth::client::{Client, ClientSource};
use serde::{Deserialize, Serialize};

/// A redirect URI that has been matched against the client's registration. Only this
/// module can make one, so an error can only ever be redirected to a verified URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedRedirect(String);

impl VerifiedRedirect {
    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with `params` appended to its query, as the browser should be sent there.
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(params);
                url.to_string()
            }
            Err(_) => self.0.clone(),
        }
    }
}

/// An error that must be shown to the person, never redirected: the client or the
/// redirect URI could not be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UntrustedRequest(pub String);

/// An error to send back to the client through its verified redirect URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectError {
    /// Where to send it.
    pub redirect: VerifiedRedirect,
    /// What went wrong.
    pub error: OAuthError,
    /// The client's `state`, echoed.
    pub state: Option<String>,
}

/// What the person must (or must not) be asked (OpenID Connect `prompt`, used by MCP clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// Ask only what is needed.
    Default,
    /// Ask nothing: answer `login_required` / `consent_required` instead.
    None,
    /// Ask for the password even with a live session.
    Login,
    /// Show the consent page even inside an existing grant.
    Consent,
    /// `prompt=login consent`: both.
    LoginAndConsent,
}

impl Prompt {
    /// Whether a sign-in newer than the request is required.
    pub fn forces_login(self) -> bool {
        matches!(self, Self::Login | Self::LoginAndConsent)
    }

    /// Whether the consent page is shown even inside an existing grant.
    pub fn forces_consent(self) -> bool {
        matches!(self, Self::Consent | Self::LoginAndConsent)
    }
}

/// A validated authorization request, stored server-side while the person logs in and decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the answer goes.
    pub redirect: VerifiedRedirect,
    /// The client's `state`.
    pub state: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The audience.
    pub target: Target,
    /// Scopes granted and dropped.
    pub scopes: ScopeDecision,
    /// What the person must be asked.
    pub prompt: Prompt,
    /// When the request arrived (unix seconds): `prompt=login` needs a sign-in at or after it.
    #[serde(default)]
    pub requested_at: i64,
    /// OpenID Connect: the `nonce` the ID token echoes.
    #[serde(default)]
    pub nonce: Option<String>,
    /// OpenID Connect `max_age`: the oldest sign-in accepted, in seconds before the request.
    #[serde(default)]
    pub max_age: Option<i64>,
    /// OpenID Connect `login_hint`: the username the sign-in form starts with.
    #[serde(default)]
    pub login_hint: Option<String>,
    /// OpenID Connect `id_token_hint`, as sent: the app layer verifies it with the keys.
    #[serde(default)]
    pub id_token_hint: Option<String>,
}

impl AuthorizationRequest {
    /// Whether a session that signed in at `auth_time` satisfies this request's `prompt`
    /// and `max_age`.
    pub fn accepts_sign_in_at(&self, auth_time: i64) -> bool {
        (!self.prompt.forces_login() || auth_time >= self.requested_at)
            && self.max_age_allows(auth_time)
    }

    /// Whether a sign-in at `auth_time` is recent enough for `max_age` (OpenID Connect
    /// Core 3.1.2.1): no older than `max_age` seconds before the request.
    pub fn max_age_allows(&self, auth_time: i64) -> bool {
        self.max_age
            .is_none_or(|max_age| auth_time >= self.requested_at - max_age)
    }
}

/// Whether errors may go back to this client by redirect before the person has signed in
/// and decided. Only for clients the operator created: a self-registered or document
/// client's redirect URI is that client's own claim, and sending anyone's browser there
/// on request would make this server an open redirector (RFC 9700 4.11.2).
pub fn redirects_errors_at_once(client: &Client) -> bool {
    client.source == ClientSource::Cli
}

/// Whether a remembered consent may answer a request without asking the person again.
/// Never for a public client redirecting to loopback: any program on the machine can claim
/// that client and listen there (RFC 8252 8.6, RFC 6749 10.2). Never for consent given
/// before the client's redirect URIs last changed.
pub fn remembered_consent_covers(
    client: &Client,
    request: &AuthorizationRequest,
    consented_at: i64,
    consented_scope: &str,
) -> bool {
    let impersonable = !client.settings.auth_method.is_confidential()
        && url::Url::parse(request.redirect.as_str()).is_ok_and(|u| {
            u.host()
                .as_ref()
                .is_some_and(redirect_uri::is_loopback_host)
        });
    let stale = client
        .redirect_uris_changed_at
        .is_some_and(|changed| consented_at <= changed);
    let held: Vec<&str> = consented_scope.split(' ').collect();
    !impersonable
        && !stale
        && request
            .scopes
            .token_scopes()
            .iter()
            .all(|s| held.contains(&s.as_str()))
}

/// Longest `state` accepted, in bytes: room for any nonce or handle a client keeps there.
pub const MAX_STATE_BYTES: usize = 1_024;

/// Longest name or value of every other authorization parameter, in bytes: longer than any
/// real client_id, redirect URI, scope list, resource or PKCE challenge.
pub const MAX_PARAMETER_BYTES: usize = 2_048;

/// Step zero, before the client is looked up or anything stored: refuses a parameter over
/// its length cap. A page-only error, since nothing is trusted yet.
pub fn check_lengths(params: &Params) -> Result<(), UntrustedRequest> {
    let cap = |name: &str| match name {
        "state" => MAX_STATE_BYTES,
        _ => MAX_PARAMETER_BYTES,
    };
    match params.first_oversized(cap) {
        None => Ok(()),
        Some(name) if name.len() <= 64 => Err(UntrustedRequest(format!(
            "The {name} parameter is longer than the {} bytes this server accepts.",
            cap(name)
        ))),
        Some(_) => Err(UntrustedRequest(format!(
            "A parameter name is longer than the {MAX_PARAMETER_BYTES} bytes this server accepts."
        ))),
    }
}

/// Step one: the redirect URI to trust for this client, or a page-only error.
pub fn verify_client_redirect(
    params: &Params,
    client: &Client,
) -> Result<VerifiedRedirect, UntrustedRequest> {
    if params.is_repeated("redirect_uri") {
        return Err(UntrustedRequest(
            "the redirect_uri parameter is repeated".into(),
        ));
    }
    let registered = &client.settings.redirect_uris;
    match redirect_uri::select(params.get("redirect_uri"), registered) {
        Some(uri) => Ok(VerifiedRedirect(uri.to_owned())),
        None if params.get("redirect_uri").is_some() => Err(UntrustedRequest(
            "the redirect_uri is not registered for this application".into(),
        )),
        None => Err(UntrustedRequest(
            "the request has no redirect_uri, and the application registered more than one".into(),
        )),
    }
}

/// Step two, with client and redirect verified: every other rule, errors by redirect.
pub fn validate(
    params: &Params,
    client: &Client,
    redirect: VerifiedRedirect,
    audiences: Audiences<'_>,
    now: i64,
) -> Result<AuthorizationRequest, RedirectError> {
    let state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| RedirectError {
        redirect: redirect.clone(),
        error,
        state: state.clone(),
    };
    params.refuse_repeats(&["resource"]).map_err(fail)?;
    // A request object could carry parameters that override these; ignoring it would act
    // on a request the client did not send (OpenID Connect Core 6).
    if params.get("request").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported: send the parameters themselves",
        )));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported: send the parameters themselves",
        )));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
        None => {
            return Err(fail(OAuthError::invalid_request(
                "the response_type parameter is required",
            )));
        }
    }
    if !client
        .settings
        .grant_types
        .contains(&GrantType::AuthorizationCode)
    {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
        )));
    }
    pkce::validate_challenge(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(|message| fail(OAuthError::invalid_request(message)))?;
    let prompt = parse_prompt(params.get("prompt")).map_err(fail)?;
    // At most u32::MAX seconds (136 years): subtracting it from a time cannot overflow.
    let max_age = match params.get("max_age") {
        None => None,
        Some(value) => Some(value.parse::<u32>().map(i64::from).map_err(|_| {
            fail(OAuthError::invalid_request(
                "max_age must be a whole number of seconds",
            ))
        })?),
    };
    let target = resource::resolve(audiences, params.all("resource")).map_err(fail)?;
    let scopes = resource::decide_scopes(
        audiences,
        &target,
        params.get("scope"),
        client.settings.scope.as_deref(),
    )
    .map_err(fail)?;
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect,
        state,
        code_challenge: params.get("code_challenge").unwrap_or_default().to_owned(),
        target,
        scopes,
        prompt,
        requested_at: now,
        nonce: params.get("nonce").map(str::to_owned),
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        id_token_hint: params.get("id_token_hint").map(str::to_owned),
    })
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, OAuthError> {
    let values: Vec<&str> = value
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
        .collect();
    if values.contains(&"none") && values.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let mut prompt = Prompt::Default;
    for value in values {
        prompt = match (value, prompt) {
            ("none", _) => Prompt::None,
            ("login", Prompt::Consent | Prompt::LoginAndConsent) => Prompt::LoginAndConsent,
            ("login", _) => Prompt::Login,
            ("consent", Prompt::Login | Prompt::LoginAndConsent) => Prompt::LoginAndConsent,
            ("consent", _) => Prompt::Consent,
            // No account chooser here: choosing an account is signing in again.
            ("select_account", Prompt::Consent | Prompt::LoginAndConsent) => {
                Prompt::LoginAndConsent
            }
            ("select_account", _) => Prompt::Login,
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "unsupported prompt value {value:?}"
                )));
            }
        };
    }
    Ok(prompt)
}

impl RedirectError {
    /// The URL the browser is sent to: the error, its description, `state` and `iss` (RFC 9207).
    pub fn location(&self, issuer: &str) -> String {
        let mut params = vec![
            ("error", self.error.code.as_str()),
            ("error_description", self.error.description.as_ref()),
        ];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        self.redirect.with_params(&params)
    }
}

/// Rebuilds the error redirect for a stored request (deny, `prompt=none`).
pub fn error_for(request: &AuthorizationRequest, error: OAuthError) -> RedirectError {
    RedirectError {
        redirect: request.redirect.clone(),
        error,
        state: request.state.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_parameters_are_refused_and_named() {
        let query = |name: &str, len: usize| {
            Params::parse(format!("client_id=c&{name}={}", "x".repeat(len)).as_bytes()).unwrap()
        };
        assert!(check_lengths(&query("state", MAX_STATE_BYTES)).is_ok());
        let refused = check_lengths(&query("state", MAX_STATE_BYTES + 1)).unwrap_err();
        assert!(refused.0.contains("state parameter"), "{refused:?}");
        for name in [
            "scope",
            "redirect_uri",
            "code_challenge",
            "nonce",
            "anything",
        ] {
            assert!(check_lengths(&query(name, MAX_PARAMETER_BYTES)).is_ok());
            let refused = check_lengths(&query(name, MAX_PARAMETER_BYTES + 1)).unwrap_err();
            assert!(refused.0.contains(name), "{refused:?}");
        }
        let huge_name = query(&"n".repeat(MAX_PARAMETER_BYTES + 1), 1);
        let refused = check_lengths(&huge_name).unwrap_err();
        assert!(refused.0.starts_with("A parameter name"), "{refused:?}");
    }

    #[test]
    fn prompt_values() {
        assert_eq!(parse_prompt(None), Ok(Prompt::Default));
        assert_eq!(parse_prompt(Some("none")), Ok(Prompt::None));
        assert_eq!(
            parse_prompt(Some("login consent")),
            Ok(Prompt::LoginAndConsent)
        );
        assert_eq!(
            parse_prompt(Some("consent login")),
            Ok(Prompt::LoginAndConsent)
        );
        assert_eq!(parse_prompt(Some("login")), Ok(Prompt::Login));
        assert_eq!(parse_prompt(Some("consent")), Ok(Prompt::Consent));
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
    }

    #[test]
    fn error_location_keeps_the_registered_query_and_adds_iss() {
        let error = RedirectError {
            redirect: VerifiedRedirect("https://app.example/cb?tenant=1".into()),
            error: OAuthError::new(ErrorCode::AccessDenied, "denied"),
            state: Some("xyz".into()),
        };
        assert_eq!(
            error.location("https://auth.example"),
            "https://app.example/cb?tenant=1&error=access_denied&error_description=denied&state=xyz&iss=https%3A%2F%2Fauth.example"
        );
    }
}
