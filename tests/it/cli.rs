//! The admin CLI as an operator runs it: the real binary, its exit codes, stdout and stderr.

use crate::helpers::{CliRun, TestApp, TestDb, binary, run_cli};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use tokio::process::Command;

/// Runs `mcp-authd ARGS` in `dir` against `database_url`, feeding `stdin`.
async fn mcp_authd(dir: &Path, database_url: Option<&str>, args: &[&str], stdin: &str) -> CliRun {
    run_cli(binary(), dir, database_url, args, stdin).await
}

async fn cli(db: &TestDb, args: &[&str]) -> CliRun {
    mcp_authd(db.dir.path(), Some(&db.url), args, "").await
}

#[tokio::test]
async fn users_lifecycle_with_json_output() {
    let db = TestDb::new().await;
    let created = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["users", "create", "alice", "--password-stdin", "--json"],
        "correct horse\n",
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let user = created.json();
    assert_eq!(user["username"], "alice");
    assert!(
        user.get("password_hash").is_none(),
        "the hash is never printed"
    );

    let store = db.store().await;
    let stored = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert!(
        mcp_authd::support::password::matches("correct horse", &stored.password_hash),
        "one trailing newline stripped"
    );

    let listed = cli(&db, &["users", "list", "--json"]).await;
    assert_eq!(listed.json()[0]["username"], "alice");

    assert_eq!(cli(&db, &["users", "disable", "alice"]).await.code, 0);
    assert_eq!(
        cli(&db, &["users", "show", "alice", "--json"]).await.json()["disabled"],
        true
    );
    assert_eq!(cli(&db, &["users", "enable", "alice"]).await.code, 0);
    assert_eq!(
        cli(&db, &["--json", "users", "show", "alice"]).await.json()["disabled"],
        false,
        "--json is global"
    );

    let changed = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["users", "set-password", "alice", "--password-stdin"],
        "another password",
    )
    .await;
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    let stored = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert!(mcp_authd::support::password::matches(
        "another password",
        &stored.password_hash
    ));

    // What ID tokens and userinfo say of her; what is not given stays.
    let updated = cli(
        &db,
        &[
            "users",
            "update",
            "alice",
            "--name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
            "--email-verified",
            "--json",
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let user = updated.json();
    assert_eq!(
        (
            &user["display_name"],
            &user["email"],
            &user["email_verified"]
        ),
        (
            &"Alice Liddell".into(),
            &"alice@example.com".into(),
            &true.into()
        )
    );
    let renamed = cli(
        &db,
        &["users", "update", "alice", "--name", "Alice", "--json"],
    )
    .await;
    assert_eq!(renamed.json()["email"], "alice@example.com", "kept");
    for (args, why) in [
        (
            &["--email", "not-an-address"][..],
            "is not an email address",
        ),
        (
            &["--email", "a b@example.com"][..],
            "is not an email address",
        ),
        (&["--email", "", "--email-verified"][..], "needs an address"),
    ] {
        let refused = cli(&db, &[&["users", "update", "alice"][..], args].concat()).await;
        assert_ne!(refused.code, 0, "{args:?}");
        assert!(refused.stderr.contains(why), "{args:?}: {}", refused.stderr);
    }
    let unset = cli(&db, &["users", "update", "alice", "--email", "", "--json"]).await;
    assert_eq!(unset.json()["email"], Value::Null);
    assert_eq!(unset.json()["email_verified"], false);

    assert_eq!(cli(&db, &["users", "delete", "alice"]).await.code, 0);
    let gone = cli(&db, &["users", "show", "alice"]).await;
    assert_ne!(gone.code, 0);
    assert!(
        gone.stderr.contains("no user named \"alice\""),
        "{}",
        gone.stderr
    );
}

#[tokio::test]
async fn bad_user_input_fails_clearly_and_changes_nothing() {
    let db = TestDb::new().await;
    let ok = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["users", "create", "alice", "--password-stdin"],
        "first password",
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);

    let duplicate = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["users", "create", "alice", "--password-stdin"],
        "other password",
    )
    .await;
    assert_ne!(duplicate.code, 0);
    assert!(
        duplicate.stderr.contains("already exists"),
        "{}",
        duplicate.stderr
    );

    let short = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["users", "create", "bob", "--password-stdin"],
        "short",
    )
    .await;
    assert_ne!(short.code, 0);
    assert!(
        short.stderr.contains("at least 8 characters"),
        "{}",
        short.stderr
    );

    let no_tty = cli(&db, &["users", "create", "carol"]).await;
    assert_ne!(no_tty.code, 0);
    assert!(
        no_tty.stderr.contains("--password-stdin"),
        "{}",
        no_tty.stderr
    );

    let users = cli(&db, &["users", "list", "--json"]).await.json();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "nothing half-written: {users}"
    );
    let store = db.store().await;
    let alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert!(mcp_authd::support::password::matches(
        "first password",
        &alice.password_hash
    ));
}

#[tokio::test]
async fn clients_lifecycle_shows_the_secret_once() {
    let db = TestDb::new().await;
    let created = cli(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Acme",
            "--redirect-uri",
            "https://acme.example/cb",
            "--scope",
            "read write",
            "--json",
        ],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let client = created.json();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        client["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );

    let store = db.store().await;
    let stored = store.find_client(&id).await.unwrap().unwrap();
    assert!(mcp_authd::tokens::opaque::verify(
        &secret,
        stored.secret_hash.as_deref().unwrap()
    ));
    assert_ne!(
        stored.secret_hash.as_deref(),
        Some(secret.as_str()),
        "stored hashed"
    );

    let shown = cli(&db, &["clients", "show", &id, "--json"]).await;
    assert!(
        shown.json().get("client_secret").is_none(),
        "secret shown only once"
    );
    assert!(!shown.stdout.contains(&secret));

    let rotated = cli(&db, &["clients", "rotate-secret", &id, "--json"])
        .await
        .json();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let stored = store.find_client(&id).await.unwrap().unwrap();
    assert!(mcp_authd::tokens::opaque::verify(
        new_secret,
        stored.secret_hash.as_deref().unwrap()
    ));

    let updated = cli(
        &db,
        &[
            "clients",
            "update",
            &id,
            "--name",
            "Acme 2",
            "--resource-server",
            "--json",
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    assert_eq!(updated.json()["client_name"], "Acme 2");
    assert_eq!(updated.json()["resource_server"], true);

    let listed = cli(&db, &["clients", "list", "--json"]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    assert_eq!(cli(&db, &["clients", "delete", &id]).await.code, 0);
    let unknown = cli(&db, &["clients", "show", &id]).await;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("no client with id"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn public_and_client_credentials_clients() {
    let db = TestDb::new().await;
    let public = cli(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "CLI tool",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--json",
        ],
    )
    .await;
    assert_eq!(public.code, 0, "{}", public.stderr);
    assert!(public.json().get("client_secret").is_none());
    assert_eq!(public.json()["token_endpoint_auth_method"], "none");

    let id = public.json()["client_id"].as_str().unwrap().to_owned();
    let rotate = cli(&db, &["clients", "rotate-secret", &id]).await;
    assert_ne!(rotate.code, 0);
    assert!(rotate.stderr.contains("public"), "{}", rotate.stderr);

    let service = cli(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Batch job",
            "--grant-type",
            "client_credentials",
            "--token-endpoint-auth-method",
            "client_secret_post",
            "--json",
        ],
    )
    .await;
    assert_eq!(
        service.code, 0,
        "no redirect URI needed for client_credentials only: {}",
        service.stderr
    );
    assert_eq!(
        service.json()["token_endpoint_auth_method"],
        "client_secret_post"
    );

    let public_service = cli(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Bad",
            "--public",
            "--grant-type",
            "client_credentials",
        ],
    )
    .await;
    assert_ne!(public_service.code, 0);
    assert!(
        public_service.stderr.contains("confidential"),
        "{}",
        public_service.stderr
    );
}

#[tokio::test]
async fn bad_client_input_fails_clearly_and_stores_nothing() {
    let db = TestDb::new().await;
    for (args, expected) in [
        (
            vec![
                "clients",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            "not loopback",
        ),
        (
            vec![
                "clients",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb#frag",
            ],
            "fragment",
        ),
        (
            vec![
                "clients",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "not a uri",
            ],
            "whitespace",
        ),
        (
            vec!["clients", "create", "--name", "X"],
            "redirect URI is required",
        ),
        (
            vec![
                "clients",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb",
                "--grant-type",
                "password",
            ],
            "unsupported grant type",
        ),
        (
            vec![
                "clients",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                "https://a.example/cb",
                "--public",
                "--token-endpoint-auth-method",
                "client_secret_basic",
            ],
            "--public",
        ),
    ] {
        let run = cli(&db, &args).await;
        assert_ne!(run.code, 0, "{args:?} succeeded");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
    }
    let missing = cli(
        &db,
        &[
            "clients",
            "create",
            "--redirect-uri",
            "https://a.example/cb",
        ],
    )
    .await;
    assert_eq!(missing.code, 2, "clap's usage error");
    assert!(missing.stderr.contains("--name"), "{}", missing.stderr);
    assert_eq!(
        cli(&db, &["clients", "list", "--json"]).await.json(),
        serde_json::json!([])
    );
    let nothing = cli(&db, &["clients", "update", "unknown-id", "--name", "Y"]).await;
    assert!(
        nothing.stderr.contains("no client with id"),
        "{}",
        nothing.stderr
    );
}

#[tokio::test]
async fn a_bad_configuration_names_the_key() {
    let db = TestDb::new().await;
    let dir = db.dir.path();
    let run = |args: Vec<&'static str>, env: Vec<(&'static str, &'static str)>| {
        let mut command = binary();
        command
            .args(args)
            .current_dir(dir)
            .env_remove("DATABASE_URL");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output()
    };
    let out = run(
        vec!["migrate"],
        vec![("MCP_AUTHD_TOKENS__ACCESS_TOKEN_TTL", "forever")],
    )
    .await
    .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokens.access_token_ttl"));

    std::fs::write(dir.join("bad.toml"), "issuer = \n").unwrap();
    let out = run(vec!["migrate", "--config", "bad.toml"], vec![])
        .await
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.toml: not valid TOML"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(
        dir.join("unknown.toml"),
        "[tokens]\naccess_token_tll = \"1h\"\n",
    )
    .unwrap();
    let out = run(vec!["--config", "unknown.toml", "migrate"], vec![])
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("tokens") && stderr.contains("access_token_tll"),
        "{stderr}"
    );

    let out = run(
        vec!["migrate"],
        vec![("MCP_AUTHD_ISSUER", "https://auth.example.com/")],
    )
    .await
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("issuer"),
        "trailing slash refused"
    );
}

#[tokio::test]
async fn an_unreachable_database_names_the_host_but_never_the_password() {
    let db = TestDb::new().await;
    let run = mcp_authd(
        db.dir.path(),
        Some("postgres://authd:topsecret@127.0.0.1:1/authd"),
        &["users", "list"],
        "",
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("127.0.0.1"), "{}", run.stderr);
    assert!(!run.stderr.contains("topsecret"), "{}", run.stderr);
}

#[tokio::test]
async fn an_unwritable_data_directory_is_reported() {
    let db = TestDb::new().await;
    let blocker = db.dir.path().join("file-not-dir");
    std::fs::write(&blocker, "x").unwrap();
    let run = mcp_authd(
        db.dir.path(),
        None,
        &["--data-dir", "file-not-dir/data", "migrate"],
        "",
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("data directory"), "{}", run.stderr);
}

#[tokio::test]
async fn the_cli_works_beside_a_running_server_on_the_same_database() {
    let app = TestApp::spawn().await;
    let mut handles = Vec::new();
    for i in 0..4 {
        let (dir, url) = (app.db.dir.path().to_path_buf(), app.db.url.clone());
        handles.push(tokio::spawn(async move {
            mcp_authd(
                &dir,
                Some(&url),
                &["users", "create", &format!("user{i}"), "--password-stdin"],
                "a long password",
            )
            .await
        }));
    }
    for _ in 0..20 {
        assert_eq!(
            app.http
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    for handle in handles {
        let run = handle.await.unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(app.state.store.list_users().await.unwrap().len(), 4);
}

#[tokio::test]
async fn serve_starts_with_no_configuration_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = binary()
        .args(["serve", "--listen", &listen])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        until_healthy(dir.path(), &listen).await,
        "healthcheck never passed"
    );
    assert!(
        dir.path().join("data/mcp-authd.db").exists(),
        "SQLite file created under ./data"
    );
    terminate(&mut child).await;
    let status = child.wait().await.unwrap();
    assert!(status.success(), "graceful exit: {status:?}");

    let down = binary()
        .args(["healthcheck", "--addr", &listen])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        !down.status.success(),
        "healthcheck fails when nothing answers"
    );
}

/// Asks `healthcheck` until the server on `listen` answers (true) or ten seconds pass.
async fn until_healthy(dir: &std::path::Path, listen: &str) -> bool {
    for _ in 0..100 {
        let probe = binary()
            .args(["healthcheck", "--addr", listen])
            .current_dir(dir)
            .output()
            .await
            .unwrap();
        if probe.status.success() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Sends SIGTERM to a running `serve`.
async fn terminate(child: &mut tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
}

#[tokio::test]
async fn an_http_issuer_that_is_not_loopback_is_refused_unless_the_development_switch_warns() {
    let dir = tempfile::tempdir().unwrap();
    let listen = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let serve = || {
        let mut command = binary();
        command
            .args(["serve", "--listen", &listen])
            .current_dir(dir.path())
            .env("MCP_AUTHD_ISSUER", "http://auth.example.com");
        command
    };
    let refused = serve().output().await.unwrap();
    assert_ne!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("issuer") && stderr.contains("requires TLS"),
        "{stderr}"
    );

    let mut allowed = serve()
        .env("MCP_AUTHD_ALLOW_INSECURE_ISSUER", "true")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        until_healthy(dir.path(), &listen).await,
        "the switch lets it start"
    );
    terminate(&mut allowed).await;
    let out = allowed.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("allow_insecure_issuer is set"),
        "a warning on start: {stderr}"
    );
    assert!(
        stderr
            .contains("nobody can sign in yet: create a person with `mcp-authd users create NAME`"),
        "a first run says how to let someone in: {stderr}"
    );
}

#[tokio::test]
async fn the_example_configuration_is_valid_and_complete() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mcp-authd.example.toml");
    let db = TestDb::new().await;
    let run = mcp_authd(
        db.dir.path(),
        Some(&db.url),
        &["--config", example.to_str().unwrap(), "migrate"],
        "",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn grants_are_listed_and_revoked_by_operators() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = store.create_user("alice", "h", 1).await.unwrap();
    let bob = store.create_user("bob", "h", 1).await.unwrap();
    let created = cli(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Acme",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--json",
        ],
    )
    .await;
    let client = created.json()["client_id"].as_str().unwrap().to_owned();
    store
        .upsert_grant(
            &alice.id,
            &client,
            "https://a.example/mcp",
            &["read".into()],
            1,
        )
        .await
        .unwrap();
    store
        .upsert_grant(
            &alice.id,
            &client,
            "https://b.example/mcp",
            &["read".into()],
            1,
        )
        .await
        .unwrap();
    store
        .upsert_grant(
            &bob.id,
            &client,
            "https://a.example/mcp",
            &["read".into()],
            1,
        )
        .await
        .unwrap();

    let all = cli(&db, &["grants", "list", "--json"]).await.json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let alices = cli(&db, &["grants", "list", "--user", "alice", "--json"])
        .await
        .json();
    assert_eq!(alices.as_array().unwrap().len(), 2);
    assert_eq!(alices[0]["username"], "alice");
    assert_eq!(alices[0]["client_name"], "Acme");

    let one = alices[0]["id"].as_str().unwrap();
    let revoked = cli(&db, &["grants", "revoke", "--grant", one, "--json"]).await;
    assert_eq!(revoked.json()["revoked"], 1, "{}", revoked.stderr);
    let revoked = cli(
        &db,
        &[
            "grants", "revoke", "--user", "alice", "--client", &client, "--json",
        ],
    )
    .await;
    assert_eq!(revoked.json()["revoked"], 1);
    assert_eq!(
        cli(&db, &["grants", "list", "--json"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let nothing = cli(&db, &["grants", "revoke"]).await;
    assert_ne!(nothing.code, 0);
    assert!(
        nothing.stderr.contains("say which grants"),
        "{}",
        nothing.stderr
    );
    let unknown = cli(&db, &["grants", "list", "--user", "nobody"]).await;
    assert!(
        unknown.stderr.contains("no user named"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn resources_list_explains_open_resource_mode_and_lists_configured_servers() {
    let db = TestDb::new().await;
    let open = cli(&db, &["resources", "list"]).await;
    assert_eq!(open.code, 0, "{}", open.stderr);
    assert!(open.stdout.contains("open-resource mode"));

    std::fs::write(
        db.dir.path().join("resources.toml"),
        "[[resources]]\nuri = \"https://notes.example/mcp\"\nname = \"Notes\"\nscopes = [\"notes:read\"]\ndefault_scopes = [\"notes:read\"]\n",
    )
    .unwrap();
    let listed = cli(
        &db,
        &["--config", "resources.toml", "resources", "list", "--json"],
    )
    .await
    .json();
    assert_eq!(listed["open_resource_mode"], false);
    assert_eq!(listed["default_resource"], "https://notes.example/mcp");
    assert_eq!(listed["resources"][0]["name"], "Notes");
}

#[tokio::test]
async fn keys_list_rotate_and_the_emergency_rotation_that_warns_first() {
    let db = TestDb::new().await;
    let data_dir = db.dir.path().display().to_string();
    let keys = |args: &[&str]| {
        let mut all = vec!["--data-dir", data_dir.as_str(), "keys"];
        all.extend_from_slice(args);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let db = &db;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(db, &args).await
        }
    };
    let states = |run: &CliRun| -> Vec<String> {
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["state"].as_str().unwrap().to_owned())
            .collect()
    };

    let empty = run(keys(&["list", "--json"])).await;
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert_eq!(empty.json(), serde_json::json!([]));

    let rotated = run(keys(&["rotate", "--json"])).await;
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let report = rotated.json();
    assert_eq!(report["outcome"], "scheduled");
    assert_eq!(report["key"]["state"], "next");
    assert_eq!(report["key"]["alg"], "ES256");
    let next = report["key"]["kid"].as_str().unwrap().to_owned();

    let listed = run(keys(&["list", "--json"])).await;
    assert_eq!(states(&listed), ["active", "next"]);
    let first = listed.json()[0].clone();
    assert!(first["created_at"].is_i64() && first["activates_at"].is_i64());
    assert_eq!(
        first["retires_at"],
        listed.json()[1]["activates_at"],
        "the active key retires when the next one starts"
    );

    let again = run(keys(&["rotate", "--json"])).await;
    assert_eq!(again.json()["outcome"], "already_scheduled");
    assert_eq!(again.json()["key"]["kid"], next.as_str());

    let refused = run(keys(&["rotate", "--now"])).await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("WARNING"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(
        states(&run(keys(&["list", "--json"])).await),
        ["active", "next"],
        "nothing changed without --yes"
    );

    let emergency = run(keys(&["rotate", "--now", "--yes", "--json"])).await;
    assert_eq!(emergency.code, 0, "{}", emergency.stderr);
    assert!(
        emergency
            .stderr
            .contains("every access token issued so far stops verifying"),
        "{}",
        emergency.stderr
    );
    assert_eq!(emergency.json()["outcome"], "replaced");
    assert_eq!(emergency.json()["key"]["state"], "active");
    assert_eq!(
        states(&run(keys(&["list", "--json"])).await),
        ["withdrawn", "withdrawn", "active"]
    );

    let switched = run(keys(&["rotate", "--now", "--keep-old", "--json"])).await;
    assert_eq!(switched.code, 0, "{}", switched.stderr);
    assert_eq!(switched.json()["outcome"], "switched");
    assert_eq!(
        states(&run(keys(&["list", "--json"])).await),
        ["withdrawn", "withdrawn", "retired", "active"],
        "the previous key stays published for its tokens"
    );
    let orphan = run(keys(&["rotate", "--keep-old"])).await;
    assert_ne!(orphan.code, 0, "--keep-old needs --now");

    let table = run(keys(&["list"])).await;
    assert!(table.stdout.starts_with("KID"), "{}", table.stdout);
    assert!(table.stdout.contains("withdrawn"), "{}", table.stdout);
}

#[tokio::test]
async fn a_running_server_signs_with_the_key_the_cli_rotated_in_after_a_refresh() {
    let app = TestApp::spawn().await;
    let before = app.state.keys.signing_kid().unwrap();
    let data_dir = app.db.dir.path().display().to_string();
    let emergency = cli(
        &app.db,
        &[
            "keys",
            "rotate",
            "--now",
            "--yes",
            "--json",
            "--data-dir",
            &data_dir,
        ],
    )
    .await;
    assert_eq!(emergency.code, 0, "{}", emergency.stderr);
    let new = emergency.json()["key"]["kid"].as_str().unwrap().to_owned();
    assert_ne!(new, before);

    app.state.keys.refresh().await.unwrap();
    assert_eq!(app.state.keys.signing_kid(), Some(new.clone()));
    let (_, jwks) = app.get_json("/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new.as_str());
}
