//! `orc-apiserver`: the chapter 03 API server as a program.
//!
//! ```text
//! orc-apiserver --etcd http://127.0.0.1:2379 --listen 127.0.0.1:6443 \
//!     [--token-file tokens.csv] [--tls-cert-file cert.pem --tls-private-key-file key.pem \
//!     [--client-ca-file ca.crt]] \
//!     [--encryption-provider-config encryption.yaml] \
//!     [--service-cluster-ip-range 10.96.0.0/12] [--service-node-port-range 30000-32767] \
//!     [--max-requests-inflight 400] [--max-mutating-requests-inflight 200] \
//!     [--request-timeout 60s] [--min-request-timeout 1800] [--etcd-compaction-interval 5m] \
//!     [--etcd-defrag-interval 1h] [--event-ttl 1h]
//! ```

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

/// The allocator of this program only; the library leaves that choice to
/// whatever program links it. Every request allocates many small,
/// short-lived values (the object's JSON tree, header maps, gRPC frames to
/// etcd), often freed on another worker thread than the one that allocated
/// them. mimalloc's per-thread free lists serve that pattern with less
/// locking and bookkeeping than glibc's malloc, whose functions took about
/// a tenth of the server's CPU samples under `perf` in
/// `cargo bench -p orc-apiserver --bench create`. With mimalloc the server
/// used about 8% less CPU over that benchmark (`perf stat` task-clock of
/// the server process: 404-429 ms before, 358-397 ms after, 4 020 creates).
/// Built without transparent huge pages (the workspace's `no_thp`
/// feature): with them, a 2 MiB page of mimalloc's heap stayed resident
/// whole for a few bytes in use, some 15 MB idle and 60 MB once the
/// watch cache had filled (chapter 03, "The watch cache").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    #[command(flatten)]
    services: orc_apiserver::services::ServiceFlags,
    #[command(flatten)]
    limits: orc_apiserver::limits::LimitFlags,
    #[command(flatten)]
    compaction: orc_apiserver::compaction::CompactionFlags,
    #[command(flatten)]
    metrics: orc_apiserver::metrics_api::MetricsFlags,
    #[command(flatten)]
    watch_cache: orc_apiserver::watch_cache::WatchCacheFlags,
    #[command(flatten)]
    events: orc_apiserver::storage::leases::EventTtlFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    orc_apiserver::allocator::tune_mimalloc();
    orc_client::logging::init();
    let args = Args::parse();
    let config = args
        .security
        .apply(orc_apiserver::Config::new(args.etcd, args.listen))?;
    let mut config = args.services.apply(config);
    config.limits = args.limits.limits();
    config.compaction_interval = args.compaction.interval();
    config.defrag_interval = args.compaction.defrag_interval();
    config.watch_cache = args.watch_cache.settings();
    config.metric_resolution = args.metrics.metric_resolution;
    config.event_ttl = args.events.event_ttl;
    orc_apiserver::run(config)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("orc-apiserver stopped")
}
