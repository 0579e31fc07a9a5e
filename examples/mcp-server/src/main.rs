//! `example-mcp-server`: run the example MCP server in front of a running mcp-authd.

use anyhow::Context;
use clap::Parser;
use mcp_authd_example_server::upstream::UpstreamSettings;
use mcp_authd_example_server::{Settings, serve};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// An MCP server protected by mcp-authd, with the tool `whoami` and, given an identity
/// provider, `upstream_profile`.
#[derive(Debug, Parser)]
#[command(name = "example-mcp-server", version, about)]
struct Args {
    /// Socket address to listen on.
    #[arg(long, env = "EXAMPLE_MCP_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The MCP endpoint's public URL: the resource that mcp-authd's [[resources]] names.
    #[arg(
        long,
        env = "EXAMPLE_MCP_RESOURCE",
        default_value = "http://127.0.0.1:3000/mcp"
    )]
    resource: String,
    /// mcp-authd's issuer, exactly as configured there.
    #[arg(
        long,
        env = "EXAMPLE_MCP_ISSUER",
        default_value = "http://127.0.0.1:8080"
    )]
    issuer: String,
    /// The scope a token needs.
    #[arg(long, env = "EXAMPLE_MCP_SCOPE", default_value = "mcp:tools")]
    scope: String,
    /// Allowed clock difference with mcp-authd, in seconds.
    #[arg(long, env = "EXAMPLE_MCP_LEEWAY", default_value_t = 30)]
    leeway: u64,
    /// The identity provider (its id in mcp-authd) whose API `upstream_profile` calls.
    #[arg(
        long,
        env = "EXAMPLE_MCP_UPSTREAM_PROVIDER",
        requires_all = ["client_id", "client_secret_file", "upstream_profile_url"]
    )]
    upstream_provider: Option<String>,
    /// The provider API URL `upstream_profile` reads, e.g. https://api.github.com/user.
    #[arg(
        long,
        env = "EXAMPLE_MCP_UPSTREAM_PROFILE_URL",
        requires = "upstream_provider"
    )]
    upstream_profile_url: Option<url::Url>,
    /// This server's client at mcp-authd (`clients create --resource-server --resource …`).
    #[arg(long, env = "EXAMPLE_MCP_CLIENT_ID", requires = "upstream_provider")]
    client_id: Option<String>,
    /// A file holding that client's secret.
    #[arg(
        long,
        env = "EXAMPLE_MCP_CLIENT_SECRET_FILE",
        requires = "upstream_provider"
    )]
    client_secret_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut settings = Settings::new(&args.resource, &args.issuer)?;
    settings.required_scope = args.scope.clone();
    settings.scopes_supported = vec![args.scope];
    settings.leeway = Duration::from_secs(args.leeway);
    if let (Some(provider), Some(profile_url), Some(client_id), Some(secret_file)) = (
        args.upstream_provider,
        args.upstream_profile_url,
        args.client_id,
        args.client_secret_file,
    ) {
        let client_secret = std::fs::read_to_string(&secret_file)
            .with_context(|| format!("reading {}", secret_file.display()))?
            .trim()
            .to_owned();
        settings.upstream = Some(UpstreamSettings {
            provider,
            client_id,
            client_secret,
            profile_url,
        });
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(resource = %args.resource, issuer = %args.issuer, "example MCP server is serving");
    serve(listener, settings, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
