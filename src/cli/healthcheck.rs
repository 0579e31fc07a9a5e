//! `mcp-authd healthcheck`: a container health probe that needs no curl in the image.

use crate::config::Config;
use anyhow::{Context, bail};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Flags of `healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Address to probe (default: the configured `listen`, with 0.0.0.0 read as loopback).
    #[arg(long, value_name = "ADDR")]
    pub addr: Option<SocketAddr>,
}

/// Exits non-zero unless `GET /healthz` on the local server answers 200 within 3 seconds.
pub async fn run(config: &Config, args: &HealthcheckArgs) -> anyhow::Result<()> {
    let mut addr = args.addr.unwrap_or(config.listen);
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let status = tokio::time::timeout(Duration::from_secs(3), probe(addr))
        .await
        .with_context(|| format!("no answer from {addr} within 3 seconds"))??;
    if status != 200 {
        bail!("{addr}/healthz answered {status}");
    }
    Ok(())
}

async fn probe(addr: SocketAddr) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{addr} did not answer HTTP"))
}
