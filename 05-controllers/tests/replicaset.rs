//! The ReplicaSet controller against a real etcd and API server (with the
//! garbage collector beside it, as in `orc server`). No node runs the pods:
//! where a test needs a pod ready, it writes the pod's status itself, as a
//! node agent would.

mod common;

use std::time::Duration;

use common::Cluster;
use serde_json::{Value, json};

const RS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn replicaset(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

/// The pods whose controller is the ReplicaSet `name`.
async fn pods_of(c: &Cluster, name: &str) -> Vec<Value> {
    let mut pods: Vec<Value> = c
        .list(PODS)
        .await
        .into_iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["controller"] == true && r["name"] == name)
        })
        .collect();
    pods.sort_by_key(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string());
    pods
}

/// Waits until the ReplicaSet `name` controls exactly `n` pods and says so
/// in its status; answers the pods.
async fn until_pods(c: &Cluster, name: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let pods = pods_of(c, name).await;
        let rs = c.get(&format!("{RS}/{name}")).await.unwrap();
        if pods.len() == n && rs["status"]["replicas"] == n {
            return pods;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{name} never reached {n} pods: {}",
        pods_of(c, name).await.len()
    );
}

fn pod_name(p: &Value) -> String {
    p["metadata"]["name"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_replicaset_keeps_its_pods_and_follows_scaling() {
    let c = Cluster::start().await;
    let rs = c.create(RS, &replicaset("web", 3)).await;
    let pods = until_pods(&c, "web", 3).await;
    for p in &pods {
        assert!(
            pod_name(p).starts_with("web-"),
            "generated from the ReplicaSet's name"
        );
        assert_eq!(p["metadata"]["labels"]["app"], "web");
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], rs["metadata"]["uid"]);
        assert_eq!(owner["blockOwnerDeletion"], true);
    }
    // Each create is an event on the ReplicaSet, for `kubectl describe`.
    let events = c
        .list("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb")
        .await;
    let created: Vec<&str> = events
        .iter()
        .filter(|e| e["reason"] == "SuccessfulCreate")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(created.len(), 3, "{events:?}");
    assert!(created.iter().all(|m| m.starts_with("Created pod: web-")));
    // A pod deleted by hand is replaced.
    let gone = pod_name(&pods[0]);
    assert_eq!(c.delete(&format!("{PODS}/{gone}"), json!({})).await, 200);
    let pods = until_pods(&c, "web", 3).await;
    assert!(pods.iter().all(|p| pod_name(p) != gone));
    // Scaling through the scale subresource, as `kubectl scale` does.
    let scale = json!({"spec": {"replicas": 1}});
    assert_eq!(c.merge_patch(&format!("{RS}/web/scale"), &scale).await, 200);
    until_pods(&c, "web", 1).await;
    let rs = c
        .until(&format!("{RS}/web"), "observed", |rs| {
            rs.is_some_and(|rs| rs["status"]["observedGeneration"] == rs["metadata"]["generation"])
        })
        .await
        .unwrap();
    assert_eq!(rs["status"]["replicas"], 1);
    // Settled: no more and no fewer, however often it is reconciled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pods_of(&c, "web").await.len(), 1);
}

#[tokio::test]
async fn a_burst_of_pod_events_creates_no_duplicates() {
    let c = Cluster::start().await;
    c.create(RS, &replicaset("many", 25)).await;
    until_pods(&c, "many", 25).await;
    // Every created pod's event queues the ReplicaSet again, often while
    // creates are under way. On loopback the cache rarely lags far enough
    // for a reconcile to count too few (expectations guard against that;
    // their unit tests show how), but whatever the timing, the count must
    // end exact.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = c.list(PODS).await;
    assert_eq!(all.len(), 25, "exactly the replicas, never more");
}

#[tokio::test]
async fn orphans_are_adopted_and_relabelled_pods_released() {
    let c = Cluster::start().await;
    let orphan = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    c.create(PODS, &orphan).await;
    c.create(RS, &replicaset("api", 2)).await;
    let pods = until_pods(&c, "api", 2).await;
    assert!(
        pods.iter().any(|p| pod_name(p) == "stray"),
        "the matching orphan counts as one of the two"
    );
    // Relabel it: it leaves the ReplicaSet, which makes a replacement.
    let relabel = json!({"metadata": {"labels": {"app": "debug"}}});
    assert_eq!(c.merge_patch(&format!("{PODS}/stray"), &relabel).await, 200);
    let stray = c
        .until(&format!("{PODS}/stray"), "released", |p| {
            p.is_some_and(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            })
        })
        .await;
    assert!(stray.is_some(), "released, not deleted");
    let pods = until_pods(&c, "api", 2).await;
    assert!(pods.iter().all(|p| pod_name(p) != "stray"));
}

#[tokio::test]
async fn status_counts_ready_and_available_pods() {
    let c = Cluster::start().await;
    c.create(RS, &replicaset("ready", 2)).await;
    let pods = until_pods(&c, "ready", 2).await;
    // A node reports one pod running and ready.
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready",
        "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    let path = format!("{PODS}/{}/status", pod_name(&pods[0]));
    assert_eq!(c.merge_patch(&path, &ready).await, 200);
    let rs = c
        .until(&format!("{RS}/ready"), "counting the ready pod", |rs| {
            rs.is_some_and(|rs| rs["status"]["readyReplicas"] == 1)
        })
        .await
        .unwrap();
    assert_eq!(rs["status"]["availableReplicas"], 1);
    assert_eq!(rs["status"]["fullyLabeledReplicas"], 2);
}

#[tokio::test]
async fn deleting_a_replicaset_cascades_to_its_pods() {
    let c = Cluster::start().await;
    c.create(RS, &replicaset("doomed", 2)).await;
    c.create(RS, &replicaset("kept", 2)).await;
    until_pods(&c, "doomed", 2).await;
    let kept = until_pods(&c, "kept", 2).await;
    // kubectl's default: background. The garbage collector takes the pods.
    let background = json!({"propagationPolicy": "Background"});
    assert_eq!(c.delete(&format!("{RS}/doomed"), background).await, 200);
    // --cascade=orphan: the pods stay, without their controller.
    let orphan = json!({"propagationPolicy": "Orphan"});
    assert_eq!(c.delete(&format!("{RS}/kept"), orphan).await, 200);
    for _ in 0..300 {
        let pods = c.list(PODS).await;
        let names: Vec<String> = pods.iter().map(pod_name).collect();
        let orphaned = pods.iter().all(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(Vec::is_empty)
        });
        if names.len() == 2 && kept.iter().all(|k| names.contains(&pod_name(k))) && orphaned {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("left: {:?}", c.list(PODS).await);
}
