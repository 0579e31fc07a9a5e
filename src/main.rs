//! The `mcp-authd` binary: parse the command line and hand over to the library.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request's many small, short-lived
/// allocations cost a third of glibc malloc's instructions, and freed memory goes back to
/// the thread that will reuse it instead of growing one arena per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = mcp_authd::cli::Cli::parse();
    match mcp_authd::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
