//! `kubectl run` to a Running pod, over 20 pods one after another, on a
//! cluster `orc up` started: `sudo cargo bench -p orc --bench pod_startup`.
//!
//! The cluster runs in a network namespace of the bench's own (as in
//! `benches/up.rs`), one node. Once it is Ready, one `kubectl get pods -w
//! -o json` watches every pod; the bench reads its output as it comes and
//! notes, by its own clock, when each pod is first seen `Running`. Then,
//! for N in 1..=20, `kubectl run pN --image=busybox --restart=Never --
//! sleep 3600`, timed from that command's start to the watch seeing pN
//! Running (the kubectl process's own start included, as a user waits
//! for it). A first pod, not counted, proves the watch is live and loads
//! busybox into the node's image store: Kubernetes' SLO leaves image
//! pulls out too.
//!
//! The same latency from the pods' own fields, `creationTimestamp` to
//! `status.containerStatuses[].state.running.startedAt`, is the cross-check
//! (and what Kubernetes' SLO measures). Both fields are whole seconds, as
//! Kubernetes writes them, so each of those figures is good to a second.
//! With 20 samples the 99th percentile (nearest rank) is the largest.
//!
//! Kubernetes' published figure, printed beside orc's: the pod startup
//! SLO of SIG Scalability, 99th percentile per cluster-day at most 5 s for
//! schedulable stateless pods, image pulls excluded.
//!
//! Measured first with `sudo nice -n -5 cargo bench -p orc --bench
//! pod_startup --profile dev` (a debug build), load average 10–12 from
//! five other builds, before and after the agent's sync loop was woken by
//! pod changes and finished pod tasks instead of waiting for its 1 s tick
//! (`02-pod/src/agent/wake.rs`), in one session:
//!
//! ```text
//! before: as seen by a watch: p50 2.002 s, p99 2.023 s; `kubectl run` itself p50 0.151 s
//! after:  as seen by a watch: p50 0.649 s, p99 0.960 s; `kubectl run` itself p50 0.167 s
//!         from the pods' fields: p50 0 s, p99 1 s (whole seconds)
//! ```
//!
//! Then the release build (this profile: one codegen unit, thin LTO) on a
//! quiet machine (load average 1.0), `sudo nice -n -5 cargo bench -p orc
//! --bench pod_startup`, twice in a row, 7 December 2026:
//!
//! ```text
//! run 1: as seen by a watch: p50 0.115 s, p99 0.133 s; `kubectl run` itself p50 0.048 s
//! run 2: as seen by a watch: p50 0.151 s, p99 0.230 s; `kubectl run` itself p50 0.057 s
//!        from the pods' fields, both runs: p50 0 s, p99 1 s (whole seconds)
//! ```
//!
//! Issue 20's target, p99 under 1 s, is met with room to spare: a quarter
//! of a second at most, a twentieth of Kubernetes' SLO.

use std::io::BufReader;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orc_testkit::{NetnsHost, require_command, require_root};
use serde_json::Value;

use cluster::Cluster;

mod cluster;

/// Pods measured, one after another.
const PODS: usize = 20;
/// How long one pod may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(120);

fn main() {
    require_root();
    for tool in ["nsenter", "etcd", "kubectl"] {
        require_command(tool);
    }
    let host = NetnsHost::new();
    let data = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&host, data.path(), 1, &[]);

    let (mut watch, seen) = cluster.watch_running();
    // The first pod: the watch is live once it reports it, and busybox is
    // in the node's store after it.
    let started = Instant::now();
    cluster.run_pod("p0");
    let first = wait_running(&seen, "p0", started);

    // How long `kubectl run` itself takes (process start, discovery, the
    // create), to tell it from the rest.
    let mut created = Vec::with_capacity(PODS);
    let mut watched: Vec<f64> = (1..=PODS)
        .map(|n| {
            let name = format!("p{n}");
            let started = Instant::now();
            cluster.run_pod(&name);
            created.push(started.elapsed().as_secs_f64());
            wait_running(&seen, &name, started)
        })
        .collect();
    let _ = watch.kill();
    let _ = watch.wait();
    let mut fields = cluster.startup_from_fields();

    println!("kubectl run to pod Running, {PODS} pods one after another, 1 node");
    println!(
        "  as seen by a watch (bench clock): {} (the first pod, image load included: {first:.3} s)",
        summary(&mut watched, 3)
    );
    println!(
        "  of which `kubectl run` itself (until it returns): {}",
        summary(&mut created, 3)
    );
    println!(
        "  from the pods' fields (creationTimestamp to startedAt, whole seconds): {}",
        summary(&mut fields, 0)
    );
    println!(
        "  Kubernetes' published figure (SIG Scalability pod startup SLO): p99 <= 5 s per cluster-day, \
         image pulls excluded"
    );
}

/// `p50 ..., p99 ..., max ...` of `samples` in seconds, nearest rank.
fn summary(samples: &mut [f64], decimals: usize) -> String {
    samples.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[i - 1]
    };
    format!(
        "p50 {:.decimals$} s, p99 {:.decimals$} s, max {:.decimals$} s",
        rank(0.50),
        rank(0.99),
        samples[samples.len() - 1]
    )
}

/// Waits for the watch to report `name` Running; seconds since `started`.
fn wait_running(seen: &mpsc::Receiver<(String, Instant)>, name: &str, started: Instant) -> f64 {
    loop {
        let (pod, at) = seen
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("pod {name} not Running after {LIMIT:?}"));
        if pod == name {
            return at.duration_since(started).as_secs_f64();
        }
    }
}

/// What this bench asks of the cluster (`benches/cluster/`), beside
/// starting and stopping it.
trait PodStartup {
    fn run_pod(&self, name: &str);
    fn watch_running(&self) -> (Child, mpsc::Receiver<(String, Instant)>);
    fn startup_from_fields(&self) -> Vec<f64>;
}

impl PodStartup for Cluster<'_> {
    /// `kubectl run NAME`, a busybox that sleeps; waits for the command.
    fn run_pod(&self, name: &str) {
        let out = self
            .kubectl(&["run", name, "--image=busybox", "--restart=Never"])
            .args(["--", "sleep", "3600"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One `kubectl get pods -w -o json`, read on a thread: each pod's
    /// name with the instant the watch first showed it Running.
    fn watch_running(&self) -> (Child, mpsc::Receiver<(String, Instant)>) {
        let mut child = self
            .kubectl(&["get", "pods", "--watch", "--output=json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reported = std::collections::HashSet::new();
            // kubectl prints one JSON object per event, back to back.
            for pod in serde_json::Deserializer::from_reader(stdout).into_iter::<Value>() {
                let Ok(pod) = pod else { return };
                let at = Instant::now();
                let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
                if pod["status"]["phase"] == "Running"
                    && reported.insert(name.clone())
                    && tx.send((name, at)).is_err()
                {
                    return;
                }
            }
        });
        (child, rx)
    }

    /// Each measured pod's `startedAt - creationTimestamp`, in seconds.
    fn startup_from_fields(&self) -> Vec<f64> {
        let out = self
            .kubectl(&["get", "pods", "-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl get pods");
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        let time = |pod: &Value, pointer: &str| -> jiff::Timestamp {
            let text = pod.pointer(pointer).and_then(Value::as_str);
            text.and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("{pointer} of {}", pod["metadata"]["name"]))
        };
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pod| pod["metadata"]["name"] != "p0")
            .map(|pod| {
                let created = time(pod, "/metadata/creationTimestamp");
                let started = time(pod, "/status/containerStatuses/0/state/running/startedAt");
                started.duration_since(created).as_secs_f64()
            })
            .collect()
    }
}
