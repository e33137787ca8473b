//! `orc-apiserver`: the chapter 03 API server as a program.
//!
//! ```text
//! orc-apiserver --etcd http://127.0.0.1:2379 --listen 127.0.0.1:6443 \
//!     [--token-file tokens.csv] [--tls-cert-file cert.pem --tls-private-key-file key.pem] \
//!     [--encryption-key-file key1.hex]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Bearer tokens, one per line (`token[,user,uid]`). Without it, no authentication.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// PEM certificate chain to serve HTTPS with (needs --tls-private-key-file).
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// A file with a 64-hex-digit AES-256 key: Secrets are encrypted in etcd.
    #[arg(long)]
    encryption_key_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = orc_apiserver::Config::new(args.etcd, args.listen);
    config.token_file = args.token_file;
    config.encryption_key_file = args.encryption_key_file;
    config.tls = args.tls_cert_file.zip(args.tls_private_key_file);
    orc_apiserver::run(config)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("orc-apiserver stopped")
}
