//! `orc-ingress`: chapter 07's ingress controller and proxy, alone.
//!
//! ```text
//! orc-ingress --server http://127.0.0.1:6443 --http-address 0.0.0.0:80 --publish-address 10.0.0.2
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use orc_client::Client;
use orc_ingress::controller::status::Publish;
use orc_ingress::proxy;
use orc_ingress::routes::class::CONTROLLER;
use orc_ingress::server::{IngressConfig, run};

/// HTTP routing for the cluster's Ingresses.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "orc-ingress: the cluster's Ingresses as an HTTP reverse proxy"
)]
struct Args {
    /// The API server (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long)]
    token: Option<String>,
    /// Where to serve plain HTTP.
    #[arg(long, default_value = "0.0.0.0:80")]
    http_address: SocketAddr,
    /// Where to serve HTTPS (certificates from the Ingresses' spec.tls).
    #[arg(long, default_value = "0.0.0.0:443")]
    https_address: SocketAddr,
    /// Where to serve /healthz and /metrics.
    #[arg(long, default_value = "127.0.0.1:10254")]
    admin_address: SocketAddr,
    /// An address Ingresses publish in status.loadBalancer (repeat for
    /// several), whatever the nodes; default: the InternalIP of every
    /// Ready node labelled ingress.orc.dev/proxy=true.
    #[arg(long)]
    publish_address: Vec<IpAddr>,
    /// The IngressClass `spec.controller` this instance serves.
    #[arg(long, default_value = CONTROLLER)]
    controller_class: String,
    /// Largest request body, in bytes (more is 413).
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// Seconds to wait for a backend's response headers (then 504).
    #[arg(long, default_value_t = 60)]
    response_timeout: u64,
}

/// mimalloc, as `orc` (final/src/main.rs), whose `orc agent` runs this
/// same proxy on every node: the allocator is part of what a proxy costs
/// per request (glibc's malloc and free were 2% more instructions per
/// request than mimalloc's, 07-ingress/BENCH.md), so the standalone binary
/// and the benches use the one that ships in a cluster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orc_client::logging::init();
    let args = Args::parse();
    let mut client = Client::new(args.server);
    if let Some(token) = args.token {
        client = client.with_token(token);
    }
    let config = IngressConfig {
        http: args.http_address,
        https: args.https_address,
        admin: args.admin_address,
        publish: match args.publish_address.is_empty() {
            true => Publish::ProxyNodes,
            false => Publish::Fixed(args.publish_address),
        },
        controller: args.controller_class,
        proxy: proxy::Config {
            max_body: args.max_body,
            response_timeout: Duration::from_secs(args.response_timeout),
            ..proxy::Config::default()
        },
    };
    run(client, config).await?;
    Ok(())
}
