//! A real upstream OpenID provider for the federation tests: node-oidc-provider
//! (`tests/upstream/provider.mjs`, installed by `scripts/install-upstream.sh`) on loopback,
//! with its own development sign-in and consent pages, which [`sign_in_upstream`] and
//! [`refuse_upstream`] fill in the way a person at a browser would.

use crate::flow::Pkce;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_authd::tokens::opaque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

/// A confidential client registered at the upstream provider.
pub struct UpstreamClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

/// The running provider; killed when dropped.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`, the provider's issuer and origin.
    pub issuer: String,
    _child: tokio::process::Child,
}

impl Upstream {
    /// Starts the provider with these clients. Returns None (after an eprintln! saying why
    /// the test is skipped) when `node` or tests/upstream/node_modules is missing, unless
    /// TEST_REQUIRE_UPSTREAM is set, when it panics naming scripts/install-upstream.sh.
    pub async fn start(clients: &[UpstreamClient]) -> Option<Upstream> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/upstream");
        let node = std::env::var("TEST_NODE").unwrap_or_else(|_| "node".to_owned());
        let node_runs = tokio::process::Command::new(&node)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|status| status.success());
        let installed = dir.join("node_modules/oidc-provider").is_dir();
        if !node_runs || !installed {
            let missing = if node_runs {
                format!("{} is missing", dir.join("node_modules").display())
            } else {
                format!("`{node}` does not run")
            };
            assert!(
                std::env::var_os("TEST_REQUIRE_UPSTREAM").is_none(),
                "TEST_REQUIRE_UPSTREAM is set but {missing}: run scripts/install-upstream.sh"
            );
            eprintln!(
                "skipping the upstream provider test ({missing}): run scripts/install-upstream.sh"
            );
            return None;
        }

        let registered: Vec<_> = clients
            .iter()
            .map(|client| {
                serde_json::json!({
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                    "redirect_uris": [client.redirect_uri],
                })
            })
            .collect();
        let mut child = tokio::process::Command::new(&node)
            .arg("provider.mjs")
            .current_dir(&dir)
            .env(
                "UPSTREAM_CLIENTS",
                serde_json::Value::from(registered).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the upstream provider (node tests/upstream/provider.mjs)");

        // Its notices go through eprintln!, so the test harness captures them.
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("upstream: {line}");
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut ready = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut ready),
        )
        .await
        .expect("the upstream provider is ready within 30 s")
        .expect("read the upstream provider's ready line");
        let ready: serde_json::Value = serde_json::from_str(&ready)
            .unwrap_or_else(|_| panic!("the upstream provider's ready line is JSON: {ready:?}"));
        let issuer = ready["issuer"]
            .as_str()
            .expect("the ready line names the issuer")
            .to_owned();
        Some(Upstream {
            issuer,
            _child: child,
        })
    }
}

/// Drives the provider's own pages as a person at a browser: starting from `url` (an
/// authorization request at the provider, or any URL that redirects there), follows
/// redirects on the provider's origin by hand, signs in on its login form as `login` (any
/// password), approves its consent page, and returns the first Location that leaves the
/// provider's origin (the callback to the relying party, with code, state and iss).
pub async fn sign_in_upstream(
    http: &reqwest::Client,
    upstream: &Upstream,
    url: &str,
    login: &str,
) -> String {
    walk(http, upstream, url, login, true).await
}

/// The same walk, but the person cancels at the consent step (or the login step) using the
/// page's own abort link/form; returns the Location back to the relying party (it carries
/// error=access_denied and state).
pub async fn refuse_upstream(
    http: &reqwest::Client,
    upstream: &Upstream,
    url: &str,
    login: &str,
) -> String {
    walk(http, upstream, url, login, false).await
}

/// One step of the walk: a link followed or a form submitted.
enum Step {
    Get(Url),
    Post(Url, Vec<(&'static str, String)>),
}

/// Signs in as `login`, then approves (`approve`) or cancels at the consent page.
async fn walk(
    http: &reqwest::Client,
    upstream: &Upstream,
    url: &str,
    login: &str,
    approve: bool,
) -> String {
    let origin = Url::parse(&upstream.issuer).unwrap().origin();
    let mut step = Step::Get(Url::parse(url).expect("an absolute start URL"));
    let mut at_provider = false;
    for _ in 0..30 {
        let (current, request) = match step {
            Step::Get(url) => (url.clone(), http.get(url)),
            Step::Post(url, form) => (url.clone(), http.post(url).form(&form)),
        };
        at_provider |= current.origin() == origin;
        let response = request.send().await.unwrap();
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .expect("a redirect has a Location")
                .to_str()
                .unwrap();
            let next = current.join(location).unwrap();
            if at_provider && next.origin() != origin {
                return next.to_string();
            }
            step = Step::Get(next);
            continue;
        }
        let body = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "{current} answers {status} during the upstream walk: {body}"
        );
        assert!(
            at_provider,
            "{current} answers {status} before the provider"
        );
        step = if body.contains(r#"name="prompt" value="login""#) {
            // The dev login page: the "login" field is the account id; any password.
            let action = current.join(&form_action(&body)).unwrap();
            Step::Post(
                action,
                vec![
                    ("prompt", "login".to_owned()),
                    ("login", login.to_owned()),
                    ("password", "any password".to_owned()),
                ],
            )
        } else if body.contains(r#"name="prompt" value="consent""#) {
            if approve {
                let action = current.join(&form_action(&body)).unwrap();
                Step::Post(action, vec![("prompt", "consent".to_owned())])
            } else {
                Step::Get(current.join(&abort_link(&body)).unwrap())
            }
        } else {
            panic!("{current} is neither the provider's login nor its consent page: {body}");
        };
    }
    panic!("the upstream walk from {url} did not come back to the relying party in 30 steps");
}

/// The `action` of the page's (only) form.
fn form_action(html: &str) -> String {
    let form = &html[html.find("<form").expect("the page has a form")..];
    attribute(form, "action")
}

/// The `href` of the page's "[ Cancel ]" link (the dev pages' abort).
fn abort_link(html: &str) -> String {
    let end = html
        .find(">[ Cancel ]</a>")
        .expect("the page has a Cancel link");
    let anchor = &html[html[..end].rfind("<a").expect("an anchor")..end];
    attribute(anchor, "href")
}

/// The first `name="…"` attribute value in `tag`, HTML entities undone.
fn attribute(tag: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("{name} in {tag}")) + key.len();
    let len = tag[start..].find('"').expect("a closing quote");
    tag[start..start + len]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The query parameter `name` of `url`, if present.
fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A relying party's view of the provider: its endpoints, from discovery.
struct Endpoints {
    authorization: String,
    token: String,
}

async fn discover(http: &reqwest::Client, upstream: &Upstream) -> Endpoints {
    let url = format!("{}/.well-known/openid-configuration", upstream.issuer);
    let metadata: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], upstream.issuer.as_str());
    Endpoints {
        authorization: metadata["authorization_endpoint"]
            .as_str()
            .unwrap()
            .to_owned(),
        token: metadata["token_endpoint"].as_str().unwrap().to_owned(),
    }
}

const CALLBACK: &str = "http://127.0.0.1:9/callback";

fn client() -> UpstreamClient {
    UpstreamClient {
        client_id: "mcp-authd-at-acme".to_owned(),
        client_secret: opaque::new_secret(),
        redirect_uri: CALLBACK.to_owned(),
    }
}

/// A browser of its own: cookies kept, redirects never followed by themselves.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An authorization request at the provider for `client`, with S256 PKCE.
fn authorization_url(
    endpoints: &Endpoints,
    client: &UpstreamClient,
    pkce: &Pkce,
    state: &str,
    nonce: &str,
) -> String {
    let mut url = Url::parse(&endpoints.authorization).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// Redeems `code` at the provider as `client` and returns its ID token's claims.
async fn id_token_claims(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    client: &UpstreamClient,
    code: &str,
    pkce: &Pkce,
) -> serde_json::Value {
    let response = http
        .post(&endpoints.token)
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let tokens: serde_json::Value = response.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let payload = id_token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_upstream_provider_signs_a_person_in_with_its_own_pages() {
    let client = client();
    let Some(upstream) = Upstream::start(std::slice::from_ref(&client)).await else {
        return;
    };
    let http = browser();
    let endpoints = discover(&http, &upstream).await;
    let pkce = Pkce::new();
    let (state, nonce) = (opaque::new_id(), opaque::new_id());
    let url = authorization_url(&endpoints, &client, &pkce, &state, &nonce);

    let callback = sign_in_upstream(&http, &upstream, &url, "alice").await;
    let callback = Url::parse(&callback).unwrap();
    assert!(
        callback.as_str().starts_with(CALLBACK),
        "back at the relying party: {callback}"
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some(&*state));
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(&*upstream.issuer)
    );
    assert_eq!(query_param(&callback, "error"), None, "{callback}");
    let code = query_param(&callback, "code").expect("a code");

    let claims = id_token_claims(&http, &endpoints, &client, &code, &pkce).await;
    assert_eq!(claims["iss"], upstream.issuer.as_str());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(claims["email"], "alice@acme.example");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Person alice");
    assert_eq!(claims["preferred_username"], "alice");

    // A second person in a fresh browser, whose address the provider does not vouch for.
    let http = browser();
    let pkce = Pkce::new();
    let url = authorization_url(&endpoints, &client, &pkce, &state, &nonce);
    let callback = sign_in_upstream(&http, &upstream, &url, "unverified@elsewhere.example").await;
    let code = query_param(&Url::parse(&callback).unwrap(), "code").expect("a code");
    let claims = id_token_claims(&http, &endpoints, &client, &code, &pkce).await;
    assert_eq!(claims["sub"], "unverified@elsewhere.example");
    assert_eq!(claims["email"], "unverified@elsewhere.example");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["preferred_username"], "unverified");
}

#[tokio::test]
async fn a_person_who_cancels_at_the_upstream_provider_returns_access_denied() {
    let client = client();
    let Some(upstream) = Upstream::start(std::slice::from_ref(&client)).await else {
        return;
    };
    let http = browser();
    let endpoints = discover(&http, &upstream).await;
    let pkce = Pkce::new();
    let state = opaque::new_id();
    let url = authorization_url(&endpoints, &client, &pkce, &state, &opaque::new_id());

    let callback = refuse_upstream(&http, &upstream, &url, "alice").await;
    let callback = Url::parse(&callback).unwrap();
    assert!(
        callback.as_str().starts_with(CALLBACK),
        "back at the relying party: {callback}"
    );
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some(&*state));
    assert_eq!(query_param(&callback, "code"), None);
}
