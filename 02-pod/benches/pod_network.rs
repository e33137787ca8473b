//! Pod network set-up: orc's netlink code against the same steps as `ip`
//! commands in a shell script, one pod at a time and 16 pods at once.
//!
//! ```text
//! sudo cargo bench -p orc-pod --bench pod_network
//! ```
//!
//! Each side plumbs 16 pods into a fresh node namespace that already has its
//! bridge, per round, for a few rounds, and the median round is reported.
//! Two measurements per side:
//!
//! - **plumbing**: the pods' namespaces exist beforehand; timed are the veth
//!   pair, the address, loopback and eth0 up, and the default route (orc also
//!   records each address in its IPAM file, with an fsync; the script uses
//!   addresses computed in advance).
//! - **with netns**: creating the pod's network namespace is timed too. orc's
//!   side creates it the way `ip netns add` does (an `unshare` on a thread and
//!   a bind mount under `/run/netns`), as a pod sandbox would.
//!
//! Most of orc's time per pod is the IPAM state file's two `fsync`s, which
//! keep the promise that a crash never hands out an address twice. To see the
//! netlink part alone, put the state on tmpfs:
//!
//! ```text
//! sudo ORC_BENCH_STATE_DIR=/dev/shm cargo bench -p orc-pod --bench pod_network
//! ```
//!
//! Everything happens in namespaces the benchmark creates and deletes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orc_pod::{Ipv4Cidr, NodeConfig, NodeNetwork};

const PODS: usize = 16;
const ROUNDS: usize = 5;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    OneAtATime,
    Parallel,
}

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("ip");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("pod network set-up, {PODS} pods per round, median of {ROUNDS} rounds, per pod:");
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "", "orc netlink", "ip script", "ip/orc"
    );
    for (label, mode, with_netns) in [
        ("plumbing, one at a time", Mode::OneAtATime, false),
        ("plumbing, 16 in parallel", Mode::Parallel, false),
        ("with netns, one at a time", Mode::OneAtATime, true),
        ("with netns, 16 in parallel", Mode::Parallel, true),
    ] {
        let orc = median((0..ROUNDS).map(|_| runtime.block_on(orc_round(mode, with_netns))));
        let script = median((0..ROUNDS).map(|_| script_round(mode, with_netns)));
        let per_pod = |d: Duration| d.as_secs_f64() * 1000.0 / PODS as f64;
        println!(
            "{label:<28} {:>9.3} ms {:>9.3} ms {:>7.1}x",
            per_pod(orc),
            per_pod(script),
            script.as_secs_f64() / orc.as_secs_f64()
        );
    }
}

fn median(rounds: impl Iterator<Item = Duration>) -> Duration {
    let mut rounds: Vec<_> = rounds.collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// A name no other process picks.
fn name(what: &str, n: usize) -> String {
    orc_testkit::unique_name(&format!("orc-bench-{what}{n}"))
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?} failed");
}

/// One round of orc: set up a node, time adding [`PODS`] pods, tear down.
async fn orc_round(mode: Mode, with_netns: bool) -> Duration {
    let node = name("node", 0);
    ip(&["netns", "add", &node]);
    let state = match std::env::var_os("ORC_BENCH_STATE_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let pod_cidr: Ipv4Cidr = "10.244.1.0/24".parse().unwrap();
    let network = Arc::new(
        NodeNetwork::setup(NodeConfig {
            netns: PathBuf::from(format!("/run/netns/{node}")),
            bridge: "orc0".into(),
            pod_cidr,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            ipam_state: state.path().join("ipam.json"),
        })
        .await
        .unwrap(),
    );
    let pods: Vec<PathBuf> = (0..PODS)
        .map(|n| PathBuf::from(format!("/run/netns/{}", name("pod", n))))
        .collect();
    if !with_netns {
        pods.iter().for_each(|pod| create_netns(pod));
    }

    let start = Instant::now();
    let add = |n: usize, pod: PathBuf| {
        let network = Arc::clone(&network);
        async move {
            if with_netns {
                let path = pod.clone();
                tokio::task::spawn_blocking(move || create_netns(&path))
                    .await
                    .unwrap();
            }
            network.add_pod(&format!("pod-{n}"), &pod).await.unwrap();
        }
    };
    match mode {
        Mode::OneAtATime => {
            for (n, pod) in pods.iter().enumerate() {
                add(n, pod.clone()).await;
            }
        }
        Mode::Parallel => {
            let tasks: Vec<_> = pods
                .iter()
                .enumerate()
                .map(|(n, pod)| tokio::spawn(add(n, pod.clone())))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
    }
    let elapsed = start.elapsed();

    Arc::into_inner(network).unwrap().teardown().await.unwrap();
    pods.iter().for_each(|pod| delete_netns(pod));
    ip(&["netns", "delete", &node]);
    elapsed
}

/// Creates a network namespace at `path` the way `ip netns add` does: a
/// thread unshares its network namespace, and the namespace is kept alive by
/// bind-mounting the thread's namespace file onto `path`.
fn create_netns(path: &Path) {
    File::create(path).unwrap();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &path,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
    })
    .join()
    .unwrap();
}

fn delete_netns(path: &Path) {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).unwrap();
    std::fs::remove_file(path).unwrap();
}

/// One round of the `ip` script: same node set-up, same timed steps.
fn script_round(mode: Mode, with_netns: bool) -> Duration {
    let node = name("node", 0);
    ip(&["netns", "add", &node]);
    ip(&["-n", &node, "link", "add", "orc0", "type", "bridge"]);
    ip(&["-n", &node, "addr", "add", "10.244.1.1/24", "dev", "orc0"]);
    ip(&["-n", &node, "link", "set", "orc0", "up"]);
    let pods: Vec<String> = (0..PODS).map(|n| name("pod", n)).collect();
    if !with_netns {
        pods.iter().for_each(|pod| ip(&["netns", "add", pod]));
    }
    let scripts: Vec<String> = pods
        .iter()
        .enumerate()
        .map(|(n, pod)| {
            let veth = format!("veth{n}");
            let address = format!("10.244.1.{}/24", n + 2);
            let create = if with_netns {
                format!("ip netns add {pod}\n")
            } else {
                String::new()
            };
            format!(
                "set -e\n{create}\
                 ip -n {node} link add {veth} type veth peer name eth0 netns {pod}\n\
                 ip -n {node} link set {veth} master orc0 up\n\
                 ip -n {pod} link set lo up\n\
                 ip -n {pod} addr add {address} dev eth0\n\
                 ip -n {pod} link set eth0 up\n\
                 ip -n {pod} route add default via 10.244.1.1 dev eth0\n"
            )
        })
        .collect();

    let start = Instant::now();
    let run = |script: &String| Command::new("sh").args(["-c", script]).spawn().unwrap();
    match mode {
        Mode::OneAtATime => {
            for script in &scripts {
                assert!(run(script).wait().unwrap().success());
            }
        }
        Mode::Parallel => {
            let children: Vec<_> = scripts.iter().map(run).collect();
            for mut child in children {
                assert!(child.wait().unwrap().success());
            }
        }
    }
    let elapsed = start.elapsed();

    pods.iter().for_each(|pod| ip(&["netns", "delete", pod]));
    ip(&["netns", "delete", &node]);
    elapsed
}
