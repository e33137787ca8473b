//! `orc node stop|start|partition|heal NODE`: a node of an `orc up`
//! cluster fails on purpose, so that a student watches what Kubernetes
//! does about it (chapter 08, "When a node dies").
//!
//! - `stop` kills the node's agent with SIGKILL, as a kubelet that
//!   crashed: its containers run on (each has its own shim), but no one
//!   renews the node's Lease, so after `--node-monitor-grace-period` the
//!   node lifecycle controller marks it NotReady and taints it
//!   `node.kubernetes.io/unreachable`, and taint eviction deletes its pods
//!   once their tolerations run out (300 s unless they say otherwise).
//!   Their owners create replacements on the other nodes; the old pods
//!   stay `Terminating`, since only their node can say they stopped. The
//!   node's proxy, DNS and ingress live in the agent's process and stop
//!   with it. `--kill-pods` also kills its containers and removes their
//!   mounts and cgroups: a machine that lost its power.
//! - `start` runs the agent again with the command line `orc up` gave it
//!   (the record keeps it): the same flags and credentials. It adopts the
//!   containers still running, stops those whose pods were deleted,
//!   renews the Lease, and the node is Ready again; `start` waits for
//!   that.
//! - `partition` pulls the node's cable ([`network::set_cable`]): its
//!   agent and pods keep running, and keep trying, but reach neither the
//!   API server nor the other nodes. To the control plane it looks like
//!   `stop`; to the node, the API server went silent. `heal` plugs it back.
//!
//! Only a cluster `orc up` started has the record these need, and only
//! root may signal its agents and change its namespaces.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use orc_client::{Client, Method};

use super::network::{self, Cable};
use super::record::Record;
use super::{leftovers, processes};
use crate::credentials::{self, ClusterCa};

/// How long `orc node start` waits for the Node to be Ready again.
const READY_AGAIN: Duration = Duration::from_secs(60);

/// `orc node ACTION NODE`.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Kill the node's agent, as a crashed kubelet: its pods run on, and
    /// the control plane stops hearing from the node.
    Stop {
        #[command(flatten)]
        node: Which,
        /// Kill the node's containers too, as a machine that lost power.
        #[arg(long)]
        kill_pods: bool,
    },
    /// Start the node's agent again, with the flags `orc up` gave it.
    Start(Which),
    /// Cut the node off the cluster's network; its agent and pods run on.
    Partition(Which),
    /// Reconnect a partitioned node.
    Heal(Which),
}

/// The node, and the cluster it belongs to.
#[derive(Args, Debug)]
pub struct Which {
    /// The node's name, as `kubectl get nodes` shows it (`node-2`).
    pub node: String,
    #[arg(long, default_value = "/var/lib/orc")]
    pub data_dir: PathBuf,
}

/// A node of the recorded cluster.
struct Target {
    record: Record,
    /// Its place in the record's lists.
    index: usize,
    name: String,
}

impl Target {
    /// The cluster on `which.data_dir` and its node `which.node`, for the
    /// command `verb`; refuses a caller that is not root.
    fn find(which: &Which, verb: &str) -> Result<Target> {
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "`orc node {verb}` needs root: it signals the node's processes and changes \
                 its network namespaces (run it with sudo)"
            );
        }
        let data_dir = std::path::absolute(&which.data_dir)
            .with_context(|| format!("resolving {}", which.data_dir.display()))?;
        let Some(record) = Record::read(&data_dir)? else {
            bail!(
                "no cluster is up on {}: `orc node` works on the clusters `orc up` starts \
                 (`orc up --data-dir {}`); for another cluster, stop its node's kubelet \
                 yourself",
                data_dir.display(),
                data_dir.display()
            );
        };
        let names: Vec<&str> = record
            .network
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        let Some(index) = names.iter().position(|n| *n == which.node) else {
            bail!(
                "cluster {} has no node {:?}; its nodes are {}",
                record.id,
                which.node,
                names.join(", ")
            );
        };
        Ok(Target {
            name: which.node.clone(),
            record,
            index,
        })
    }

    fn pid(&self) -> u32 {
        self.record.agent_pids.get(self.index).copied().unwrap_or(0)
    }

    fn agent_running(&self) -> bool {
        processes::running(self.pid(), &self.record.data_dir)
    }

    fn log(&self) -> PathBuf {
        self.record.data_dir.join(format!("logs/{}.log", self.name))
    }
}

/// `orc node ...`.
pub fn run(command: NodeCommand) -> Result<()> {
    match command {
        NodeCommand::Stop { node, kill_pods } => stop(&Target::find(&node, "stop")?, kill_pods),
        NodeCommand::Start(node) => start(Target::find(&node, "start")?),
        NodeCommand::Partition(node) => partition(&Target::find(&node, "partition")?),
        NodeCommand::Heal(node) => heal(&Target::find(&node, "heal")?),
    }
}

/// `orc node stop`: SIGKILL to the agent, and with `kill_pods`, its
/// containers removed as `orc down` removes what a node left.
fn stop(target: &Target, kill_pods: bool) -> Result<()> {
    let name = &target.name;
    if !target.agent_running() {
        bail!("{name}'s agent is not running; `orc node start {name}` starts it");
    }
    processes::kill_now(target.pid(), &target.record.data_dir)?;
    println!(
        "{name}: agent (pid {}) killed, as a crashed kubelet; the node's proxy, DNS and \
         ingress stopped with it",
        target.pid()
    );
    if kill_pods {
        let state = target.record.data_dir.join("nodes").join(name);
        let cgroup_root = format!("{}-{name}", target.record.id);
        let removed = leftovers::remove(&state, &cgroup_root);
        let containers = removed
            .iter()
            .filter(|r| r.starts_with("container "))
            .count();
        println!("{name}: {containers} container(s) killed, as on a machine that lost power");
    } else {
        println!("{name}: its containers run on, unwatched");
    }
    println!(
        "the control plane marks {name} NotReady once it goes unheard for the grace period \
         (`orc up --node-monitor-grace-period`, 50s unless given), then evicts its pods when \
         their tolerations run out; `orc node start {name}` brings it back"
    );
    Ok(())
}

/// `orc node start`: the recorded command line again, its pid recorded,
/// then a wait for Ready.
fn start(mut target: Target) -> Result<()> {
    let name = target.name.clone();
    if target.agent_running() {
        bail!(
            "{name}'s agent is already running (pid {}); `orc node stop {name}` stops it",
            target.pid()
        );
    }
    let words = target.record.agent_commands.get(target.index);
    let Some((program, args)) = words.and_then(|w| w.split_first()) else {
        bail!(
            "the record {} does not hold {name}'s command line (it was written by an older \
             `orc up`); restart the cluster with `orc down` and `orc up`",
            Record::path(&target.record.data_dir).display()
        );
    };
    let mut agent = Command::new(program);
    agent.args(args);
    let pid = processes::respawn(agent, &target.log())?;
    target.record.agent_pids[target.index] = pid;
    target.record.write()?;
    println!(
        "{name}: agent started again (pid {pid}), log {}",
        target.log().display()
    );
    let since = Instant::now();
    wait_ready(&target)?;
    println!(
        "{name} is Ready again after {:.1} s",
        since.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Polls the Node until its Ready condition is True; fails with the log
/// to read when the agent exits or [`READY_AGAIN`] passes.
fn wait_ready(target: &Target) -> Result<()> {
    let record = &target.record;
    let ca = ClusterCa::open(&record.data_dir.join("pki"))?;
    let client = Client::new(&record.api_url).with_tls(&ca.client_tls(&credentials::admin())?);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let path = format!("/api/v1/nodes/{}", target.name);
    let deadline = Instant::now() + READY_AGAIN;
    runtime.block_on(async {
        loop {
            if !target.agent_running() {
                bail!(
                    "{}'s agent exited; its log is {}",
                    target.name,
                    target.log().display()
                );
            }
            let node = client.send_path(Method::GET, &path, None, None).await;
            if node.is_ok_and(|node| orc_client::conditions::is_ready(&node)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let hint = match network::cable(&record.network, target.index) {
                    Ok(Cable::Pulled) => format!(
                        "it is partitioned: `orc node heal {}` reconnects it",
                        target.name
                    ),
                    _ => format!("its log is {}", target.log().display()),
                };
                bail!(
                    "{}'s agent runs, but the Node is not Ready after {READY_AGAIN:?}; {hint}",
                    target.name
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// `orc node partition`.
fn partition(target: &Target) -> Result<()> {
    let (net, name) = (&target.record.network, &target.name);
    if network::cable(net, target.index)? == Cable::Pulled {
        bail!("{name} is already partitioned; `orc node heal {name}` reconnects it");
    }
    network::set_cable(net, target.index, Cable::Pulled)?;
    println!(
        "{name} is cut off the cluster's network (its port on the LAN's bridge is down, a \
         pulled cable): its agent and pods run on but reach neither the API server nor the \
         other nodes; `orc node heal {name}` reconnects it"
    );
    Ok(())
}

/// `orc node heal`.
fn heal(target: &Target) -> Result<()> {
    let (net, name) = (&target.record.network, &target.name);
    if network::cable(net, target.index)? == Cable::Connected {
        bail!("{name} is not partitioned; `orc node partition {name}` cuts it off");
    }
    network::set_cable(net, target.index, Cable::Connected)?;
    println!("{name} is connected again");
    Ok(())
}
