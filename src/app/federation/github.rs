//! Who signed in at GitHub, which has no ID token: the user API gives the stable numeric id
//! (the subject; logins can be renamed and reused), the name and login, and the emails API
//! the verified primary address.

use super::upstream::{IssuedTokens, Upstream, UpstreamError};
use crate::tokens::upstream_id_token::UpstreamIdentity;
use serde::Deserialize;

/// `GET /user`.
#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// The person the access token belongs to.
pub async fn identity(
    upstream: &Upstream,
    api_url: &str,
    tokens: &IssuedTokens,
) -> Result<UpstreamIdentity, UpstreamError> {
    let user: GithubUser = get(upstream, &format!("{api_url}/user"), tokens, "user API").await?;
    // Without the user:email scope the list is refused: then the person has no email here.
    let emails: Vec<GithubEmail> = get(
        upstream,
        &format!("{api_url}/user/emails"),
        tokens,
        "emails API",
    )
    .await
    .unwrap_or_default();
    let primary = emails.into_iter().find(|e| e.primary && e.verified);
    Ok(UpstreamIdentity {
        subject: user.id.to_string(),
        email_verified: primary.is_some(),
        email: primary.map(|e| e.email),
        name: user.name.filter(|n| !n.is_empty()),
        preferred_username: Some(user.login),
    })
}

async fn get<T: serde::de::DeserializeOwned>(
    upstream: &Upstream,
    url: &str,
    tokens: &IssuedTokens,
    what: &str,
) -> Result<T, UpstreamError> {
    let sent = upstream
        .http
        .get(url)
        .bearer_auth(&tokens.access_token)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await;
    match sent {
        Ok(response) if !response.status().is_success() => {
            tracing::warn!(provider = %upstream.config.id, status = %response.status(), what, "GitHub refused a request");
            Err(UpstreamError::Refused(format!(
                "its {what} answered {}",
                response.status()
            )))
        }
        sent => upstream.json(sent, what).await,
    }
}
