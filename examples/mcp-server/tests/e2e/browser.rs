//! A person at the browser: follows an authorization URL through mcp-authd's login and
//! consent pages by posting their forms, and returns where mcp-authd redirects at the end.

use crate::harness::{PASSWORD, USERNAME};

/// The value of a hidden input in a page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(
        response.status(),
        303,
        "expected a 303 from {}",
        response.url()
    );
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs in as [`USERNAME`] and approves; returns the final redirect to the client.
pub async fn sign_in_and_approve(issuer: &str, authorization_url: &str) -> url::Url {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http.get(authorization_url).send().await.unwrap();
    assert_eq!(
        login.status(),
        200,
        "the authorization URL shows the login page"
    );
    let login = login.text().await.unwrap();
    assert!(login.contains("name=\"password\""), "a login form: {login}");
    let mut form = vec![
        (
            "csrf",
            hidden(&login, "csrf").expect("csrf on the login page"),
        ),
        ("username", USERNAME.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    if let Some(request) = hidden(&login, "request") {
        form.push(("request", request));
    }
    let signed_in = http
        .post(format!("{issuer}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let consent_url = url::Url::parse(issuer)
        .unwrap()
        .join(&location(&signed_in))
        .unwrap();
    let consent = http.get(consent_url).send().await.unwrap();
    assert_eq!(consent.status(), 200, "the consent page");
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("Example MCP server"),
        "consent names the MCP server"
    );
    let approved = http
        .post(format!("{issuer}/consent"))
        .form(&[
            (
                "csrf",
                hidden(&consent, "csrf").expect("csrf on the consent page"),
            ),
            (
                "request",
                hidden(&consent, "request").expect("request handle"),
            ),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    url::Url::parse(&location(&approved)).unwrap()
}
