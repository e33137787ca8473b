//! `orc-proxy`: chapter 06's proxy for one node, alone.
//!
//! ```text
//! orc-proxy --server http://127.0.0.1:6443 --node-name node-1 --cluster-cidr 10.244.0.0/16
//! orc-proxy --cleanup          # remove every rule and chain it made
//! ```
//!
//! `orc agent` runs the same proxy inside the agent; this binary is for
//! running it apart (and for `--cleanup` after an agent is gone).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use orc_client::Client;
use orc_pod::agent::clock::parse_duration;
use orc_services::ProxyConfig;

/// Services as iptables rules on this node.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "orc-proxy: Services as iptables rules on this node (the course's kube-proxy)"
)]
struct Args {
    /// The API server (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long)]
    token: Option<String>,
    /// This node's name, as its Node object has it (default: the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// Every pod's range: traffic to a cluster IP from outside it is masqueraded.
    #[arg(long)]
    cluster_cidr: Option<orc_pod::Ipv4Cidr>,
    /// The network namespace to write rules in (default: this process's).
    #[arg(long)]
    node_netns: Option<PathBuf>,
    /// The least time between two syncs.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    iptables_min_sync_period: Duration,
    /// How often the jumps into the proxy's chains are checked (a missing
    /// one brings a full sync; full syncs also come every hour).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    iptables_sync_period: Duration,
    /// Remove every rule and chain orc-proxy made, then exit.
    #[arg(long)]
    cleanup: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orc_client::logging::init();
    let args = Args::parse();
    let netns = args
        .node_netns
        .clone()
        .unwrap_or_else(|| orc_pod::netns::HOST_NETNS.into());
    if args.cleanup {
        let target = netns.clone();
        tokio::task::spawn_blocking(move || orc_services::cleanup(target))
            .await?
            .with_context(|| format!("cleaning up orc-proxy's rules in {}", netns.display()))?;
        println!(
            "orc-proxy's rules and chains are gone from {}",
            netns.display()
        );
        return Ok(());
    }
    let node_name = match args.node_name {
        Some(name) => name,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .context("reading the hostname (or give --node-name)")?
            .trim()
            .to_string(),
    };
    let mut client = Client::new(args.server.trim_end_matches('/'));
    if let Some(token) = args.token {
        client = client.with_token(token);
    }
    let config = ProxyConfig {
        cluster_cidr: args.cluster_cidr,
        netns,
        min_sync_period: args.iptables_min_sync_period,
        sync_period: args.iptables_sync_period,
        ..ProxyConfig::new(node_name)
    };
    tracing::info!(
        node = config.node_name,
        "orc-proxy running; Ctrl-C stops it and leaves the rules"
    );
    tokio::select! {
        () = orc_services::proxy::run(client, config) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
