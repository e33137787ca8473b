//! `orc-agent`: the node agent's command line.
//!
//! - `run` keeps the pods of a manifest directory running (the kubelet with
//!   `--pod-manifest-path`); stopping it leaves the pods running, and the
//!   next `run` adopts them.
//! - `pods` prints the pods' status like `kubectl get pods`.
//! - `logs POD [-c CONTAINER] [-f] [-p] [--tail N]` prints a container's log.
//! - `run --listen ADDR` also serves the logs over HTTP for the API server
//!   (`orc_pod::agent::server`).
//! - `shim` (hidden) is the per-container shim, see `orc_pod::shim`.
//!
//! Called through a link named `orc-container`, the binary is chapter 01's
//! runtime instead, with the runtime's own command line (as `orc` is).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use orc_container::image::registry::PullOptions;
use orc_container::image::{DEFAULT_STORE, Store};
use orc_pod::agent::clock::{SystemClock, parse_duration};
use orc_pod::agent::layout::StateLayout;
use orc_pod::agent::report::read_statuses;
use orc_pod::agent::server;
use orc_pod::agent::{Agent, AgentConfig};
use orc_pod::image::{ImageSource, StoreImages};
use orc_pod::logs::{self, LogOptions};
use orc_pod::source::{ManifestDir, PodSource};
use orc_pod::status::ContainerState;
use orc_pod::{Ipv4Cidr, shim};

#[derive(Parser)]
#[command(
    name = "orc-agent",
    version,
    about = "orc's node agent: runs static pods"
)]
struct Cli {
    /// The agent's state directory (pods, logs, runtime state, IPAM).
    #[arg(long, global = true, default_value = "/var/lib/orc-agent")]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pods of a manifest directory until interrupted (Ctrl-C
    /// stops the agent and leaves the pods running; the next `run` adopts them).
    Run {
        #[arg(long)]
        manifests: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        sync_period: Duration,
        /// Serve `/containerLogs`, `/exec`, ... and `/healthz` here, as the
        /// kubelet does on port 10250. Plain HTTP without authentication, so
        /// a loopback address only (`orc agent` serves TLS to the API server).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Stop every pod gracefully and remove the node's pod network.
    Drain {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// List pods like `kubectl get pods`.
    Pods,
    /// Print a container's log.
    Logs {
        /// The pod's name (or namespace/name).
        pod: String,
        #[command(flatten)]
        args: LogArgs,
    },
    #[command(hide = true)]
    Shim(shim::ShimArgs),
}

/// What `orc-agent logs` shows: `kubectl logs`' flags.
#[derive(clap::Args)]
struct LogArgs {
    #[arg(short, long)]
    container: Option<String>,
    /// Keep printing what is appended, until the container's run ends.
    #[arg(short, long)]
    follow: bool,
    /// The previous run's log (after a restart).
    #[arg(short, long)]
    previous: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<u64>,
}

/// The node's settings, shared by `run` and `drain`.
#[derive(clap::Args)]
struct NodeArgs {
    /// The node's network namespace (default: the agent's own).
    #[arg(long)]
    node_netns: Option<PathBuf>,
    #[arg(long, default_value = "10.244.0.0/24")]
    pod_cidr: Ipv4Cidr,
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: Ipv4Cidr,
    #[arg(long, default_value = "orc0")]
    bridge: String,
    #[arg(long, default_value = "orc")]
    cgroup_root: String,
    /// The `orc-container` binary (default: next to this one, then PATH).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// The image store containers' images come from (chapter 01's, shared
    /// with `orc-container image`). A missing `busybox` is built from the
    /// node's own `/bin/busybox`.
    #[arg(long, default_value = DEFAULT_STORE)]
    images: PathBuf,
    /// Never pull: an image not in the store fails with `ErrImagePull`
    /// (the default pulls it, like `imagePullPolicy: IfNotPresent`).
    #[arg(long)]
    no_pull: bool,
}

impl NodeArgs {
    fn images(&self) -> anyhow::Result<Arc<dyn ImageSource>> {
        let store = Store::open(&self.images)
            .with_context(|| format!("opening the image store {}", self.images.display()))?;
        let pull = (!self.no_pull).then(PullOptions::default);
        Ok(Arc::new(StoreImages::new(store, pull)))
    }

    fn config(self, state: &Path, sync_period: Duration) -> anyhow::Result<AgentConfig> {
        let me = std::env::current_exe().context("finding orc-agent's own path")?;
        let runtime = match self.runtime {
            Some(path) => path,
            None => find_runtime(&me)?,
        };
        Ok(AgentConfig {
            state_dir: state.to_path_buf(),
            runtime_program: runtime,
            shim_program: me,
            node_netns: self
                .node_netns
                .unwrap_or_else(|| orc_pod::netns::HOST_NETNS.into()),
            pod_cidr: self.pod_cidr,
            cluster_cidr: self.cluster_cidr,
            bridge: self.bridge,
            cgroup_root: self.cgroup_root,
            sync_period,
            // Static pods only: no Node object announces an address.
            node_ip: None,
            cluster_dns: None,
            host_resolv_conf: "/etc/resolv.conf".into(),
        })
    }
}

fn main() -> anyhow::Result<()> {
    // Called as `orc-container` (a link to this binary), orc-agent *is*
    // chapter 01's runtime, which it links as a library anyway; the runtime
    // re-executes `/proc/self/exe init` to become a container, so `init`
    // goes to it too. `orc` does the same (final/src/main.rs): the tests
    // then need no separate runtime binary, which cargo only names to the
    // tests of orc-container's own package.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("init") {
        orc_container::init::main();
    }
    let called = Path::new(args.first().map(String::as_str).unwrap_or(""));
    if called.file_name().and_then(|n| n.to_str()) == Some("orc-container") {
        orc_container::cli::main(args);
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        // The shim must stay single-threaded: no tokio, no tracing set-up.
        Command::Shim(args) => std::process::exit(shim::run(&args)),
        Command::Pods => pods(&StateLayout::new(&cli.state)),
        Command::Logs { pod, args } => show_logs(&StateLayout::new(&cli.state), &pod, &args),
        Command::Run {
            manifests,
            node,
            sync_period,
            listen,
        } => {
            init_tracing();
            let images = node.images()?;
            let config = node.config(&cli.state, sync_period)?;
            let sources: Vec<Box<dyn PodSource>> = vec![Box::new(ManifestDir::new(manifests))];
            tokio::runtime::Runtime::new()?.block_on(async {
                if let Some(addr) = listen {
                    if !addr.ip().is_loopback() {
                        bail!(
                            "--listen {addr}: this port runs commands in every pod for \
                             anyone who reaches it, over plain HTTP; give a loopback \
                             address (127.0.0.1), or run `orc agent`, which serves TLS"
                        );
                    }
                    let stop = async {
                        let _ = tokio::signal::ctrl_c().await;
                    };
                    // Chapter 02's agent alone: plain HTTP, for loopback
                    // (`orc agent` serves TLS to the API server only).
                    server::spawn(
                        addr,
                        server::Listening::PlainHttp,
                        StateLayout::new(&cli.state),
                        config.runtime_program.clone(),
                        stop,
                    )
                    .await
                    .with_context(|| format!("listening on {addr} (--listen)"))?;
                }
                let mut agent = new_agent(config, sources, images).await?;
                tracing::info!("agent running; Ctrl-C stops the agent and leaves pods running");
                agent
                    .run(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await;
                agent.wait_idle().await;
                anyhow::Ok(())
            })
        }
        Command::Drain { node } => {
            init_tracing();
            let images = node.images()?;
            let config = node.config(&cli.state, Duration::from_secs(1))?;
            tokio::runtime::Runtime::new()?.block_on(async {
                let agent = new_agent(config, vec![], images).await?;
                agent.drain_and_teardown().await?;
                anyhow::Ok(())
            })
        }
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

async fn new_agent(
    config: AgentConfig,
    sources: Vec<Box<dyn PodSource>>,
    images: Arc<dyn ImageSource>,
) -> anyhow::Result<Agent> {
    Ok(Agent::new(config, sources, images, Arc::new(SystemClock)).await?)
}

/// `orc-container` next to this binary (as cargo builds them), else on PATH.
fn find_runtime(me: &Path) -> anyhow::Result<PathBuf> {
    let sibling = me.with_file_name("orc-container");
    if sibling.exists() {
        return Ok(sibling);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("orc-container").exists() {
            return Ok(dir.join("orc-container"));
        }
    }
    bail!("orc-container not found next to orc-agent or on PATH: pass --runtime")
}

fn pods(layout: &StateLayout) -> anyhow::Result<()> {
    println!(
        "{:<12} {:<24} {:<6} {:<18} {:<9} IP",
        "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS"
    );
    for (pod, status) in read_statuses(layout) {
        let cs = &status.container_statuses;
        let ready = cs.iter().filter(|c| c.ready).count();
        let restarts: u32 = cs.iter().map(|c| c.restart_count).sum();
        // Like kubectl: a container's reason (CrashLoopBackOff, OOMKilled...)
        // says more than the phase.
        let reason = cs
            .iter()
            .find_map(|c| match &c.state {
                ContainerState::Waiting { reason, .. }
                    if reason != "ContainerCreating" || status.phase.to_string() == "Pending" =>
                {
                    Some(reason.clone())
                }
                ContainerState::Terminated { reason, .. }
                    if status.phase.to_string() == "Running" =>
                {
                    Some(reason.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| status.phase.to_string());
        println!(
            "{:<12} {:<24} {:<6} {:<18} {:<9} {}",
            pod.metadata.namespace,
            pod.metadata.name,
            format!("{ready}/{}", cs.len()),
            reason,
            restarts,
            status.pod_ip.as_deref().unwrap_or("<none>")
        );
    }
    if let Ok(text) = std::fs::read_to_string(layout.manifest_errors()) {
        let errors: Vec<orc_pod::source::ManifestError> =
            serde_json::from_str(&text).unwrap_or_default();
        for e in errors {
            println!("\nmanifest not used: {e}");
        }
    }
    Ok(())
}

/// `orc-agent logs`: the same choice of file as the agent's server (so the
/// same refusals, in the kubelet's words), printed from the files directly.
fn show_logs(layout: &StateLayout, name: &str, args: &LogArgs) -> anyhow::Result<()> {
    let (ns, name) = name.split_once('/').unwrap_or(("default", name));
    let Some(pod) = server::find_pod(layout, ns, name) else {
        bail!("no pod {ns}/{name} on this node (see `orc-agent pods`)");
    };
    let container = match &args.container {
        Some(c) => c.to_string(),
        None if pod.spec.containers.len() == 1 => pod.spec.containers[0].name.clone(),
        None => {
            let names: Vec<&str> = pod
                .spec
                .containers
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            bail!(
                "pod {name} has several containers: choose one with -c ({})",
                names.join(", ")
            );
        }
    };
    let options = LogOptions {
        follow: args.follow,
        previous: args.previous,
        tail_lines: args.tail,
        limit_bytes: None,
    };
    let chosen = server::choose_log(layout, ns, name, &container, &options)
        .map_err(|(_, why)| anyhow::anyhow!(why))?;
    logs::copy_log(
        &chosen.path,
        chosen.start,
        &mut std::io::stdout().lock(),
        args.follow,
        || chosen.run_ended.exists(),
    )
    .with_context(|| format!("reading {}", chosen.path.display()))
}
