//! Pod start latency: from a manifest written to the directory to every
//! container of the pod running (the moment its shim saw `start` succeed).
//!
//! Three scenarios, as chapter 02's issue asks: one pod at a time (10
//! rounds), 20 pods written at once, and 100 pods written at 5 per second.
//! Each pod is a sandbox plus one `sleep` container. The agent syncs every
//! 100 ms, the kubelet's housekeeping is slower, so the sync period is part
//! of what is measured. Root only; run with
//! `cargo bench -p orc-pod --bench pod_start`.

#[path = "../tests/agent_node/mod.rs"]
mod agent_node;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use agent_node::Node;

fn manifest(name: &str) -> String {
    format!(
        "metadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {{name: main, image: busybox, command: [sleep, '3600']}}\n"
    )
}

/// When every container of pod `name` started, if it has.
fn started(node: &Node, name: &str) -> Option<Timestamp> {
    let uid = node.uid(name)?;
    orc_pod::shim::read_started(&node.layout.bundle(&uid, "main", 0))
}

/// Writes the manifests `names` at `rate` per second (all at once if
/// `None`) and returns each pod's start latency.
async fn scenario(node: &Node, names: &[String], rate: Option<u32>) -> Vec<Duration> {
    let mut written = BTreeMap::new();
    let begin = Instant::now();
    for (i, name) in names.iter().enumerate() {
        if let Some(rate) = rate {
            let at = begin + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(at.into()).await;
        }
        node.write_manifest(&format!("{name}.yaml"), &manifest(name));
        written.insert(name.clone(), Timestamp::now());
    }
    let mut latencies = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while latencies.len() < names.len() {
        assert!(Instant::now() < deadline, "pods did not start in time");
        for name in names {
            if latencies.contains_key(name) {
                continue;
            }
            if let Some(at) = started(node, name) {
                latencies.insert(
                    name.clone(),
                    Duration::try_from(at.duration_since(written[name])).unwrap_or_default(),
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for name in names {
        node.remove_manifest(&format!("{name}.yaml"));
    }
    while !node.containers().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.into_values().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = Node::new();
        let mut agent = node.agent().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let loop_task = tokio::spawn(async move {
            agent
                .run(async {
                    let _ = stopped.await;
                })
                .await;
            agent
        });
        println!(
            "{:<28} {:>6} {:>9} {:>9} {:>9}",
            "scenario", "pods", "p50", "p99", "max"
        );
        let report = |what: &str, mut l: Vec<Duration>| {
            l.sort();
            println!(
                "{what:<28} {:>6} {:>7.0}ms {:>7.0}ms {:>7.0}ms",
                l.len(),
                percentile(&l, 0.5).as_secs_f64() * 1e3,
                percentile(&l, 0.99).as_secs_f64() * 1e3,
                l.last().unwrap().as_secs_f64() * 1e3
            );
        };
        let mut single = vec![];
        for round in 0..10 {
            single.extend(scenario(&node, &[format!("single-{round}")], None).await);
        }
        report("1 pod, 10 rounds", single);
        let twenty: Vec<String> = (0..20).map(|i| format!("twenty-{i}")).collect();
        report("20 pods at once", scenario(&node, &twenty, None).await);
        let hundred: Vec<String> = (0..100).map(|i| format!("hundred-{i}")).collect();
        report("100 pods at 5/s", scenario(&node, &hundred, Some(5)).await);
        let _ = stop.send(());
        let agent = loop_task.await.unwrap();
        agent.drain_and_teardown().await.unwrap();
        node.assert_clean();
    });
}
