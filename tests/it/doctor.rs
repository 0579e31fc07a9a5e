//! `mcp-authd doctor` and `mcp-authd resources metadata`, run as the real binary against a
//! real server on loopback.

use crate::helpers::{TestApp, TestDb};
use std::path::Path;

/// Runs `mcp-authd ARGS` in `dir` with no configuration from the environment.
async fn mcp_authd(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut command = crate::helpers::binary();
    command.args(args).current_dir(dir);
    let out = command.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn doctor_passes_against_a_local_deployment() {
    let app = TestApp::spawn().await;
    let (code, stdout, stderr) =
        mcp_authd(app.db.dir.path(), &["doctor", "--issuer", &app.base_url]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    for check in [
        "metadata",
        "issuer",
        "PKCE",
        "public clients",
        "JWKS",
        "CORS metadata",
        "CORS token",
        "token endpoint",
    ] {
        assert!(
            stdout.contains(&format!("ok    {check}: ")),
            "{check} passed:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "a summary line: {stdout}");
}

#[tokio::test]
async fn doctor_fails_with_a_clear_line_against_a_wrong_issuer() {
    // The operator wrote `localhost`; clients reach the server as 127.0.0.1.
    let app = TestApp::spawn_with(|config| {
        config.issuer = format!("http://localhost:{}", config.listen.port());
    })
    .await;
    let reached_as = format!("http://127.0.0.1:{}", app.state.config.listen.port());
    let (code, stdout, stderr) =
        mcp_authd(app.db.dir.path(), &["doctor", "--issuer", &reached_as]).await;
    assert_ne!(code, 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  issuer: "))
        .unwrap_or_else(|| panic!("an issuer failure line:\n{stdout}"));
    assert!(
        line.contains(&format!("\"{}\"", app.state.config.issuer)) && line.contains(&reached_as),
        "the line names both spellings: {line}"
    );
    assert!(stderr.contains("checks failed"), "{stderr}");
}

#[tokio::test]
async fn doctor_reports_an_unreachable_issuer_and_json_output() {
    let db = TestDb::new().await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let (code, stdout, _) =
        mcp_authd(db.dir.path(), &["doctor", "--issuer", &issuer, "--json"]).await;
    assert_ne!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["failed"], 1);
    let failed = &report["checks"][1];
    assert_eq!(failed["check"], "metadata");
    assert_eq!(failed["status"], "fail");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{failed}"
    );
}

#[tokio::test]
async fn doctor_checks_an_mcp_server_that_points_elsewhere() {
    let app = TestApp::spawn().await;
    // A stand-in MCP server whose metadata names another issuer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = format!("http://{}/mcp", listener.local_addr().unwrap());
    let metadata_url = mcp.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let document = serde_json::json!({
        "resource": mcp,
        "authorization_servers": ["https://someone-else.example.com"],
    });
    let challenge = format!("Bearer resource_metadata=\"{metadata_url}\"");
    let router = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(move || {
                let challenge = challenge.clone();
                async move {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [("www-authenticate", challenge)],
                    )
                }
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            axum::routing::get(move || async move { axum::Json(document) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (code, stdout, _) = mcp_authd(
        app.db.dir.path(),
        &["doctor", "--issuer", &app.base_url, "--mcp-server", &mcp],
    )
    .await;
    assert_ne!(code, 0, "{stdout}");
    assert!(stdout.contains("ok    MCP challenge: "), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  resource issuer: "))
        .unwrap_or_else(|| panic!("a failure for the issuer the metadata names:\n{stdout}"));
    assert!(line.contains(&app.base_url), "{line}");
}

#[tokio::test]
async fn resources_metadata_prints_the_document_and_the_challenge() {
    let db = TestDb::new().await;
    let dir = db.dir.path();
    std::fs::write(
        dir.join("authd.toml"),
        r#"
issuer = "https://auth.example.com"

[[resources]]
uri = "https://mcp.example.com/mcp"
name = "Notes"
scopes = ["notes:read", "notes:write"]
default_scopes = ["notes:read"]
"#,
    )
    .unwrap();
    let args = [
        "--config",
        "authd.toml",
        "resources",
        "metadata",
        "https://mcp.example.com/mcp",
    ];
    let (code, stdout, stderr) = mcp_authd(dir, &[&args[..], &["--json"]].concat()).await;
    assert_eq!(code, 0, "{stderr}");
    let advice: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        advice["metadata_url"],
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        advice["metadata"],
        serde_json::json!({
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": ["https://auth.example.com"],
            "scopes_supported": ["notes:read", "notes:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Notes",
        })
    );
    assert_eq!(
        advice["www_authenticate"],
        "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"notes:read\""
    );

    let (code, text, _) = mcp_authd(dir, &args).await;
    assert_eq!(code, 0);
    assert!(
        text.contains("WWW-Authenticate: Bearer resource_metadata="),
        "{text}"
    );
    assert!(text.contains("\"authorization_servers\""), "{text}");

    let (code, _, stderr) = mcp_authd(
        dir,
        &[
            "--config",
            "authd.toml",
            "resources",
            "metadata",
            "https://other.example.com/mcp",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not one of the configured [[resources]]"),
        "{stderr}"
    );
}
