//! The DaemonSet controller's back-off for a daemon pod that keeps
//! failing, on an injected clock: each failed pod is replaced with a
//! `FailedDaemonPod` event, and each replacement on the same node waits
//! twice as long as the one before; another node has its own delay.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Cluster;
use orc_controllers::clock::ManualClock;
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";
const EVENTS: &str = "/api/v1/namespaces/default/events";

fn node(name: &str) -> Value {
    let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn pinned_node(pod: &Value) -> &str {
    pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The live (not deleted, not failed) daemon pod for `node`.
async fn until_live_pod(c: &Cluster, node: &str) -> Value {
    for _ in 0..300 {
        let live = c.list(PODS).await.into_iter().find(|p| {
            pinned_node(p) == node
                && p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["phase"] != "Failed"
        });
        if let Some(pod) = live {
            return pod;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no live daemon pod for {node} after 15 s");
}

/// Marks `pod` Failed, as its node's agent would.
async fn fail(c: &Cluster, pod: &Value) {
    let name = pod["metadata"]["name"].as_str().unwrap();
    let patch = json!({"status": {"phase": "Failed"}});
    let code = c
        .merge_patch(&format!("{PODS}/{name}/status"), &patch)
        .await;
    assert_eq!(code, 200);
}

/// The messages of the `FailedDaemonPod` events about pods of `node`.
async fn failed_events(c: &Cluster, node: &str) -> Vec<String> {
    c.list(EVENTS)
        .await
        .iter()
        .filter(|e| e["reason"] == "FailedDaemonPod" && e["type"] == "Warning")
        .filter_map(|e| e["message"].as_str().map(String::from))
        .filter(|m| m.ends_with(&format!("on node {node}, will try to kill it")))
        .collect()
}

async fn until_failed_events(c: &Cluster, node: &str, n: usize) -> Vec<String> {
    for _ in 0..300 {
        let events = failed_events(c, node).await;
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} FailedDaemonPod events for {node} after 15 s");
}

#[tokio::test]
async fn a_failing_daemon_pod_is_replaced_ever_more_slowly() {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone() as Arc<_>).await;
    c.create("/api/v1/nodes", &node("n1")).await;
    c.create("/api/v1/nodes", &node("n2")).await;
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    c.create("/apis/apps/v1/namespaces/default/daemonsets", &ds)
        .await;

    // Five failures on n1. The first pod is replaced at once; each later
    // one waits for the delay the deletion before it set (1, 2, 4, 8 s),
    // which the test jumps over on the controller's clock.
    for k in 0..5u32 {
        let pod = until_live_pod(&c, "n1").await;
        fail(&c, &pod).await;
        if k > 0 {
            clock.advance(Duration::from_secs(1 << (k - 1)));
        }
        let events = until_failed_events(&c, "n1", k as usize + 1).await;
        let name = pod["metadata"]["name"].as_str().unwrap();
        let want =
            format!("Found failed daemon pod default/{name} on node n1, will try to kill it");
        assert!(events.contains(&want), "{events:?}");
    }

    // The sixth waits 16 s. n2's first failure, marked after it, goes at
    // once: by then the controller has seen n1's and held it.
    let sixth = until_live_pod(&c, "n1").await;
    fail(&c, &sixth).await;
    let other = until_live_pod(&c, "n2").await;
    fail(&c, &other).await;
    until_failed_events(&c, "n2", 1).await;
    let name = sixth["metadata"]["name"].as_str().unwrap();
    let held = c.get(&format!("{PODS}/{name}")).await;
    assert!(
        held.as_ref()
            .is_some_and(|p| p["metadata"]["deletionTimestamp"].is_null()),
        "a failed pod inside its node's back-off stays: {held:?}"
    );
    assert_eq!(failed_events(&c, "n1").await.len(), 5);

    // 16 s later on the clock (no other change happens): it goes.
    clock.advance(Duration::from_secs(16));
    until_failed_events(&c, "n1", 6).await;
}
