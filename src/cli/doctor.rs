//! `mcp-authd doctor --issuer URL [--mcp-server URL]`: checks a deployment from outside, the
//! way an MCP client meets it, and says in one line per check what a client would trip on.

use super::Output;
use crate::config::{IdentityProviderConfig, ProviderKind};
use crate::oauth::protected_resource;
use anyhow::bail;
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// The origin the CORS checks pretend to be: any browser-based client's.
const PROBE_ORIGIN: &str = "https://mcp-client.example";

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The issuer as clients see it, e.g. https://auth.example.com.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// An MCP server that should send clients to this issuer, e.g. https://mcp.example.com/mcp.
    #[arg(long, value_name = "URL")]
    pub mcp_server: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As a client needs it.
    Ok,
    /// Works for most clients, but something is off.
    Warn,
    /// A client would fail here.
    Fail,
}

/// One check and what it found.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Short name of what was checked.
    pub check: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was seen, with the URL involved.
    pub detail: String,
}

/// All checks of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// In the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            check,
            status,
            detail: detail.into(),
        });
    }

    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, Status::Ok, detail);
    }

    fn warn(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, Status::Warn, detail);
    }

    fn fail(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, Status::Fail, detail);
    }

    /// Records `Ok` with `ok` or `Fail` with `fail`, by `passed`.
    fn verdict(&mut self, check: &'static str, passed: bool, ok: &str, fail: &str) {
        if passed {
            self.ok(check, ok);
        } else {
            self.fail(check, fail);
        }
    }

    /// How many checks came out as `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    issuer: &'a str,
    mcp_server: Option<&'a str>,
    checks: &'a [Check],
    ok: usize,
    warnings: usize,
    failed: usize,
}

/// Runs the checks, prints them, and fails when any check failed.
pub async fn run(
    args: &DoctorArgs,
    providers: &[IdentityProviderConfig],
    out: Output,
) -> anyhow::Result<()> {
    let report = diagnose(
        &args.issuer,
        args.mcp_server.as_deref(),
        providers,
        Duration::from_secs(args.timeout.max(1)),
    )
    .await?;
    let (ok, warnings, failed) = (
        report.count(Status::Ok),
        report.count(Status::Warn),
        report.count(Status::Fail),
    );
    let summary = Summary {
        issuer: &args.issuer,
        mcp_server: args.mcp_server.as_deref(),
        checks: &report.checks,
        ok,
        warnings,
        failed,
    };
    out.data(&summary, || {
        let mut text = String::new();
        for check in &report.checks {
            let label = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            text.push_str(&format!("{label}  {}: {}\n", check.check, check.detail));
        }
        text.push_str(&format!(
            "\n{} checks: {ok} ok, {warnings} warnings, {failed} failed\n",
            report.checks.len()
        ));
        text
    })?;
    if failed > 0 {
        bail!("{failed} of {} checks failed", report.checks.len());
    }
    Ok(())
}

/// Checks the issuer (and an MCP server that should point to it, and the configured
/// identity providers) over the network.
pub async fn diagnose(
    issuer: &str,
    mcp_server: Option<&str>,
    providers: &[IdentityProviderConfig],
    timeout: Duration,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcp-authd-doctor/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut report = Report::default();
    check_issuer(&http, issuer, &mut report).await;
    if let Some(mcp_server) = mcp_server {
        check_mcp_server(&http, issuer, mcp_server, &mut report).await;
    }
    for provider in providers {
        check_identity_provider(&http, issuer, provider, &mut report).await;
    }
    Ok(report)
}

/// An upstream provider's discovery document, and what to register there.
async fn check_identity_provider(
    http: &reqwest::Client,
    issuer: &str,
    provider: &IdentityProviderConfig,
    report: &mut Report,
) {
    let id = &provider.id;
    if provider.kind == ProviderKind::Github {
        check_github(http, issuer, provider, report).await;
        return;
    }
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        provider.issuer.trim_end_matches('/')
    );
    let Ok(url) = Url::parse(&discovery) else {
        report.fail(
            "identity provider",
            format!("{id}: {discovery:?} is not a URL"),
        );
        return;
    };
    let metadata = match get_json(http, &url).await {
        Ok(metadata) => metadata,
        Err(why) => {
            report.fail(
                "identity provider",
                format!("{id}: {discovery}: {why}; its sign-in link will say it is unavailable"),
            );
            return;
        }
    };
    let named = metadata.get("issuer").and_then(Value::as_str);
    if named != Some(provider.issuer.as_str()) {
        report.fail(
            "identity provider",
            format!(
                "{id}: the discovery document names the issuer {named:?}, not {:?}: set `issuer` \
                 to exactly what the provider says",
                provider.issuer
            ),
        );
        return;
    }
    let lists = |member: &str, value: &str| {
        metadata
            .get(member)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|item| item == value))
    };
    if !lists("code_challenge_methods_supported", "S256") {
        report.warn(
            "identity provider",
            format!("{id}: the provider does not say it supports PKCE S256; sign-ins may fail"),
        );
    }
    let basic = metadata
        .get("token_endpoint_auth_methods_supported")
        .is_none()
        || lists(
            "token_endpoint_auth_methods_supported",
            "client_secret_basic",
        );
    if !basic {
        report.warn(
            "identity provider",
            format!("{id}: the provider does not list client_secret_basic, which mcp-authd uses"),
        );
    }
    report.ok(
        "identity provider",
        format!(
            "{id} ({}): discovery is fine; register a confidential web client {:?} there with \
             the redirect URI {issuer}/login/{id}/callback, the authorization code grant and \
             the scopes {}",
            provider.name,
            provider.client_id,
            provider.scopes().join(" ")
        ),
    );
}

/// GitHub has no discovery document: its API must answer, and the OAuth app needs the
/// callback URL.
async fn check_github(
    http: &reqwest::Client,
    issuer: &str,
    provider: &IdentityProviderConfig,
    report: &mut Report,
) {
    let id = &provider.id;
    let api = provider.github_endpoints().api_url;
    let reachable = match Url::parse(&api) {
        Ok(url) => http
            .get(url)
            .header(header::ACCEPT, "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match reachable {
        Ok(response) if !response.status().is_server_error() => report.ok(
            "identity provider",
            format!(
                "{id} ({}): the GitHub API at {api} answers; register an OAuth app (Settings,                  Developer settings, OAuth Apps) with the client id {:?} and the authorization                  callback URL {issuer}/login/{id}/callback",
                provider.name, provider.client_id
            ),
        ),
        Ok(response) => report.fail(
            "identity provider",
            format!("{id}: the GitHub API at {api} answered {}", response.status()),
        ),
        Err(why) => report.fail(
            "identity provider",
            format!("{id}: the GitHub API at {api}: {why}; its sign-in link will say it is unavailable"),
        ),
    }
}

/// A URL a client may use: https, or http on a loopback host.
fn secure_enough(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

async fn check_issuer(http: &reqwest::Client, issuer: &str, report: &mut Report) {
    let Ok(issuer_url) = Url::parse(issuer) else {
        report.fail("issuer URL", format!("{issuer:?} is not an absolute URL"));
        return;
    };
    if !secure_enough(&issuer_url)
        || issuer_url.query().is_some()
        || issuer_url.fragment().is_some()
        || issuer.ends_with('/')
    {
        report.fail(
            "issuer URL",
            format!("{issuer:?} must be https (or http on loopback), with no query, fragment or trailing slash"),
        );
        return;
    }
    report.ok("issuer URL", issuer);

    let metadata_url = well_known_url(&issuer_url, "/.well-known/oauth-authorization-server");
    let metadata = match get_json(http, &metadata_url).await {
        Ok(metadata) => {
            let form = if issuer_url.path().trim_end_matches('/').is_empty() {
                "RFC 8414"
            } else {
                "RFC 8414, path-inserted for an issuer with a path"
            };
            report.ok("metadata", format!("{metadata_url} answered JSON ({form})"));
            metadata
        }
        Err(why) => {
            report.fail("metadata", format!("{metadata_url}: {why}"));
            return;
        }
    };

    let advertised = metadata.get("issuer").and_then(Value::as_str);
    match advertised {
        Some(found) if found == issuer => {
            report.ok("issuer", "the metadata names this issuer, byte for byte")
        }
        Some(found) => report.fail(
            "issuer",
            format!(
                "the metadata says {found:?} but clients reach it as {issuer:?}; they must be identical \
                 (set `issuer` to the public URL)"
            ),
        ),
        None => report.fail("issuer", "the metadata has no issuer"),
    }

    let mut endpoints_ok = true;
    for member in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        match endpoint(&metadata, member) {
            Ok(_) => {}
            Err(why) => {
                endpoints_ok = false;
                report.fail("endpoints", format!("{member}: {why}"));
            }
        }
    }
    if endpoints_ok {
        report.ok(
            "endpoints",
            "authorization_endpoint, token_endpoint and jwks_uri are absolute https (or loopback) URLs",
        );
    }

    let lists = |member: &str, value: &str| {
        metadata
            .get(member)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|v| v.as_str() == Some(value)))
    };
    report.verdict(
        "PKCE",
        lists("code_challenge_methods_supported", "S256"),
        "code_challenge_methods_supported lists S256",
        "code_challenge_methods_supported must list S256 (MCP clients refuse a server without it)",
    );
    report.verdict(
        "response type",
        lists("response_types_supported", "code"),
        "response_types_supported lists code",
        "response_types_supported must list code",
    );
    report.verdict(
        "public clients",
        lists("token_endpoint_auth_methods_supported", "none"),
        "token_endpoint_auth_methods_supported lists none",
        "token_endpoint_auth_methods_supported must list none (MCP clients are public clients)",
    );
    let registration = metadata.get("registration_endpoint").is_some();
    let cimd = metadata
        .get("client_id_metadata_document_supported")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match (registration, cimd) {
        (false, false) => report.warn(
            "client registration",
            "neither registration_endpoint nor client_id_metadata_document_supported: only pre-registered clients can sign in",
        ),
        _ => report.ok(
            "client registration",
            format!(
                "dynamic registration {}, client ID metadata documents {}",
                if registration { "on" } else { "off" },
                if cimd { "on" } else { "off" }
            ),
        ),
    }

    if let Ok(jwks_uri) = endpoint(&metadata, "jwks_uri") {
        check_jwks(http, &jwks_uri, report).await;
    }
    check_preflight(
        http,
        "CORS metadata",
        &metadata_url,
        Method::GET,
        "mcp-protocol-version",
        report,
    )
    .await;
    if let Ok(token_endpoint) = endpoint(&metadata, "token_endpoint") {
        check_preflight(
            http,
            "CORS token",
            &token_endpoint,
            Method::POST,
            "authorization, content-type",
            report,
        )
        .await;
        check_token_endpoint(http, &token_endpoint, report).await;
    }
}

/// The RFC 8414 / RFC 9728 well-known URL: `suffix` between the host and the path.
fn well_known_url(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = base.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{suffix}{path}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

fn endpoint(metadata: &Value, member: &str) -> Result<Url, String> {
    let value = metadata
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| "missing".to_owned())?;
    let url = Url::parse(value).map_err(|_| format!("{value:?} is not an absolute URL"))?;
    if !secure_enough(&url) {
        return Err(format!("{value:?} must be https (or http on loopback)"));
    }
    Ok(url)
}

/// The key types and curves each JWS algorithm needs.
fn key_fits(alg: &str, key: &Value) -> bool {
    let kty = key.get("kty").and_then(Value::as_str);
    let crv = key.get("crv").and_then(Value::as_str);
    match alg {
        "ES256" => kty == Some("EC") && crv == Some("P-256"),
        "ES384" => kty == Some("EC") && crv == Some("P-384"),
        "EdDSA" => kty == Some("OKP") && crv == Some("Ed25519"),
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => kty == Some("RSA"),
        _ => false,
    }
}

async fn check_jwks(http: &reqwest::Client, jwks_uri: &Url, report: &mut Report) {
    let jwks = match get_json(http, jwks_uri).await {
        Ok(jwks) => jwks,
        Err(why) => {
            report.fail("JWKS", format!("{jwks_uri}: {why}"));
            return;
        }
    };
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if keys.is_empty() {
        report.fail(
            "JWKS",
            format!("{jwks_uri} holds no keys: no token can be verified"),
        );
        return;
    }
    let mut algorithms: Vec<&str> = Vec::new();
    for key in &keys {
        let kid = key.get("kid").and_then(Value::as_str);
        let alg = key.get("alg").and_then(Value::as_str);
        let (Some(kid), Some(alg)) = (kid, alg) else {
            report.fail(
                "JWKS",
                format!("{jwks_uri}: every key needs kid and alg, so resource servers can pick it"),
            );
            return;
        };
        if !key_fits(alg, key) {
            report.fail(
                "JWKS",
                format!("{jwks_uri}: key {kid} advertises {alg} but is not a key for it"),
            );
            return;
        }
        if key.get("d").is_some() || key.get("p").is_some() {
            report.fail(
                "JWKS",
                format!("{jwks_uri}: key {kid} publishes private material"),
            );
            return;
        }
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    report.ok(
        "JWKS",
        format!(
            "{jwks_uri} holds {} key(s), each of the type its alg needs ({})",
            keys.len(),
            algorithms.join(", ")
        ),
    );
}

async fn check_preflight(
    http: &reqwest::Client,
    name: &'static str,
    url: &Url,
    method: Method,
    headers: &str,
    report: &mut Report,
) {
    let answer = http
        .request(Method::OPTIONS, url.clone())
        .header(header::ORIGIN, PROBE_ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method.as_str())
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            report.fail(name, format!("OPTIONS {url}: {}", describe(&error)));
            return;
        }
    };
    let get = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let origin = get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    let methods = get(header::ACCESS_CONTROL_ALLOW_METHODS);
    let allowed_headers = get(header::ACCESS_CONTROL_ALLOW_HEADERS);
    let method_ok = methods == "*"
        || methods
            .split(',')
            .any(|m| m.trim() == method.as_str().to_ascii_lowercase());
    let headers_ok = allowed_headers == "*"
        || headers
            .split(',')
            .all(|h| allowed_headers.split(',').any(|a| a.trim() == h.trim()));
    let origin_ok = origin == "*" || origin == PROBE_ORIGIN;
    if response.status().is_success() && origin_ok && method_ok && headers_ok {
        report.ok(
            name,
            format!("OPTIONS {url} allows {method} with {headers} from any origin"),
        );
    } else {
        report.fail(
            name,
            format!(
                "OPTIONS {url} answered {} (allow-origin {origin:?}, allow-methods {methods:?}, allow-headers {allowed_headers:?}): browser-based clients cannot call it",
                response.status()
            ),
        );
    }
}

/// The token endpoint answers an unusable request with RFC 6749 JSON, not a page.
async fn check_token_endpoint(http: &reqwest::Client, url: &Url, report: &mut Report) {
    let answer = http
        .post(url.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=urn%3Amcp-authd%3Adoctor")
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            report.fail(
                "token endpoint",
                format!("POST {url}: {}", describe(&error)),
            );
            return;
        }
    };
    let status = response.status();
    let body: Option<Value> = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let error = body
        .as_ref()
        .and_then(|b| b.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match error {
        Some(error) if status == StatusCode::BAD_REQUEST => report.ok(
            "token endpoint",
            format!("POST {url} answers an unknown grant with 400 {error}"),
        ),
        _ => report.fail(
            "token endpoint",
            format!("POST {url} answered {status} without an RFC 6749 JSON error"),
        ),
    }
}

async fn check_mcp_server(
    http: &reqwest::Client,
    issuer: &str,
    mcp_server: &str,
    report: &mut Report,
) {
    let Ok(mcp_url) = Url::parse(mcp_server) else {
        report.fail(
            "MCP server URL",
            format!("{mcp_server:?} is not an absolute URL"),
        );
        return;
    };
    if !secure_enough(&mcp_url) {
        report.fail(
            "MCP server URL",
            format!("{mcp_server:?} must be https (or http on loopback)"),
        );
        return;
    }
    let initialize = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "mcp-authd doctor", "version": env!("CARGO_PKG_VERSION") }
        }
    });
    let answer = http
        .post(mcp_url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(initialize.to_string())
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            report.fail(
                "MCP challenge",
                format!("POST {mcp_url}: {}", describe(&error)),
            );
            return;
        }
    };
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let params = challenge.as_deref().and_then(bearer_params);
    let pointed = params
        .as_ref()
        .and_then(|p| p.iter().find(|(k, _)| k == "resource_metadata"))
        .map(|(_, v)| v.clone());
    let well_known = well_known_url(&mcp_url, protected_resource::WELL_KNOWN);
    let metadata_url = match (status, &challenge, &pointed) {
        (StatusCode::UNAUTHORIZED, Some(_), Some(url)) => {
            report.ok(
                "MCP challenge",
                format!("an unauthenticated POST {mcp_url} gets 401 with WWW-Authenticate: Bearer resource_metadata=\"{url}\""),
            );
            match Url::parse(url) {
                Ok(url) => url,
                Err(_) => {
                    report.fail(
                        "MCP challenge",
                        format!("resource_metadata {url:?} is not an absolute URL"),
                    );
                    return;
                }
            }
        }
        (StatusCode::UNAUTHORIZED, Some(value), None) => {
            report.fail(
                "MCP challenge",
                format!("401 from {mcp_url} has WWW-Authenticate {value:?} without a Bearer resource_metadata parameter; clients fall back to guessing {well_known}"),
            );
            well_known.clone()
        }
        (StatusCode::UNAUTHORIZED, None, _) => {
            report.fail(
                "MCP challenge",
                format!("401 from {mcp_url} has no WWW-Authenticate header"),
            );
            well_known.clone()
        }
        (other, _, _) => {
            report.fail(
                "MCP challenge",
                format!("an unauthenticated POST {mcp_url} answered {other}, not 401: the server is not protected (or not at this URL)"),
            );
            well_known.clone()
        }
    };

    let metadata = match get_json(http, &metadata_url).await {
        Ok(metadata) => {
            report.ok(
                "resource metadata",
                format!("{metadata_url} answered JSON (RFC 9728)"),
            );
            metadata
        }
        Err(why) => {
            report.fail("resource metadata", format!("{metadata_url}: {why}"));
            return;
        }
    };
    if metadata_url != well_known {
        match get_json(http, &well_known).await {
            Ok(_) => report.ok(
                "resource metadata",
                format!("also served at the well-known {well_known}"),
            ),
            Err(why) => report.warn(
                "resource metadata",
                format!("{well_known}: {why}; clients that ignore the challenge will not find it"),
            ),
        }
    }
    let servers: Vec<&str> = metadata
        .get("authorization_servers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if servers.contains(&issuer) {
        report.ok(
            "resource issuer",
            format!("authorization_servers names {issuer}"),
        );
    } else {
        report.fail(
            "resource issuer",
            format!("authorization_servers is {servers:?}; it must name {issuer:?} byte for byte"),
        );
    }
    match metadata.get("resource").and_then(Value::as_str) {
        Some(resource) if resource == mcp_server => {
            report.ok("resource", format!("resource is {resource}, the URL clients connect to"))
        }
        Some(resource) if mcp_server.starts_with(resource.trim_end_matches('/')) => report.warn(
            "resource",
            format!("resource is {resource:?}, a prefix of {mcp_server:?}; tokens carry it as their audience"),
        ),
        Some(resource) => report.fail(
            "resource",
            format!("resource is {resource:?}, not {mcp_server:?}: clients refuse metadata for another resource"),
        ),
        None => report.fail("resource", "the metadata has no resource member"),
    }
}

/// The auth-params of a `Bearer` challenge, names in lower case.
fn bearer_params(value: &str) -> Option<Vec<(String, String)>> {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if name.trim().is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        params.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(params)
}

/// GETs a JSON object, describing whatever a client would trip on.
async fn get_json(http: &reqwest::Client, url: &Url) -> Result<Value, String> {
    let response = http
        .get(url.clone())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| describe(&error))?;
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(format!(
            "answered {status}, a redirect to {to}; clients do not follow it"
        ));
    }
    if status != StatusCode::OK {
        return Err(format!("answered {status}, not 200"));
    }
    let bytes = response.bytes().await.map_err(|error| describe(&error))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err("answered 200 but not with a JSON object".to_owned()),
    }
}

/// A reqwest error as one line, with its cause (connection refused, timeout, TLS).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed() {
        let params = bearer_params(
            r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(params[0], ("error".into(), "insufficient_scope".into()));
        assert_eq!(params[1], ("scope".into(), "a b".into()));
        assert_eq!(
            params[2].1,
            "https://x/.well-known/oauth-protected-resource/mcp"
        );
        assert!(bearer_params("Basic realm=\"x\"").is_none());
        assert_eq!(bearer_params("Bearer").unwrap(), vec![]);
    }

    #[test]
    fn well_known_urls_insert_the_suffix_before_the_path() {
        let issuer = Url::parse("https://example.com/tenant").unwrap();
        assert_eq!(
            well_known_url(&issuer, "/.well-known/oauth-authorization-server").as_str(),
            "https://example.com/.well-known/oauth-authorization-server/tenant"
        );
        let root = Url::parse("https://example.com").unwrap();
        assert_eq!(
            well_known_url(&root, "/.well-known/oauth-authorization-server").as_str(),
            "https://example.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert!(secure_enough(&Url::parse("http://127.0.0.1:8080").unwrap()));
        assert!(secure_enough(&Url::parse("http://localhost:8080").unwrap()));
        assert!(!secure_enough(
            &Url::parse("http://auth.example.com").unwrap()
        ));
        assert!(secure_enough(
            &Url::parse("https://auth.example.com").unwrap()
        ));
    }
}
