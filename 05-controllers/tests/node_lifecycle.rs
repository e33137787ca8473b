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
/// the node is on the clock as it was before the test moves it. (Only
/// `NoSchedule` is sure to come: a first node not ready is a whole zone
/// dark, and then no node is tainted `NoExecute`; see `zones.rs`.)
async fn register(c: &Cluster, name: &str) {
    register_labelled(c, name, json!({})).await;
}

/// [`register`] with the node's `labels`.
async fn register_labelled(c: &Cluster, name: &str, labels: Value) {
    let path = format!("{NODES}/{name}");
    c.create(NODES, &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
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
        n.is_some_and(|n| taint_keys(n).contains(&format!("{NOT_READY}:NoSchedule")))
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

/// Moves `clock` on by `total`, in steps under half the grace period,
/// letting the node `alive` (kept alive in real time by [`keep_alive`])
/// renew its Lease a few times between steps: as on a real clock, the
/// controller hears it all along, and never takes it for silent (a jump
/// of the whole grace period at once would, until its next heartbeat;
/// and with every node silent, the zone rules stop evictions).
async fn advance_hearing(c: &Cluster, clock: &ManualClock, total: Duration, alive: &str) {
    let step = Duration::from_secs(20);
    let mut left = total;
    while !left.is_zero() {
        let now = left.min(step);
        clock.advance(now);
        left -= now;
        let lease = format!("{LEASES}/{alive}");
        for _ in 0..3 {
            let before = c.get(&lease).await.unwrap()["spec"]["renewTime"].clone();
            c.until(&lease, "renewed", |l| {
                l.is_some_and(|l| l["spec"]["renewTime"] != before)
            })
            .await;
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
    advance_hearing(&c, &clock, Duration::from_secs(51), "node-b").await;
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
    advance_hearing(&c, &clock, Duration::from_secs(61), "node-b").await;
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

/// Whether `node` has a `NoExecute` taint of the node lifecycle controller.
fn no_execute(node: &Value) -> bool {
    taint_keys(node)
        .iter()
        .any(|k| k == &format!("{UNREACHABLE}:NoExecute") || k == &format!("{NOT_READY}:NoExecute"))
}

/// Kubernetes' safeguard against the control plane's own network failure:
/// three nodes of one zone fall silent together. The zone is fully
/// disrupted, and it is the only one, so the controller enters master
/// disruption mode: the nodes go Unknown and `NoSchedule`, their pods not
/// ready, but no node is tainted `NoExecute` and no pod is evicted (the
/// pod here would go at once), and an `EvictionsStopped` warning on every
/// node says why. One node back ends the mode, and evictions resume at
/// `--node-eviction-rate` (0.1: one node per 10 s of the clock).
#[tokio::test]
async fn a_whole_zone_gone_silent_is_not_evicted_and_then_evicted_at_the_rate() {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    let zone = json!({"topology.kubernetes.io/zone": "zone-1"});
    for name in ["node-a", "node-b", "node-c"] {
        register_labelled(&c, name, zone.clone()).await;
    }
    let toleration = json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
        "tolerationSeconds": 0});
    c.create(
        PODS,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "node-b", "tolerations": [toleration],
            "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    let ready = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}});
    assert_eq!(
        c.merge_patch(&format!("{PODS}/p/status"), &ready).await,
        200
    );

    clock.advance(Duration::from_secs(51));
    let only_no_schedule = [format!("{UNREACHABLE}:NoSchedule")];
    for name in ["node-a", "node-b", "node-c"] {
        let node = c
            .until(&format!("{NODES}/{name}"), "unreachable, NoSchedule", |n| {
                n.is_some_and(|n| ready_status(n) == "Unknown" && !taint_keys(n).is_empty())
            })
            .await
            .unwrap();
        assert_eq!(taint_keys(&node), only_no_schedule, "{name}: no NoExecute");
    }
    let warned = |events: Option<&Value>| {
        let items = events.and_then(|e| e["items"].as_array());
        ["node-a", "node-b", "node-c"].iter().all(|name| {
            items.into_iter().flatten().any(|e| {
                e["reason"] == "EvictionsStopped"
                    && e["type"] == "Warning"
                    && e["involvedObject"]["name"] == *name
                    && e["message"] == orc_controllers::node_lifecycle::MASTER_DISRUPTION
            })
        })
    };
    c.until("/api/v1/events", "EvictionsStopped on every node", warned)
        .await;
    let pod = c
        .until(&format!("{PODS}/p"), "not ready", |p| {
            p.is_some_and(|p| p["status"]["conditions"][0]["status"] == "False")
        })
        .await
        .unwrap();
    assert!(
        pod["metadata"]["deletionTimestamp"].is_null(),
        "not evicted"
    );

    // node-a speaks again: the mode ends, and the others, still Unknown,
    // wait for their turn (the zone's limit starts empty, as Kubernetes'
    // does when it swaps limiters).
    heartbeat(&c.http, &c.url(""), "node-a").await;
    c.until(&format!("{NODES}/node-a"), "Ready, untainted", |n| {
        n.is_some_and(|n| ready_status(n) == "True" && taint_keys(n).is_empty())
    })
    .await;
    let tainted = async || {
        let mut names = Vec::new();
        for name in ["node-b", "node-c"] {
            if c.get(&format!("{NODES}/{name}"))
                .await
                .is_some_and(|n| no_execute(&n))
            {
                names.push(name);
            }
        }
        names
    };
    assert!(tainted().await.is_empty(), "{:?}", tainted().await);
    // One node per 10 s.
    clock.advance(Duration::from_secs(10));
    for _ in 0..300 {
        if !tainted().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tainted().await.len(), 1, "one node in the first 10 s");
    clock.advance(Duration::from_secs(10));
    for _ in 0..300 {
        if tainted().await.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tainted().await, ["node-b", "node-c"]);
    // Evictions run again: the pod, which tolerates 0 s, goes.
    c.until(&format!("{PODS}/p"), "evicted", |p| {
        p.is_none_or(|p| p["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
}

/// Kubernetes' `MarkPodsNotReady`: the pods of a node that falls silent
/// turn `Ready=False` at once (`ContainersReady` as it was), each with a
/// `NodeNotReady` warning, minutes before taint eviction would move them.
#[tokio::test]
async fn a_silent_nodes_pods_go_not_ready_at_once() {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    register(&c, "node-a").await;
    c.create(
        PODS,
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    let ready = json!({"status": {"phase": "Running", "conditions": [
        {"type": "ContainersReady", "status": "True"},
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    assert_eq!(
        c.merge_patch(&format!("{PODS}/p/status"), &ready).await,
        200
    );

    // Silence counts from the last heartbeat the controller *heard*, and
    // its Lease informer is not its Node informer: the registration's
    // Lease renewal may reach it after the clock has moved, and then the
    // node is 51 s fresher than the test thinks. So the clock moves on, a
    // grace period at a time, until the pod reads not ready (one step
    // when nothing lags; 1 of 30 runs beside a CPU hog needed a second).
    let path = format!("{PODS}/p");
    let not_ready = |p: &Value| p["status"]["conditions"][1]["status"] == "False";
    let mut pod = None;
    'silence: for _ in 0..4 {
        clock.advance(Duration::from_secs(51));
        for _ in 0..100 {
            let now = c.get(&path).await;
            if now.as_ref().is_some_and(not_ready) {
                pod = now;
                break 'silence;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let pod = pod.unwrap_or_else(|| panic!("{path} still reads ready after 4 grace periods"));
    let conditions = &pod["status"]["conditions"];
    assert_eq!(
        conditions[0],
        json!({"type": "ContainersReady", "status": "True"})
    );
    assert_ne!(conditions[1]["lastTransitionTime"], "2026-01-01T00:00:00Z");
    assert!(
        pod["metadata"]["deletionTimestamp"].is_null(),
        "not evicted yet"
    );
    // (The node's own NodeNotReady event is Normal, and about the Node.)
    let on_pod = |e: &Value| e["reason"] == "NodeNotReady" && e["involvedObject"]["kind"] == "Pod";
    let events = c
        .until(
            "/api/v1/namespaces/default/events",
            "a warning on the pod",
            |list| {
                list.and_then(|l| l["items"].as_array())
                    .is_some_and(|items| items.iter().any(on_pod))
            },
        )
        .await
        .unwrap();
    let event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| on_pod(e))
        .unwrap();
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["message"], "Node is not ready");
    assert_eq!(event["involvedObject"]["kind"], "Pod");
    assert_eq!(event["involvedObject"]["name"], "p");

    // The agent back: its status first, then the pod's true state, which
    // the controller leaves alone.
    heartbeat(&c.http, &c.url(""), "node-a").await;
    c.until(&format!("{NODES}/node-a"), "Ready", |n| {
        n.is_some_and(|n| ready_status(n) == "True" && taint_keys(n).is_empty())
    })
    .await;
    assert_eq!(
        c.merge_patch(&format!("{PODS}/p/status"), &ready).await,
        200
    );
    let pod = c.get(&format!("{PODS}/p")).await.unwrap();
    assert_eq!(pod["status"]["conditions"][1]["status"], "True");
}
