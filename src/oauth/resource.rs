//! Which MCP server a token is for (RFC 8707) and which scopes it carries.

use super::audiences::{Audiences, ResourceConfig, is_acceptable_resource_uri};
use super::error::OAuthError;
use super::scope;
use serde::{Deserialize, Serialize};

/// The audience of the tokens a request will produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The `aud` claim: a configured resource, a requested one (open mode), or the issuer.
    pub uri: String,
    /// The MCP server's name from configuration, when it is a configured one.
    pub name: Option<String>,
    /// Open-resource mode without a `resource` parameter: the token is not limited to one
    /// MCP server, and the consent page says so.
    pub unrestricted: bool,
}

/// Resolves the `resource` parameters of a request (none or one) against configuration.
pub fn resolve(audiences: Audiences<'_>, requested: &[String]) -> Result<Target, OAuthError> {
    let requested = match requested {
        [] => None,
        [one] => Some(one.as_str()),
        _ => {
            return Err(OAuthError::invalid_target(
                "only one resource may be requested at a time",
            ));
        }
    };
    match requested {
        Some(uri) if audiences.open_resource_mode() => {
            if !is_acceptable_resource_uri(uri) {
                return Err(OAuthError::invalid_target(
                    "the resource must be an absolute https URL (or http on loopback) without a fragment",
                ));
            }
            Ok(Target {
                uri: uri.to_owned(),
                name: None,
                unrestricted: false,
            })
        }
        Some(uri) => configured(audiences, uri).map(target_of).ok_or_else(|| {
            OAuthError::invalid_target(format!(
                "{uri} is not a resource this server issues tokens for"
            ))
        }),
        None => default_target(audiences),
    }
}

/// The audience of a `client_credentials` token: a configured resource (or the default
/// one), or an MCP server the operator bound to this client (`bound`). Never the
/// open-resource audience or an arbitrary requested URI: with no person involved, only the
/// operator can say which MCP server a machine client may reach.
pub fn resolve_for_machine(
    audiences: Audiences<'_>,
    bound: &[String],
    requested: &[String],
) -> Result<Target, OAuthError> {
    let unnamed = |uri: &str| Target {
        uri: uri.to_owned(),
        name: None,
        unrestricted: false,
    };
    match requested {
        [] => match default_target(audiences) {
            Ok(target) if !target.unrestricted => Ok(target),
            _ => match bound {
                [only] => Ok(unnamed(only)),
                _ => Err(OAuthError::invalid_target(
                    "name the MCP server with the resource parameter: this client has no default resource",
                )),
            },
        },
        [one] => configured(audiences, one)
            .map(target_of)
            .or_else(|| {
                bound
                    .iter()
                    .find(|b| same_resource(b, one))
                    .map(|b| unnamed(b))
            })
            .ok_or_else(|| {
                OAuthError::invalid_target(format!(
                    "{one} is not a resource this client may get tokens for"
                ))
            }),
        _ => Err(OAuthError::invalid_target(
            "only one resource may be requested at a time",
        )),
    }
}

/// The configured resource `uri` names, allowing one trailing slash on a bare origin.
pub fn configured<'a>(audiences: Audiences<'a>, uri: &str) -> Option<&'a ResourceConfig> {
    audiences
        .resources
        .iter()
        .find(|r| same_resource(&r.uri, uri))
}

fn same_resource(configured: &str, requested: &str) -> bool {
    if configured == requested {
        return true;
    }
    let bare_origin = |s: &str| {
        s.split_once("://")
            .is_some_and(|(_, rest)| !rest.trim_end_matches('/').contains('/'))
    };
    let (short, long) = if configured.len() < requested.len() {
        (configured, requested)
    } else {
        (requested, configured)
    };
    bare_origin(short) && long.strip_suffix('/') == Some(short)
}

fn target_of(resource: &ResourceConfig) -> Target {
    Target {
        uri: resource.uri.clone(),
        name: Some(resource.name.clone()),
        unrestricted: false,
    }
}

fn default_target(audiences: Audiences<'_>) -> Result<Target, OAuthError> {
    if let Some(default) = audiences.default_resource {
        return Ok(match configured(audiences, default) {
            Some(resource) => target_of(resource),
            None => Target {
                uri: default.to_owned(),
                name: None,
                unrestricted: false,
            },
        });
    }
    match audiences.resources {
        [only] => Ok(target_of(only)),
        [] => Ok(Target {
            uri: audiences.issuer.to_owned(),
            name: None,
            unrestricted: true,
        }),
        _ => Err(OAuthError::invalid_target(
            "several resources are configured and none is the default: name one with the resource parameter",
        )),
    }
}

/// The scopes a request ends up with, and those it asked for but cannot have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDecision {
    /// Scopes the token will carry.
    pub granted: Vec<String>,
    /// Scopes asked for that the client is not registered for; the consent page says so.
    pub dropped: Vec<String>,
    /// Identity scopes granted (`openid`, with `profile` and `email` beside it): never
    /// refused, never an allow-list; they choose the ID token's and userinfo's claims.
    #[serde(default)]
    pub identity: Vec<String>,
}

impl ScopeDecision {
    /// Every scope the person grants and the tokens carry: the resource's, then the
    /// identity scopes.
    pub fn token_scopes(&self) -> Vec<String> {
        self.granted.iter().chain(&self.identity).cloned().collect()
    }
}

/// Decides scopes: within the resource's scopes (unknown ones are `invalid_scope`), within
/// the client's registered scope (others are dropped), and the defaults when none are asked.
pub fn decide_scopes(
    audiences: Audiences<'_>,
    target: &Target,
    requested: Option<&str>,
    client_scope: Option<&str>,
) -> Result<ScopeDecision, OAuthError> {
    let (asked, identity) = scope::split_identity(
        scope::parse(requested.unwrap_or("")).map_err(OAuthError::invalid_scope)?,
    );
    // A registration or document whose scope names only identity scopes (Goose's
    // "openid profile email") sets no limit on the resource's scopes.
    let client_allowed = client_scope
        .map(scope::parse)
        .transpose()
        .map_err(OAuthError::invalid_scope)?
        .map(|allowed| scope::split_identity(allowed).0)
        .filter(|allowed| !allowed.is_empty());
    let resource = configured(audiences, &target.uri);
    if let Some(resource) = resource
        && let Some(unknown) = asked.iter().find(|s| !resource.scopes.contains(s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "{unknown} is not a scope of {}",
            resource.uri
        )));
    }
    let wanted = match (asked.is_empty(), resource) {
        (false, _) => asked,
        (true, Some(resource)) => resource.default_scopes.clone(),
        (true, None) => client_allowed.clone().unwrap_or_default(),
    };
    let (granted, dropped): (Vec<String>, Vec<String>) = match &client_allowed {
        Some(allowed) => wanted.into_iter().partition(|s| allowed.contains(s)),
        None => (wanted, Vec::new()),
    };
    if granted.is_empty() && !dropped.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the client is not registered for any of the requested scopes",
        ));
    }
    Ok(ScopeDecision {
        granted,
        dropped,
        identity: scope::granted_identity(&identity),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::oauth::error::ErrorCode;

    fn config(resources: &[(&str, &[&str], &[&str])]) -> Config {
        Config {
            resources: resources
                .iter()
                .map(|(uri, scopes, defaults)| ResourceConfig {
                    uri: (*uri).to_owned(),
                    name: format!("{uri} server"),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    default_scopes: defaults.iter().map(|s| (*s).to_owned()).collect(),
                    scope_descriptions: Default::default(),
                })
                .collect(),
            ..Config::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn identity_scopes_are_never_an_error_nor_an_allow_list() {
        let c = config(&[("https://mcp.example/mcp", &["mcp:tools"], &["mcp:tools"])]);
        let target = resolve(c.audiences(), &[]).unwrap();
        let beside = decide_scopes(
            c.audiences(),
            &target,
            Some("openid mcp:tools offline_access"),
            None,
        )
        .unwrap();
        assert_eq!(beside.granted, ["mcp:tools"]);
        assert_eq!(beside.identity, ["openid"], "offline_access grants nothing");
        assert_eq!(beside.token_scopes(), ["mcp:tools", "openid"]);
        let without_openid =
            decide_scopes(c.audiences(), &target, Some("email mcp:tools"), None).unwrap();
        assert!(without_openid.identity.is_empty(), "email needs openid");
        let goose = decide_scopes(
            c.audiences(),
            &target,
            Some("openid profile email"),
            Some("openid profile email"),
        )
        .unwrap();
        assert_eq!(
            goose.granted,
            ["mcp:tools"],
            "the resource's defaults, unrestricted"
        );
        assert!(goose.dropped.is_empty());
        let open = Config::default();
        let open_target = resolve(open.audiences(), &[]).unwrap();
        let only_identity =
            decide_scopes(open.audiences(), &open_target, Some("openid email"), None).unwrap();
        assert!(
            only_identity.granted.is_empty(),
            "open mode: no resource scope invented"
        );
    }

    #[test]
    fn machine_tokens_never_get_the_open_resource_audience() {
        let open = Config::default();
        let error = resolve_for_machine(open.audiences(), &[], &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidTarget);
        let error = resolve_for_machine(
            open.audiences(),
            &[],
            &strings(&["https://any.example/mcp"]),
        )
        .unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::InvalidTarget,
            "no arbitrary audience"
        );
    }

    #[test]
    fn machine_tokens_take_a_configured_default_or_bound_resource() {
        let one = config(&[("https://mcp.example/mcp", &["read"], &[])]);
        assert_eq!(
            resolve_for_machine(one.audiences(), &[], &[]).unwrap().uri,
            "https://mcp.example/mcp"
        );
        let bound = strings(&["https://tools.example/mcp"]);
        let open = Config::default();
        assert_eq!(
            resolve_for_machine(open.audiences(), &bound, &[])
                .unwrap()
                .uri,
            "https://tools.example/mcp",
            "the one bound resource is the default"
        );
        assert_eq!(
            resolve_for_machine(one.audiences(), &bound, &bound)
                .unwrap()
                .uri,
            "https://tools.example/mcp",
            "bound resources work beside configured ones"
        );
        let two = strings(&["https://a.example/mcp", "https://b.example/mcp"]);
        assert!(
            resolve_for_machine(open.audiences(), &two, &[]).is_err(),
            "which one?"
        );
        assert!(
            resolve_for_machine(open.audiences(), &two, &two).is_err(),
            "one at a time"
        );
    }

    #[test]
    fn one_configured_resource_is_the_default() {
        let c = config(&[("https://mcp.example.com/mcp", &["read"], &["read"])]);
        assert_eq!(
            resolve(c.audiences(), &[]).unwrap().uri,
            "https://mcp.example.com/mcp"
        );
        assert!(resolve(c.audiences(), &strings(&["https://other.example.com/mcp"])).is_err());
        assert!(
            resolve(
                c.audiences(),
                &strings(&["https://mcp.example.com/mcp", "https://mcp.example.com/mcp"])
            )
            .is_err()
        );
    }

    #[test]
    fn a_trailing_slash_is_tolerated_only_on_a_bare_origin() {
        let c = config(&[
            ("https://mcp.example.com", &[], &[]),
            ("https://b.example.com/mcp", &[], &[]),
        ]);
        assert_eq!(
            resolve(c.audiences(), &strings(&["https://mcp.example.com/"]))
                .unwrap()
                .uri,
            "https://mcp.example.com"
        );
        assert!(resolve(c.audiences(), &strings(&["https://b.example.com/mcp/"])).is_err());
        assert!(
            resolve(c.audiences(), &[]).is_err(),
            "several resources and no default"
        );
    }

    #[test]
    fn open_resource_mode_accepts_https_and_defaults_to_the_issuer() {
        let c = Config::default();
        assert_eq!(
            resolve(c.audiences(), &strings(&["https://any.example/mcp"]))
                .unwrap()
                .uri,
            "https://any.example/mcp"
        );
        assert!(resolve(c.audiences(), &strings(&["http://any.example/mcp"])).is_err());
        let unrestricted = resolve(c.audiences(), &[]).unwrap();
        assert!(unrestricted.unrestricted);
        assert_eq!(unrestricted.uri, c.issuer);
    }

    #[test]
    fn scopes_are_bounded_by_resource_and_client() {
        let c = config(&[("https://mcp.example.com/mcp", &["read", "write"], &["read"])]);
        let t = resolve(c.audiences(), &[]).unwrap();
        assert_eq!(
            decide_scopes(c.audiences(), &t, None, None)
                .unwrap()
                .granted,
            ["read"]
        );
        assert!(decide_scopes(c.audiences(), &t, Some("admin"), None).is_err());
        let d = decide_scopes(c.audiences(), &t, Some("read write"), Some("read")).unwrap();
        assert_eq!(
            (d.granted, d.dropped),
            (strings(&["read"]), strings(&["write"]))
        );
        assert!(decide_scopes(c.audiences(), &t, Some("write"), Some("read")).is_err());
    }

    #[test]
    fn open_mode_grants_any_scope_or_the_clients_registered_one() {
        let c = Config::default();
        let t = resolve(c.audiences(), &[]).unwrap();
        assert_eq!(
            decide_scopes(c.audiences(), &t, Some("anything"), None)
                .unwrap()
                .granted,
            ["anything"]
        );
        assert_eq!(
            decide_scopes(c.audiences(), &t, None, Some("files:read"))
                .unwrap()
                .granted,
            ["files:read"]
        );
        assert!(
            decide_scopes(c.audiences(), &t, None, None)
                .unwrap()
                .granted
                .is_empty()
        );
    }
}

#[cfg(test)]
mod properties {
    //! Any `resource` and `scope` values: a target is a configured resource (or, in open mode,
    //! an acceptable URI), and granted scopes stay inside both the resource's and the client's.

    use super::*;
    use crate::config::Config;
    use crate::oauth::error::ErrorCode;
    use crate::testing::proptest_config;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const CONFIGURED: &str = "https://mcp.example.com/mcp";

    fn configured_mode() -> Config {
        Config {
            resources: vec![ResourceConfig {
                uri: CONFIGURED.into(),
                name: "MCP".into(),
                scopes: vec!["read".into(), "write".into(), "admin".into()],
                default_scopes: vec!["read".into()],
                scope_descriptions: Default::default(),
            }],
            ..Config::default()
        }
    }

    fn resource_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(CONFIGURED.to_owned()),
            Just(format!("{CONFIGURED}/")),
            "(https?|ftp)://[a-z0-9.:\\[\\]@-]{0,20}(/[a-z#?]{0,6}){0,2}",
            any::<String>(),
        ]
    }

    fn scope_value() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            "((read|write|admin|other|\"x\") ?){0,4}",
            any::<String>()
        ])
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn a_configured_server_issues_only_for_its_configured_resource(
            requested in vec(resource_value(), 0..3),
            asked in scope_value(),
            client in scope_value(),
        ) {
            let config = configured_mode();
            match resolve(config.audiences(), &requested) {
                Ok(target) => {
                    prop_assert!(requested.len() <= 1);
                    prop_assert_eq!(&target.uri, CONFIGURED);
                    match decide_scopes(config.audiences(), &target, asked.as_deref(), client.as_deref()) {
                        Ok(decision) => {
                            let resource = &config.resources[0];
                            prop_assert!(decision.granted.iter().all(|s| resource.scopes.contains(s)));
                            if let Some(client) = client.as_deref() {
                                // Identity scopes in a client's scope limit nothing.
                                let (allowed, _) =
                                    scope::split_identity(scope::parse(client).expect("parsed when Ok"));
                                prop_assert!(
                                    allowed.is_empty()
                                        || decision.granted.iter().all(|s| allowed.contains(s))
                                );
                            }
                            prop_assert!(decision.granted.iter().all(|s| !scope::is_identity(s)));
                            prop_assert!(decision.dropped.iter().all(|s| !decision.granted.contains(s)));
                        }
                        Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidScope),
                    }
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidTarget),
            }
        }

        #[test]
        fn open_mode_targets_only_acceptable_resource_uris(requested in vec(resource_value(), 0..3)) {
            let config = Config::default();
            match resolve(config.audiences(), &requested) {
                Ok(target) if requested.is_empty() => {
                    prop_assert!(target.unrestricted);
                    prop_assert_eq!(target.uri, config.issuer);
                }
                Ok(target) => {
                    prop_assert_eq!(&target.uri, &requested[0]);
                    prop_assert!(is_acceptable_resource_uri(&target.uri));
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidTarget),
            }
        }
    }
}
