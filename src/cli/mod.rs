//! The command line: one binary that serves and administers, parsed with clap.

mod audit;
mod clients;
pub mod doctor;
mod grants;
mod healthcheck;
mod keys;
mod output;
mod password_input;
mod resources;
mod tokens;
mod users;

use crate::config::{self, Config, Overrides};
use crate::server;
use crate::store::Store;
use crate::support::clock::Clock;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

pub use output::Output;

/// mcp-authd: an OAuth 2.1 authorization server for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-authd", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: config/mcp-authd.toml if present).
    #[arg(long, global = true, env = "MCP_AUTHD_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite file and generated keys.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print data as JSON on stdout (logs and messages stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Exit 0 if the local server answers /healthz (for container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Manage the people who can log in.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// What people have consented to; revoke it for them.
    #[command(subcommand)]
    Grants(grants::GrantsCommand),
    /// The configured MCP servers (resources).
    #[command(subcommand)]
    Resources(resources::ResourcesCommand),
    /// Show and rotate the access-token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Check a deployment from outside, as an MCP client meets it.
    Doctor(doctor::DoctorArgs),
    /// Introspect a token; revoke every token of a person or a client.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Read the stored security events (sign-ins, consents, client and key changes).
    Audit(audit::AuditArgs),
}

/// Flags of `serve`, the strongest configuration layer.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Socket address to listen on (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Public issuer URL (overrides `issuer`).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
}

/// What an administrative command needs: configuration, an open store, and an output mode.
pub struct Context {
    /// Validated configuration.
    pub config: Config,
    /// The migrated database.
    pub store: Store,
    /// Wall-clock time.
    pub clock: Clock,
    /// Human text or JSON.
    pub out: Output,
}

/// Loads configuration from the process environment and runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    // The doctor looks from outside: it needs no database or keys, and reads the
    // configuration only for the identity providers it names, when it loads.
    if let Command::Doctor(args) = &cli.command {
        let overrides = Overrides {
            config_path: cli.config.clone(),
            ..Overrides::default()
        };
        let providers = config::load(&overrides, env)
            .map(|config| config.identity_providers)
            .unwrap_or_default();
        return doctor::run(args, &providers, Output::new(cli.json)).await;
    }
    let (listen, issuer) = match &cli.command {
        Command::Serve(args) => (args.listen, args.issuer.clone()),
        _ => (None, None),
    };
    let overrides = Overrides {
        config_path: cli.config.clone(),
        listen,
        issuer,
        data_dir: cli.data_dir.clone(),
    };
    let config = config::load(&overrides, env)?;
    let _log_writer = crate::support::telemetry::init(config.log.format, &config.log.level);
    let out = Output::new(cli.json);
    match cli.command {
        Command::Serve(_) => server::run(config).await,
        Command::Healthcheck(args) => healthcheck::run(&config, &args).await,
        Command::Migrate => {
            server::open_store(&config).await?.close().await;
            out.note("database is up to date");
            Ok(())
        }
        Command::Users(command) => {
            with_store(config, out, async |ctx| users::run(ctx, command).await).await
        }
        Command::Clients(command) => {
            with_store(config, out, async |ctx| clients::run(ctx, command).await).await
        }
        Command::Grants(command) => {
            with_store(config, out, async |ctx| grants::run(ctx, command).await).await
        }
        Command::Keys(command) => {
            with_store(config, out, async |ctx| keys::run(ctx, command).await).await
        }
        Command::Tokens(command) => {
            with_store(config, out, async |ctx| tokens::run(ctx, command).await).await
        }
        Command::Resources(command) => resources::run(&config, out, command),
        Command::Doctor(args) => doctor::run(&args, &config.identity_providers, out).await,
        Command::Audit(args) => {
            with_store(config, out, async |ctx| audit::run(ctx, args).await).await
        }
    }
}

/// Opens (and migrates) the database, runs `command`, and closes the database either way.
async fn with_store(
    config: Config,
    out: Output,
    command: impl AsyncFnOnce(&Context) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let ctx = context(config, out).await?;
    let result = command(&ctx).await;
    ctx.store.close().await;
    result
}

async fn context(config: Config, out: Output) -> anyhow::Result<Context> {
    let store = server::open_store(&config).await?;
    Ok(Context {
        config,
        store,
        clock: Clock::system(),
        out,
    })
}
