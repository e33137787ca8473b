//! `orc-controllers`: chapter 05's controller manager as a program.
//!
//! ```text
//! orc-controllers --server http://127.0.0.1:6443 [--token TOKEN] [--listen 127.0.0.1:10257]
//!                 [--node-monitor-grace-period 50]
//!                 [--node-eviction-rate 0.1] [--secondary-node-eviction-rate 0.01]
//!                 [--unhealthy-zone-threshold 0.55] [--large-cluster-size-threshold 50]
//!                 [--root-ca-file ca.crt] [--leader-elect]
//!                 [--horizontal-pod-autoscaler-sync-period 15s]
//!                 [--horizontal-pod-autoscaler-tolerance 0.1]
//!                 [--horizontal-pod-autoscaler-downscale-stabilization 5m0s]
//!                 [--horizontal-pod-autoscaler-initial-readiness-delay 30s]
//!                 [--horizontal-pod-autoscaler-cpu-initialization-period 5m0s]
//! ```

use clap::Parser;

/// orc's controllers (the garbage collector, ReplicaSets, Deployments)
/// against one API server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The API server's URL.
    #[arg(long, env = "ORC_SERVER", default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long, env = "ORC_TOKEN")]
    token: Option<String>,
    /// Where to serve /healthz and /metrics (kube-controller-manager's
    /// port is 10257), plain HTTP without authentication; not served
    /// unless given.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Seconds a node may go without a heartbeat before it is marked
    /// Unknown and tainted unreachable (Kubernetes'
    /// `--node-monitor-grace-period`).
    #[arg(long, default_value_t = 50)]
    node_monitor_grace_period: u64,
    #[command(flatten)]
    eviction: orc_controllers::node_lifecycle::flags::EvictionFlags,
    /// The CA bundle (PEM) to publish in every namespace as the ConfigMap
    /// `kube-root-ca.crt`, which pods' token volumes mount. Without it,
    /// the root CA publisher does not run.
    #[arg(long)]
    root_ca_file: Option<std::path::PathBuf>,
    /// Act only while holding the `kube-system/kube-controller-manager`
    /// Lease (kube-controller-manager's `--leader-elect`, with its 15 s
    /// lease, 10 s renew deadline and 2 s retry period), so that several
    /// copies can run and one acts. Exits when leadership is lost.
    #[arg(long)]
    leader_elect: bool,
    #[command(flatten)]
    hpa: orc_controllers::hpa::flags::HpaFlags,
}

#[tokio::main]
async fn main() {
    orc_client::logging::init();
    let args = Args::parse();
    let node_monitor = orc_controllers::node_lifecycle::Timing {
        grace_period: std::time::Duration::from_secs(args.node_monitor_grace_period),
        eviction: args.eviction.rates(),
        ..Default::default()
    };
    let root_ca = match &args.root_ca_file {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                eprintln!("error: reading --root-ca-file {}: {e}", path.display());
                std::process::exit(1);
            }
        },
    };
    let config = orc_controllers::Config {
        token: args.token,
        root_ca,
        node_monitor,
        leader_election: args.leader_elect.then(orc_controllers::Timings::default),
        hpa: args.hpa.tuning(),
        ..orc_controllers::Config::new(args.server)
    };
    if let Some(addr) = args.listen {
        match orc_controllers::http::bind(addr).await {
            Ok(listener) => {
                tokio::spawn(orc_controllers::http::serve(
                    listener,
                    config.metrics.clone(),
                ));
            }
            Err(e) => {
                eprintln!("error: serving /healthz and /metrics on --listen {addr}: {e}");
                std::process::exit(1);
            }
        }
    }
    orc_controllers::run(config).await;
    if args.leader_elect {
        // As kube-controller-manager: a manager that lost the Lease exits,
        // and whatever supervises it starts a fresh candidate.
        eprintln!("error: leadership of kube-system/kube-controller-manager lost");
        std::process::exit(1);
    }
}
