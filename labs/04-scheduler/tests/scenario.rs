//! Lab 04's walkthrough: etcd, the API server and orc's scheduler, for
//! real, with three Node objects (no agents: the scheduler only reads
//! them). A pod lands on the one node that can take it; a second pod fits
//! none of the three, each for its own reason, and the snapshots show
//! what the scheduler writes about it: the `PodScheduled` condition and
//! the `FailedScheduling` event, with Kubernetes' aggregated message,
//! and `orc explain pod big`: each node's verdict, and the smallest change
//! that would let the pod fit. Then a node that fits is added, the queue moves the parked pod back,
//! and the snapshot shows its events in order.

// The scheduler's own test cluster: etcd, the API server and the
// scheduler on loopback, and Node and Pod objects to feed them.
#[path = "../../../04-scheduler/tests/common/mod.rs"]
mod common;

use common::{Cluster, node, pod};
use orc_scheduler::explain::{Explanation, render};
use serde_json::{Value, json};

const BIG: &str = "/api/v1/namespaces/default/pods/big";

/// The fields of the pod's `PodScheduled` condition a reader compares
/// (not its times).
fn scheduled_condition(pod: &Value) -> Value {
    let conditions = pod["status"]["conditions"].as_array().cloned();
    let condition = conditions
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled")
        .expect("the scheduler wrote a PodScheduled condition");
    // A True condition has no reason or message: leave them out.
    let fields = ["type", "status", "reason", "message"];
    let present = fields
        .iter()
        .filter(|f| !condition[**f].is_null())
        .map(|f| (f.to_string(), condition[*f].clone()));
    Value::Object(present.collect())
}

/// The events about pod `name`, oldest first, as `kubectl describe pod`
/// lists them (type, reason, from, message; no times).
async fn events_of(c: &Cluster, name: &str) -> Vec<Value> {
    let list = c
        .get("/api/v1/namespaces/default/events")
        .await
        .expect("events are listed");
    let mut events: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["involvedObject"]["name"] == name)
        .collect();
    // resourceVersions are etcd revisions: numbers, in the order written.
    events.sort_by_key(|e| {
        let rv = e["metadata"]["resourceVersion"].as_str().unwrap_or("");
        rv.parse::<u64>().expect("a resourceVersion is a number")
    });
    events
        .iter()
        .map(|e| {
            json!({
                "type": e["type"],
                "reason": e["reason"],
                "from": e["source"]["component"],
                "message": e["message"],
            })
        })
        .collect()
}

/// What `orc explain pod NAME` prints: the scheduler's
/// `/explain/pods/default/NAME` answer, laid out by the CLI's renderer.
async fn explain(c: &Cluster, name: &str) -> String {
    let addr = c.scheduler.metrics_addr.expect("the scheduler serves HTTP");
    let answer = orc_testkit::http_client()
        .get(format!("http://{addr}/explain/pods/default/{name}"))
        .send()
        .await
        .expect("the scheduler answers");
    assert!(answer.status().is_success(), "{name}: {}", answer.status());
    let explanation: Explanation = answer.json().await.expect("an explanation");
    render(&explanation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_pod_and_why() {
    let c = Cluster::start().await;
    // node-1 has room for one small pod; node-2 is tainted for GPU work;
    // node-3 is big but cordoned (`kubectl cordon node-3`).
    c.node(node("node-1", "2", "4Gi", json!({}))).await;
    let mut gpu = node("node-2", "8", "16Gi", json!({}));
    gpu["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    c.node(gpu).await;
    let mut cordoned = node("node-3", "8", "16Gi", json!({}));
    cordoned["spec"]["unschedulable"] = json!(true);
    c.node(cordoned).await;

    // The taint and the cordon leave node-1 for the first pod.
    c.pod(pod("web", Some(("1500m", "1Gi")))).await;
    assert_eq!(c.scheduled("web").await, "node-1");

    // node-1 has 500m left, and the second pod asks for 1 CPU: it fits
    // nowhere.
    c.pod(pod("big", Some(("1", "1Gi")))).await;
    c.unschedulable("big").await;
    c.until_event("big", "FailedScheduling").await;
    let pending = c.get(BIG).await.unwrap();
    assert_eq!(pending["status"]["phase"], "Pending");
    insta::assert_json_snapshot!("pending_condition", scheduled_condition(&pending));
    insta::assert_json_snapshot!("pending_events", events_of(&c, "big").await);
    // Why, node by node, and what would change it: the numbers are
    // NodeResourcesFit's and TaintToleration's, the functions of this lab.
    insta::assert_snapshot!("pending_explain", explain(&c, "big").await);

    // A node with room: adding it moves the parked pod back to the
    // active queue, and the next attempt binds it.
    c.node(node("node-4", "4", "8Gi", json!({}))).await;
    assert_eq!(c.scheduled("big").await, "node-4");
    c.until_event("big", "Scheduled").await;
    let placed = c.get(BIG).await.unwrap();
    insta::assert_json_snapshot!("placed_condition", scheduled_condition(&placed));
    insta::assert_json_snapshot!("placed_events", events_of(&c, "big").await);
}
