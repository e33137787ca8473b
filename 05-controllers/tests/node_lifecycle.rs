//! Self-healing across nodes: a node stops heartbeating, the node
//! lifecycle controller marks it Unknown and taints it unreachable, taint
//! eviction deletes its pod once the pod's toleration runs out, and the
//! ReplicaSet's replacement lands on the node still alive. Real etcd and
//! API server; the nodes are stand-ins the test drives (a Lease and a
//! status it writes, or stops writing), the scheduler a stand-in that
//! binds to the first untainted Ready node, and time a `ManualClock` the
//! test moves past the grace period and the toleration.

mod common;

use std::time::Duration;

use common::Cluster;
use orc_controllers::clock::ManualClock;
use serde_json::{Value, json};

const NODES: &str = "/api/v1/nodes";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
const PODS: &str = "/api/v1/namespaces/default/pods";
const RS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Registers node `name` with a Lease, as an agent does, first not ready
/// (an agent whose runtime is still starting), then ready. The taints
/// coming and going prove the controller has seen both, so its probe of
/// the node is on the clock as it was before the test moves it.
async fn register(c: &Cluster, name: &str) {
    let path = format!("{NODES}/{name}");
    c.create(NODES, &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))
        .await;
    c.create(
        LEASES,
        &json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}}),
    )
    .await;
    c.until(&path, "tainted not-ready", |n| {
        n.is_some_and(|n| {
            taint_keys(n)
                == [
                    format!("{NOT_READY}:NoExecute"),
                    format!("{NOT_READY}:NoSchedule"),
                ]
        })
    })
    .await;
    heartbeat(&c.http, &c.url(""), name).await;
    c.until(&path, "untainted", |n| {
        n.is_some_and(|n| taint_keys(n).is_empty())
    })
    .await;
}

/// One heartbeat of node `name`: the Lease renewed and the status posted
/// Ready, stamped with the real time (the controller only notices that
/// they changed).
async fn heartbeat(http: &reqwest::Client, base: &str, name: &str) {
    let now = jiff::Timestamp::now();
    let patch = |path: String, body: Value| {
        http.patch(format!("{base}{path}"))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let renew = json!({"spec": {"renewTime": orc_client::time::format_micro(now)}});
    let _ = patch(format!("{LEASES}/{name}"), renew).await;
    let stamp = orc_client::time::format(now);
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
        "reason": "KubeletReady", "message": "orc agent is posting ready status",
        "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}]}});
    let _ = patch(format!("{NODES}/{name}/status"), status).await;
}

/// A node agent that heartbeats every 100 ms, until aborted.
fn keep_alive(c: &Cluster, name: &'static str) -> impl std::future::Future<Output = ()> + use<> {
    let (http, base) = (c.http.clone(), c.url(""));
    async move {
        loop {
            heartbeat(&http, &base, name).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether `node` can take new pods: Ready, and no NoSchedule or NoExecute
/// taint.
fn schedulable(node: &Value) -> bool {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let tainted = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute");
    ready && !tainted
}

/// A stand-in scheduler and agent: binds each unbound pod of `default` to
/// the first schedulable node by name, and marks bound pods Running and
/// Ready, until aborted.
fn bind_pending(c: &Cluster) -> impl std::future::Future<Output = ()> + use<> {
    let (http, base) = (c.http.clone(), c.url(""));
    async move {
        loop {
            let get = |path: String| http.get(format!("{base}{path}")).send();
            let list = |r: Result<reqwest::Response, reqwest::Error>| async move {
                match r {
                    Ok(r) => r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|l| l["items"].as_array().cloned()),
                    Err(_) => None,
                }
                .unwrap_or_default()
            };
            let mut nodes = list(get(NODES.into()).await).await;
            nodes.sort_by_key(|n| n["metadata"]["name"].as_str().unwrap_or("").to_string());
            let target = nodes
                .iter()
                .find(|n| schedulable(n))
                .map(|n| n["metadata"]["name"].clone());
            for pod in list(get(PODS.into()).await).await {
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                if pod["spec"]["nodeName"].is_string() {
                    // The node's agent: a bound pod starts and is Ready.
                    let live = pod["metadata"]["deletionTimestamp"].is_null();
                    if pod["status"]["phase"] != "Running" && live {
                        let status = json!({"status": {"phase": "Running", "conditions": [
                            {"type": "Ready", "status": "True",
                             "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                        let _ = http
                            .patch(format!("{base}{PODS}/{name}/status"))
                            .header("content-type", "application/merge-patch+json")
                            .body(status.to_string())
                            .send()
                            .await;
                    }
                    continue;
                }
                let Some(node) = &target else { continue };
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
                let _ = http
                    .post(format!("{base}{PODS}/{name}/binding"))
                    .json(&binding)
                    .send()
                    .await;
            }
            // A scheduler's loop, not a wait: the test waits on what it asserts.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn taint_keys(node: &Value) -> Vec<String> {
    let mut keys: Vec<String> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap_or(""),
                t["effect"].as_str().unwrap_or("")
            )
        })
        .collect();
    keys.sort();
    keys
}

fn ready_status(node: &Value) -> String {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// The live pods of the ReplicaSet `web`.
async fn live_pods(c: &Cluster) -> Vec<Value> {
    c.list(PODS)
        .await
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["labels"]["app"] == "web")
        .collect()
}

/// Waits until the ReplicaSet has one live pod, bound and Running, and
/// answers it.
async fn until_one_running(c: &Cluster, not: &str) -> Value {
    for _ in 0..300 {
        let pods = live_pods(c).await;
        if let [pod] = pods.as_slice() {
            if pod["metadata"]["name"] != not
                && pod["spec"]["nodeName"].is_string()
                && pod["status"]["phase"] == "Running"
            {
                return pod.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never one Running pod of web: {:?}", live_pods(c).await);
}

#[tokio::test]
async fn a_silent_node_is_tainted_and_its_pod_replaced_elsewhere() {
    let clock = ManualClock::new();
    let mut c = Cluster::start_with_clock(clock.clone()).await;
    register(&c, "node-a").await;
    register(&c, "node-b").await;
    c.spawn(keep_alive(&c, "node-b"));
    c.spawn(bind_pending(&c));

    // A pod that waits a minute on an unreachable node; the API server
    // adds the default five minutes for not-ready.
    let toleration = json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
        "tolerationSeconds": 60});
    c.create(
        RS,
        &json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}],
                    "tolerations": [toleration]}}}}),
    )
    .await;
    let first = until_one_running(&c, "").await;
    assert_eq!(
        first["spec"]["nodeName"], "node-a",
        "the first schedulable node by name"
    );
    let tolerations = first["spec"]["tolerations"].as_array().unwrap();
    assert_eq!(tolerations.len(), 2, "{tolerations:?}");
    assert_eq!(
        tolerations[0]["tolerationSeconds"], 60,
        "the pod's own is kept"
    );
    assert_eq!(
        tolerations[1],
        json!({"key": NOT_READY, "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": 300}),
        "DefaultTolerationSeconds"
    );

    // node-a falls silent; past the 50 s grace period it is Unknown.
    clock.advance(Duration::from_secs(51));
    let path_a = format!("{NODES}/node-a");
    let a = c
        .until(&path_a, "unreachable", |n| {
            n.is_some_and(|n| {
                taint_keys(n)
                    == [
                        format!("{UNREACHABLE}:NoExecute"),
                        format!("{UNREACHABLE}:NoSchedule"),
                    ]
            })
        })
        .await
        .unwrap();
    assert_eq!(ready_status(&a), "Unknown");
    let cond = a["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(cond["reason"], "NodeStatusUnknown");
    assert_eq!(cond["message"], "Kubelet stopped posting node status.");
    let first_name = first["metadata"]["name"].as_str().unwrap().to_string();
    let first_path = format!("{PODS}/{first_name}");
    let still = c.get(&first_path).await.unwrap();
    assert!(
        still["metadata"]["deletionTimestamp"].is_null(),
        "its toleration holds for 60 s"
    );

    // The toleration runs out: the pod is evicted, and replaced on node-b.
    clock.advance(Duration::from_secs(61));
    let evicted = c
        .until(&first_path, "evicted", |p| {
            p.is_none_or(|p| p["metadata"]["deletionTimestamp"].is_string())
        })
        .await;
    if let Some(evicted) = evicted {
        let target = evicted["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "DisruptionTarget")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(target["reason"], "DeletionByTaintManager", "{evicted}");
    }
    let replacement = until_one_running(&c, &first_name).await;
    assert_eq!(replacement["spec"]["nodeName"], "node-b");
    let events = c.list("/api/v1/namespaces/default/events").await;
    assert!(
        events.iter().any(|e| e["reason"] == "TaintManagerEviction"
            && e["message"] == format!("Marking for deletion Pod default/{first_name}")
            && e["involvedObject"]["name"] == first_name.as_str()),
        "{events:?}"
    );
    let all_events = c.list("/api/v1/events").await;
    assert!(
        all_events
            .iter()
            .any(|e| e["reason"] == "NodeNotReady" && e["involvedObject"]["name"] == "node-a"),
        "{all_events:?}"
    );

    // node-a comes back: Ready again, untainted.
    heartbeat(&c.http, &c.url(""), "node-a").await;
    let back = c
        .until(&path_a, "untainted", |n| {
            n.is_some_and(|n| taint_keys(n).is_empty())
        })
        .await;
    assert_eq!(ready_status(&back.unwrap()), "True");
}
