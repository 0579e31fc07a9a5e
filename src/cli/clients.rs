//! `mcp-authd clients …`: pre-registered OAuth clients.

use super::Context;
use super::output::table;
use crate::app::audit::{AuditEvent, AuditKind};
use crate::oauth::audiences::is_acceptable_resource_uri;
use crate::oauth::client::{AuthMethod, ClientKeys, ClientSettings, GrantType, check_keys};
use crate::oauth::client::{Client, ClientSource};
use crate::store::{ClientUpdate, NewClient};
use crate::support::clock::format_utc as timestamp;
use crate::tokens::opaque;
use anyhow::{Context as _, bail};
use clap::{ArgAction, Subcommand};
use serde::Serialize;

/// Subcommands of `clients`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is shown once.
    Create(CreateArgs),
    /// List every client.
    List,
    /// Show one client.
    Show {
        /// The client_id.
        id: String,
    },
    /// Change a client's settings; list flags replace the stored list.
    Update(UpdateArgs),
    /// Issue a new secret; the old one stops working at once.
    RotateSecret {
        /// The client_id.
        id: String,
    },
    /// Delete a client with its grants and tokens.
    Delete {
        /// The client_id.
        id: String,
    },
}

/// Flags of `clients create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name shown on the consent page.
    #[arg(long)]
    name: String,
    /// A redirect URI, exactly as the client will send it (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; authenticates with `none` and PKCE).
    #[arg(long)]
    public: bool,
    /// Space-delimited scopes the client may ask for.
    #[arg(long)]
    scope: Option<String>,
    /// An allowed grant type (repeatable; default authorization_code and refresh_token).
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt, or none.
    #[arg(long, value_name = "METHOD")]
    token_endpoint_auth_method: Option<AuthMethod>,
    #[command(flatten)]
    keys: KeyArgs,
    /// An MCP server's client: may introspect any token, and exchange the tokens of the MCP
    /// servers it is bound to (--resource) for the person's upstream token (RFC 8693).
    #[arg(long)]
    resource_server: bool,
    /// An MCP server this client is bound to (repeatable): the audience its
    /// client_credentials tokens may have even when it is not a configured resource.
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
}

/// Flags of `clients update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The client_id.
    id: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// Redirect URIs replacing the stored ones (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// New scope limit; an empty string removes the limit.
    #[arg(long)]
    scope: Option<String>,
    /// Grant types replacing the stored ones (repeatable).
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
    /// New authentication method; moving to a secret method issues a secret.
    #[arg(long, value_name = "METHOD")]
    token_endpoint_auth_method: Option<AuthMethod>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Allow (true) or forbid (false) introspecting any token.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    resource_server: Option<bool>,
    /// Bound MCP servers replacing the stored ones (repeatable; `--resource ''` clears them).
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
}

/// Where a `private_key_jwt` client's public keys are.
#[derive(Debug, clap::Args)]
struct KeyArgs {
    /// The https URL of the client's JWK Set (private_key_jwt).
    #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
    jwks_uri: Option<String>,
    /// A file holding the client's public JWK Set (private_key_jwt).
    #[arg(long, value_name = "FILE")]
    jwks_file: Option<std::path::PathBuf>,
}

impl KeyArgs {
    /// The keys given, checked like registered ones.
    fn read(&self) -> anyhow::Result<Option<ClientKeys>> {
        let jwks = match &self.jwks_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--jwks-file: cannot read {}", path.display()))?;
                Some(
                    serde_json::from_str::<serde_json::Value>(&text)
                        .with_context(|| format!("--jwks-file: {} is not JSON", path.display()))?,
                )
            }
            None => None,
        };
        ClientKeys::from_metadata(jwks.as_ref(), self.jwks_uri.as_deref())
            .map_err(|reason| anyhow::anyhow!("--jwks-uri/--jwks-file: {reason}"))
    }
}

/// A client as the CLI prints it.
#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    client_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    source: ClientSource,
    token_endpoint_auth_method: AuthMethod,
    redirect_uris: &'a [String],
    grant_types: &'a [GrantType],
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<&'a serde_json::Value>,
    resource_server: bool,
    resources: &'a [String],
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
}

impl<'a> ClientView<'a> {
    fn new(client: &'a Client, secret: Option<&'a str>) -> Self {
        let s = &client.settings;
        Self {
            client_id: &client.id,
            client_name: &s.name,
            client_secret: secret,
            source: client.source,
            token_endpoint_auth_method: s.auth_method,
            redirect_uris: &s.redirect_uris,
            grant_types: &s.grant_types,
            scope: s.scope.as_deref(),
            jwks_uri: match &client.keys {
                Some(ClientKeys::JwksUri(uri)) => Some(uri),
                _ => None,
            },
            jwks: match &client.keys {
                Some(ClientKeys::Jwks(jwks)) => Some(jwks),
                _ => None,
            },
            resource_server: client.resource_server,
            resources: &client.resources,
            created_at: client.created_at,
            updated_at: client.updated_at,
            last_used_at: client.last_used_at,
        }
    }

    fn keys_text(&self) -> String {
        match (self.jwks_uri, self.jwks) {
            (Some(uri), _) => uri.to_owned(),
            (None, Some(jwks)) => {
                let count = jwks
                    .get("keys")
                    .and_then(|k| k.as_array())
                    .map_or(0, Vec::len);
                format!("{count} public key(s) stored")
            }
            (None, None) => "(none)".to_owned(),
        }
    }

    fn text(&self) -> String {
        let mut lines = vec![
            ("client_id", self.client_id.to_owned()),
            ("name", self.client_name.to_owned()),
            ("auth method", self.token_endpoint_auth_method.to_string()),
            (
                "grant types",
                join(self.grant_types.iter().map(|g| g.as_str())),
            ),
            (
                "redirect URIs",
                join(self.redirect_uris.iter().map(|s| s.as_str())),
            ),
            (
                "scope",
                self.scope
                    .unwrap_or("(any scope of the resource)")
                    .to_owned(),
            ),
            ("resource server", self.resource_server.to_string()),
            ("keys", self.keys_text()),
            (
                "bound resources",
                if self.resources.is_empty() {
                    "(none)".to_owned()
                } else {
                    join(self.resources.iter().map(|s| s.as_str()))
                },
            ),
            ("source", format!("{:?}", self.source).to_lowercase()),
            ("created", timestamp(self.created_at)),
            (
                "last used",
                self.last_used_at.map_or("never".to_owned(), timestamp),
            ),
        ];
        if let Some(secret) = self.client_secret {
            lines.insert(
                1,
                (
                    "client_secret",
                    format!("{secret}   (shown once: store it now)"),
                ),
            );
        }
        lines
            .iter()
            .map(|(k, v)| format!("{k:<16} {v}\n"))
            .collect()
    }
}

fn join<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let joined = items
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.is_empty() {
        "(none)".to_owned()
    } else {
        joined
    }
}

/// Runs one `clients` subcommand.
pub async fn run(ctx: &Context, command: ClientsCommand) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    match command {
        ClientsCommand::Create(args) => create(ctx, args).await,
        ClientsCommand::List => {
            let clients = ctx.store.list_clients().await?;
            let views: Vec<ClientView<'_>> =
                clients.iter().map(|c| ClientView::new(c, None)).collect();
            ctx.out.data(&views, || {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|v| {
                        vec![
                            v.client_id.to_owned(),
                            v.client_name.to_owned(),
                            v.token_endpoint_auth_method.to_string(),
                            join(v.grant_types.iter().map(|g| g.as_str())),
                            v.last_used_at.map_or("never".to_owned(), timestamp),
                        ]
                    })
                    .collect();
                table(&["CLIENT_ID", "NAME", "AUTH", "GRANTS", "LAST USED"], &rows)
            })
        }
        ClientsCommand::Show { id } => {
            let client = find(ctx, &id).await?;
            let view = ClientView::new(&client, None);
            ctx.out.data(&view, || view.text())
        }
        ClientsCommand::Update(args) => update(ctx, args).await,
        ClientsCommand::RotateSecret { id } => {
            let client = find(ctx, &id).await?;
            match client.settings.auth_method {
                AuthMethod::None => {
                    bail!("client {id} is public (auth method none) and has no secret to rotate")
                }
                AuthMethod::PrivateKeyJwt => bail!(
                    "client {id} authenticates with private_key_jwt and has no secret to rotate: give it new keys with clients update --jwks-uri or --jwks-file"
                ),
                AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {}
            }
            let secret = opaque::new_secret();
            let update = ClientUpdate {
                secret_hash: Some(Some(opaque::hash(&secret))),
                ..Default::default()
            };
            let client = ctx.store.update_client(&id, update, now).await?;
            ctx.audit(client_event(AuditKind::ClientUpdated, &client).with("secret", "rotated"))
                .await;
            let view = ClientView::new(&client, Some(&secret));
            ctx.out.data(&view, || view.text())
        }
        ClientsCommand::Delete { id } => {
            find(ctx, &id).await?;
            ctx.store.delete_client(&id, ctx.clock.now()).await?;
            ctx.audit(AuditEvent::new(AuditKind::ClientDeleted).client(&id))
                .await;
            ctx.out
                .note(&format!("deleted client {id} with its grants and tokens"));
            Ok(())
        }
    }
}

async fn create(ctx: &Context, args: CreateArgs) -> anyhow::Result<()> {
    let auth_method = match (args.public, args.token_endpoint_auth_method) {
        (true, None | Some(AuthMethod::None)) => AuthMethod::None,
        (true, Some(other)) => bail!("--public clients authenticate with none, not {other}"),
        (false, Some(method)) => method,
        (false, None) => AuthMethod::ClientSecretBasic,
    };
    let grant_types = if args.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        args.grant_types
    };
    let settings = ClientSettings {
        name: args.name.trim().to_owned(),
        redirect_uris: args.redirect_uris,
        grant_types,
        scope: args.scope.filter(|s| !s.trim().is_empty()),
        auth_method,
    };
    settings.validate(&ctx.config.registration.allowed_redirect_schemes)?;
    let keys = args.keys.read()?;
    check_keys(auth_method, keys.as_ref()).map_err(anyhow::Error::msg)?;
    let resources = bound_resources(args.resources)?;
    let secret = auth_method.uses_secret().then(opaque::new_secret);
    let new = NewClient {
        id: opaque::new_id(),
        settings,
        source: ClientSource::Cli,
        secret_hash: secret.as_deref().map(opaque::hash),
        resource_server: args.resource_server,
        resources,
        keys,
        metadata: serde_json::json!({}),
        registration_token_hash: None,
    };
    let client = ctx.store.create_client(new, ctx.clock.now()).await?;
    ctx.audit(client_event(AuditKind::ClientRegistered, &client))
        .await;
    let view = ClientView::new(&client, secret.as_deref());
    ctx.out.data(&view, || view.text())
}

async fn update(ctx: &Context, args: UpdateArgs) -> anyhow::Result<()> {
    let client = find(ctx, &args.id).await?;
    let nothing = args.name.is_none()
        && args.redirect_uris.is_empty()
        && args.scope.is_none()
        && args.grant_types.is_empty()
        && args.token_endpoint_auth_method.is_none()
        && args.keys.jwks_uri.is_none()
        && args.keys.jwks_file.is_none()
        && args.resource_server.is_none()
        && args.resources.is_empty();
    if nothing {
        bail!(
            "nothing to update: give at least one of --name, --redirect-uri, --scope, --grant-type, --token-endpoint-auth-method, --jwks-uri, --jwks-file, --resource-server, --resource"
        );
    }
    let mut settings = client.settings.clone();
    if let Some(name) = args.name {
        settings.name = name.trim().to_owned();
    }
    if !args.redirect_uris.is_empty() {
        settings.redirect_uris = args.redirect_uris;
    }
    if let Some(scope) = args.scope {
        settings.scope = Some(scope).filter(|s| !s.trim().is_empty());
    }
    if !args.grant_types.is_empty() {
        settings.grant_types = args.grant_types;
    }
    if let Some(method) = args.token_endpoint_auth_method {
        settings.auth_method = method;
    }
    settings.validate(&ctx.config.registration.allowed_redirect_schemes)?;
    // New keys replace the stored ones; a client leaving private_key_jwt loses its keys.
    let keys = match args.keys.read()? {
        Some(keys) => Some(keys),
        None if settings.auth_method == AuthMethod::PrivateKeyJwt => client.keys.clone(),
        None => None,
    };
    check_keys(settings.auth_method, keys.as_ref()).map_err(anyhow::Error::msg)?;
    let resources = if args.resources.is_empty() {
        None
    } else {
        Some(bound_resources(args.resources)?)
    };

    let (secret, secret_hash) =
        crate::app::clients::secret_transition(client.settings.auth_method, settings.auth_method);
    let update = ClientUpdate {
        settings: Some(settings),
        resource_server: args.resource_server,
        resources,
        keys: Some(keys),
        secret_hash,
        metadata: None,
    };
    let client = ctx
        .store
        .update_client(&args.id, update, ctx.clock.now())
        .await?;
    ctx.audit(client_event(AuditKind::ClientUpdated, &client))
        .await;
    let view = ClientView::new(&client, secret.as_deref());
    ctx.out.data(&view, || view.text())
}

/// The `--resource` values, checked like configured resources; empty values are dropped
/// (so `--resource ''` clears the list on update).
fn bound_resources(values: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut resources: Vec<String> = Vec::new();
    for value in values.into_iter().filter(|v| !v.trim().is_empty()) {
        if !is_acceptable_resource_uri(&value) {
            bail!(
                "--resource {value:?} must be an absolute https URL (or http on a loopback address) without a fragment"
            );
        }
        if !resources.contains(&value) {
            resources.push(value);
        }
    }
    Ok(resources)
}

/// The audit event of a client change made by an operator.
fn client_event(kind: AuditKind, client: &Client) -> AuditEvent {
    AuditEvent::new(kind)
        .client(&client.id)
        .with("name", client.settings.name.as_str())
}

async fn find(ctx: &Context, id: &str) -> anyhow::Result<Client> {
    ctx.store
        .find_client(id)
        .await?
        .with_context(|| format!("no client with id {id:?}"))
}
