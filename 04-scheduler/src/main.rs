//! `orc-scheduler`: chapter 04's scheduler as a program.
//!
//! ```text
//! orc-scheduler --server http://127.0.0.1:6443 [--token TOKEN]
//!               [--listen 127.0.0.1:10259] [--most-allocated] [--leader-elect]
//! ```

use std::net::SocketAddr;

use clap::Parser;

/// The allocator of this program, as `orc server`'s and `orc-apiserver`'s
/// (chapter 03 says why): the scheduler decodes and drops many small JSON
/// values per pod, on several worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// orc's scheduler against one API server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The API server's URL.
    #[arg(long, env = "ORC_SERVER", default_value = "http://127.0.0.1:6443")]
    server: String,
    /// A bearer token for the API server.
    #[arg(long, env = "ORC_TOKEN")]
    token: Option<String>,
    /// Where to serve /healthz and /metrics (kube-scheduler's port is 10259).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Pack pods onto the fullest nodes (MostAllocated) instead of
    /// spreading them (LeastAllocated).
    #[arg(long)]
    most_allocated: bool,
    /// Schedule only while holding the kube-system/kube-scheduler Lease,
    /// so that several copies can run and one acts.
    #[arg(long)]
    leader_elect: bool,
    /// Kubernetes' percentageOfNodesToScore (0: adaptive).
    #[arg(long, default_value_t = 0)]
    percentage_of_nodes_to_score: usize,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    orc_client::logging::init();
    let args = Args::parse();
    let mut config = orc_scheduler::Config::new(args.server);
    config.token = args.token;
    config.listen = args.listen;
    config.percentage_of_nodes_to_score = args.percentage_of_nodes_to_score;
    if args.leader_elect {
        config.leader_election = Some(orc_scheduler::Timings::default());
    }
    if args.most_allocated {
        config.scoring_strategy = orc_scheduler::ScoringStrategy::MostAllocated;
    }
    orc_scheduler::run(config).await
}
