//! `orc up` to Ready, cold and warm, with 1 and 3 nodes, and the idle
//! cluster's memory: `sudo cargo bench -p orc --bench up`.
//!
//! Each cluster runs in a network namespace of the bench's own (as in
//! `tests/up.rs`). Cold is the first `orc up` on an empty data directory
//! (etcd initialises its data, the nodes register); warm is an `orc up`
//! on the data an earlier one left (`orc down` without `--purge`), which
//! is what a student does most. Memory is the sum of the resident set of
//! every process of the cluster (etcd, `orc server`, the agents), read
//! from /proc once it is Ready and idle. Then one pod, from `kubectl
//! apply` to `kubectl wait` seeing it Running: the first (its image is
//! loaded into the node's store) and a second one (the image is there);
//! both include the two kubectl processes' own start.
//!
//! No peer runs here: k3s and kind are not installed. k3s' published
//! memory figure is printed beside orc's; neither project publishes a
//! start-up time to compare with.

use std::path::Path;
use std::time::Instant;

use orc_testkit::{NetnsHost, require_command, require_root};

use cluster::orc;

mod cluster;

/// Warm runs per node count; the median is reported.
const RUNS: usize = 5;

fn main() {
    require_root();
    for tool in ["nsenter", "etcd"] {
        require_command(tool);
    }
    println!("orc up to Ready (median of {RUNS} warm runs), idle memory (sum of RSS)");
    for nodes in [1u8, 3] {
        let host = NetnsHost::new();
        let data = tempfile::tempdir().unwrap();
        let cold = up(&host, data.path(), nodes);
        let memory = cluster_rss_mib(data.path());
        let first_pod = pod_to_running(&host, data.path(), "first");
        let second_pod = pod_to_running(&host, data.path(), "second");
        down(&host, data.path(), false);
        let mut warm: Vec<f64> = (0..RUNS)
            .map(|_| {
                let seconds = up(&host, data.path(), nodes);
                down(&host, data.path(), false);
                seconds
            })
            .collect();
        warm.sort_by(f64::total_cmp);
        println!(
            "{nodes} node(s): cold {cold:.2} s, warm {:.2} s (min {:.2}, max {:.2}), idle memory {memory:.0} MiB; \
             a pod from apply to Running: first {first_pod:.2} s, second {second_pod:.2} s",
            warm[RUNS / 2],
            warm[0],
            warm[RUNS - 1]
        );
        down(&host, data.path(), true);
    }
    println!(
        "published, for comparison: a k3s cluster with one agent needs 1428-1450 MB of RAM \
         (docs.k3s.io, Resource Profiling); neither k3s nor kind publishes a time to Ready"
    );
}

/// `orc up --detach` in `host`; answers the seconds it took to Ready, as
/// timed here (the whole command, process start included).
fn up(host: &NetnsHost, dir: &Path, nodes: u8) -> f64 {
    let started = Instant::now();
    let out = orc(host, dir, "up")
        .args(["--detach", "--nodes", &nodes.to_string(), "--kubeconfig"])
        .arg(dir.with_extension("kubeconfig"))
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "orc up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seconds
}

/// Seconds from `kubectl apply` of a busybox pod `name` to `kubectl wait`
/// seeing it Running (a watch, not a poll). The pod is deleted again, so
/// that the warm runs start from the same objects.
fn pod_to_running(host: &NetnsHost, dir: &Path, name: &str) -> f64 {
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut command = host.command("kubectl");
        command
            .arg(format!(
                "--kubeconfig={}",
                dir.with_extension("kubeconfig").display()
            ))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut input, stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let pod = format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
            "spec": {{"terminationGracePeriodSeconds": 0, "containers": [{{"name": "main",
            "image": "busybox", "command": ["sleep", "3600"]}}]}}}}"#
    );
    let started = Instant::now();
    kubectl(&["apply", "-f", "-"], Some(&pod));
    kubectl(
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            &format!("pod/{name}"),
            "--timeout=120s",
        ],
        None,
    );
    let seconds = started.elapsed().as_secs_f64();
    kubectl(&["delete", "pod", name, "--wait=false"], None);
    seconds
}

fn down(host: &NetnsHost, dir: &Path, purge: bool) {
    let mut command = orc(host, dir, "down");
    if purge {
        command.arg("--purge");
    }
    assert!(command.output().unwrap().status.success(), "orc down");
}

/// The resident memory of every process whose command line names `dir`.
fn cluster_rss_mib(dir: &Path) -> f64 {
    let marker = dir.to_str().unwrap();
    let mut kib = 0u64;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(marker) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("VmRSS:")) {
            kib += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib as f64 / 1024.0
}
