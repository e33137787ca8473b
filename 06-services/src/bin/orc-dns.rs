//! `orc-dns`: chapter 06's cluster DNS, alone.
//!
//! ```text
//! orc-dns --server http://127.0.0.1:6443 --listen 127.0.0.1:5353
//! dig @127.0.0.1 -p 5353 kubernetes.default.svc.cluster.local
//! ```
//!
//! `orc agent` runs the same server on every node; this binary is for
//! running it apart (and for the DNS benchmark).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use orc_client::Client;
use orc_services::dns::{self, DnsConfig, DnsSockets, Upstream};

/// The cluster's names over DNS.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "orc-dns: the cluster's Services and pods as DNS names (the course's CoreDNS)"
)]
struct Args {
    /// The API server (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long)]
    token: Option<String>,
    /// Where to answer, over UDP and TCP.
    #[arg(long, default_value = "127.0.0.1:53")]
    listen: SocketAddr,
    /// The cluster domain.
    #[arg(long, default_value = dns::CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// The resolv.conf whose nameservers answer every other name.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orc_client::logging::init();
    let args = Args::parse();
    let resolv = std::fs::read_to_string(&args.resolv_conf).with_context(|| {
        format!(
            "reading {} (or give --resolv-conf)",
            args.resolv_conf.display()
        )
    })?;
    let config = DnsConfig {
        zone: args.cluster_domain,
        upstream: Upstream::from_resolv_conf(&resolv),
    };
    let sockets = DnsSockets::bind_in(orc_pod::netns::HOST_NETNS.as_ref(), args.listen)
        .with_context(|| format!("binding {} over UDP and TCP (--listen)", args.listen))?;
    let mut client = Client::new(args.server.trim_end_matches('/'));
    if let Some(token) = args.token {
        client = client.with_token(token);
    }
    tracing::info!(listen = %args.listen, zone = config.zone, "orc-dns running; Ctrl-C stops it");
    tokio::select! {
        served = dns::run(client, config, sockets) => served.context("serving DNS")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
