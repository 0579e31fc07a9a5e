//! RFC 8414 authorization server metadata and CORS on it, over a real socket.

use crate::flow::*;
use crate::helpers::TestApp;
use mcp_authd::oauth::audiences::ResourceConfig;
use mcp_authd::oauth::registration::RegistrationMode;
use serde_json::Value;

const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

async fn metadata(app: &TestApp, path: &str) -> Value {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn metadata_advertises_every_endpoint_and_what_mcp_clients_require() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url(WELL_KNOWN)).send().await.unwrap();
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    let doc: Value = response.json().await.unwrap();
    let issuer = app.base_url.as_str();
    assert_eq!(
        doc["issuer"], issuer,
        "byte-identical to the configured issuer"
    );
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks.json"));
    assert_eq!(doc["registration_endpoint"], format!("{issuer}/register"));
    for (member, path, methods) in [
        (
            "revocation_endpoint",
            "/revoke",
            &[
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ][..],
        ),
        // Public clients cannot introspect: `none` authenticates nobody.
        (
            "introspection_endpoint",
            "/introspect",
            &[
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ][..],
        ),
    ] {
        assert_eq!(doc[member], format!("{issuer}{path}"), "{member} is served");
        let methods_member = member.replace("_endpoint", "_endpoint_auth_methods_supported");
        assert_eq!(
            strings(&doc[methods_member.as_str()]),
            methods,
            "{methods_member}"
        );
    }
    assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    let methods = strings(&doc["token_endpoint_auth_methods_supported"]);
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ] {
        assert!(methods.contains(&method), "{method}");
    }
    assert_eq!(
        strings(&doc["token_endpoint_auth_signing_alg_values_supported"]),
        ["RS256", "PS256", "ES256", "EdDSA"],
        "asymmetric algorithms only: never none or HS*"
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    assert_eq!(
        strings(&doc["scopes_supported"]),
        ["openid", "profile", "email", "offline_access"],
        "always present: in open-resource mode, the server's own identity scopes"
    );
    assert!(doc.as_object().unwrap().values().all(|v| !v.is_null()));
}

#[tokio::test]
async fn scopes_supported_is_the_union_of_the_configured_resources_scopes_and_the_identity_scopes()
{
    let app = TestApp::spawn_with(|c| {
        c.resources = vec![
            ResourceConfig {
                uri: "https://a.example.com/mcp".into(),
                name: "A".into(),
                scopes: vec!["mcp:read".into(), "mcp:write".into()],
                default_scopes: vec![],
                scope_descriptions: Default::default(),
            },
            ResourceConfig {
                uri: "https://b.example.com/mcp".into(),
                name: "B".into(),
                scopes: vec!["mcp:read".into(), "files".into()],
                default_scopes: vec![],
                scope_descriptions: Default::default(),
            },
        ];
    })
    .await;
    let doc = metadata(&app, WELL_KNOWN).await;
    assert_eq!(
        strings(&doc["scopes_supported"]),
        [
            "mcp:read",
            "mcp:write",
            "files",
            "openid",
            "profile",
            "email",
            "offline_access"
        ],
        "the resources' scopes, then the server's own"
    );
}

#[tokio::test]
async fn registration_off_and_cimd_off_are_not_advertised() {
    let app = TestApp::spawn_with(|c| {
        c.registration.mode = RegistrationMode::Off;
        c.cimd.enabled = false;
    })
    .await;
    let doc = metadata(&app, WELL_KNOWN).await;
    assert!(doc.get("registration_endpoint").is_none());
    assert_eq!(doc["client_id_metadata_document_supported"], false);
}

#[tokio::test]
async fn an_issuer_with_a_path_is_served_at_the_path_inserted_well_known_url() {
    let app = TestApp::spawn_with(|c| c.issuer = format!("{}/auth", c.issuer)).await;
    let issuer = format!("{}/auth", app.base_url);
    let doc = metadata(&app, &format!("{WELL_KNOWN}/auth")).await;
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["registration_endpoint"], format!("{issuer}/register"));
    let plain = metadata(&app, WELL_KNOWN).await;
    assert_eq!(plain, doc);
}

/// The `action` of the (first) form in a page.
fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form") + "action=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn an_issuer_with_a_path_is_served_under_that_path_without_a_rewriting_proxy() {
    let app = TestApp::spawn_with(|c| c.issuer = format!("{}/auth", c.issuer)).await;
    let issuer = format!("{}/auth", app.base_url);
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let doc = metadata(&app, &format!("{WELL_KNOWN}/auth")).await;
    let authorization_endpoint = doc["authorization_endpoint"].as_str().unwrap();
    assert_eq!(authorization_endpoint, format!("{issuer}/authorize"));

    // Every step at the URLs the metadata and the pages give, all under /auth.
    let pkce = Pkce::new();
    let authorize = authorize_url(&app, &client, &pkce, &[]).replacen(
        &app.url("/authorize"),
        authorization_endpoint,
        1,
    );
    let login = app.http.get(&authorize).send().await.unwrap();
    assert_eq!(login.status(), 200, "{authorize}");
    let html = login.text().await.unwrap();
    assert_eq!(form_action(&html), format!("{issuer}/login"));
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("request", hidden(&html, "request").unwrap()),
        ("username", "alice".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let signed_in = app
        .http
        .post(form_action(&html))
        .form(&form)
        .send()
        .await
        .unwrap();
    let consent = follow(&app, &signed_in).await.text().await.unwrap();
    assert_eq!(form_action(&consent), format!("{issuer}/consent"));
    let approved = app
        .http
        .post(form_action(&consent))
        .form(&[
            ("csrf", hidden(&consent, "csrf").unwrap()),
            ("request", hidden(&consent, "request").unwrap()),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    let params = location_params(&approved);
    assert_eq!(params["iss"], issuer);
    let token = app
        .http
        .post(doc["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    for member in ["jwks_uri", "registration_endpoint"] {
        let url = doc[member].as_str().unwrap();
        assert!(url.starts_with(&issuer), "{member}: {url}");
    }
    let jwks = app
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);

    // A proxy that strips the prefix reaches the same routes at the root.
    let stripped = app.http.get(app.url("/jwks.json")).send().await.unwrap();
    assert_eq!(stripped.status(), 200);
    let unknown = app.http.get(app.url("/authx/token")).send().await.unwrap();
    assert_eq!(
        unknown.status(),
        404,
        "only the whole path segment is the prefix"
    );
}

#[tokio::test]
async fn metadata_allows_any_origin_without_credentials() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url(WELL_KNOWN))
        .header("origin", "https://inspector.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url(WELL_KNOWN))
        .header("origin", "https://inspector.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn well_known_paths_never_redirect() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url(&format!("{WELL_KNOWN}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
