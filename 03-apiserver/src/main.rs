//! `orc-apiserver`: the chapter 03 API server as a program.
//!
//! ```text
//! orc-apiserver --etcd http://127.0.0.1:2379 --listen 127.0.0.1:6443 \
//!     [--token-file tokens.csv] [--tls-cert-file cert.pem --tls-private-key-file key.pem] \
//!     [--encryption-key-file key1.hex]
//! ```

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

/// A Kubernetes-shaped API server on etcd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// etcd client URL.
    #[arg(long, env = "ORC_ETCD", default_value = "http://127.0.0.1:2379")]
    etcd: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    #[command(flatten)]
    security: orc_apiserver::server::SecurityFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = args
        .security
        .apply(orc_apiserver::Config::new(args.etcd, args.listen));
    orc_apiserver::run(config)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("orc-apiserver stopped")
}
